"""Checkpoints: where a run's file lives in the cache, reading one safely, and rebuilding its model.

A checkpoint is a plain dict of tensors, numbers and strings (``state_dict``, ``config``,
``hparams``, ``history``...), written atomically by :func:`~dynamic_graphs.training.train` after
every epoch and read with ``weights_only=True``, so that loading a file never runs code from it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .._settings import settings
from ..models import get_model
from ..utils import cache_key, isolated_rng, resolve_device

__all__ = ["checkpoint_path", "epoch_checkpoint", "finished", "load_checkpoint", "read_checkpoint"]


def read_checkpoint(path: Path) -> dict:
    """The dict a checkpoint file holds, tensors on the CPU.

    Raises:
        ValueError: the file is unreadable, would need code to load, or is not a dynamic_graphs
            checkpoint; it is left as it is.
    """
    try:
        # weights_only: a checkpoint holds tensors and plain containers; never run code from a file.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the file is unusable
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [""]
        detail = next((line for line in lines if line.startswith("Unsupported")), lines[0])[:300]
        raise ValueError(f"Checkpoint {path} is unreadable ({type(err).__name__}: {detail}). Only tensors, "
                         "numbers, strings and plain containers are loaded. It was left as it is; "
                         "move or delete it to train again.") from err
    if not isinstance(state, dict) or "state_dict" not in state or "config" not in state:
        raise ValueError(f"Checkpoint {path} is not a dynamic_graphs checkpoint (no 'state_dict'/'config'); "
                         "it was left as it is; move or delete it to train again.")
    return state


def finished(path: str | Path) -> bool:
    """Whether ``path`` holds a checkpoint of a completed run (an unreadable file raises, see
    :func:`load_checkpoint`)."""
    return Path(path).exists() and bool(read_checkpoint(Path(path)).get("complete"))


def load_checkpoint(path: str | Path, *, device: str | torch.device = "auto") -> nn.Module:
    """Rebuild a model from a checkpoint written by :func:`train`, in eval mode, on ``device``.

    The file is read with ``torch.load(..., weights_only=True)``: tensors, numbers, strings and
    plain containers only, so loading a file can never execute code from it.

    The checkpoint's metadata (hyperparameters, epoch, test accuracy, commit) is attached as
    ``model.checkpoint``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is corrupt or not a dynamic_graphs checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train one with dynamic_graphs.pretrained(...) "
                                "or train(...).")
    state = read_checkpoint(path)
    with isolated_rng():  # the initial weights are overwritten: leave the caller's random state alone
        model = get_model(**state["config"])
    model.load_state_dict(state["state_dict"])
    model.checkpoint = {key: value for key, value in state.items()
                        if key not in ("state_dict", "optimizer", "scheduler", "rng")} | {"path": str(path)}
    return model.to(resolve_device(device)).eval()


def epoch_checkpoint(path: str | Path, epoch: int) -> Path:
    """Where :func:`train` with ``keep_epochs=True`` keeps the weights after ``epoch``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.epoch{epoch:03d}.pt")


def checkpoint_path(name: str, dataset: str, hparams: dict, seed: int, model_kwargs: dict | None = None,
                    keep_epochs: bool = False) -> Path:
    """The cache file for a model trained by :func:`pretrained`: one per (model, data, options, seed).

    Runs that keep every epoch's weights are cached apart, so that their per-epoch files exist.
    """
    fields = {"model": name, "kwargs": model_kwargs or {}, "dataset": dataset, "hparams": hparams, "seed": seed}
    if keep_epochs:  # only when set, so that the keys of ordinary runs stay as they were
        fields["keep_epochs"] = True
    return settings.checkpoint_dir / str(dataset).replace("/", "_") / f"{name}-{cache_key(fields)}.pt"
