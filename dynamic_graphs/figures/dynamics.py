"""The training-dynamics figure: Q of chosen probe layers after every epoch, beside the test accuracy
(Lu et al. 2022, Fig. 4)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal, Sequence

import pandas as pd
import torch

from ..data.registry import get_dataset
from ..models import probe_layers
from ..training import CurveRecorder, epoch_checkpoint, load_checkpoint
from ..progress import progress
from ..training.weights import pretrained
from ..utils import check_int_list

__all__ = ["PAPER_PROBE", "epoch_files", "probe_indices", "training_dynamics"]

PAPER_PROBE = (1, 2, 5, 7, 9)  # the layers L1, L2, L5, L7, L9 of the paper's training-dynamics figure


def probe_indices(probe: int | Sequence[int], n_layers: int, *, model: str = "the model") -> list[int]:
    """Check 1-based probe-layer indices; those past ``n_layers`` are dropped with a warning.

    Returns:
        The kept indices, sorted.

    Raises:
        TypeError: an index that is not an integer.
        ValueError: an index below 1, a repeated index, or none left.

    Example:
        >>> probe_indices([9, 1, 2], 10)
        [1, 2, 9]
    """
    probe = check_int_list("probe", probe, minimum=1)
    beyond = sorted(p for p in probe if p > n_layers)
    if beyond:
        warnings.warn(f"Probe layers {beyond} are past {model}'s {n_layers} probe layers and are left out.",
                      UserWarning, stacklevel=2)
    kept = sorted(p for p in probe if p <= n_layers)
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
        dataset: a dataset name known to ``get_dataset`` (a name, since the training run is cached by it).
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
        Tidy frame, one row per (epoch, layer, repeat): ``epoch`` (1..E, the declared label column of
        :func:`~dynamic_graphs.stack_curves`), ``layer``, ``depth`` (the probe index), ``repeat``,
        ``modularity``, ``test_acc`` (the epoch checkpoint's), ``n``, ``k``.
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
    # the curve recorder a training run would call after each epoch, here on each epoch's saved weights
    recorder = CurveRecorder(get_dataset(dataset, split), layers=layers, n=n, repeats=repeats, k=k, seed=seed,
                             device=device, sampling=sampling)
    for epoch, file in enumerate(progress(files, desc=f"training dynamics {name} · epoch"), start=1):
        model = load_checkpoint(file, device=device)
        recorder(model, epoch, test_acc=model.checkpoint["test_acc"])
    stacked = recorder.frame.assign(depth=lambda frame: frame["layer"].map(depth))
    columns = ["epoch", "layer", "depth", "repeat", "modularity", "test_acc", "n", "k"]
    frame = stacked[columns].sort_values(["epoch", "repeat", "depth"], ignore_index=True)
    frame.attrs = {**stacked.attrs,
                   "params": {"model": name, "dataset": dataset, "probe": chosen, "n": n, "repeats": repeats,
                              "k": k, "seed": seed, "split": split, "sampling": sampling,
                              "checkpoint": str(path), "hparams": final.checkpoint["hparams"]}}
    return frame
