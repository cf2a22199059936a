"""The trained zoo: the models the reports use, with their accuracy and training time.

What ``dynamic-graphs zoo`` runs. Every row comes from the checkpoint of the run that trained the
model (its recorded test accuracy, epochs and per-epoch seconds), never from a re-evaluation.

:func:`write_zoo_table` updates the table it names: a row of this run replaces the row of the same
checkpoint (``model``, ``dataset``, ``key``) and the other rows stay, so that models trained on
other machines or in other sessions, whose checkpoints this one lacks, keep their rows;
``replace=True`` writes only this run's rows.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..data import train_images
from ..models import probe_layers
from ..utils import as_list, atomic_path, check_int, check_int_list, lookup, shown_path
from .recipes import recipe_name
from .weights import is_trained, pretrained, ship_weights

__all__ = ["MISSING", "ROW_IDENTITY", "ZOO_COLUMNS", "ship_table", "updated_table", "write_zoo_table", "zoo_row",
           "zoo_table"]

logger = logging.getLogger(__name__)

ZOO_COLUMNS = ["model", "dataset", "top1", "epochs", "train_size", "subset", "classes", "seed", "minutes", "recipe", "key",
               "git"]
# Columns a table written before they existed lacks: every run of it drew a random subset of every class.
ADDED_COLUMNS = {"subset": "random", "classes": "all"}
MISSING = ("train", "skip", "raise")


def zoo_row(model: Any) -> dict[str, Any]:
    """The zoo-table row of a model from :func:`~dynamic_graphs.pretrained` (its ``checkpoint`` metadata).

    ``top1`` is the test accuracy in percent as the run recorded it (on the test images of its
    classes), ``train_size`` the number of training images it saw (the split's size when it used
    them all), ``subset`` how they were drawn (``random`` or ``per-class``), ``classes`` the classes
    it was trained on (``all``, or indices such as ``0,6``), ``minutes`` the sum of its epochs'
    wall-clock seconds.
    """
    meta = model.checkpoint
    hparams = meta["hparams"]
    dataset = meta.get("dataset")
    train_size = train_images(dataset, hparams.get("train_size"), hparams.get("classes")) if dataset \
        else hparams.get("train_size")
    history = meta.get("history") or []
    seconds = sum(float(row.get("seconds") or 0.0) for row in history)
    accuracy = meta.get("test_acc")
    return {"model": meta["config"]["name"], "dataset": dataset,
            "top1": None if accuracy is None else round(100 * float(accuracy), 2),
            "epochs": meta.get("epoch"), "train_size": train_size, "subset": hparams.get("subset", "random"),
            "classes": ",".join(map(str, hparams["classes"])) if hparams.get("classes") else "all",
            "seed": meta.get("seed"),
            "minutes": round(seconds / 60, 1) if history else None,
            "recipe": recipe_name(dataset, hparams), "key": Path(meta["path"]).stem.rsplit("-", 1)[-1],
            "git": meta.get("git")}


def zoo_table(models: str | Sequence[str], dataset: str = "fashion-mnist", *, seeds: int | Sequence[int] = 0,
              missing: str = "train", recipe: str | None = None, model_kwargs: dict | None = None,
              device: str = "auto", test_every: int = 1, **overrides: Any) -> pd.DataFrame:
    """One row per (model, seed): top-1, epochs, training images, seed and minutes of its training run.

    Args:
        models: registry names.
        dataset: the dataset they are trained on.
        seeds: training seeds.
        missing: what to do when a model has no finished checkpoint (nor shipped weights):
            ``"train"`` it (as :func:`~dynamic_graphs.pretrained` would), ``"skip"`` its row (with a
            warning) or ``"raise"``.
        recipe, model_kwargs, test_every, **overrides: as for :func:`~dynamic_graphs.pretrained`.

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
    check_int("test_every", test_every)  # before any training, even when every model is trained already
    missing = lookup(missing, MISSING, what="missing= policy")
    rows = []
    for name in models:
        for seed in seeds:
            if missing != "train" and not is_trained(name, dataset, seed=seed, recipe=recipe, model_kwargs=model_kwargs,
                                                     **overrides):
                message = f"{name} on {dataset} (seed {seed}) is not trained yet"
                if missing == "raise":
                    raise FileNotFoundError(f"{message}; train it with dg.pretrained({name!r}, {dataset!r}, "
                                            f"seed={seed}) or pass missing='train'.")
                logger.warning("%s: left out of the table.", message)
                continue
            model = pretrained(name, dataset, seed=seed, device=device, recipe=recipe, model_kwargs=model_kwargs,
                               test_every=test_every, **overrides)
            rows.append(zoo_row(model))
    return pd.DataFrame(rows, columns=ZOO_COLUMNS)


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
    existing = existing.assign(**{column: value for column, value in ADDED_COLUMNS.items()
                                  if column not in existing.columns})
    absent = [column for column in ZOO_COLUMNS if column not in existing.columns]
    if absent:
        raise ValueError(f"{shown_path(path)} is not a zoo table: it lacks the columns {absent}; it is left as it is. "
                         "Move it away, or pass --replace to write this run's rows only.")
    rows = existing[ZOO_COLUMNS].to_dict("records")
    fresh = {tuple(row[column] for column in ROW_IDENTITY): row for row in table.to_dict("records")}
    kept = [fresh.pop(tuple(row[column] for column in ROW_IDENTITY), row) for row in rows]
    return pd.DataFrame(kept + list(fresh.values()), columns=ZOO_COLUMNS)


def write_zoo_table(path: str | Path, table: pd.DataFrame, *, replace: bool = False) -> pd.DataFrame:
    """Write ``table`` to the CSV ``path`` atomically: into the table there (:func:`updated_table`), or alone
    with ``replace=True``; return what was written.

    Raises:
        ValueError: ``path`` exists but is not a zoo table (without ``replace``): it is left as it is.
    """
    path = Path(path)
    if not replace:
        table = updated_table(path, table)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    logger.info("wrote %s (%d rows)", shown_path(path), len(table))
    return table


def ship_table(table: pd.DataFrame, dataset: str = "fashion-mnist", *, command: str, recipe: str | None = None,
               **overrides: Any) -> list[dict]:
    """Ship the weights of every row of a zoo ``table`` (:func:`~dynamic_graphs.training.ship_weights`).

    Args:
        table: from :func:`zoo_table` on ``dataset`` with ``recipe`` and ``**overrides``.
        command: the command that trained them, recorded in the manifest.

    Returns:
        The manifest entries, one per row.
    """
    return [ship_weights(row.model, dataset, command=command, seed=int(row.seed), recipe=recipe, **overrides)
            for row in table.itertuples()]
