"""Benchmark: what the curve recorder costs a training epoch.

One run of ``dynamic_graphs.training.train`` (the dataset's recipe, ``--epochs`` epochs, on
``--train-size`` images or all) with one :class:`~dynamic_graphs.training.CurveRecorder` per probe
setting passed as ``callbacks=``: each is called after every epoch, in turn, on the same weights.
Reported per setting: the epoch's own seconds (the training history's, which end before the
callbacks run), the recorder's seconds, and their ratio, the fraction a recorder called every
epoch adds. The same recorders run inside ``ModularityCallback`` under Lightning.

    .venv/bin/python benchmarks/bench_callback.py                                     # resnet20, 1 epoch, all images
    .venv/bin/python benchmarks/bench_callback.py --train-size 2048 --out /tmp/c.txt  # smoke test
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
import torch
from _report import write_report

import dynamic_graphs as dg

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "reports" / "benchmark_callback.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=None, help="None: every training image")
    parser.add_argument("--probes", nargs="+", default=["500x1", "500x5"], help="probe sets as NxREPEATS")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = dg.data.dataset_info(args.dataset)
    torch.manual_seed(0)
    model = dg.get_model(args.model, num_classes=info["num_classes"], in_channels=info["in_channels"],
                         mean=info["mean"], std=info["std"])
    probes = {probe: tuple(int(part) for part in probe.split("x")) for probe in args.probes}
    recorders = {probe: dg.training.CurveRecorder(dg.get_dataset(args.dataset, "test"), n=n, repeats=repeats,
                                                  device="cpu") for probe, (n, repeats) in probes.items()}
    load_start = os.getloadavg()
    history = dg.training.train(model, args.dataset, None, device="cpu", dataset_name=args.dataset,
                                epochs=args.epochs, train_size=args.train_size, callbacks=list(recorders.values()))
    load_end = os.getloadavg()
    rows = []
    for probe, recorder in recorders.items():
        for epoch, seconds in recorder.seconds.items():
            epoch_seconds = float(history.loc[history["epoch"] == epoch, "seconds"].iloc[0])
            rows.append({"probe": probe, "layers": len(dg.probe_layers(model)), "epoch": epoch,
                         "epoch_s": round(epoch_seconds, 1), "recorder_s": round(seconds, 1),
                         "recorder/epoch": round(seconds / epoch_seconds, 3)})
    table = pd.DataFrame(rows)
    images = args.train_size or len(dg.get_dataset(args.dataset, "train"))
    write_report(args, f"bench_callback: {args.model} trained on {images} {args.dataset} images per epoch "
                       f"({args.threads} threads), a CurveRecorder per probe set after each epoch",
                 [table.to_string(index=False), ""], rows, load=(load_start, load_end))

if __name__ == "__main__":
    main()
