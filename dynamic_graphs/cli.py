"""The ``dynamic-graphs`` command (also ``python -m dynamic_graphs``): one entry point, three subcommands.

``report`` renders notebooks into HTML reports (:mod:`dynamic_graphs.reports`), ``train`` trains
one model, also under torchrun (:mod:`dynamic_graphs.training.launch`), ``zoo`` tabulates the
trained zoo (:mod:`dynamic_graphs.training.zoo`). This module only parses arguments, turns bad
ones into usage errors (exit status 2, no traceback) and calls the library.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from . import training
from .reports import rendering as reports
from .utils import lookup

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

_RAW = argparse.RawDescriptionHelpFormatter

REPORT_EXAMPLES = """examples:
  dynamic-graphs report fig3 -p model resnet56      # one notebook, with overrides
  dynamic-graphs report fig3 --tag vggs -p model "[vgg16, vgg19]"   # reports/fig3-vggs.html
  dynamic-graphs report --all                       # every notebook, reports/parameters.yml
  dynamic-graphs report table1 --all                # one notebook's full runs from that file
  dynamic-graphs report fig3 --all --tag seeds      # only its run tagged seeds (fig3-seeds.html)
  dynamic-graphs report fig3 --out-dir out/fig3     # out/fig3/fig3.html, reports/ untouched
  dynamic-graphs report fig3 fig6 -f params.yml --executor dask --workers 2   # a Dask sweep
  dynamic-graphs report --all --executor dask --scheduler tcp://head:8786     # any Dask cluster

Every run renders its own report; a failed run does not stop the others, and the command ends by
listing the runs that failed and why, with a non-zero exit status. --executor dask submits each
run as a Dask task: to a LocalCluster of --workers processes by default, or to the scheduler at
--scheduler (one started by dask-jobqueue on SLURM or PBS, or on Kubernetes). In
reports/parameters.yml a notebook maps to its parameters, or to a list of runs, each with an
optional tag naming its report.
"""

TRAIN_EXAMPLES = """examples:
  dynamic-graphs train resnet20 fashion-mnist                 # the cache entry pretrained() reads
  dynamic-graphs train resnet56 fashion-mnist --seed 1 --out runs/resnet56-s1.pt
  torchrun --standalone --nproc_per_node=2 -m dynamic_graphs train resnet20 synthetic --epochs 2

Under torchrun every process trains a DistributedDataParallel replica (gloo on CPU, NCCL on CUDA,
one GPU per process) on its share of each global batch; rank 0 alone evaluates and writes the
checkpoint, atomically after every epoch, in the format of single-process training, and an
interrupted run resumes from it. Without --out the checkpoint is the cache entry
dynamic_graphs.pretrained reads for the same options. At the end every process prints the digest
of its weights and of the file.
"""

ZOO_EXAMPLES = """examples:
  dynamic-graphs zoo resnet20 resnet56 --seeds 0 1 2      # train what is missing, print the table
  dynamic-graphs zoo resnet20:0,1,2 vgg11 --out reports/zoo.csv --missing skip  # per-model seeds
  dynamic-graphs zoo resnet20 resnet56 --ship              # commit-ready weights under weights/
  dynamic-graphs zoo vgg16 --precision bf16                # bfloat16 autocast: see --precision
  dynamic-graphs zoo resnet20:0,1,2 --train-size 600 --subset per-class --epochs 563 --test-size 1000 --test-every 10
                                                           # 60 images a class, as many steps as 6 full epochs

