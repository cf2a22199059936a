"""Trained weights shipped with the repository (``weights/manifest.json``), and :func:`pretrained`.

:func:`pretrained` returns a model from the checkpoint cache; on a miss it copies the shipped
weights of exactly these options (after their sha256) or trains, one producer per cache entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..data import dataset_info
from ..data.registry import get_dataset
from ..models import get_model
from ..utils import atomic_path, atomic_torch_save, cache_lock, isolated_rng, resolve_device, shown_path
from .checkpoints import checkpoint_path, finished, load_checkpoint, read_checkpoint
from .loop import train
from .recipes import check_subset_sizes, model_hparams

__all__ = ["MANIFEST_NAME", "WEIGHTS_DIR", "is_trained", "pretrained", "read_manifest", "ship_weights", "shipped_entry"]

logger = logging.getLogger(__name__)

# Trained weights committed with the repository, so that a fresh clone skips the training it would
# otherwise repeat. ``manifest.json`` lists each file with what trained it (the fields that
# checkpoint_path hashes), its sha256 and the command that produced it.
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
MANIFEST_NAME = "manifest.json"
_RESUME_ONLY = ("optimizer", "scheduler", "rng")  # a finished run never resumes: not shipped


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recipe_fields(name: str, dataset: str, hparams: dict, seed: int, model_kwargs: dict | None) -> dict:
    """What :func:`checkpoint_path` hashes for an ordinary run, as JSON gives it back (tuples as lists)."""
    fields = {"model": name, "kwargs": model_kwargs or {}, "dataset": dataset, "hparams": hparams, "seed": seed}
    return json.loads(json.dumps(fields, sort_keys=True, default=str))


def _entry_fields(entry: Mapping[str, Any]) -> dict:
    return {"model": entry.get("model"), "kwargs": entry.get("model_kwargs") or {}, "dataset": entry.get("dataset"),
            "hparams": entry.get("hparams"), "seed": entry.get("seed")}


def read_manifest(weights_dir: str | Path | None = None) -> list[dict]:
    """The entries of the shipped-weights manifest (``weights/manifest.json``); ``[]`` when there is none.

    Raises:
        ValueError: the manifest is not valid JSON or not ``{"weights": [...]}``, naming the file.
    """
    path = Path(weights_dir if weights_dir is not None else WEIGHTS_DIR) / MANIFEST_NAME
    if not path.is_file():
        return []
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"Shipped-weights manifest {shown_path(path)} is unreadable ({err}); restore it from git "
                         "(git checkout -- weights/) or delete it.") from err
    entries = manifest.get("weights") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"Shipped-weights manifest {shown_path(path)} is not of the form "
                         '{"weights": [{...}, ...]}; restore it from git (git checkout -- weights/).')
    return entries


def shipped_entry(name: str, dataset: str, hparams: dict, seed: int, model_kwargs: dict | None = None, *,
                  weights_dir: str | Path | None = None) -> dict | None:
    """The manifest entry for exactly this model, dataset, builder arguments, merged recipe and seed, if any."""
    wanted = _recipe_fields(name, dataset, hparams, seed, model_kwargs)
    return next((entry for entry in read_manifest(weights_dir) if _entry_fields(entry) == wanted), None)


class _ChecksumMismatch(Exception):
    """Raised inside :func:`atomic_path` so that the unverified copy is discarded, never renamed."""


def _install_shipped(name: str, dataset: str, hparams: dict, seed: int, model_kwargs: dict, path: Path) -> bool:
    """Copy the shipped weights for this run to the cache ``path`` if the manifest has them and the copy
    passes its sha256; warn and return ``False`` (train as usual) otherwise."""
    try:
        entry = shipped_entry(name, dataset, hparams, seed, model_kwargs)
    except ValueError as err:  # a broken manifest must not block training
        logger.warning("%s Training instead.", err)
        return False
    if entry is None:
        return False
    source = WEIGHTS_DIR / str(entry.get("file"))
    expected = str(entry.get("sha256"))
    if not source.is_file():
        logger.warning("Shipped weights %s are missing (expected sha256 %s, actual: no file); training %s on %s "
                       "instead. Restore them with git (a Git LFS checkout may need `git lfs pull`).",
                       shown_path(source), expected, name, dataset)
        return False
    try:
        with atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
            actual = _sha256(tmp)  # hash the copy itself: what lands in the cache is what was checked
            if actual != expected:
                raise _ChecksumMismatch
    except _ChecksumMismatch:  # the copy was discarded: the cache holds nothing from it
        logger.warning("Shipped weights %s failed their checksum (expected sha256 %s, actual %s); not using them, "
                       "training %s on %s instead. Restore the file with git (git checkout -- weights/).",
                       shown_path(source), expected, actual, name, dataset)
        return False
    logger.info("Using shipped weights %s (sha256 %s…) -> %s", shown_path(source), expected[:12], shown_path(path))
    return True


def ship_weights(name: str, dataset: str = "fashion-mnist", *, command: str, seed: int = 0,
                 model_kwargs: dict | None = None, recipe: str | None = None,
                 weights_dir: str | Path | None = None, **overrides) -> dict:
    """Ship the finished cached checkpoint of ``pretrained(name, dataset, seed=..., **overrides)``.

    Writes the weights (without the optimizer state, which only a resume needs) to ``weights_dir``
    (default ``weights/`` at the repository root) and adds or replaces the manifest entry for these
    options, both atomically. :func:`pretrained` then uses the file whenever the model, dataset,
    ``model_kwargs``, merged recipe and seed match, after checking its sha256.

    Args:
        name, dataset, seed, model_kwargs, recipe, **overrides: as for :func:`pretrained`, which
            must have finished training with them.
        command: the command that produced the checkpoint, recorded in the manifest.
        weights_dir: where to write (default :data:`WEIGHTS_DIR`).

    Returns:
        The manifest entry: ``model``, ``dataset``, ``model_kwargs``, ``hparams``, ``seed``,
        ``key``, ``file``, ``sha256``, ``size``, ``top1``, ``epochs``, ``git``, ``command``.

    Raises:
        FileNotFoundError: no finished checkpoint in the cache for these options.
        ValueError: the existing manifest is unreadable (it is left as it is).
    """
    if not isinstance(command, str) or not command.strip():
        raise ValueError("ship_weights needs command=, the command line that trained the checkpoint, "
                         "e.g. command='dynamic-graphs zoo resnet56 --ship'.")
    model_kwargs = dict(model_kwargs or {})
    _, hparams = model_hparams(name, dataset, recipe, overrides)
    path = checkpoint_path(name, dataset, hparams, seed, model_kwargs)
    if not finished(path):
        raise FileNotFoundError(f"No finished checkpoint for {name} on {dataset} with these options at "
                                f"{shown_path(path)}; train it first with pretrained({name!r}, {dataset!r}, "
                                f"seed={seed}, ...) and the same options.")
    weights_dir = Path(weights_dir if weights_dir is not None else WEIGHTS_DIR)
    entries = read_manifest(weights_dir)  # before writing anything: a broken manifest stops here
    state = read_checkpoint(path)
    key = path.stem.rsplit("-", 1)[1]  # the cache key: the same options give the same file name
    target = weights_dir / f"{name}-{str(dataset).replace('/', '_')}-seed{seed}-{key}.pt"
    atomic_torch_save({key: value for key, value in state.items() if key not in _RESUME_ONLY}, target)
    fields = _recipe_fields(name, dataset, hparams, seed, model_kwargs)
    entry = {"model": name, "dataset": dataset, "model_kwargs": fields["kwargs"], "hparams": fields["hparams"],
             "seed": seed, "key": key, "file": target.name, "sha256": _sha256(target),
             "size": target.stat().st_size, "top1": state.get("test_acc"), "epochs": state.get("epoch"),
             "git": state.get("git"), "command": command.strip()}
    entries = [old for old in entries if _entry_fields(old) != fields] + [entry]
    entries.sort(key=lambda item: (str(item.get("dataset")), str(item.get("model")), str(item.get("seed")),
                                   str(item.get("key"))))
    with atomic_path(weights_dir / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps({"weights": entries}, indent=2, sort_keys=True) + "\n")
    logger.info("Shipped %s -> %s (sha256 %s)", shown_path(path), shown_path(target), entry["sha256"])
    return entry


def is_trained(name: str, dataset: str = "fashion-mnist", *, seed: int = 0, model_kwargs: dict | None = None,
               recipe: str | None = None, **overrides) -> bool:
    """Whether :func:`pretrained` with these arguments would load the model without training it.

    True when the cache holds its finished checkpoint or the repository ships its weights (whose
    checksum :func:`pretrained` checks when it installs them). Nothing is loaded or trained.
    """
    _, hparams = model_hparams(name, dataset, recipe, overrides)
    return finished(checkpoint_path(name, dataset, hparams, seed, model_kwargs)) or \
        shipped_entry(name, dataset, hparams, seed, model_kwargs) is not None


def pretrained(name: str, dataset: str = "fashion-mnist", *, seed: int = 0, device: str | torch.device = "auto",
               model_kwargs: dict | None = None, keep_epochs: bool = False, recipe: str | None = None,
               test_every: int = 1, **overrides) -> nn.Module:
    """A trained ``name`` for ``dataset``, from the checkpoint cache under ``settings.data_dir``.

    When the cache has no finished checkpoint for these options, it uses the shipped weights
    (``weights/manifest.json``, see :func:`ship_weights`) whose model, dataset, ``model_kwargs``,
    merged recipe and seed are these, once their sha256 matches; otherwise (no entry, or a missing
    or corrupt file, which is reported and never loaded) it trains (with progress), resuming an
    interrupted run. The model comes back in eval mode, with its metadata
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
        recipe: a named recipe of ``dataset`` (:data:`RECIPES`, e.g. ``"step"`` for Fashion-MNIST's
            first 4-epoch recipe); None: the model's own (:func:`model_recipe`: ``"transformer"``
            for the ViTs), else the dataset's default.
        test_every: when it trains, score the test images every this many epochs and at the last
            (see :func:`~dynamic_graphs.training.train`; not part of the cache key: the weights are the same).
        **overrides: training options, see :data:`TRAIN_DEFAULTS`; ``None`` keeps the default
            (so notebook parameters can be passed through as they are).
    """
    info = dataset_info(dataset)
    check_subset_sizes(overrides, info.get("split_sizes"))  # before any download or training
    overrides, hparams = model_hparams(name, dataset, recipe, overrides)
    model_kwargs = dict(model_kwargs or {})
    path = checkpoint_path(name, dataset, hparams, seed, model_kwargs, keep_epochs)
    if finished(path):
        return load_checkpoint(path, device=device)
    # One producer per entry: other processes asking for it wait here, then load what it wrote.
    with cache_lock(path, what=f"{name} trained on {dataset}"):
        if finished(path):
            return load_checkpoint(path, device=device)
        # Shipped weights hold the final epoch only: a keep_epochs run needs every epoch's file, so it trains.
        if not keep_epochs and _install_shipped(name, dataset, hparams, seed, model_kwargs, path):
            return load_checkpoint(path, device=device)
        with isolated_rng(seed, resolve_device(device)):  # the initial weights are part of what the seed fixes
            model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                              mean=info["mean"], std=info["std"], **model_kwargs)
        logger.info("Training %s on %s (%d epochs) -> %s", name, dataset, hparams["epochs"], shown_path(path))
        train(model, get_dataset(dataset, "train"), get_dataset(dataset, "test"), checkpoint=path, device=device,
              seed=seed, keep_epochs=keep_epochs, dataset_name=dataset, test_every=test_every, **overrides)
    return load_checkpoint(path, device=device)
