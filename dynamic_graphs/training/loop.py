"""The training loop: seeded subsets, batched augmentation, evaluation, the optimizer and schedule,
and DistributedDataParallel sharding under torchrun.

Training runs in its own random streams (:func:`~dynamic_graphs.utils.isolated_rng`): it is
seeded by ``seed`` and leaves the caller's global random state as it found it. Every epoch ends
with an atomic checkpoint (:mod:`.checkpoints`), from which an interrupted run resumes.
"""
from __future__ import annotations

import datetime
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import as_dataset, labels_of
from ..progress import format_duration, progress
from ..utils import (atomic_torch_save, bfloat16_kernels, check_int, evaluating, git_commit, isolated_rng, model_name,
                     resolve_device, shown_path)
from .checkpoints import epoch_checkpoint, read_checkpoint
from .recipes import IMPLICIT_DEFAULTS, check_subset_sizes, merge_recipe, train_defaults

__all__ = ["augment", "class_subset", "evaluate", "iter_batches", "subset_indices", "train"]

logger = logging.getLogger(__name__)


def subset_indices(size: int, keep: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random subset of ``keep`` of ``size`` items (all of them, in order, for ``None``).

    Each subset has its own stream, so the test images depend only on ``(seed, test_size)``, not on
    whether a training subset was drawn first.
    """
    if keep is None:
        return np.arange(size)
    return np.random.default_rng(seed).permutation(size)[:keep]


def class_subset(labels: np.ndarray, keep: int | None, seed: int, *, classes: Sequence[int] | None = None,
                 per_class: bool = False) -> np.ndarray:
    """Indices of the images of ``classes`` (every class for None), then a seeded subset of ``keep`` of them.

    Without ``classes`` and ``per_class`` this is :func:`subset_indices` exactly. ``per_class``
    draws ``keep // C`` images of each of the C classes (the first ``keep % C`` classes one more),
    each class from its own seeded permutation, so that a small subset keeps the classes balanced.

    Raises:
        ValueError: a class with no image, or fewer images of a class than its share.
    """
    if classes is None and not per_class:
        return subset_indices(len(labels), keep, seed)
    labels = np.asarray(labels)
    chosen = sorted(classes) if classes is not None else sorted(np.unique(labels).tolist())
    by_class = {label: np.flatnonzero(labels == label) for label in chosen}
    empty = [label for label, members in by_class.items() if not len(members)]
    if empty:
        raise ValueError(f"classes {empty} have no image here (labels run over {sorted(np.unique(labels).tolist())}).")
    if not per_class:
        pool = np.sort(np.concatenate(list(by_class.values())))
        return pool[subset_indices(len(pool), keep, seed)]
    keep = sum(len(members) for members in by_class.values()) if keep is None else keep
    shares = [keep // len(chosen) + (position < keep % len(chosen)) for position in range(len(chosen))]
    rng = np.random.default_rng([seed, len(chosen)])
    picked = []
    for (label, members), share in zip(by_class.items(), shares):
        if share > len(members):
            raise ValueError(f"A per-class subset of {keep} images needs {share} of class {label}, which has "
                             f"{len(members)}; choose train_size <= {len(members) * len(chosen)}.")
        picked.append(rng.permutation(members)[:share])
    return np.sort(np.concatenate(picked))


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


def iter_batches(dataset: Dataset, indices: np.ndarray, batch_size: int
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
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
    batches = progress(iter_batches(dataset, indices, batch_size), desc=f"evaluate {model_name(model)} · batch",
                       total=-(-len(indices) // batch_size))
    with evaluating(model, device), torch.no_grad():
        for images, labels in batches:
            correct += int((model(images.to(device)).argmax(1).cpu() == labels).sum())
    return correct / len(indices)


def train(model: nn.Module, train_set: Dataset | str, test_set: Dataset | str | None = None, *,
          checkpoint: str | Path | None = None, device: str | torch.device = "auto", seed: int = 0,
          keep_epochs: bool = False, dataset_name: str | None = None, test_every: int = 1,
          callbacks: Sequence[Callable[[nn.Module, int], Any]] = (), **overrides) -> pd.DataFrame:
    """Train ``model`` with SGD + MultiStepLR (or OneCycleLR); checkpoint every epoch; resume from ``checkpoint``.

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
        test_every: score the test images every this many epochs and at the last (the others log
            ``test_acc`` None). Scoring does not change the weights; on a small training subset,
            where an epoch is a few steps, scoring every epoch can take a third of the run.
        callbacks: called as ``callback(model, epoch)`` after each epoch that runs here (epochs count
            from 1; a resumed run calls them for the epochs it trains), once the epoch's checkpoint
            is written, on the first process only; e.g. a :class:`~dynamic_graphs.training.CurveRecorder`.

    Returns:
        History with one row per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_acc``,
        ``test_acc``, ``seconds``.
    """
    train_set = as_dataset(train_set, "train")
    test_set = as_dataset(test_set, "test") if test_set is not None else None
    sizes = {"train": len(train_set), "test": len(test_set) if test_set is not None else None}
    check_subset_sizes(overrides, sizes)  # before merge_recipe, so that the message names the split's size
    hparams = merge_recipe(train_defaults(dataset_name), overrides)
    check_subset_sizes(hparams, sizes)
    test_every = check_int("test_every", test_every, minimum=1)
    device = resolve_device(device)
    with isolated_rng(seed, device):
        history = _train(model, train_set, test_set, hparams, checkpoint=checkpoint, device=device, seed=seed,
                         keep_epochs=keep_epochs, dataset_name=dataset_name, test_every=test_every,
                         callbacks=callbacks)
    model.eval()
    return pd.DataFrame(history)


def _train(model: nn.Module, train_set: Dataset, test_set: Dataset | None, hparams: dict[str, Any], *,
           checkpoint: str | Path | None, device: torch.device, seed: int, keep_epochs: bool,
           dataset_name: str | None, test_every: int = 1,
           callbacks: Sequence[Callable[[nn.Module, int], Any]] = ()) -> list[dict]:
    """The training loop of :func:`train`, run inside its seeded random streams; returns the history.

    Under ``torch.distributed`` (torchrun), each rank trains a DistributedDataParallel replica on its
    share of every global batch (:func:`_shard`), and rank 0 alone evaluates and writes the checkpoint.
    """
    rank, world = _distributed()
    if world > 1 and hparams["batch_size"] % world:
        raise ValueError(f"batch_size {hparams['batch_size']} must be a multiple of the {world} processes, so that "
                         "every process takes the same share of each batch.")
    model.to(device)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_indices, test_indices = _split_indices(train_set, test_set, hparams, seed)
    optimizer, scheduler = _optimizer(model, hparams, steps_per_epoch=-(-len(train_indices) // hparams["batch_size"]))
    per_batch = hparams.get("schedule", "multistep") == "onecycle"
    # bfloat16 autocast (CPU and CUDA): about half the time of a CPU epoch where oneDNN has bfloat16
    # kernels (AVX512, AMX), many times float32's on an AVX2 CPU, where it is emulated; bfloat16 keeps
    # float32's range, so no loss scaling. Evaluation stays in float32.
    low_precision = hparams.get("precision", "fp32") == "bf16"
    if low_precision and not bfloat16_kernels(device):
        warnings.warn(f"precision='bf16' on {device}: this device has no bfloat16 kernels "
                      f"({torch.backends.cpu.get_cpu_capability() if device.type == 'cpu' else device.type}), so "
                      "autocast emulates them and training is far slower than in float32 (a VGG16 step took 26x "
                      "as long on an AVX2 CPU). Train with precision='fp32' (the recipe's default) here.",
                      RuntimeWarning, stacklevel=3)
    history: list[dict] = []
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        state = read_checkpoint(path)  # raises on a corrupt file: never train over it
        if state.get("hparams") != hparams:
            raise ValueError(f"Checkpoint {path} was trained with other hyperparameters "
                             f"({state.get('hparams')}); use another path or the same options.")
        model.load_state_dict(state["state_dict"])
        if not (state.get("complete") and "optimizer" not in state):  # shipped weights: finished, nothing to resume
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
        history = state["history"]
        if len(history) < hparams["epochs"]:
            logger.info("Resuming %s: epochs 1-%d done, continuing at epoch %d of %d", shown_path(path), len(history),
                        len(history) + 1, hparams["epochs"])
    commit = git_commit()  # the code that runs: a file edited mid-run does not change what was loaded
    durations: list[float] = []  # this call's epochs: resumed ones may have run elsewhere
    for epoch in range(len(history) + 1, hparams["epochs"] + 1):
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(seed * 10_000 + epoch)  # same order after a resume
        order = train_indices[torch.randperm(len(train_indices), generator=generator).numpy()]
        order = _shard(order, hparams["batch_size"], rank, world)
        local_batch = hparams["batch_size"] // world
        model.train()
        loss_sum, correct = 0.0, 0
        lr = optimizer.param_groups[0]["lr"]  # the epoch's (first batch's) learning rate
        for images, labels in progress(iter_batches(train_set, order, local_batch), total=-(-len(order) // local_batch),
                                       desc=f"train {model_name(model)} · epoch {epoch}/{hparams['epochs']} · batch"):
            images = augment(images, crop_padding=hparams["crop_padding"], flip=hparams["flip"],
                             rotation=hparams["rotation"], generator=generator)
            images, labels = images.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=low_precision):
                logits = net(images)
                loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            loss_sum += loss.item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
        seen = len(order)
        if world > 1:  # the epoch's totals over every rank's share
            totals = torch.tensor([loss_sum, float(correct), float(seen)], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(totals)
            loss_sum, correct, seen = totals[0].item(), int(totals[1].item()), int(totals[2].item())
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"Training diverged at epoch {epoch} (loss {loss_sum}); lower lr "
                                     f"(now {hparams['lr']}).")
        if not per_batch:
            scheduler.step()
        scored = epoch % test_every == 0 or epoch == hparams["epochs"]
        test_acc = (evaluate(model, test_set, device=device, indices=test_indices)
                    if test_set is not None and rank == 0 and scored else None)
        history.append({"epoch": epoch, "lr": lr, "train_loss": loss_sum / seen,
                        "train_acc": correct / seen, "test_acc": test_acc,
                        "seconds": time.perf_counter() - started})
        row = history[-1]
        durations.append(row["seconds"])
        logger.info("epoch %3d  lr %.4g  loss %.4f  train %.4f  test %s  %.0fs · %s", epoch, lr, row["train_loss"],
                    row["train_acc"], "None" if test_acc is None else f"{test_acc:.4f}", row["seconds"],
                    _schedule(durations, hparams["epochs"] - epoch))
        if path is not None and rank == 0:  # one writer: the checkpoint is the same as a single process's
            state = {"config": getattr(model, "config", None), "dataset": dataset_name, "hparams": hparams,
                     "seed": seed, "epoch": epoch, "complete": epoch == hparams["epochs"],
                     "test_acc": test_acc, "history": history, "git": commit, "processes": world,
                     "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state()}
            atomic_torch_save(state, path)
            if keep_epochs:
                atomic_torch_save({k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "rng")},
                                  epoch_checkpoint(path, epoch))
        if rank == 0:
            for callback in callbacks:
                callback(model, epoch)
        if world > 1:
            torch.distributed.barrier()  # every rank starts the next epoch after the checkpoint is written
    if world > 1:  # BN statistics drift per rank after DDP's last broadcast: every replica ends as rank 0's
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, src=0)
    return history


def _split_indices(train_set: Dataset, test_set: Dataset | None, hparams: Mapping[str, Any],
                   seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The training and test images a run uses: its classes, its subset sizes and how the training subset is drawn."""
    classes, per_class = hparams.get("classes"), hparams.get("subset", "random") == "per-class"
    plain = classes is None and not per_class  # labels are read only where they decide the images
    train = (subset_indices(len(train_set), hparams["train_size"], seed) if plain else
             class_subset(labels_of(train_set), hparams["train_size"], seed, classes=classes, per_class=per_class))
    if test_set is None:
        return train, None
    test = (subset_indices(len(test_set), hparams["test_size"], seed) if classes is None else
            class_subset(labels_of(test_set), hparams["test_size"], seed, classes=classes))
    return train, test


def _schedule(durations: list[float], epochs_left: int) -> str:
    """The epoch line's timing: the mean time per epoch and, with epochs left, when training should end."""
    per_epoch = sum(durations) / len(durations)
    text = f"{format_duration(per_epoch)} per epoch"
    if epochs_left <= 0:
        return text
    left = per_epoch * epochs_left
    finish = datetime.datetime.now() + datetime.timedelta(seconds=left)
    when = f"{finish:%H:%M}" if finish.date() == datetime.date.today() else f"{finish:%a %H:%M}"
    if left < 90:
        words = f"{left:.0f} s"
    elif left < 3600:
        words = f"{left / 60:.0f} min"
    else:
        hours, minutes = divmod(round(left / 60), 60)
        words = f"{hours} h {minutes:02d} min"
    return f"{text}, ~{words} left (finish ~{when})"


def _distributed() -> tuple[int, int]:
    """``(rank, world size)`` of the torch.distributed group this process is in; ``(0, 1)`` outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _shard(order: np.ndarray, batch_size: int, rank: int, world: int) -> np.ndarray:
    """This rank's share of an epoch's ``order``: each global batch of ``batch_size`` split round-robin.

    Every rank then takes as many steps as a single process would, on ``batch_size / world`` images
    each, and DistributedDataParallel averages their gradients over the global batch. A last
    partial batch too small to give every rank an image is left out (by every rank alike).
    """
    if world == 1:
        return order
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    if len(chunks[-1]) < world:
        chunks = chunks[:-1]
    return np.concatenate([chunk[rank::world] for chunk in chunks])


def _optimizer(model: nn.Module, hparams: Mapping[str, Any], *, steps_per_epoch: int
               ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The optimizer (SGD, or AdamW with ``optimizer="adamw"``) and the learning-rate schedule of ``hparams``.

    ``schedule="multistep"`` (the paper's, arXiv 2111.12485): MultiStepLR, stepped once per epoch.
    ``schedule="onecycle"``: ``OneCycleLR`` with ``max_lr=lr`` over ``epochs * steps_per_epoch``
    batches, stepped once per batch, warming up over the first ``pct_start`` of them then
    cosine-annealing (PyTorch's defaults: from lr/25 up, down to lr/25e4); the momentum stays at
    ``momentum`` (``cycle_momentum=False``).
    """
    if hparams.get("optimizer", "sgd") == "adamw":  # PyTorch's betas and eps
        optimizer = torch.optim.AdamW(model.parameters(), lr=hparams["lr"], weight_decay=hparams["weight_decay"])
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=hparams["lr"], momentum=hparams["momentum"],
                                    weight_decay=hparams["weight_decay"], nesterov=bool(hparams.get("nesterov", False)))
    if hparams.get("schedule", "multistep") == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=hparams["lr"], total_steps=hparams["epochs"] * steps_per_epoch,
            pct_start=hparams.get("pct_start", IMPLICIT_DEFAULTS["pct_start"]), cycle_momentum=False)
    else:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=hparams["milestones"],
                                                         gamma=hparams["gamma"])
    return optimizer, scheduler