Every row comes from the checkpoint of the run that trained the model (its recorded test accuracy,
epochs and per-epoch seconds), never from a re-evaluation. --out updates the table it names: a row
of this run replaces the row of the same checkpoint (model, dataset, key) and the other rows stay,
so that models trained on other machines or in other sessions keep their rows. --replace writes
only this run's rows.
"""


def _usage_error(parser: argparse.ArgumentParser, err: Exception):
    """A bad name or option as argparse's usage error: the message alone (a KeyError's without quotes)."""
    parser.error(str(err.args[0] if isinstance(err, KeyError) and err.args else err))


# --------------------------------------------------------------------------- report


def _add_report(commands) -> None:
    parser = commands.add_parser("report", help="render notebooks into HTML reports (serially or on Dask)",
                                 description="Execute figure notebooks with papermill and render them as "
                                 "HTML reports without input cells.", epilog=REPORT_EXAMPLES, formatter_class=_RAW)
    parser.add_argument("names", nargs="*", help=f"notebooks to render: {', '.join(reports.notebook_names())}")
    parser.add_argument("--all", action="store_true",
                        help="the full runs of reports/parameters.yml: of every notebook, or of the named ones")
    parser.add_argument("-f", "--parameters-file", help="a YAML file of parameters for every run (as papermill's -f)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a parameter (YAML value), for every notebook rendered; over -f")
    parser.add_argument("--tag", help="name the report <notebook>-<tag>.html (one notebook, several reports); "
                                      "with --all, render only the runs of that tag")
    parser.add_argument("--out-dir", default=str(reports.REPORT_DIR),
                        help="where the reports go (default: the committed reports/; make demo uses out/demo)")
    parser.add_argument("--executor", default="serial", choices=reports.EXECUTORS,
                        help="serial (default) or dask: every run a Dask task")
    parser.add_argument("--scheduler", help="a Dask scheduler address (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, help="LocalCluster worker processes (default 2)")
    parser.set_defaults(run=_report, parser=parser)


def _report(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    import yaml

    names = args.names or (reports.notebook_names() if args.all else [])
    if not names:
        parser.error("name a notebook or pass --all")
    try:
        names = [lookup(name, reports.notebook_names(), what="notebook") for name in names]
        shared = reports.read_parameters_file(args.parameters_file) if args.parameters_file else {}
    except (KeyError, ValueError) as err:  # a typo is a usage error, not a traceback
        _usage_error(parser, err)
    if args.scheduler and args.executor != "dask":
        parser.error("--scheduler needs --executor dask")
    overrides = {key: yaml.safe_load(value) for key, value in args.parameter}
    try:
        runs = reports.report_runs(names, args.all, args.tag, shared, overrides)
    except ValueError as err:  # --all --tag that names no run
        parser.error(str(err))
    failures = reports.render_runs(runs, out_dir=args.out_dir, executor=args.executor, scheduler=args.scheduler,
                                   workers=args.workers)
    if failures:
        logger.error("%d of %d runs failed:", len(failures), len(runs))
        for stem, error in failures.items():
            logger.error("  %s: %s", stem, error)
        return 1
    return 0


# --------------------------------------------------------------------------- train


def _add_train(commands) -> None:
    parser = commands.add_parser("train", help="train one model with its recipe (also under torchrun)",
                                 description="Train a registry model with its dataset's recipe, in one process or "
                                 "with DistributedDataParallel.", epilog=TRAIN_EXAMPLES, formatter_class=_RAW)
    parser.add_argument("model", help="a registry name (dg.list_models())")
    parser.add_argument("dataset", help="a dataset name (fashion-mnist, cifar10, cifar100, synthetic)")
    parser.add_argument("--epochs", type=int, help="default: the dataset's recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", help="a named recipe of the dataset (dg.training.RECIPES), e.g. step")
    parser.add_argument("--train-size", type=int, help="train on a seeded subset of this many images")
    parser.add_argument("--batch-size", type=int, help="the global batch (default: the recipe's)")
    parser.add_argument("--precision", choices=training.PRECISIONS,
                        help="bf16: the forward pass under bfloat16 autocast, fast only where the device has "
                             "bfloat16 kernels (not on an AVX2 CPU) (default: the recipe's, fp32)")
    parser.add_argument("--out", help="the checkpoint file (default: the cache entry of dg.pretrained)")
    parser.add_argument("--device", help="default: auto (one process) or each process's GPU (torchrun)")
    parser.set_defaults(run=_train, parser=parser)


def _train(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    options = {"epochs": args.epochs, "train_size": args.train_size, "batch_size": args.batch_size,
               "precision": args.precision}
    try:
        training.check_run(args.model, args.dataset, args.recipe, **options)  # before any process group
    except (KeyError, TypeError, ValueError) as err:
        _usage_error(parser, err)
    run = training.train_run(args.model, args.dataset, seed=args.seed, recipe=args.recipe, out=args.out,
                             device=args.device, **options)
    print(f"rank {run['rank']}: weights {run['weights']}, checkpoint {run['checkpoint']}, "
          f"test accuracy {run['test_acc']}", flush=True)
    return 0


# --------------------------------------------------------------------------- zoo


def _add_zoo(commands) -> None:
    parser = commands.add_parser("zoo", help="tabulate the trained zoo (top-1, minutes), training what is missing",
                                 description="The trained zoo: the models the reports use, with their accuracy "
                                 "and training time.", epilog=ZOO_EXAMPLES, formatter_class=_RAW)
    parser.add_argument("models", nargs="+",
                        help="registry names (dg.list_models()), each optionally with its own seeds: resnet20:0,1,2")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    parser.add_argument("--recipe", help="a named recipe of the dataset (default: the model's own, else the "
                        "dataset's default)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    parser.add_argument("--train-size", type=int, help="train on a seeded subset of this many images")
    parser.add_argument("--subset", choices=training.SUBSETS,
                        help="how --train-size draws: random (default) or per-class (as many images of each class)")
    parser.add_argument("--classes", type=int, nargs="+",
                        help="train and test on these class indices only, e.g. --classes 0 1 (default: all)")
    parser.add_argument("--test-size", type=int,
                        help="score each epoch on a seeded subset of this many test images (default: all)")
    parser.add_argument("--test-every", type=int, default=1, metavar="N",
                        help="score the test images every N epochs and at the last (default: 1); the weights are the "
                             "same, and a small subset's many short epochs train faster")
    parser.add_argument("--precision", choices=training.PRECISIONS,
                        help="bf16: train under bfloat16 autocast: about twice as fast on a CPU with bfloat16 "
                             "kernels (AVX512, AMX), many times slower on an AVX2 CPU, where it is emulated (default: "
                             "the recipe's, fp32)")
    parser.add_argument("--missing", default="train", choices=training.MISSING,
                        help="a model not trained yet: train it (default), skip its row, or fail")
    parser.add_argument("--out", help="update the CSV table here (e.g. reports/zoo.csv): this run's rows replace "
                        "those of the same checkpoint, the others stay; else print the table")
    parser.add_argument("--replace", action="store_true", help="with --out: write this run's rows only")
    parser.add_argument("--ship", action="store_true",
                        help="also copy each trained model into weights/ with its sha256 "
                             "(see dg.training.ship_weights)")
    parser.add_argument("--device", default="auto")
    parser.set_defaults(run=_zoo, parser=parser)


def _model_and_seeds(spec: str, default: list[int]) -> tuple[str, list[int]]:
    """``"resnet20:0,1,2"`` -> ``("resnet20", [0, 1, 2])``; ``"vgg11"`` -> ``("vgg11", default)``."""
    name, _, seeds = spec.partition(":")
    if not seeds:
        return name, default
    try:
        return name, [int(seed) for seed in seeds.split(",")]
    except ValueError:
        raise ValueError(f"{spec!r}: seeds after the colon must be integers separated by commas, "
                         "e.g. resnet20:0,1,2.") from None


def _zoo(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    options = {"epochs": args.epochs, "train_size": args.train_size, "precision": args.precision,
               "subset": args.subset, "classes": args.classes, "test_size": args.test_size}
    try:
        tables = [training.zoo_table(name, args.dataset, seeds=seeds, missing=args.missing, recipe=args.recipe,
                                     device=args.device, test_every=args.test_every, **options)
                  for name, seeds in (_model_and_seeds(spec, args.seeds) for spec in args.models)]
    except (KeyError, ValueError, TypeError) as err:  # a typo is a usage error, not a traceback
        _usage_error(parser, err)
    table = pd.concat(tables, ignore_index=True)
    if args.ship:
        training.ship_table(table, args.dataset, command=shlex.join(["dynamic-graphs", *argv]), recipe=args.recipe,
                            **options)
    if args.out:
        try:
            training.write_zoo_table(Path(args.out), table, replace=args.replace)
        except ValueError as err:
            parser.error(str(err))
    else:
        print(table.to_string(index=False))
    return 0


# --------------------------------------------------------------------------- the command

_SUBCOMMANDS: tuple[Callable, ...] = (_add_report, _add_train, _add_zoo)


def build_parser(prog: str = "dynamic-graphs") -> argparse.ArgumentParser:
    """The ``dynamic-graphs`` parser, with one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog=prog, description="Layer-by-layer class separation of trained "
                                     "networks (k-NN graph modularity): render reports, train, tabulate the zoo.",
                                     epilog="'COMMAND --help' describes each command and its options.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "dynamic-graphs") -> int:
    """Run ``dynamic-graphs`` with ``argv`` (default: the command line's); return the exit status.

    ``prog`` names the command in usage messages (``python -m dynamic_graphs`` from ``__main__``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    # papermill logs the notebook's own output (epoch lines, progress) through its logger: show it here.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args.run(args, args.parser, argv)
