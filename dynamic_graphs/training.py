"""Training with the paper's recipe, atomic per-epoch checkpoints, resume, and a cache.

The CIFAR recipe is the one of the official code of Lu et al. 2022 (arXiv 2111.12485): SGD,
momentum 0.9, MultiStepLR, random crop and flip. Training runs in its own random streams
(:func:`~dynamic_graphs.utils.isolated_rng`): it is seeded by ``seed`` and leaves the caller's
global random state as it found it, whether a model is trained or loaded from the cache.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._settings import settings
from .data import as_dataset, dataset_info, get_dataset
from .models import get_model
from .utils import (atomic_torch_save, cache_key, check_positive_int, evaluating, git_commit, isolated_rng, progress,
                    resolve_device, shown_path)

logger = logging.getLogger(__name__)

# The paper's CIFAR recipe (SGD, MultiStepLR) and a short one for Fashion-MNIST on a CPU.
_PAPER_RECIPE = {
    "epochs": 150,
    "batch_size": 256,
    "lr": 0.01,              # initial learning rate
    "momentum": 0.9,
    "weight_decay": 5e-3,    # the paper's HEAD value (its 2021 code used 6e-4)
    "milestones": [50, 100],  # epochs at which the lr is multiplied by gamma
    "gamma": 0.1,
    "crop_padding": 4,       # RandomCrop(32, padding=4); 0 turns it off
    "flip": True,            # RandomHorizontalFlip
    "rotation": 0.0,         # max degrees of RandomRotation
    "train_size": None,      # use only this many training images (seeded subset); None = all
    "test_size": None,       # evaluate on this many test images; None = all
}
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "cifar10": dict(_PAPER_RECIPE),
    "cifar100": dict(_PAPER_RECIPE, rotation=15.0),
    # Minutes, not hours, on a 2-core CPU: a few epochs at a higher lr, decays in the last third.
    "fashion-mnist": dict(_PAPER_RECIPE, epochs=4, batch_size=128, lr=0.05, weight_decay=5e-4,
                          milestones=[2, 3], crop_padding=2),
}
FALLBACK_DEFAULTS = "cifar10"  # image folders and other data use the paper's recipe


def train_defaults(dataset: str) -> dict[str, Any]:
    """The default hyperparameters for ``dataset`` (a copy)."""
    return dict(TRAIN_DEFAULTS.get(str(dataset), TRAIN_DEFAULTS[FALLBACK_DEFAULTS]))


def _merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The recipe with ``overrides`` applied; an override of ``None`` keeps the recipe's value."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise TypeError(f"Unknown training option(s) {unknown}; valid: {sorted(defaults)}.")
    hparams = {**defaults, **{key: value for key, value in overrides.items() if value is not None}}
    for key in ("epochs", "batch_size", "train_size", "test_size"):
        if hparams[key] is not None:
            check_positive_int(key, hparams[key])
    hparams["milestones"] = [int(m) for m in hparams["milestones"]]
    return hparams


def check_subset_sizes(options: Mapping[str, Any], split_sizes: Mapping[str, int | None] | None) -> None:
    """Refuse a ``train_size``/``test_size`` that is not a whole number from 1 to its split's size.

    Args:
        options: training options (``None`` or a missing key: the whole split).
        split_sizes: images per split, ``{"train": ..., "test": ...}`` (``None`` where unknown), as
            :func:`~dynamic_graphs.data.dataset_info` gives them.

    Raises:
        TypeError: not an integer (``0.5``, ``"100"``), naming the option and the split's size.
        ValueError: below 1 or above the split's size, naming both.
    """
    for option, split in (("train_size", "train"), ("test_size", "test")):
        value = options.get(option)
        if value is None:
            continue
        size = (split_sizes or {}).get(split)
        has = f"the {split} split has {size} images" if size else f"the {split} split's size is not known yet"
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{option} must be a whole number of images, got {value!r} ({type(value).__name__}); "
                            f"{has}, and None uses all of them.")
        if value < 1 or (size and value > size):
            allowed = f"from 1 to {size}" if size else ">= 1"
            raise ValueError(f"{option} must be {allowed} ({has}), got {value!r}; None uses all of them.")


def _subset(size: int, keep: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random subset of ``keep`` of ``size`` items (all of them, in order, for ``None``).

    Each subset has its own stream, so the test images depend only on ``(seed, test_size)``, not on
    whether a training subset was drawn first.
    """
    if keep is None:
        return np.arange(size)
    return np.random.default_rng(seed).permutation(size)[:keep]


