"""Benchmark: the approximate graph mode (``knn_graph(method="approx")``) against the exact one.

On one sample of a trained model's test images (``dynamic_graphs.curve.sample_indices``, one seed) and
every probe layer, each layer's features are extracted once (``iter_layer_features``) and scored
by ``dynamic_graphs.curve.layer_scores`` twice over: exactly (the paper's graph) and with
``method="approx"`` at each ``--dims`` width (a seeded random projection, then the exact path), both
on the float32 path (``precision="float32"``: the report's numbers predate the bfloat16 default). Per
layer it records both Q values, |ΔQ| and the time of each scoring call (graph and Q; the features
are shared and not counted). Two targets are checked:

* speed: exact time / approx time on the widest layer (the largest D) at ``--n`` (target >= 5);
* accuracy: max over layers of |Q_approx − Q_exact| (target <= 0.01), at ``--n`` (one graph per
  layer) and, with ``--curve-n``, on the mean curve of ``--curve-repeats`` samples of that size.

Timings are the best of ``--trials`` calls after one untimed warm-up. The table is printed and
written to ``--out`` (default ``reports/benchmark_approx.txt``) with the results as JSON beside it.

    .venv/bin/python benchmarks/bench_approx.py                      # resnet56, n = 10,000, dims 256 512 1024
    .venv/bin/python benchmarks/bench_approx.py --model resnet20 --n 1000 --dims 64 --out /tmp/a.txt  # smoke test
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import dynamic_graphs as dg
from dynamic_graphs.curve import layer_scores
from dynamic_graphs.data import load_images

from dynamic_graphs.utils import shown_path

from bench_curve import REPO_ROOT, build_model, default_checkpoint

DEFAULT_OUT = REPO_ROOT / "reports" / "benchmark_approx.txt"
SPEED_TARGET, Q_TARGET = 5.0, 0.01


def timed(call, trials: int) -> tuple[float, dict]:
    """Best wall time of ``trials`` calls and the last result."""
    best, result = np.inf, None
    for _ in range(trials):
        gc.collect()
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare_layers(model, data, *, n: int, repeats: int, dims: list[int], k: int, seed: int,
                   trials: int) -> pd.DataFrame:
    """One row per (repeat, layer, method): ``layer``, ``D`` (the layer's width), ``method``, ``q`` and ``seconds``
    (the best of ``trials`` calls in repeat 0, one call in the others; only repeat 0's times are reported)."""
    labels = dg.data.labels_of(data)
    rows = []
    for repeat, indices in enumerate(dg.curve.sample_indices(len(data), n=n, repeats=repeats, seed=seed)):
        images = load_images(data, indices)
        for layer, outputs in dg.features.iter_layer_features(model, images, device="cpu"):
            width = outputs.shape[1]
            methods = [("exact", width)] + [(f"approx-{dim}", dim) for dim in dims]
            for method, dim in methods:
                kind = "exact" if method == "exact" else "approx"
                call = lambda: layer_scores(outputs, labels[indices], k=k, layer=layer, method=kind,  # noqa: E731
                                            dim=dim, seed=seed + repeat, precision="float32")
                seconds, scores = timed(call, trials if repeat == 0 else 1)
                rows.append({"repeat": repeat, "layer": layer, "D": width, "method": method,
                             "q": scores["modularity"], "seconds": seconds})
            del outputs
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per layer (mean over repeats): Q per method and |ΔQ|; per approx method: max |ΔQ| and the widest layer's speedup."""
    mean = frame.groupby(["layer", "D", "method"], sort=False)["q"].mean().unstack("method")
    layers = mean.reset_index()
    methods = [m for m in mean.columns if m != "exact"]
    for method in methods:
        layers[f"|dQ| {method}"] = (mean[method] - mean["exact"]).abs().to_numpy()
    first = frame[frame.repeat == 0]
    seconds = first.pivot_table(index=["layer", "D"], columns="method", values="seconds", sort=False)
    widest = seconds.index.get_level_values("D").max()
    wide = seconds[seconds.index.get_level_values("D") == widest].iloc[0]
    verdict = pd.DataFrame([{
        "method": method, "max |dQ|": layers[f"|dQ| {method}"].max(),
        "worst layer": layers.loc[layers[f"|dQ| {method}"].idxmax(), "layer"],
        f"widest layer ({seconds[seconds.index.get_level_values('D') == widest].index[0][0]}, D={widest}) exact s":
            wide["exact"],
        "approx s": wide[method], "speedup": wide["exact"] / wide[method],
        "all layers exact s": seconds["exact"].sum(), "all layers approx s": seconds[method].sum(),
        "meets targets": bool(layers[f"|dQ| {method}"].max() <= Q_TARGET and wide["exact"] / wide[method] >= SPEED_TARGET),
    } for method in methods]).set_index("method")
    return layers, verdict


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet56")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--n", type=int, default=10_000, help="images of the one large graph per layer")
    parser.add_argument("--curve-n", type=int, default=500, help="images per graph of the curve check (0: none)")
    parser.add_argument("--curve-repeats", type=int, default=5)
    parser.add_argument("--dims", type=int, nargs="+", default=[256, 512, 1024], help="projected widths")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--checkpoint", help="a checkpoint file (default: the cached or shipped default-recipe one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    dg.settings.verbosity = 0
    checkpoint = args.checkpoint or default_checkpoint(args.model, args.dataset)
    if checkpoint is None:
        raise SystemExit(f"No trained {args.model} on {args.dataset}: the accuracy target is about a trained curve; "
                         f"train it with dg.pretrained({args.model!r}, {args.dataset!r}) or pass --checkpoint.")
    model = build_model({"checkpoint": checkpoint, "model": args.model, "dataset": args.dataset, "seed": args.seed})
    data = dg.get_dataset(args.dataset, "test")
    load_start = os.getloadavg()
    layer_scores(torch.randn(50, 8), np.arange(50) % 2, k=args.k, layer="warm-up",
                 method="approx", dim=4)  # lazy imports, thread pools
    settings = {"large": (args.n, 1)} | ({"curve": (args.curve_n, args.curve_repeats)} if args.curve_n else {})
    frames, sections = {}, []
    for name, (n, repeats) in settings.items():
        print(f"{name}: n = {n} x {repeats} ...", flush=True)
        frames[name] = compare_layers(model, data, n=n, repeats=repeats, dims=args.dims, k=args.k, seed=args.seed,
                                      trials=args.trials)
        layers, verdict = summarize(frames[name])
        sections += [f"== n = {n}, {repeats} sample(s), Q per layer (mean over samples) ==",
                     layers.to_string(index=False, float_format=lambda x: f"{x:.4f}"), "",
                     f"== n = {n}: targets max |dQ| <= {Q_TARGET}, speedup on the widest layer >= {SPEED_TARGET} ==",
                     verdict.to_string(float_format=lambda x: f"{x:.4g}"), ""]
    info = dg.reports.run_info(**{key: value for key, value in vars(args).items() if key != "out"},
                       checkpoint_file=shown_path(checkpoint), device="cpu")
    load_end = os.getloadavg()
    text = "\n".join([f"bench_approx: {args.model} ({shown_path(checkpoint)}), {args.dataset} test, CPU, k={args.k}; "
                      f"approx = seeded random projection to each width, then the exact path",
                      f"load average: start {' '.join(f'{x:.2f}' for x in load_start)}, "
                      f"end {' '.join(f'{x:.2f}' for x in load_end)}", "", *sections, info.to_string(), ""])
    print("\n" + text, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"parameters": {k: shown_path(v) if k == "out" else str(v) for k, v in vars(args).items()},
         "rows": {name: frame.to_dict("records") for name, frame in frames.items()}}, indent=1) + "\n")
    print(f"written: {shown_path(args.out)} and its .json")


if __name__ == "__main__":
    main()
