"""Benchmark: ``modularity_curve`` against its floor and the paper's graph code path.

Five contenders run on the same sampled images (``dynamic_graphs.curve.sample_indices``, one seed),
the same layers and the CPU, k = 3:

* **ours**: ``modularity_curve(model, data, layers=..., n=..., repeats=..., k=3, device="cpu")``;
* **floor**: the library's feature extraction (``iter_layer_features``, the same forward passes
  ours makes: more than one when the layers' features do not fit its memory budget) plus the
  Gram product ``F @ F.T`` of every layer's flattened (n, D) features, and nothing else;
* **single**: what no exact method avoids, the one-pass floor: one forward pass over the images
  (no features kept) plus the same Gram products, each timed alone on features extracted
  outside the timed region. ours / single is the whole overhead, extra passes included;
* **paper**: the same extraction plus ``dynamic_graphs.reference.paper_modularity`` per layer,
  the paper's own path (einsum Gram, ``heapq.nlargest`` per row, dense adjacency, networkx
  modularity; Lu et al. 2022, Sec. 3). Its Q values are compared with ours;
* **bf16**: ours with ``graph_precision="bfloat16"``, the exact graphs from bfloat16 candidates
  (docs/method.md, "Exact graphs from low-precision candidates"). Its Q values are compared with
  ours (the same graphs: equal up to float32 rounding and near-ties).

Each (setting, contender) runs in a fresh child interpreter (this script with ``--child``), so
that its peak resident memory is its own: ``os.wait4`` returns the child's ``ru_maxrss``. In
the child every contender gets the same discipline: one untimed warm-up call on the last layer
(one repeat: every batch shape, lazy imports, thread pools), then ``--trials`` timed calls
(``time.perf_counter`` after ``gc.collect()``), of which the best is kept.

The model is ``--checkpoint PATH``, else the cached checkpoint ``dynamic_graphs.pretrained``
would load for the default recipe (seed 0), else (or with ``--untrained``) a seeded
random-init model: timings hardly depend on the weights. Nothing is trained.

The table (contenders side by side, ratios ours/floor and paper/ours, peak RSS, Q check) is
printed and written to ``--out`` (default ``reports/benchmark_curve.txt``) with the full results
as JSON beside it (same name, ``.json``); ``--quick`` writes nothing unless ``--out`` is given. Flags and example runs: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

import dynamic_graphs as dg
from dynamic_graphs.data import load_images
from dynamic_graphs.reference import paper_modularity
from dynamic_graphs.training import checkpoint_path, finished, shipped_entry, train_defaults
from dynamic_graphs.utils import isolated_rng, shown_path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "reports" / "benchmark_curve.txt"
CONTENDERS = ("ours", "floor", "single", "paper", "bf16")
Q_TOLERANCE = 1e-5  # float32 near-ties at the k-th neighbour can move an edge, and Q by ~1e-4
GB = 1e9
FULL = {"model": "resnet56", "n": [500, 10_000], "repeats": [5, 1], "layers": ["all", "stage-ends"]}
QUICK = {"model": "resnet20", "n": [100], "repeats": [1], "layers": ["stage-ends"], "trials": 1}


# ------------------------------------------------------------------------------------- the child


def build_model(spec: dict[str, Any]):
    """The benchmarked model in eval mode on the CPU: the checkpoint, else a seeded random init."""
    if spec["checkpoint"]:
        return dg.training.load_checkpoint(spec["checkpoint"], device="cpu")
    info = dg.data.dataset_info(spec["dataset"])
    with isolated_rng(spec["seed"]):
        model = dg.get_model(spec["model"], num_classes=info["num_classes"], in_channels=info["in_channels"],
                             mean=info["mean"], std=info["std"])
    return model.eval()


def contender(name: str, model, data, *, n: int, repeats: int, layers: list[str], k: int,
              seed: int) -> Callable[[], tuple[dict[tuple[int, str], float], float | None]]:
    """A call running one contender over the setting. It returns Q per (repeat, layer) (none for the
    floors) and the seconds to count, or None to count the whole call."""
    def ours(precision: str = "float32"):
        curve = dg.modularity_curve(model, data, layers=layers, n=n, repeats=repeats, k=k, seed=seed, device="cpu",
                                    graph_precision=precision)
        return {(int(r), layer): float(q) for r, layer, q in curve[["repeat", "layer", "modularity"]].itertuples(False)}, None

    def per_layer(score):
        labels = dg.data.labels_of(data)
        q = {}
        for repeat, indices in enumerate(dg.curve.sample_indices(len(data), n=n, repeats=repeats, seed=seed)):
            images = load_images(data, indices)
            for layer, features in dg.features.iter_layer_features(model, images, layers=layers, device="cpu"):
                q[repeat, layer] = score(features, labels[indices])
                del features
        return q, None

    def gram(features, _labels) -> None:
        features @ features.T  # noqa: B018 -- computed and dropped: the product is the floor's cost

    def floor():
        per_layer(gram)
        return {}, None

    def single():
        counted = 0.0
        for indices in dg.curve.sample_indices(len(data), n=n, repeats=repeats, seed=seed):
            images = load_images(data, indices)
            start = time.perf_counter()
            with torch.no_grad():
                for batch in images.split(250):  # iter_layer_features' batch size
                    model(batch)
            counted += time.perf_counter() - start
            for _, features in dg.features.iter_layer_features(model, images, layers=layers, device="cpu"):
                start = time.perf_counter()
                features @ features.T  # noqa: B018
                counted += time.perf_counter() - start
                del features
        return {}, counted

    def paper():
        return per_layer(lambda features, labels: paper_modularity(features, labels, k=k))

    return {"ours": ours, "floor": floor, "single": single, "paper": paper, "bf16": lambda: ours("bfloat16")}[name]


def child_main(spec: dict[str, Any]) -> None:
    """Warm up, time one contender ``trials`` times, and write the times and Q values as JSON."""
    dg.settings.verbosity = 0  # no progress bars in the timed region
    model, data = build_model(spec), dg.get_dataset(spec["dataset"], spec["split"])
    setting = {key: spec[key] for key in ("n", "repeats", "layers", "k", "seed")}
    contender(spec["contender"], model, data, **{**setting, "repeats": 1, "layers": spec["layers"][-1:]})()
    times = []
    for _ in range(spec["trials"]):
        call = contender(spec["contender"], model, data, **setting)
        gc.collect()
        start = time.perf_counter()
        q, counted = call()
        times.append(time.perf_counter() - start if counted is None else counted)
    q = [[*key, value] for key, value in q.items()]
    Path(spec["result_path"]).write_text(json.dumps({"times_s": times, "q": q}))


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`child_main` in a fresh interpreter; its result plus its own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench_curve_") as folder:
        spec = {**spec, "result_path": str(Path(folder) / "result.json")}
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                                   cwd=REPO_ROOT)
        _, status, usage = os.wait4(process.pid, 0)  # this child's rusage alone
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"The {spec['contender']} child failed (exit status {code}).")
        result = json.loads(Path(spec["result_path"]).read_text())
    return {**result, "best_s": min(result["times_s"]), "peak_rss_gb": usage.ru_maxrss * 1024 / GB}  # KiB on Linux


# ------------------------------------------------------------------------------------- the parent


def resolve_layer_spec(spec: str, all_layers: list[str]) -> list[str]:
    """``"all"``, ``"stage-ends"`` (the last probe layer of each stage) or comma-separated module names."""
    if spec == "all":
        return all_layers
    if spec == "stage-ends":
        ends = {name.split(".")[0]: name for name in all_layers if "." in name}
        return list(ends.values())
    names = spec.split(",")
    unknown = [name for name in names if name not in all_layers]
    if unknown:
        raise SystemExit(f"{', '.join(unknown)}: not probe layers; choose from {', '.join(all_layers)}.")
    return [name for name in all_layers if name in names]


def default_checkpoint(model: str, dataset: str) -> str | None:
    """The cached default-recipe checkpoint of ``dg.pretrained(model, dataset)``, if it is complete
    (shipped weights are installed into the cache first; nothing is trained)."""
    hparams = train_defaults(dataset)
    path = checkpoint_path(model, dataset, hparams, 0)
    if not finished(path) and shipped_entry(model, dataset, hparams, 0) is not None:
        dg.pretrained(model, dataset)
    return str(path) if finished(path) else None


def q_check(results: dict[str, dict[str, Any]], other: str = "paper") -> dict[str, Any] | None:
    """Largest |Q_ours - Q_other| over the setting's graphs, and how many exceed the tolerance."""
    if "ours" not in results or other not in results:
        return None
    ours = {(r, layer): q for r, layer, q in results["ours"]["q"]}
    diffs = [abs(q - ours[r, layer]) for r, layer, q in results[other]["q"]]
    return {"graphs": len(diffs), "max_abs_diff": max(diffs), "above_tolerance": sum(d > Q_TOLERANCE for d in diffs),
            "tolerance": Q_TOLERANCE}


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One line per setting: best times, ratios, peak RSS and the Q check, contenders side by side."""
    lines = []
    for row in rows:
        best = {name: row["results"][name]["best_s"] for name in row["results"]}
        peak = {name: row["results"][name]["peak_rss_gb"] for name in row["results"]}
        ratio = lambda a, b: best[a] / best[b] if a in best and b in best else np.nan  # noqa: E731
        check, low = row["q_check"], row["bf16_check"]
        lines.append({"setting": f"n={row['n']} x {row['repeats']}, {len(row['layers'])} layers ({row['layer_spec']})",
                      **{f"{name} s": best.get(name, np.nan) for name in CONTENDERS},
                      "ours/floor": ratio("ours", "floor"), "ours/single": ratio("ours", "single"),
                      "paper/ours": ratio("paper", "ours"), "bf16/ours": ratio("bf16", "ours"),
                      "bf16/floor": ratio("bf16", "floor"),
                      **{f"RSS {name} GB": peak.get(name, np.nan) for name in CONTENDERS},
                      "max |dQ|": check["max_abs_diff"] if check else np.nan,
                      f"|dQ|>{Q_TOLERANCE:g}": f"{check['above_tolerance']}/{check['graphs']}" if check else "-",
                      "bf16 max |dQ|": low["max_abs_diff"] if low else np.nan})
    return pd.DataFrame(lines).set_index("setting")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; unset options take the full or the ``--quick`` defaults."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: resnet20, n=100, 1 repeat, stage ends")
    parser.add_argument("--model", help="registered model (default resnet56; --quick resnet20)")
    parser.add_argument("--dataset", default="fashion-mnist", help="dataset name")
    parser.add_argument("--split", default="test", choices=("train", "test"),
                        help="the split the images are sampled from (default test; train for n > 10,000)")
    parser.add_argument("--n", type=int, nargs="+", help="images per graph, one per setting (default 500 10000)")
    parser.add_argument("--repeats", type=int, nargs="+", help="disjoint samples per setting (default 5 1)")
    parser.add_argument("--layers", nargs="+", metavar="SPEC", help="per setting: all, stage-ends or "
                        "comma-separated module names (default: all stage-ends)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--trials", type=int, help="timed calls per contender, the best is kept (default 1)")
    parser.add_argument("--k", type=int, default=3, help="neighbours per node (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="sampling and random-init seed (default 0)")
    parser.add_argument("--checkpoint", help="a checkpoint file (default: the cached default-recipe one)")
    parser.add_argument("--untrained", action="store_true", help="a seeded random-init model, even if one is cached")
    parser.add_argument("--out", type=Path, help=f"the table (default {DEFAULT_OUT.relative_to(REPO_ROOT)}; none "
                        "with --quick); the JSON results go beside it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in {**FULL, "trials": 1, **(QUICK if args.quick else {})}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    count = max(len(args.n), len(args.repeats), len(args.layers))
    for key in ("n", "repeats", "layers"):
        values = getattr(args, key)
        if len(values) not in (1, count):
            parser.error(f"--{key} gives {len(values)} values for {count} settings; give 1 or {count}.")
        setattr(args, key, values * count if len(values) == 1 else values)
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    return args


def main(argv: list[str] | None = None) -> None:
    """Run every (setting, contender) in a child; print the table and write it with the JSON results."""
    args = parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return
    checkpoint = args.checkpoint or (None if args.untrained else default_checkpoint(args.model, args.dataset))
    base = {"model": args.model, "dataset": args.dataset, "split": args.split, "checkpoint": checkpoint,
            "seed": args.seed, "k": args.k, "trials": args.trials}
    all_layers = dg.probe_layers(build_model(base))
    parameters = {**{key: value for key, value in vars(args).items() if key not in ("out", "child")},
                  "checkpoint": checkpoint and shown_path(checkpoint)}
    info = dg.reports.run_info(**parameters, device="cpu")
    load_start = os.getloadavg()
    model_line = f"model: {args.model}, " + (f"checkpoint {shown_path(checkpoint)}" if checkpoint else
                                             f"random init (seed {args.seed}; timings hardly depend on the weights)")
    print(f"bench_curve: {model_line}; load average {' '.join(f'{x:.2f}' for x in load_start)}", flush=True)

    rows = []
    for n, repeats, spec in zip(args.n, args.repeats, args.layers):
        layers = resolve_layer_spec(spec, all_layers)
        results = {}
        for name in args.contenders:
            print(f"  n={n} x {repeats}, {len(layers)} layers: {name}...", end=" ", flush=True)
            results[name] = run_child({**base, "contender": name, "n": n, "repeats": repeats, "layers": layers})
            print(f"{results[name]['best_s']:.2f} s, peak RSS {results[name]['peak_rss_gb']:.2f} GB", flush=True)
        rows.append({"n": n, "repeats": repeats, "layer_spec": spec, "layers": layers, "results": results,
                     "q_check": q_check(results), "bf16_check": q_check(results, "bf16")})

    frame = table(rows)
    load_end = os.getloadavg()
    text = "\n".join([
        f"bench_curve: {model_line}; {args.dataset} {args.split}; CPU; k={args.k}; best of {args.trials} trial(s) each",
        "floor = feature extraction + F @ F.T per layer; single = one forward pass + the same F @ F.T; "
        "paper = extraction + reference.paper_modularity",
        f"load average: start {' '.join(f'{x:.2f}' for x in load_start)}, end {' '.join(f'{x:.2f}' for x in load_end)}",
        "", frame.to_string(float_format=lambda x: f"{x:.3g}" if abs(x) < 1e-2 else f"{x:.2f}", na_rep="-"),
        "", info.to_string(), ""])
    print("\n" + text, flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        results = {"parameters": parameters, "provenance": {name: value for (_, name), value in info["value"].items()},
                   "load_average": {"start": load_start, "end": load_end}, "settings": rows}
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"written: {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
