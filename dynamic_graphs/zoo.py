"""The trained zoo: the models the reports use, with their accuracy and training time.

Command line::

    python -m dynamic_graphs.zoo resnet20 resnet56 --seeds 0 1 2      # train what is missing, print the table
    python -m dynamic_graphs.zoo resnet20:0,1,2 vgg11 --out reports/zoo.csv --missing skip  # per-model seeds
    python -m dynamic_graphs.zoo resnet20 resnet56 --ship              # commit-ready weights under weights/
    python -m dynamic_graphs.zoo vgg16 --precision bf16                # bfloat16 autocast: see --help

Every row comes from the checkpoint of the run that trained the model (its recorded test
accuracy, epochs and per-epoch seconds), never from a re-evaluation.

``--out`` updates the table it names: a row of this run replaces the row of the same checkpoint
(``model``, ``dataset``, ``key``) and the other rows stay, so that models trained on other
machines or in other sessions, whose checkpoints this one lacks, keep their rows. ``--replace``
writes only this run's rows.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .data import dataset_info
from .models import probe_layers
from .training import (PRECISIONS, checkpoint_path, finished, model_hparams, pretrained, recipe_name, ship_weights,
                       shipped_entry)
from .utils import as_list, atomic_path, check_int_list, lookup, shown_path

logger = logging.getLogger(__name__)

ZOO_COLUMNS = ["model", "dataset", "top1", "epochs", "train_size", "seed", "minutes", "recipe", "key", "git"]
MISSING = ("train", "skip", "raise")


def zoo_row(model: Any) -> dict[str, Any]:
    """The zoo-table row of a model from :func:`~dynamic_graphs.pretrained` (its ``checkpoint`` metadata).

    ``top1`` is the test accuracy in percent as the run recorded it, ``train_size`` the number of
    training images it saw (the split's size when it used them all), ``minutes`` the sum of its
    epochs' wall-clock seconds.
    """
    meta = model.checkpoint
    hparams = meta["hparams"]
    dataset = meta.get("dataset")
    train_size = hparams.get("train_size")
    if train_size is None:
        train_size = (dataset_info(dataset).get("split_sizes") or {}).get("train") if dataset else None
    history = meta.get("history") or []
    seconds = sum(float(row.get("seconds") or 0.0) for row in history)
    accuracy = meta.get("test_acc")
    return {"model": meta["config"]["name"], "dataset": dataset,
            "top1": None if accuracy is None else round(100 * float(accuracy), 2),
            "epochs": meta.get("epoch"), "train_size": train_size, "seed": meta.get("seed"),
            "minutes": round(seconds / 60, 1) if history else None,
            "recipe": recipe_name(dataset, hparams), "key": Path(meta["path"]).stem.rsplit("-", 1)[-1],
            "git": meta.get("git")}


def zoo_table(models: str | Sequence[str], dataset: str = "fashion-mnist", *, seeds: int | Sequence[int] = 0,
              missing: str = "train", recipe: str | None = None, model_kwargs: dict | None = None,
              device: str = "auto", **overrides: Any) -> pd.DataFrame:
    """One row per (model, seed): top-1, epochs, training images, seed and minutes of its training run.

    Args:
        models: registry names.
        dataset: the dataset they are trained on.
        seeds: training seeds.
        missing: what to do when a model has no finished checkpoint (nor shipped weights):
            ``"train"`` it (as :func:`~dynamic_graphs.pretrained` would), ``"skip"`` its row (with a
            warning) or ``"raise"``.
        recipe, model_kwargs, **overrides: as for :func:`~dynamic_graphs.pretrained`.

    Returns:
        Columns :data:`ZOO_COLUMNS` (``recipe`` the recipe's name, see
        :func:`~dynamic_graphs.training.recipe_name`; ``key`` the checkpoint's cache key; ``git``
        the commit it was trained from).

    Raises:
        FileNotFoundError: ``missing="raise"`` and a model is not trained.
    """
    models = as_list(models)
    for name in models:
        probe_layers(name)  # an unknown model fails here, listing the registry
    seeds = check_int_list("seeds", seeds, minimum=0)
    missing = lookup(missing, MISSING, what="missing= policy")
    rows = []
    for name in models:
        for seed in seeds:
            if missing != "train" and not _available(name, dataset, seed, recipe, model_kwargs, overrides):
                message = f"{name} on {dataset} (seed {seed}) is not trained yet"
                if missing == "raise":
                    raise FileNotFoundError(f"{message}; train it with dg.pretrained({name!r}, {dataset!r}, "
                                            f"seed={seed}) or pass missing='train'.")
                logger.warning("%s: left out of the table.", message)
                continue
            model = pretrained(name, dataset, seed=seed, device=device, recipe=recipe, model_kwargs=model_kwargs,
                               **overrides)
            rows.append(zoo_row(model))
    return pd.DataFrame(rows, columns=ZOO_COLUMNS)


def _available(name: str, dataset: str, seed: int, recipe: str | None, model_kwargs: dict | None,
               overrides: dict) -> bool:
    """Whether :func:`pretrained` would load this model without training (cached, or shipped)."""
    _, hparams = model_hparams(name, dataset, recipe, overrides)
    return finished(checkpoint_path(name, dataset, hparams, seed, model_kwargs)) or \
        shipped_entry(name, dataset, hparams, seed, model_kwargs) is not None


ROW_IDENTITY = ["model", "dataset", "key"]  # one training run: its checkpoint's cache key encodes recipe and seed


def updated_table(path: str | Path, table: pd.DataFrame) -> pd.DataFrame:
    """The zoo table at ``path`` with ``table``'s rows in it: each replaces the row of the same run, others are added.

    Rows of ``path`` that ``table`` does not hold keep their place. A missing file is an empty table.

    Raises:
        ValueError: ``path`` exists but is not a zoo table (unreadable, or without the columns
            :data:`ZOO_COLUMNS`): it is not overwritten.
    """
    path = Path(path)
    if not path.exists():
        return table.reset_index(drop=True)
    try:
        existing = pd.read_csv(path, dtype={"key": str, "git": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise ValueError(f"{shown_path(path)} could not be read as a zoo table ({err}); it is left as it is. Move it "
                         "away, or pass --replace to write this run's rows only.") from err
    absent = [column for column in ZOO_COLUMNS if column not in existing.columns]
    if absent:
        raise ValueError(f"{shown_path(path)} is not a zoo table: it lacks the columns {absent}; it is left as it is. "
                         "Move it away, or pass --replace to write this run's rows only.")
    rows = existing[ZOO_COLUMNS].to_dict("records")
    fresh = {tuple(row[column] for column in ROW_IDENTITY): row for row in table.to_dict("records")}
    kept = [fresh.pop(tuple(row[column] for column in ROW_IDENTITY), row) for row in rows]
    return pd.DataFrame(kept + list(fresh.values()), columns=ZOO_COLUMNS)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+",
                        help="registry names (dg.list_models()), each optionally with its own seeds: resnet20:0,1,2")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    parser.add_argument("--recipe", help="a named recipe of the dataset (default: the model's own, else the "
                        "dataset's default)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    parser.add_argument("--train-size", type=int, help="train on a seeded subset of this many images")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="bf16: train under bfloat16 autocast: about twice as fast on a CPU with bfloat16 "
                             "kernels (AVX512, AMX), many times slower on an AVX2 CPU, where it is emulated (default: "
                             "the recipe's, fp32)")
    parser.add_argument("--missing", default="train", choices=MISSING,
                        help="a model not trained yet: train it (default), skip its row, or fail")
    parser.add_argument("--out", help="update the CSV table here (e.g. reports/zoo.csv): this run's rows replace "
                        "those of the same checkpoint, the others stay; else print the table")
    parser.add_argument("--replace", action="store_true", help="with --out: write this run's rows only")
    parser.add_argument("--ship", action="store_true",
                        help="also copy each trained model into weights/ with its sha256 (see dg.ship_weights)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        tables = [zoo_table(name, args.dataset, seeds=seeds, missing=args.missing, recipe=args.recipe,
                            device=args.device, epochs=args.epochs, train_size=args.train_size,
                            precision=args.precision)
                  for name, seeds in (_model_and_seeds(spec, args.seeds) for spec in args.models)]
    except (KeyError, ValueError, TypeError) as err:  # a typo is a usage error, not a traceback
        parser.error(str(err.args[0] if isinstance(err, KeyError) and err.args else err))
    table = pd.concat(tables, ignore_index=True)
    if args.ship:
        command = shlex.join(["python", "-m", "dynamic_graphs.zoo", *(argv if argv is not None else sys.argv[1:])])
        for row in table.itertuples():
            ship_weights(row.model, args.dataset, command=command, seed=int(row.seed), recipe=args.recipe,
                         epochs=args.epochs, train_size=args.train_size, precision=args.precision)
    if args.out:
        out = Path(args.out)
        if not args.replace:
            try:
                table = updated_table(out, table)
            except ValueError as err:
                parser.error(str(err))
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        logger.info("wrote %s (%d rows)", shown_path(out), len(table))
    else:
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
