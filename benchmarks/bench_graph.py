"""Benchmark: ``knn_graph`` in row blocks against the whole similarity matrix, and against its floor.

On seeded Gaussian features (float32, CPU), k = 3, three contenders run side by side:

* **blocked**: ``knn_graph(features, k=3, precision="float32")``, the package's float32 path (rows per
  block from ``dynamic_graphs.graphs.BLOCK_BYTES``; ``bench_lowp_graph.py`` measures the bfloat16 one);
* **whole**: the same with ``rows=N``, one block: the N × N similarity matrix held at
  once, as the package did before blocks (skipped where N² · 4 bytes exceeds ``--max-whole-gb``);
* **floor**: the Gram products alone, ``features[block] @ features.T`` over the same blocks with
  nothing kept: what no exact method avoids.

Each (N, contender) runs in a fresh child interpreter (this script with ``--child``), so its
peak resident memory is its own (``os.wait4``'s ``ru_maxrss``); in the child one untimed warm-up
on a small slice, then the timed call. The edges of blocked and whole are compared where both ran.

Run: ``python benchmarks/bench_graph.py`` (N = 5,000 and 50,000, D = 512; about two minutes on
a 2-core CPU) or ``--quick``. The table goes to stdout and, with ``--out``, to a file with the JSON
results beside it.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CONTENDERS = ("blocked", "whole", "floor")
GB = 1e9


def _features(n: int, dim: int, seed: int = 0):
    import torch

    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32))


def _child(contender: str, n: int, dim: int, k: int, edges_out: str | None) -> dict:
    import torch

    from dynamic_graphs.graphs import block_rows, knn_graph

    features = _features(n, dim)
    rows = block_rows(n)
    if contender == "floor":
        def run():
            for start in range(0, n, rows):
                features[start:start + rows] @ features.T
    else:
        def run():
            return knn_graph(features, k=k, rows=n if contender == "whole" else None, precision="float32")
    knn_graph(features[:200], k=k, precision="float32")  # warm-up: thread pools, lazy imports
    torch.mm(features[:rows], features[:64].T)
    gc.collect()
    started = time.perf_counter()
    graph = run()
    seconds = time.perf_counter() - started
    if graph is not None and edges_out:
        np.savez(edges_out, edges=np.asarray(graph.get_edgelist()), weights=np.asarray(graph.es["weight"]))
    return {"seconds": seconds, "rows_per_block": rows if contender != "whole" else n}


def add_run_options(parser: argparse.ArgumentParser, contenders: tuple[str, ...], *, quick: str) -> None:
    """The options every graph benchmark shares: ``--quick`` (what it runs: ``quick``), ``--out``, and
    the hidden ``--child``/``--edges-out`` with which :func:`run_child`'s process runs one contender."""
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--out", help="write the table here and the JSON results beside it (.json)")
    parser.add_argument("--child", choices=contenders, help=argparse.SUPPRESS)
    parser.add_argument("--edges-out", help=argparse.SUPPRESS)


def run_child(command: list[str], what: str) -> dict:
    """Run one contender in a fresh process: the JSON result it prints last, with its peak RSS added."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read()
    if status != 0:
        raise RuntimeError(f"{what} failed (status {status}): {output}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_gb"] = usage.ru_maxrss * 1024 / GB  # ru_maxrss is in kB on Linux
    return result


def save_report(table: str, provenance: str, results: list[dict], out: str | None) -> None:
    """Write the table to ``out`` and the JSON results (with the provenance line) beside it (.json)."""
    if out:
        out = Path(out)
        out.write_text(table + "\n")
        out.with_suffix(".json").write_text(json.dumps({"provenance": provenance, "results": results}, indent=2) + "\n")


def _run(contender: str, n: int, dim: int, k: int, edges_out: str | None) -> dict:
    command = [sys.executable, __file__, "--child", contender, "--n", str(n), "--dim", str(dim), "--k", str(k)]
    if edges_out:
        command += ["--edges-out", edges_out]
    return run_child(command, f"{contender} at N = {n}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-whole-gb", type=float, default=4.0,
                        help="skip the whole-matrix contender where N² · 4 bytes is above this")
    add_run_options(parser, CONTENDERS, quick="N = 2,000 only")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.n[0], args.dim, args.k, args.edges_out)))
        return 0
    sizes = [2_000] if args.quick else args.n
    import tempfile

    results, lines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            row = {"n": n, "dim": args.dim, "k": args.k, "features_gb": n * args.dim * 4 / GB}
            for contender in CONTENDERS:
                if contender == "whole" and n * n * 4 / GB > args.max_whole_gb:
                    row[contender] = {"skipped": f"needs {n * n * 4 / GB:.1f} GB for the N × N matrix"}
                    continue
                edges = os.path.join(tmp, f"{contender}-{n}.npz") if contender != "floor" else None
                row[contender] = _run(contender, n, args.dim, args.k, edges)
            if "seconds" in row["whole"]:
                ours, theirs = (np.load(os.path.join(tmp, f"{name}-{n}.npz")) for name in ("blocked", "whole"))
                same = np.array_equal(ours["edges"], theirs["edges"])
                row["same_edges"] = bool(same)
                row["max_weight_difference"] = float(np.abs(ours["weights"] - theirs["weights"]).max()) if same else None
            results.append(row)
    header = (f"{'N':>7} {'D':>5} {'features GB':>11} | {'blocked s':>9} {'GB':>5} | {'whole s':>8} {'GB':>5} | "
              f"{'floor s':>7} {'GB':>5} | {'blocked/floor':>13} {'blocked/whole':>13} | same edges")
    lines += [header, "-" * len(header)]
    for row in results:
        blocked, whole, floor = row["blocked"], row["whole"], row["floor"]
        whole_s = f"{whole['seconds']:8.2f} {whole['peak_rss_gb']:5.2f}" if "seconds" in whole else f"{'skipped':>14}"
        versus = f"{blocked['seconds'] / whole['seconds']:13.2f}" if "seconds" in whole else f"{'-':>13}"
        same = (f"{row['same_edges']} (max |Δw| {row['max_weight_difference']:.1e})" if "same_edges" in row
                else whole.get("skipped", "-"))
        lines.append(f"{row['n']:>7} {row['dim']:>5} {row['features_gb']:>11.3f} | {blocked['seconds']:9.2f} "
                     f"{blocked['peak_rss_gb']:5.2f} | {whole_s} | {floor['seconds']:7.2f} {floor['peak_rss_gb']:5.2f} | "
                     f"{blocked['seconds'] / floor['seconds']:13.2f} {versus} | {same}")
    import platform

    import torch

    from dynamic_graphs.utils import git_commit

    provenance = (f"commit {git_commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch "
                  f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs ({platform.machine()}), "
                  f"load average {os.getloadavg()[0]:.2f} at the end (another process on the CPU slows every contender)")
    table = "\n".join([f"# python benchmarks/bench_graph.py --n {' '.join(map(str, sizes))} --dim {args.dim} --k {args.k}",
                        f"# {provenance}", *lines])
    print(table)
    save_report(table, provenance, results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
