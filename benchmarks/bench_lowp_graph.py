"""Benchmark: ``knn_graph`` from bfloat16 candidates (``precision="bfloat16"``) against the float32 path and its floor.

For each (N, D), on seeded features (float32, CPU, k = 3), four contenders side by side:

* **floor**: the float32 Gram products alone, ``features[block] @ features.T`` over the blocks of
  ``dynamic_graphs.graphs.block_rows`` with nothing kept: what no float32 exact method avoids;
* **float32**: ``knn_graph(features, k=3, precision="float32")``, the float32 path;
* **bfloat16**: ``knn_graph(features, k=3, precision="bfloat16")``: bfloat16 candidates within the
  proven bound ``candidate_bound(D)``, rescored in float32 (docs/method.md, "Exact graphs from
  low-precision candidates");
* **bf16 floor**: the bfloat16 Gram products alone (unit rows), over the bfloat16 path's blocks
  (``low_block_rows``): its own floor, to see what its candidates and rescoring add.

The features (``--data``): ``clustered`` (default), ReLU of 10 Gaussian class centres plus unit
noise; ``gaussian``, the i.i.d. noise of ``bench_graph.py``; ``MODEL:LAYER``, a layer of the
package's trained model on the first N Fashion-MNIST training images (``resnet56:layer3.8``, D =
4,096; ``resnet56:conv1``, D = 16,384: the case the path is for), extracted once and read by every
contender; or a ``.npy``/``.pt`` file of saved features. On both synthetic kinds the cosines of
high-dimensional noise concentrate, so a row's k-th neighbour has hundreds of others within 2·E_i and
many rows fall back: the worst case, up to the float32 path plus one bfloat16 block.

Each (N, D, contender) runs in a fresh child interpreter (this script with ``--child``), so its
peak resident memory is its own (``os.wait4``'s ``ru_maxrss``, as ``bench_graph.py``); in the child
one untimed warm-up on a small slice, then the timed call (``--trials T``: T of them, the best
kept). The edges of the bfloat16 graph are compared with the float32 graph's: the number of edges
in one and not the other, the largest
weight difference over the common edges, |ΔQ| against the classes (clustered data), and every
differing edge is diagnosed: the rows whose neighbour choice differs get their exact (float64)
similarities, and a difference is a *float32 near-tie* when that row's k-th and (k+1)-th float32
similarities are within the float32 rescoring gap 2·[(1 + u)²(1 + γ_D) − 1] of each other
(either path may order them either way), else it is *unexplained* (a bug). The bfloat16 child
also records its candidates per row (median, 99th percentile, rows that fell back) on the first
block.

With ``--device cuda`` the features and every product are on the GPU, the clock is read after
``torch.cuda.synchronize``, a fifth contender **tf32** (``precision="tf32"``: the TF32 tensor-core
product's candidates, rescored in float32) is compared with float32 like bfloat16, and each
contender's peak device memory goes to the JSON.

Run: ``python benchmarks/bench_lowp_graph.py`` (N = 10,000 and 50,000; D = 512, 4,096 and
16,384; long) or ``--quick`` (N = 2,000, D = 512). The table goes to stdout and, with ``--out``, to
a file with the JSON results beside it; the CPU's capabilities (instruction set, native bfloat16
kernels) and the provenance head the table.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_graph import (  # bench_graph.py's unit, options, runner, writer
    GB,
    add_run_options,
    run_child,
    save_report,
)
from bench_graph import _features as gaussian_features  # and its seeded noise

CONTENDERS = ("floor", "float32", "bfloat16", "tf32", "bf16-floor")
LOW = ("bfloat16", "tf32")  # the low-precision paths, each compared with float32
CLASSES = 10


def _data(kind: str, n: int, dim: int, seed: int = 0):
    """(features, labels): float32 torch features and their class labels (None for Gaussian noise)."""
    import torch

    if kind == "gaussian":
        return gaussian_features(n, dim, seed), None
    if kind not in ("clustered", "gaussian"):  # a file of saved features (a layer's, say): its first n rows
        saved = np.load(kind) if kind.endswith(".npy") else torch.load(kind, map_location="cpu")
        saved = torch.as_tensor(saved)[:n].reshape(min(n, len(saved)), -1).float().contiguous()
        if saved.shape[0] < n:
            raise SystemExit(f"{kind} holds {saved.shape[0]} rows, fewer than N = {n}.")
        labels = kind.replace(".npy", ".labels.npy")
        return saved, (np.load(labels)[:n] if kind.endswith(".npy") and os.path.exists(labels) else None)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    features = rng.standard_normal((n, dim), dtype=np.float32)
    features += rng.standard_normal((CLASSES, dim), dtype=np.float32)[labels]
    return torch.from_numpy(np.maximum(features, 0, out=features)), labels


def _trained_layer_file(spec: str, n: int, folder: str) -> str:
    """``MODEL:LAYER`` (``resnet56:layer3.8``): that layer of the package's trained model on the first n
    Fashion-MNIST training images, saved once to a .npy file in ``folder`` for the contenders to read
    (and their labels beside it, ``*.labels.npy``, for |ΔQ|)."""
    import dynamic_graphs as dg
    from dynamic_graphs.data import labels_of, load_images

    model_name, layer = spec.split(":", 1)
    path = os.path.join(folder, f"{model_name}-{layer}-{n}.npy")
    if not os.path.exists(path):
        model = dg.pretrained(model_name).eval()
        data = dg.get_dataset("fashion-mnist", "train")
        if n > len(data):
            raise SystemExit(f"--n {n} is more than the {len(data)} training images.")
        features = dg.features.extract_features(model, load_images(data, np.arange(n)), layers=[layer])[layer]
        np.save(path, features.numpy())
        np.save(path.replace(".npy", ".labels.npy"), labels_of(data)[:n])
    return path


def _candidate_stats(features, k: int) -> dict:
    """Candidates per row on the first block of the bfloat16 path (untimed)."""
    import torch

    from dynamic_graphs import graphs

    n = features.shape[0]
    rows = graphs.low_block_rows(n, features.device)
    inverse = graphs.inverse_norms(features)
    low, row_errors = graphs.bfloat16_rows(features, inverse)
    block = graphs.low_precision_rows(features, low, inverse, 0, min(rows, n), 0.0, "bfloat16")
    margins = graphs.candidate_bound(features.shape[1], row_errors=row_errors)
    maxima = graphs.group_maxima(block)
    threshold = graphs.candidate_thresholds(features, inverse, 0, block, maxima, k,
                                            margins[:block.shape[0]].float().to(block.device), 0.0)
    counts = graphs.row_counts(block >= threshold).double()
    return {"margin_median": float(margins.median()), "margin_worst": graphs.candidate_bound(features.shape[1]),
            "rows": int(counts.numel()), "median": float(counts.median()),
            "p99": float(torch.quantile(counts, 0.99)), "max": int(counts.max()),
            "fallback_rows": int((counts > graphs.max_candidates(n)).sum()), "cut_off": graphs.max_candidates(n)}


def _child(contender: str, data: str, n: int, dim: int, k: int, out: str | None, device: str = "cpu",
           trials: int = 1) -> dict:
    import torch

    from dynamic_graphs import graphs
    from dynamic_graphs.graphs import block_rows, cosine_top_k, knn_graph

    features, _ = _data(data, n, dim)
    features = features.to(device)
    cuda = features.device.type == "cuda"
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)  # CUDA runs asynchronously: time to the end
    rows = block_rows(n)
    if contender == "floor":
        def run():
            for start in range(0, n, rows):
                features[start:start + rows] @ features.T
    elif contender == "bf16-floor":
        low_rows = graphs.low_block_rows(n, features.device)  # the bfloat16 path's blocks

        def run():
            low, _ = graphs.bfloat16_rows(features, graphs.inverse_norms(features))
            for start in range(0, n, low_rows):
                low[start:start + low_rows] @ low.T
    else:
        def run():
            return knn_graph(features, k=k, precision=contender)
    knn_graph(features[:200], k=k, precision=contender if contender in LOW else "float32")  # warm-up
    torch.mm(features[:rows], features[:64].T)
    torch.mm(features[:rows].bfloat16(), features[:64].bfloat16().T)
    gc.collect()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(trials):  # the best of the timed calls: a busy moment of the machine slows one, not all
        synchronize()
        started = time.perf_counter()
        graph = run()
        synchronize()
        times.append(time.perf_counter() - started)
    result = {"seconds": min(times), "trials": times, "rows_per_block": rows}
    if cuda:
        result["peak_device_gb"] = torch.cuda.max_memory_allocated() / GB
    if graph is not None and out:
        indices, _ = cosine_top_k(features, k, precision=contender)  # the directed choices, for the diagnosis
        np.savez(out, edges=np.asarray(graph.get_edgelist()), weights=np.asarray(graph.es["weight"]), indices=indices)
    if contender == "bfloat16":
        result["candidates"] = _candidate_stats(features, k)
    return result


def _run(contender: str, data: str, n: int, dim: int, k: int, out: str | None, device: str, trials: int) -> dict:
    command = [sys.executable, __file__, "--child", contender, "--data", data, "--n", str(n), "--dims", str(dim),
               "--k", str(k), "--device", device, "--trials", str(trials)]
    if out:
        command += ["--edges-out", out]
    return run_child(command, f"{contender} at N = {n}, D = {dim}")


def float32_gap(dim: int) -> float:
    """The proven gap of two float32 evaluations of one similarity: 2·[(1 + u)²(1 + γ_D) − 1]."""
    u = 2.0 ** -24
    gamma = dim * u / (1 - dim * u)
    return 2 * ((1 + u) ** 2 * (1 + gamma) - 1)


def compare(data: str, n: int, dim: int, k: int, today_file: str, fast_file: str, name: str = "bfloat16") -> dict:
    """Edges of the ``name`` graph (a low-precision path) against the float32 graph's, with the near-tie
    diagnosis of any difference."""
    from dynamic_graphs.graphs import modularity

    today, fast = np.load(today_file), np.load(fast_file)
    key = lambda edges: {tuple(e) for e in edges.tolist()}
    a, b = key(today["edges"]), key(fast["edges"])
    common = sorted(a & b)
    report = {"edges": len(a), "only_float32": len(a - b), f"only_{name}": len(b - a)}
    if common:
        wa = dict(zip(map(tuple, today["edges"].tolist()), today["weights"]))
        wb = dict(zip(map(tuple, fast["edges"].tolist()), fast["weights"]))
        report["max_weight_difference"] = float(max(abs(wa[e] - wb[e]) for e in common))
    features, labels = _data(data, n, dim)
    if labels is not None:
        import igraph

        def q(file):
            graph = igraph.Graph(n=n, edges=file["edges"].tolist(), edge_attrs={"weight": file["weights"].tolist()})
            return modularity(graph, labels)

        report["q_float32"], report[f"q_{name}"] = q(today), q(fast)
        report["abs_dq"] = abs(report["q_float32"] - report[f"q_{name}"])
    rows = np.flatnonzero((np.sort(today["indices"], axis=1) != np.sort(fast["indices"], axis=1)).any(axis=1))
    gap = float32_gap(dim)
    near_ties, unexplained = 0, []
    if rows.size:
        matrix = features.double()
        norms = matrix.norm(dim=1).clamp_min(1e-8)
        for row in rows.tolist():
            similarity = (matrix @ matrix[row]) / (norms * norms[row])
            similarity[row] = 0.0
            ordered = np.sort(similarity.numpy())[::-1]
            if ordered[k - 1] - ordered[k] <= gap:
                near_ties += 1
            else:
                unexplained.append({"row": row, "kth_gap": float(ordered[k - 1] - ordered[k])})
    report["rows_differing"] = int(rows.size)
    report["float32_near_ties"] = near_ties
    report["unexplained"] = unexplained
    report["float32_gap"] = gap
    return report


def _edges_text(comparison: dict | None, name: str) -> str:
    """The table's edges cell: how many edges differ, the weights, |ΔQ| and the diagnosis of the rows."""
    if not comparison:
        return "-"
    return (f"{comparison['only_float32'] + comparison[f'only_{name}']} differ of {comparison['edges']}, "
            f"max |Δw| {comparison.get('max_weight_difference', 0):.1e}"
            + (f", |ΔQ| {comparison['abs_dq']:.1e}" if "abs_dq" in comparison else "")
            + (f"; {comparison['float32_near_ties']} float32 near-tie rows, "
               f"{len(comparison['unexplained'])} unexplained" if comparison["rows_differing"] else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 4_096, 16_384])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--data", default="clustered",
                        help="clustered, gaussian, MODEL:LAYER (a layer of the package's trained model on the "
                             "first N Fashion-MNIST training images, e.g. resnet56:layer3.8), or a .npy/.pt file of "
                             "saved (N, ...) features (its first N rows); for the last two D is the layer's and "
                             "--dims only labels the run")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS,
                        help="default: all; tf32 (CUDA's TF32 tensor cores) only with --device cuda")
    parser.add_argument("--trials", type=int, default=1,
                        help="timed calls per contender (in its child, after the warm-up), the best kept")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the features and every product live (cuda: the same comparison on a GPU)")
    add_run_options(parser, CONTENDERS, quick="N = 2,000 and D = 512 only")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.data, args.n[0], args.dims[0], args.k, args.edges_out, args.device,
                                args.trials)))
        return 0
    if args.contenders is None:
        args.contenders = [name for name in CONTENDERS if name != "tf32" or args.device == "cuda"]
    if "tf32" in args.contenders and args.device != "cuda":
        raise SystemExit("The tf32 contender is CUDA's TF32 tensor-core product: add --device cuda (on a GPU), "
                         "or leave tf32 out on the CPU.")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA device here; run it on a GPU machine.")
    sizes, dims = ([2_000], [512]) if args.quick else (args.n, args.dims)
    load_start = os.getloadavg()
    results, lines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for dim in dims:
                data = _trained_layer_file(args.data, n, tmp) if ":" in args.data else args.data
                row = {"n": n, "dim": dim, "k": args.k, "data": args.data, "features_gb": n * dim * 4 / GB}
                for contender in args.contenders:
                    out = os.path.join(tmp, f"{contender}-{n}-{dim}.npz") if contender in ("float32", *LOW) else None
                    row[contender] = _run(contender, data, n, dim, args.k, out, args.device, args.trials)
                    print(f"N = {n}, D = {dim}, {contender}: {row[contender]['seconds']:.2f} s", file=sys.stderr)
                for low in LOW:
                    if {"float32", low} <= set(args.contenders):
                        key = "comparison" if low == "bfloat16" else f"comparison_{low}"
                        row[key] = compare(data, n, dim, args.k, *(os.path.join(tmp, f"{name}-{n}-{dim}.npz")
                                                                   for name in ("float32", low)), name=low)
                results.append(row)
    load_end = os.getloadavg()
    cell = lambda row, name: (f"{row[name]['seconds']:8.2f} {row[name]['peak_rss_gb']:5.2f}"
                              if name in row else f"{'-':>8} {'-':>5}")
    ratio = lambda row, a, b: (f"{row[a]['seconds'] / row[b]['seconds']:6.2f}"
                               if a in row and b in row else f"{'-':>6}")
    header = (f"{'N':>7} {'D':>6} | {'floor s':>8} {'GB':>5} | {'float32 s':>8} {'GB':>5} | {'bf16 s':>8} {'GB':>5} | "
              f"{'bf16fl s':>8} {'GB':>5} | {'bf16/fl':>6} {'bf16/32':>6} {'32/fl':>6} | cand. med/p99/fallback | edges")
    lines += [header, "-" * len(header)]
    for row in results:
        stats = row.get("bfloat16", {}).get("candidates")
        cand = (f"{stats['median']:.0f}/{stats['p99']:.0f}/{stats['fallback_rows']} of {stats['rows']}"
                if stats else "-")
        lines.append(f"{row['n']:>7} {row['dim']:>6} | {cell(row, 'floor')} | {cell(row, 'float32')} | "
                     f"{cell(row, 'bfloat16')} | {cell(row, 'bf16-floor')} | {ratio(row, 'bfloat16', 'floor')} "
                     f"{ratio(row, 'bfloat16', 'float32')} {ratio(row, 'float32', 'floor')} | {cand} | "
                     f"{_edges_text(row.get('comparison'), 'bfloat16')}")
    for row in results:  # TF32 (CUDA) below the table: one line per setting
        if "tf32" in row:
            lines.append(f"tf32 at N = {row['n']}, D = {row['dim']}: {row['tf32']['seconds']:.2f} s, "
                         f"{ratio(row, 'tf32', 'floor').strip()}x the floor, {ratio(row, 'tf32', 'float32').strip()}x "
                         f"float32; edges: {_edges_text(row.get('comparison_tf32'), 'tf32')}")
    import torch

    from dynamic_graphs.utils import bfloat16_kernels, cpu_description, git_commit

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if args.device == "cuda" else ""
    provenance = (f"commit {git_commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{gpu}, torch "
                  f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs ({platform.machine()}, "
                  f"{cpu_description()}; native bfloat16 kernels: {bfloat16_kernels(torch.device('cpu'))}), "
                  f"load average {load_start[0]:.2f} at the start and {load_end[0]:.2f} at the end "
                  "(another process on the CPU slows every contender)")
    command = (f"# python benchmarks/bench_lowp_graph.py --n {' '.join(map(str, sizes))} --dims "
               f"{' '.join(map(str, dims))} --k {args.k} --data {args.data}"
               + (f" --trials {args.trials}" if args.trials > 1 else "") + (" --device cuda" if args.device == "cuda" else ""))
    table = "\n".join([command, f"# {provenance}", *lines])
    print(table)
    save_report(table, provenance, results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