def augment(images: torch.Tensor, *, crop_padding: int, flip: bool, rotation: float,
            generator: torch.Generator) -> torch.Tensor:
    """Batched random crop (zero padding), horizontal flip and rotation, one draw per image."""
    batch, _, height, width = images.shape
    if rotation:
        angles = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(rotation)
        cos, sin = torch.cos(angles), torch.sin(angles)
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                             torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1).to(images)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, align_corners=False)
    if crop_padding:
        padded = F.pad(images, [crop_padding] * 4)
        top = torch.randint(0, 2 * crop_padding + 1, (batch,), generator=generator)
        left = torch.randint(0, 2 * crop_padding + 1, (batch,), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width))[:, None, None, :]
        images = padded[torch.arange(batch)[:, None, None, None], torch.arange(images.shape[1])[None, :, None, None],
                        rows, cols]
    if flip:
        flipped = torch.rand(batch, generator=generator) < 0.5
        images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    return images


def _batches(dataset: Dataset, indices: np.ndarray, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) batches of ``dataset`` in the order of ``indices``."""
    if hasattr(dataset, "batch"):  # in-memory datasets: no per-item Python overhead
        for start in range(0, len(indices), batch_size):
            yield dataset.batch(indices[start:start + batch_size])
    else:
        subset = torch.utils.data.Subset(dataset, indices.tolist())
        yield from DataLoader(subset, batch_size=batch_size, shuffle=False)


def evaluate(model: nn.Module, dataset: Dataset | str, *, batch_size: int = 500, device: str | torch.device = "auto",
             indices: np.ndarray | None = None) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (or on ``indices`` of it), in [0, 1].

    ``dataset`` is a Dataset or a registry name (its test split).
    """
    dataset = as_dataset(dataset, "test")
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    device = resolve_device(device)
    correct = 0
    with evaluating(model, device), torch.no_grad():
        for images, labels in _batches(dataset, indices, batch_size):
            correct += int((model(images.to(device)).argmax(1).cpu() == labels).sum())
    return correct / len(indices)


def _read_checkpoint(path: Path) -> dict:
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
    return Path(path).exists() and bool(_read_checkpoint(Path(path)).get("complete"))


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
        raise FileNotFoundError(f"No checkpoint at {path}; train one with dynamic_graphs.pretrained(...) or train(...).")
    state = _read_checkpoint(path)
    with isolated_rng():  # the initial weights are overwritten: leave the caller's random state alone
        model = get_model(**state["config"])
    model.load_state_dict(state["state_dict"])
    model.checkpoint = {key: value for key, value in state.items()
                        if key not in ("state_dict", "optimizer", "scheduler", "rng")} | {"path": str(path)}
    return model.to(resolve_device(device)).eval()


def train(model: nn.Module, train_set: Dataset | str, test_set: Dataset | str | None = None, *,
          checkpoint: str | Path | None = None, device: str | torch.device = "auto", seed: int = 0,
          keep_epochs: bool = False, dataset_name: str | None = None, **overrides) -> pd.DataFrame:
    """Train ``model`` with SGD + MultiStepLR; checkpoint every epoch; resume from ``checkpoint``.

    Hyperparameters default to the recipe of ``dataset_name`` (:data:`TRAIN_DEFAULTS`, the paper's
    for CIFAR) and any of them can be overridden by keyword, e.g. ``epochs=30``.

    Args:
        model: the network to train (modified in place; left in eval mode).
        train_set, test_set: datasets of (image in [0, 1], label), or registry names (their train
            and test splits); test accuracy is logged per epoch.
        checkpoint: file written atomically after every epoch. If it exists and is unfinished,
            training resumes from it; a finished one returns its history without training.
        device: where to train.
        seed: seeds the initial RNG state, the data order and the augmentation. Training runs in
            its own random streams: the caller's global random state is left as it was.
        keep_epochs: also keep every epoch's weights as ``<checkpoint stem>.epoch<E>.pt``.
        dataset_name: picks the default recipe.

    Returns:
        History with one row per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_acc``,
        ``test_acc``, ``seconds``.
    """
    train_set = as_dataset(train_set, "train")
    test_set = as_dataset(test_set, "test") if test_set is not None else None
    sizes = {"train": len(train_set), "test": len(test_set) if test_set is not None else None}
    check_subset_sizes(overrides, sizes)  # before _merge, so that the message names the split's size
    hparams = _merge(train_defaults(dataset_name), overrides)
    check_subset_sizes(hparams, sizes)
    device = resolve_device(device)
    with isolated_rng(seed, device):
        history = _train(model, train_set, test_set, hparams, checkpoint=checkpoint, device=device, seed=seed,
                         keep_epochs=keep_epochs, dataset_name=dataset_name)
    model.eval()
    return pd.DataFrame(history)


