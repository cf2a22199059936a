"""Modularity of chosen probe layers after every training epoch, beside the test accuracy (PAPER.md F-training)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np
import pandas as pd
import torch

from .curve import modularity_curve
from .data import get_dataset
from .models import probe_layers
from .training import epoch_checkpoint, load_checkpoint, pretrained
from .utils import progress

if TYPE_CHECKING:
    import matplotlib.axes

PAPER_PROBE = (1, 2, 5, 7, 9)  # the layers L1, L2, L5, L7, L9 of the paper's training-dynamics figure


def probe_indices(probe: Sequence[int], n_layers: int, *, model: str = "the model") -> list[int]:
    """Check 1-based probe-layer indices; those past ``n_layers`` are dropped with a warning.

    Returns:
        The kept indices, sorted.

    Raises:
        ValueError: an index that is not an integer >= 1, a repeated index, or none left.

    Example:
        >>> probe_indices([9, 1, 2], 10)
        [1, 2, 9]
    """
    if isinstance(probe, (int, np.integer)):
        probe = [probe]
    probe = list(probe)
    bad = [p for p in probe if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1]
    if bad:
        raise ValueError(f"probe holds 1-based layer indices (integers >= 1), got {bad}.")
    repeated = sorted({int(p) for p in probe if probe.count(p) > 1})
    if repeated:
        raise ValueError(f"probe lists {repeated} more than once; give each layer index once.")
    beyond = sorted(int(p) for p in probe if p > n_layers)
    if beyond:
        warnings.warn(f"Probe layers {beyond} are past {model}'s {n_layers} probe layers and are left out.",
                      UserWarning, stacklevel=2)
    kept = sorted(int(p) for p in probe if p <= n_layers)
    if not kept:
        raise ValueError(f"None of the probe layers {probe} exists: {model} has {n_layers} (1..{n_layers}).")
    return kept


def epoch_files(path: str | Path, epochs: int) -> list[Path]:
    """The per-epoch weight files of a run cached at ``path``, checked to exist.

    Raises:
        FileNotFoundError: some are missing, with what to do about it.
    """
    path = Path(path)
    files = [epoch_checkpoint(path, epoch) for epoch in range(1, epochs + 1)]
    missing = [epoch for epoch, file in zip(range(1, epochs + 1), files) if not file.is_file()]
    if missing:
        shown = missing if len(missing) <= 10 else [*missing[:10], "..."]
        raise FileNotFoundError(
            f"Training dynamics need the weights of every epoch, but {len(missing)} of the {epochs} per-epoch "
            f"checkpoints of {path} are missing (epochs {shown}; expected e.g. {files[missing[0] - 1]}). The run "
            f"was cached without keep_epochs=True, or its epoch files were deleted. Delete {path} (and any "
            f"{path.stem}.epoch*.pt beside it) and call again to retrain keeping every epoch; or train into "
            "another cache entry (another seed or option).")
    return files


def training_dynamics(name: str, dataset: str = "fashion-mnist", *, probe: Sequence[int] = PAPER_PROBE,
                      n: int = 500, repeats: int = 1, k: int = 3, seed: int = 0, device: str | torch.device = "auto",
                      model_kwargs: dict | None = None, split: str = "test",
                      sampling: Literal["random", "sequential"] = "random", **train_options: Any) -> pd.DataFrame:
    """Q of chosen probe layers after each training epoch, with that epoch's test accuracy.

    Trains ``name`` from scratch on ``dataset`` keeping every epoch's weights (``pretrained(...,
    keep_epochs=True)``, cached: a second call only measures), then computes the modularity curve
    of the chosen layers for each epoch's weights, always on the same ``n`` images.

    Args:
        name: a registered model.
        dataset: a dataset name known to ``get_dataset``.
        probe: 1-based probe-layer indices (the paper: L1, L2, L5, L7, L9); indices past the model's
            probe layers are dropped with a warning.
        n: images per graph (the paper: 500).
        repeats: disjoint samples per layer and epoch.
        k: neighbours per node.
        seed: training seed and image draw.
        device: where to train and measure.
        model_kwargs: builder arguments, e.g. ``{"blocks": [1, 1, 1]}``.
        split: the images the graphs are built from.
        sampling: see :func:`~dynamic_graphs.modularity_curve`.
        **train_options: training options (``epochs``, ``train_size``, ...; ``None`` keeps the recipe's).

    Returns:
        Tidy frame, one row per (epoch, layer, repeat): ``epoch`` (1..E), ``layer``, ``depth`` (the
        probe index), ``repeat``, ``modularity``, ``test_acc`` (the epoch checkpoint's), ``n``, ``k``.
        ``frame.attrs["params"]`` records the options and the checkpoint path.

    Raises:
        FileNotFoundError: the cached run lacks per-epoch weights (the message says what to do).
    """
    model_kwargs = dict(model_kwargs or {})
    chosen = probe_indices(probe, len(probe_layers(name, **model_kwargs)), model=name)  # before any training
    final = pretrained(name, dataset, seed=seed, device=device, model_kwargs=model_kwargs, keep_epochs=True,
                       **train_options)
    path = Path(final.checkpoint["path"])
    epochs = len(final.checkpoint["history"])
    files = epoch_files(path, epochs)
    all_layers = probe_layers(final)
    layers = [all_layers[index - 1] for index in chosen]
    depth = dict(zip(layers, chosen))
    images = get_dataset(dataset, split)
    frames = []
    for epoch, file in enumerate(progress(files, desc="epochs"), start=1):
        model = load_checkpoint(file, device=device)
        curve = modularity_curve(model, images, layers=layers, n=n, repeats=repeats, k=k, seed=seed,
                                 device=device, sampling=sampling)
        frames.append(curve.assign(epoch=epoch, depth=curve["layer"].map(depth),
                                   test_acc=model.checkpoint["test_acc"]))
    columns = ["epoch", "layer", "depth", "repeat", "modularity", "test_acc", "n", "k"]
    frame = pd.concat(frames, ignore_index=True)[columns].sort_values(["epoch", "repeat", "depth"], ignore_index=True)
    frame.attrs["params"] = {"model": name, "dataset": dataset, "probe": chosen, "n": n, "repeats": repeats,
                             "k": k, "seed": seed, "split": split, "sampling": sampling,
                             "checkpoint": str(path), "hparams": final.checkpoint["hparams"]}
    return frame


def plot_training_dynamics(frame: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                           accuracy: bool = True, title: str | None = None) -> matplotlib.axes.Axes:
    """One line of Q per probe layer ("L1", "L2", ...) against the epoch, and the test accuracy.

    The paper's layout (PAPER.md F-training): y is "Q / accuracy" on one scale, accuracy as a
    fraction. With several repeats the lines are means with a ±1 std band.

    Args:
        frame: from :func:`training_dynamics`.
        ax: axes to draw on; a new figure when None.
        accuracy: draw the test-accuracy line.
        title: axes title.

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    missing = {"epoch", "depth", "modularity", "test_acc"} - set(frame.columns)
    if missing:
        raise KeyError(f"frame lacks columns {sorted(missing)}; pass the frame from training_dynamics().")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    lowest = 0.0
    for depth, group in frame.groupby("depth", sort=True):
        stats = group.groupby("epoch")["modularity"].agg(["mean", "std"])
        line, = ax.plot(stats.index, stats["mean"], marker="o", markersize=4, label=f"L{depth}")
        if stats["std"].notna().any():  # several repeats
            ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        lowest = min(lowest, float(stats["mean"].min()))
    if accuracy:
        acc = frame.groupby("epoch")["test_acc"].first()
        ax.plot(acc.index, acc.values, color="black", linestyle="--", marker="s", markersize=4, label="Acc")
    ax.set_ylim(lowest - 0.02 if lowest < 0 else 0.0, 1.0)
    epochs = frame["epoch"]
    ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("Q / accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=9)
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax
