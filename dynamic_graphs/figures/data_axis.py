"""Does a plateau appear when the model outgrows its data? The paper's claim, on the data axis.

Lu et al. 2022 (abstract): modularity "roughly tends to increase as the layer goes deeper and the
degradation and plateau arise when the model complexity is great relative to the dataset". A
ratio needs two axes: here the architecture is held fixed while the data shrinks, in training
images (per-class subsets) and in classes.

1. :func:`equal_step_epochs`: every cell trains for as many optimizer steps as the dataset's
   recipe on the full training set (the same number of updates, so a small set is fitted, not
   under-trained; equal epochs would give 600 images 30 steps, a model that never learned);
2. :func:`data_axis_curves`: the curve of every (model, training-set size, classes, training seed),
   each on the same test images of its classes, with its test accuracy on them;
   :func:`data_axis_cells` lists the grid, what trains each cell and whether it is trained yet;
3. :func:`plateau_share`: one number per curve, the share of its layer gains whose paired 95 %
   interval reaches 0 or lies below it (a plateau or a dip), and the longest run of them;
   :func:`rise_depth`, a second number that does not depend on the gains' size: the relative depth
   by which the curve has made 90 % of its rise; :func:`plateau_summary` gives both means and
   intervals across training seeds per cell.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from torch.utils.data import Subset

from ..curve import CurveSpec, modularity_curve
from ..data import dataset_info, labels_of, train_images
from ..data.registry import get_dataset
from ..frames import iter_curves, stack_curves, t_interval
from ..models import probe_layers
from ..pruning.selection import paired_gains
from ..rules import check_draws
from ..training import MISSING, class_subset, train_defaults
from ..training.weights import is_trained, pretrained
from ..utils import check_int_list, lookup, refuse_unknown

__all__ = ["data_axis_cells", "data_axis_curves", "equal_step_epochs", "model_seeds", "plateau_share", "plateau_shares",
           "plateau_summary", "rise_depth"]

logger = logging.getLogger(__name__)

ALL_CLASSES = "all"  # the classes label of a cell trained on every class


def equal_step_epochs(train_size: int | None, dataset: str = "fashion-mnist", *, classes: Sequence[int] | None = None,
                      steps: int | None = None) -> int:
    """Epochs that give ``train_size`` images (of ``classes``) ``steps`` optimizer steps: by default the recipe's.

    The recipe's steps are ``epochs × ceil(split / batch)`` on the full training split; a subset
    takes ``ceil(images / batch)`` a epoch, so it trains for the steps over that, rounded (at least
    one epoch). Fashion-MNIST (6 epochs of 469 steps): 600 images, 563 epochs; 6,000, 60; all, 6.

    Example:
        >>> equal_step_epochs(600), equal_step_epochs(6000), equal_step_epochs(None), equal_step_epochs(600, steps=20)
        (563, 60, 6, 4)
    """
    recipe = train_defaults(dataset)
    full = dataset_info(dataset)["split_sizes"]["train"]
    images = train_images(dataset, train_size, classes)
    steps = steps if steps is not None else recipe["epochs"] * math.ceil(full / recipe["batch_size"])
    return max(1, round(steps / math.ceil(images / recipe["batch_size"])))


def _class_label(classes: Sequence[int] | None) -> str:
    return ALL_CLASSES if classes is None else ",".join(str(label) for label in sorted(classes))


def data_axis_cells(models: str | Sequence[str], dataset: str = "fashion-mnist", *,
                    train_sizes: Sequence[int | None] = (600, 6000, None), class_sets: Sequence[Any] = (None,),
                    class_train_sizes: Sequence[int | None] | None = None,
                    train_seeds: Sequence[int] | Mapping[str, Sequence[int]] = (0,), test_size: int | None = 500,
                    steps: int | None = None) -> pd.DataFrame:
    """Every cell of :func:`data_axis_curves`' grid: how it trains, and whether it is trained yet.

    Nothing is trained or loaded: a cell is ``trained`` when its checkpoint is in the cache or its
    weights ship with the repository (:func:`~dynamic_graphs.training.is_trained`).

    Returns:
        One row per (model, classes, training-set size, training seed), in the order the curves are
        measured: ``model``, ``train_size`` (the images used), ``classes``, ``train_seed``,
        ``epochs``, ``trained`` and ``command`` (the ``dynamic-graphs zoo`` line that trains it ahead,
        e.g. in the background; empty for the recipe itself, which ships).
    """
    grid = _grid(models, dataset, train_sizes, class_sets, class_train_sizes, train_seeds, test_size, steps)
    rows = [{"model": cell["model"], "train_size": cell["used"], "classes": _class_label(cell["classes"]),
             "train_seed": cell["seed"], "epochs": cell["epochs"],
             "trained": is_trained(cell["model"], dataset, seed=cell["seed"], **cell["training"]),
             "command": _zoo_command(cell, dataset)} for cell in grid]
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


CELL_COLUMNS = ["model", "train_size", "classes", "train_seed", "epochs", "trained", "command"]


def _grid(models: str | Sequence[str], dataset: str, train_sizes: Sequence[int | None], class_sets: Sequence[Any],
          class_train_sizes: Sequence[int | None] | None, train_seeds: Sequence[int] | Mapping[str, Sequence[int]],
          test_size: int | None, steps: int | None) -> Iterator[dict[str, Any]]:
    """The grid's cells: ``model``, ``seed``, ``classes`` (sorted, or None), ``used`` (training images),
    ``epochs`` and ``training`` (:func:`~dynamic_graphs.pretrained`'s options)."""
    models = [models] if isinstance(models, str) else list(models)
    for name in models:
        probe_layers(name)  # an unknown model fails here, before any training
    seeds = model_seeds(models, train_seeds)
    for classes in class_sets:
        classes = sorted(classes) if classes is not None else None
        for size in train_sizes if classes is None or class_train_sizes is None else class_train_sizes:
            plain = size is None and classes is None  # the recipe itself: the shipped weights
            epochs = train_defaults(dataset)["epochs"] if plain else equal_step_epochs(size, dataset, classes=classes,
                                                                                         steps=steps)
            training = {} if plain else {"train_size": size, "subset": "per-class" if size is not None else None,
                                         "classes": classes, "epochs": epochs, "test_size": test_size}
            used = train_images(dataset, size, classes)
            for name in models:
                for seed in seeds[name]:
                    yield {"model": name, "seed": seed, "classes": classes, "used": used, "epochs": epochs,
                           "training": training}


def cell_name(model: str, seed: int, images: int, classes: str = ALL_CLASSES) -> str:
    """A cell in a message: ``resnet20:1 on 600 images``, ``resnet20:0 on 12,000 images of classes 0,6``."""
    return f"{model}:{seed} on {images:,} images" + ("" if classes == ALL_CLASSES else f" of classes {classes}")


def _cell_name(cell: Mapping[str, Any]) -> str:
    return cell_name(cell["model"], cell["seed"], cell["used"], _class_label(cell["classes"]))


def _zoo_command(cell: Mapping[str, Any], dataset: str) -> str:
    """The ``dynamic-graphs zoo`` line that trains a cell (its cache entry), or "" for the recipe itself."""
    training = cell["training"]
    if not training:
        return ""
    words = ["dynamic-graphs", "zoo", f"{cell['model']}:{cell['seed']}"]
    words += [] if dataset == "fashion-mnist" else ["--dataset", dataset]
    if training["train_size"] is not None:
        words += ["--train-size", str(training["train_size"]), "--subset", training["subset"]]
    if training["classes"] is not None:
        words += ["--classes", *map(str, training["classes"])]
    words += ["--epochs", str(training["epochs"])]
    words += [] if training["test_size"] is None else ["--test-size", str(training["test_size"])]
    return " ".join(words)


def data_axis_curves(models: str | Sequence[str], dataset: str = "fashion-mnist", spec: CurveSpec | None = None, *,
                     train_sizes: Sequence[int | None] = (600, 6000, None), class_sets: Sequence[Any] = (None,),
                     class_train_sizes: Sequence[int | None] | None = None,
                     train_seeds: Sequence[int] | Mapping[str, Sequence[int]] = (0,), test_size: int | None = 500,
                     steps: int | None = None, missing: str = "train", **options: Any) -> pd.DataFrame:
    """The modularity curve of every model trained on every training-set size and set of classes.

    Each cell trains (or loads from the cache) with the dataset's recipe, on a per-class subset of
    ``train_size`` images of its classes, for :func:`equal_step_epochs`; a cell on the full split
    with every class is the recipe itself (the shipped weights). Its curve and its accuracy are
    measured on the test images of its classes: the same images for every model and seed of
    those classes; its accuracy is its training run's last evaluation (``test_size`` images of
    its classes), as the zoo table records it. :func:`data_axis_cells` lists the grid and what is
    trained of it.

    Args:
        models: registry names.
        dataset: the dataset name.
        spec, **options: the curves' settings (:class:`~dynamic_graphs.CurveSpec`).
        train_sizes: training images per cell; None: the whole split (of the cell's classes).
        class_sets: None (every class) or lists of class indices, e.g. ``[None, [0, 6]]``.
        class_train_sizes: the training sizes of the cells on a list of classes; None: ``train_sizes``
            (``[None]``: only the whole split of those classes, a cheaper second axis).
        train_seeds: one trained model and curve per seed; a mapping gives each model its own,
            e.g. ``{"resnet20": [0, 1, 2], "resnet110": [0]}`` (seeds where they are cheap).
        test_size: test images of the cell's classes each epoch of a subset or class cell is scored
            on; the last epoch's score is the cell's ``test_acc`` (a cell on the whole split with every
            class keeps the recipe's: every test image).
        steps: optimizer steps of every subset or class cell (:func:`equal_step_epochs`); None:
            the recipe's on the full split. A small value makes a quick, untrained run (tests, CI).
        missing: a cell not trained yet: ``"train"`` it (hours on a CPU for the deeper models),
            ``"skip"`` it (one warning names the cells left out), or ``"raise"``.

    Returns:
        The curves stacked with label columns ``model``, ``train_size`` (the images used),
        ``classes`` (``"all"`` or ``"0,6"``), ``train_seed``; then the curve's columns, ``test_acc``
        and ``epochs``.
    """
    spec = CurveSpec.build(spec, **options)
    missing = lookup(missing, MISSING, what="missing= policy")
    test = get_dataset(dataset, spec.split)
    grid = list(_grid(models, dataset, train_sizes, class_sets, class_train_sizes, train_seeds, test_size, steps))
    labels = labels_of(test) if any(cell["classes"] is not None for cell in grid) else None
    for label, classes in {_class_label(cell["classes"]): cell["classes"] for cell in grid}.items():  # before training
        available = len(test) if classes is None else int(np.isin(labels, classes).sum())
        check_draws(available, n=spec.n, repeats=spec.repeats, what=(
            f"The {spec.split} split" + ("" if classes is None else f" of classes {label}")),
            fix="lower n or repeats; every class set's curves are drawn at the same n, so that they compare")
    curves, untrained = {}, []
    for cell in grid:
        name, seed, classes = cell["model"], cell["seed"], cell["classes"]
        if missing != "train" and not is_trained(name, dataset, seed=seed, **cell["training"]):
            if missing == "raise":
                raise FileNotFoundError(f"{_cell_name(cell)} is not trained yet; train it with "
                                        f"`{_zoo_command(cell, dataset)}`, or pass missing='train'.")
            untrained.append(cell)
            continue
        images = test if classes is None else Subset(test, class_subset(labels_of(test), None, 0, classes=classes))
        model = pretrained(name, dataset, seed=seed, device=spec.device, **cell["training"])
        curve = modularity_curve(model, images, spec).assign(test_acc=model.checkpoint["test_acc"],
                                                             epochs=cell["epochs"])
        curves[(name, cell["used"], _class_label(classes), seed)] = curve
    if untrained:  # one message: the grid table (data_axis_cells) has each cell's command
        logger.warning("%d of the grid's %d cells are not trained yet and are left out: %s. "
                       "dg.figures.data_axis_cells lists the command that trains each, e.g. `%s`.",
                       len(untrained), len(grid), ", ".join(_cell_name(cell) for cell in untrained),
                       _zoo_command(untrained[0], dataset))
    if not curves:
        raise ValueError("No cell of the grid is trained yet, so there is no curve: pass missing='train', or train "
                         "cells ahead (dg.figures.data_axis_cells(...)['command']).")
    return stack_curves(curves, name=["model", "train_size", "classes", "train_seed"])


def model_seeds(models: Sequence[str], train_seeds: Sequence[int] | Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Each model's training seeds: the same list for every model, or a mapping that names each model once.

    Example:
        >>> model_seeds(["resnet20", "resnet56"], {"resnet20": [0, 1, 2], "resnet56": [0]})
        {'resnet20': [0, 1, 2], 'resnet56': [0]}
    """
    if not isinstance(train_seeds, Mapping):
        seeds = check_int_list("train_seeds", train_seeds, minimum=0)
        return {name: seeds for name in models}
    refuse_unknown(train_seeds, models, what="model in train_seeds", context=f" The models compared: {list(models)}.")
    missing = [name for name in models if name not in train_seeds]
    if missing:
        raise ValueError(f"train_seeds gives no seeds for {', '.join(missing)}: name every model, e.g. "
                         f"{{{', '.join(f'{name!r}: [0]' for name in models)}}}.")
    return {name: check_int_list(f"train_seeds[{name!r}]", train_seeds[name], minimum=0) for name in models}


def plateau_share(curve: pd.DataFrame, *, value: str = "modularity") -> dict[str, float]:
    """The share of a curve's layer gains that stop rising, and the longest run of them.

    A gain ``Q(layer) − Q(previous layer)`` stops rising when its paired 95 % t-interval over the
    repeats (the same images feed both layers) reaches 0 or lies below it (``gain_low ≤ 0``): a
    plateau, or a dip where the whole interval is below 0. An unresolved gain, whose interval is too
    wide to exclude 0, counts too: the measure asks whether the curve demonstrably rises there.

    Returns:
        ``plateau_share`` (of the curve's gains, NaN with one repeat: no interval), ``longest_run``
        (consecutive such gains), ``dips`` (gains whose whole interval is below 0), ``gains``.

    Example:
        >>> curve = pd.DataFrame({"repeat": [0, 0, 0, 1, 1, 1], "depth": [1, 2, 3] * 2,
        ...                       "modularity": [0.5, 0.7, 0.7, 0.52, 0.71, 0.69]})
        >>> plateau_share(curve)
        {'plateau_share': 0.5, 'longest_run': 1, 'dips': 0, 'gains': 2}
    """
    repeats = curve.pivot(index="repeat", columns="depth", values=value)  # the same images feed every layer
    gains = paired_gains(repeats).dropna(subset=["gain"])
    if gains["gain_low"].isna().any():
        return {"plateau_share": math.nan, "longest_run": math.nan, "dips": math.nan, "gains": len(gains)}
    stops = (gains["gain_low"] <= 0).to_numpy()
    longest = run = 0
    for stop in stops:
        run = run + 1 if stop else 0
        longest = max(longest, run)
    return {"plateau_share": float(stops.mean()) if len(stops) else math.nan, "longest_run": int(longest),
            "dips": int((gains["gain_high"] < 0).sum()), "gains": len(gains)}


RISE_REACHED = 0.9  # rise_depth: the share of a curve's rise that counts as reached


def rise_depth(curve: pd.DataFrame, *, value: str = "modularity", reached: float = RISE_REACHED) -> float:
    """The relative depth at which a curve has made ``reached`` of its rise: 0 at its first layer, 1 at its last.

    The rise is the highest mean Q over the repeats minus the first layer's; the curve has made
    ``reached`` of it at the first layer whose mean Q is at least the first layer's plus
    ``reached`` times the rise. A curve that plateaus (or dips) over its last layers makes its rise
    early, and one that keeps rising makes it at its last layer (1.0). Unlike
    :func:`plateau_share`, the value does not depend on how large the gains are, only on where
    they are: a curve whose every gain is half as large has the same rise depth. NaN for a curve
    that never rises above its first layer or has one layer.

    Example:
        >>> curve = pd.DataFrame({"repeat": [0] * 5, "depth": [1, 2, 3, 4, 5],
        ...                       "modularity": [0.5, 0.6, 0.69, 0.7, 0.7]})
        >>> rise_depth(curve)  # 0.5 + 0.9 × 0.2 = 0.68 is first reached at the third of five layers
        0.5
    """
    if not 0 < reached <= 1:
        raise ValueError(f"reached must be a share in (0, 1], got {reached!r}.")
    mean = curve.groupby("depth")[value].mean().sort_index().to_numpy(float)
    rise = mean.max() - mean[0] if len(mean) > 1 else math.nan
    if not rise > 0:
        return math.nan
    layer = int(np.argmax(mean - mean[0] >= reached * rise - 1e-12 * rise))  # the first layer there
    return layer / (len(mean) - 1)


def plateau_shares(curves: pd.DataFrame) -> pd.DataFrame:
    """:func:`plateau_share` and :func:`rise_depth` of every curve of a stacked frame: one row per curve, its
    labels first, then ``test_acc``."""
    rows = [{**labels, **plateau_share(curve), "rise_depth": rise_depth(curve),
             "test_acc": float(curve["test_acc"].iloc[0])}
            for labels, curve in iter_curves(curves, caller="plateau_shares")]
    return pd.DataFrame(rows)


def plateau_summary(curves: pd.DataFrame, *, over: str = "train_seed") -> pd.DataFrame:
    """Per cell (every label but ``over``): the plateau share and rise depth, means and t-intervals across ``over``.

    Args:
        curves: :func:`data_axis_curves`' frame (any stacked curves with a ``test_acc`` column and
            the label ``over``).
        over: the label whose curves are the cell's independent replicates (training seeds).

    Returns:
        One row per cell: its labels, ``plateau_share`` with ``share_low``, ``share_high``,
        ``longest_run`` (mean), ``dips`` (mean), ``gains``, ``rise_depth`` with ``rise_low``,
        ``rise_high``, ``test_acc`` (mean) and ``seeds`` (the curves pooled). With one seed the
        intervals are NaN.
    """
    per_curve = plateau_shares(curves)
    measured = ("plateau_share", "longest_run", "dips", "gains", "rise_depth", "test_acc")
    cell = [label for label in per_curve.columns if label not in (*measured, over, "n", "k")]
    summary = per_curve.groupby(cell, sort=False, dropna=False).agg(
        plateau_share=("plateau_share", "mean"), share_std=("plateau_share", "std"),
        longest_run=("longest_run", "mean"), dips=("dips", "mean"), gains=("gains", "first"),
        rise_depth=("rise_depth", "mean"), rise_std=("rise_depth", "std"),
        test_acc=("test_acc", "mean"), seeds=(over, "nunique")).reset_index()
    for column, low, high, std in [("plateau_share", "share_low", "share_high", "share_std"),
                                   ("rise_depth", "rise_low", "rise_high", "rise_std")]:
        summary[low], summary[high] = t_interval(summary[column], summary[std], summary["seeds"])
    columns = [*cell, "plateau_share", "share_low", "share_high", "longest_run", "dips", "gains", "rise_depth",
               "rise_low", "rise_high", "test_acc", "seeds"]
    return summary[columns]