def _train(model: nn.Module, train_set: Dataset, test_set: Dataset | None, hparams: dict[str, Any], *,
           checkpoint: str | Path | None, device: torch.device, seed: int, keep_epochs: bool,
           dataset_name: str | None) -> list[dict]:
    """The training loop of :func:`train`, run inside its seeded random streams; returns the history."""
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=hparams["lr"], momentum=hparams["momentum"],
                                weight_decay=hparams["weight_decay"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=hparams["milestones"],
                                                     gamma=hparams["gamma"])
    history: list[dict] = []
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        state = _read_checkpoint(path)  # raises on a corrupt file: never train over it
        if state.get("hparams") != hparams:
            raise ValueError(f"Checkpoint {path} was trained with other hyperparameters "
                             f"({state.get('hparams')}); use another path or the same options.")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history = state["history"]
        if len(history) < hparams["epochs"]:
            logger.info("Resuming %s: epochs 1-%d done, continuing at epoch %d of %d", shown_path(path), len(history),
                        len(history) + 1, hparams["epochs"])
    train_indices = _subset(len(train_set), hparams["train_size"], seed)
    test_indices = _subset(len(test_set), hparams["test_size"], seed) if test_set is not None else None
    for epoch in range(len(history) + 1, hparams["epochs"] + 1):
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(seed * 10_000 + epoch)  # same order after a resume
        order = train_indices[torch.randperm(len(train_indices), generator=generator).numpy()]
        model.train()
        loss_sum, correct = 0.0, 0
        bar = progress(_batches(train_set, order, hparams["batch_size"]), desc=f"epoch {epoch}/{hparams['epochs']}",
                       total=-(-len(order) // hparams["batch_size"]))
        for images, labels in bar:
            images = augment(images, crop_padding=hparams["crop_padding"], flip=hparams["flip"],
                             rotation=hparams["rotation"], generator=generator)
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"Training diverged at epoch {epoch} (loss {loss_sum}); lower lr "
                                     f"(now {hparams['lr']}).")
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        test_acc = evaluate(model, test_set, device=device, indices=test_indices) if test_set is not None else None
        history.append({"epoch": epoch, "lr": lr, "train_loss": loss_sum / len(order),
                        "train_acc": correct / len(order), "test_acc": test_acc,
                        "seconds": time.perf_counter() - started})
        row = history[-1]
        logger.info("epoch %3d  lr %.4g  loss %.4f  train %.4f  test %s  %.0fs", epoch, lr, row["train_loss"],
                    row["train_acc"], "None" if test_acc is None else f"{test_acc:.4f}", row["seconds"])
        if path is not None:
            state = {"config": getattr(model, "config", None), "dataset": dataset_name, "hparams": hparams,
                     "seed": seed, "epoch": epoch, "complete": epoch == hparams["epochs"],
                     "test_acc": test_acc, "history": history, "git": git_commit(),
                     "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state()}
            atomic_torch_save(state, path)
            if keep_epochs:
                atomic_torch_save({k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "rng")},
                                  epoch_checkpoint(path, epoch))
    return history


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


def pretrained(name: str, dataset: str = "fashion-mnist", *, seed: int = 0, device: str | torch.device = "auto",
               model_kwargs: dict | None = None, keep_epochs: bool = False, **overrides) -> nn.Module:
    """A trained ``name`` for ``dataset``, from the checkpoint cache under ``settings.data_dir``.

    Trains it (with progress) when the cache has no finished checkpoint for these options, and
    resumes an interrupted run. The model comes back in eval mode, with its metadata
    (``test_acc``, ``hparams``, ``history``, ``path``) as ``model.checkpoint``. Building and
    training run in their own random streams seeded by ``seed``, so the caller's global random
    state after the call is the same whether the model was trained or loaded.

    Args:
        name: a registered model (see ``list_models()``).
        dataset: a dataset name known to ``get_dataset``.
        seed: training seed (part of the cache key).
        device: where to train and where the model is returned.
        model_kwargs: extra builder arguments, e.g. ``{"blocks": [2, 3, 6]}``.
        keep_epochs: keep every epoch's weights (for training-dynamics figures).
        **overrides: training options, see :data:`TRAIN_DEFAULTS`; ``None`` keeps the default
            (so notebook parameters can be passed through as they are).
    """
    info = dataset_info(dataset)
    check_subset_sizes(overrides, info.get("split_sizes"))  # before any download or training
    model_kwargs = dict(model_kwargs or {})
    hparams = _merge(train_defaults(dataset), overrides)
    path = checkpoint_path(name, dataset, hparams, seed, model_kwargs, keep_epochs)
    if finished(path):
        return load_checkpoint(path, device=device)
    with isolated_rng(seed, resolve_device(device)):  # the initial weights are part of what the seed fixes
        model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                          mean=info["mean"], std=info["std"], **model_kwargs)
    logger.info("Training %s on %s (%d epochs) -> %s", name, dataset, hparams["epochs"], shown_path(path))
    train(model, get_dataset(dataset, "train"), get_dataset(dataset, "test"), checkpoint=path, device=device,
          seed=seed, keep_epochs=keep_epochs, dataset_name=dataset, **overrides)
    return load_checkpoint(path, device=device)
