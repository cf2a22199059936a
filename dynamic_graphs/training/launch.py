"""Train a registry model with its dataset's recipe, in one process or with DistributedDataParallel.

What ``dynamic-graphs train`` runs (``torchrun ... -m dynamic_graphs train`` under torchrun). Under
torchrun every process trains a DistributedDataParallel replica (gloo on CPU, NCCL on CUDA, one
GPU per process) on its share of each global batch, drawn from the same seeded order; rank 0
alone evaluates and writes the checkpoint, atomically after every epoch, in the format of
single-process training, and an interrupted run resumes from it. Without ``out`` the checkpoint
is the cache entry :func:`dynamic_graphs.pretrained` reads for the same options (locked while it
is produced, as there).
"""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from .._settings import settings
from ..data import dataset_info
from ..data.registry import get_dataset
from ..models import get_model, probe_layers
from ..utils import cache_lock, isolated_rng, shown_path, state_digest
from .checkpoints import checkpoint_path, load_checkpoint
from .loop import train
from .recipes import model_hparams

__all__ = ["check_run", "init_distributed", "train_run"]

logger = logging.getLogger(__name__)


def init_distributed() -> tuple[int, int, str]:
    """Join torchrun's process group when launched by it: ``(rank, world size, device)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, "auto"
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    device = f"cuda:{torch.cuda.current_device()}" if cuda else "cpu"
    return torch.distributed.get_rank(), world, device


def check_run(name: str, dataset: str, recipe: str | None = None, **overrides: Any) -> tuple[dict, dict]:
    """The names and options of a :func:`train_run`, checked before any process group: ``(overrides, hparams)``.

    Raises:
        UnknownNameError: (a ``KeyError``) an unknown model, dataset or recipe.
        TypeError, ValueError: an option the recipe refuses.
    """
    probe_layers(name)  # names first: a typo is a usage error, before any process group
    dataset_info(dataset)
    return model_hparams(name, dataset, recipe, overrides)


def train_run(name: str, dataset: str, *, seed: int = 0, recipe: str | None = None, out: str | Path | None = None,
              device: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Train ``name`` on ``dataset`` to ``out`` (default: the cache entry of :func:`dynamic_graphs.pretrained`).

    Launched by torchrun, joins its process group (:func:`init_distributed`) and trains with
    DistributedDataParallel; the group is left at the end, also on error.

    Args:
        name, dataset, seed, recipe, **overrides: as for :func:`dynamic_graphs.pretrained`
            (``None`` keeps the recipe's value).
        out: the checkpoint file.
        device: default: ``"auto"`` in one process, each process's GPU (or the CPU) under torchrun.

    Returns:
        This process's view of the run: ``rank``, ``world``, ``path``, ``weights`` (the digest of
        its weights), ``checkpoint`` (the digest of the file's) and ``test_acc``.
    """
    overrides, hparams = check_run(name, dataset, recipe, **overrides)
    info = dataset_info(dataset)
    rank, world, own_device = init_distributed()
    device = device or own_device
    if rank != 0:
        settings.verbosity = 0  # one voice: rank 0 logs the epochs
    path = Path(out) if out else checkpoint_path(name, dataset, hparams, seed)
    try:
        with isolated_rng(seed):  # every rank starts from the same weights (DDP also broadcasts rank 0's)
            model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                              mean=info["mean"], std=info["std"])
        # Rank 0 holds the cache entry's lock, as pretrained() does; the other ranks follow it.
        lock = cache_lock(path, what=f"{name} trained on {dataset}") if rank == 0 else nullcontext()
        with lock:
            if rank == 0:
                logger.info("Training %s on %s with %d process(es) -> %s", name, dataset, world, shown_path(path))
            train(model, get_dataset(dataset, "train"), get_dataset(dataset, "test"), checkpoint=path, device=device,
                  seed=seed, dataset_name=dataset, **overrides)
        if world > 1:
            torch.distributed.barrier()
        saved = load_checkpoint(path, device="cpu")
        return {"rank": rank, "world": world, "path": path, "weights": state_digest(model),
                "checkpoint": state_digest(saved), "test_acc": saved.checkpoint["test_acc"]}
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()
