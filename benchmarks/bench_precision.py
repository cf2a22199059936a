"""Benchmark: a training step in float32 against the same step under bfloat16 autocast (``precision="bf16"``).

For each model, one seeded batch of Fashion-MNIST-shaped inputs (1 × 32 × 32, the padded images)
goes through the loop body of ``dynamic_graphs.training.train()``: forward pass and cross-entropy (under
``torch.autocast(..., dtype=torch.bfloat16)`` for bf16), backward pass and an SGD step with
Nesterov momentum. The two precisions alternate trial by trial on one process, so that a load on
the machine slows both alike; each keeps its best time after one untimed warm-up. Reported: seconds
per step of each, fp32 / bf16 (the speed-up) and the implied minutes per 60,000-image epoch.

Only the speed is measured here. Whether bf16 training reaches the accuracy of fp32 is a
property of a whole run: ``dynamic-graphs zoo resnet20 --precision bf16`` against the
fp32 row of ``reports/zoo.csv``.

    .venv/bin/python benchmarks/bench_precision.py                        # resnet56 vgg16, batch 128, 1 thread
    .venv/bin/python benchmarks/bench_precision.py --models resnet20 --trials 2 --out /tmp/p.txt   # smoke test
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from _report import write_report

import dynamic_graphs as dg

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "reports" / "benchmark_precision.txt"
PRECISIONS = ("fp32", "bf16")


def step_seconds(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, trials: int) -> dict:
    """Best seconds per training step of ``model`` in each precision, the precisions alternating."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    best = dict.fromkeys(PRECISIONS, float("inf"))
    for trial in range(trials + 1):  # trial 0 warms both up, untimed
        for precision in PRECISIONS:
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if trial:
                best[precision] = min(best[precision], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet56", "vgg16"])
    parser.add_argument("--batch-size", type=int, default=128, help="the Fashion-MNIST recipe's batch")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one training job per core)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = dg.data.dataset_info("fashion-mnist")
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 1, 32, 32, generator=generator)
    labels = torch.randint(0, info["num_classes"], (args.batch_size,), generator=generator)
    load_start = os.getloadavg()
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = dg.get_model(name, num_classes=info["num_classes"], in_channels=1, mean=info["mean"],
                             std=info["std"]).train()
        best = step_seconds(model, images, labels, trials=args.trials)
        steps = -(-60_000 // args.batch_size)
        rows.append({"model": name, "fp32_s": round(best["fp32"], 3), "bf16_s": round(best["bf16"], 3),
                     "fp32/bf16": round(best["fp32"] / best["bf16"], 2),
                     "fp32_min_per_epoch": round(best["fp32"] * steps / 60, 1),
                     "bf16_min_per_epoch": round(best["bf16"] * steps / 60, 1)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    load_end = os.getloadavg()
    write_report(args, f"bench_precision: a training step, float32 against bfloat16 autocast, best of {args.trials} "
                       f"alternating trials, batch {args.batch_size} of 1 x 32 x 32 inputs, {args.threads} thread(s)",
                 [table.to_string(index=False), ""], rows, load=(load_start, load_end))


if __name__ == "__main__":
    main()
