"""Training with the paper's recipe, atomic per-epoch checkpoints, resume, and a cache.

The CIFAR recipe is the one of the official code of Lu et al. 2022 (arXiv 2111.12485): SGD,
momentum 0.9, MultiStepLR, random crop and flip. Fashion-MNIST's default is a one-cycle recipe
(Nesterov momentum, ``OneCycleLR`` stepped per batch, 6 epochs); its first, 4-epoch step recipe
stays available as ``recipe="step"`` (:data:`RECIPES`), see the "Training recipes" section of
``docs/method.md``. Training runs in its own random streams
(:func:`~dynamic_graphs.utils.isolated_rng`): it is seeded by ``seed`` and leaves the caller's
global random state as it found it, whether a model is trained or loaded from the cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._settings import settings
from .data import as_dataset, dataset_info, get_dataset
from .models import MODELS, get_model
from .utils import (atomic_path, atomic_torch_save, bfloat16_kernels, cache_key, cache_lock, check_positive_int,
                    evaluating, git_commit, isolated_rng, lookup, progress, resolve_device, shown_path)

logger = logging.getLogger(__name__)

# The paper's CIFAR recipe (SGD, MultiStepLR); for Fashion-MNIST, a one-cycle recipe that trains the
# zoo well on a CPU in 6 epochs (and the earlier 4-epoch step recipe, by name).
_PAPER_RECIPE = {
    "epochs": 150,
    "batch_size": 256,
    "lr": 0.01,              # initial learning rate (one-cycle: the peak)
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
# The first Fashion-MNIST recipe: 4 epochs at lr 0.05, x0.1 at epochs 2 and 3. Recovery fine-tunes
# from it (pruning.recovery.FINETUNE_DEFAULTS), and recipe="step" still trains with it.
FASHION_MNIST_STEP_BASE = dict(_PAPER_RECIPE, epochs=4, batch_size=128, lr=0.05, weight_decay=5e-4,
                               milestones=[2, 3], crop_padding=2)
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "cifar10": dict(_PAPER_RECIPE),
    "cifar100": dict(_PAPER_RECIPE, rotation=15.0),
    # SGD with Nesterov momentum 0.9, OneCycleLR stepped per batch with max_lr = lr (warm-up over the
    # first 30 % of the steps from lr/25, which keeps ResNet110 from diverging, then cosine
    # annealing), weight decay 5e-4, batch 128, crop + flip: 6 epochs, about 25 min for ResNet20 and
    # an hour for ResNet56 on a 2-core CPU. No milestones: the one-cycle schedule replaces them.
    "fashion-mnist": dict(FASHION_MNIST_STEP_BASE, schedule="onecycle", nesterov=True, lr=0.1, epochs=6,
                          milestones=[]),
}
FALLBACK_DEFAULTS = "cifar10"  # image folders and other data use the paper's recipe

# Options every recipe accepts, with the value that is today's behaviour. A merged recipe holds
# such a key only when its value differs from this one, so the recipes above (and their checkpoint
# cache keys) are exactly what they were before these options existed.
IMPLICIT_DEFAULTS: dict[str, Any] = {
    "schedule": "multistep",  # "multistep": MultiStepLR per epoch; "onecycle": OneCycleLR per batch
    "nesterov": False,        # Nesterov momentum in SGD
    "pct_start": 0.3,         # one-cycle only: the fraction of the steps spent warming up to lr
    "optimizer": "sgd",       # "sgd" (momentum, optionally Nesterov) or "adamw" (momentum unused)
    "precision": "fp32",      # "bf16": forward and loss under bfloat16 autocast (weights, updates fp32)
}
SCHEDULES = ("multistep", "onecycle")
OPTIMIZERS = ("sgd", "adamw")
PRECISIONS = ("fp32", "bf16")

# Named Fashion-MNIST recipes, as overrides of TRAIN_DEFAULTS["fashion-mnist"]:
# ``pretrained("resnet20", recipe="step")``, or ``train_defaults("fashion-mnist", recipe="step")``
# for the full dict. "onecycle" is the default itself (kept by name for code written when it was
# an option); "step" is the 4-epoch MultiStepLR recipe the first reports were rendered with.
FASHION_MNIST_ONECYCLE: dict[str, Any] = {"schedule": "onecycle", "nesterov": True, "lr": 0.1, "epochs": 6,
                                          "milestones": []}
FASHION_MNIST_STEP: dict[str, Any] = {"schedule": "multistep", "nesterov": False, "lr": 0.05, "epochs": 4,
                                      "milestones": [2, 3]}
# Vision transformers train poorly with SGD from scratch: AdamW (lr 1e-3, weight decay 0.05) on a
# one-cycle schedule, for as many epochs as the dataset's default recipe. A model's builder names
# the recipe it trains with by default (``register_builder(..., recipe="transformer")``).
TRANSFORMER: dict[str, Any] = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "nesterov": False,
                               "schedule": "onecycle", "milestones": []}
RECIPES: dict[tuple[str, str], dict[str, Any]] = {("fashion-mnist", "onecycle"): FASHION_MNIST_ONECYCLE,
                                                  ("fashion-mnist", "step"): FASHION_MNIST_STEP,
                                                  **{(data, "transformer"): TRANSFORMER
                                                     for data in ("fashion-mnist", "cifar10", "cifar100")}}


def train_defaults(dataset: str, recipe: str | None = None) -> dict[str, Any]:
    """The default hyperparameters for ``dataset`` (a copy), or its named ``recipe`` (see :data:`RECIPES`).

    Raises:
        UnknownNameError: ``dataset`` has no recipe of that name (the message lists those it has).
    """
    defaults = dict(TRAIN_DEFAULTS[_recipe_owner(dataset)])
    if recipe is None:
        return defaults
    return _merge(defaults, with_recipe(dataset, recipe, {}))


def _recipe_owner(dataset: str | None) -> str:
    """The dataset whose recipes ``dataset`` trains with: itself, or the fallback (the paper's CIFAR-10)."""
    return str(dataset) if str(dataset) in TRAIN_DEFAULTS else FALLBACK_DEFAULTS


def _merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The recipe with ``overrides`` applied; an override of ``None`` keeps the recipe's value.

    Keys of :data:`IMPLICIT_DEFAULTS` whose value is the implicit default are left out, so that a
    recipe written with or without them merges (and hashes) the same.
    """
    unknown = sorted(set(overrides) - set(defaults) - set(IMPLICIT_DEFAULTS))
    if unknown:
        valid = sorted(set(defaults) | set(IMPLICIT_DEFAULTS))
        raise TypeError(f"Unknown training option(s) {unknown}; valid: {valid}.")
    hparams = {**defaults, **{key: value for key, value in overrides.items() if value is not None}}
    for key in ("epochs", "batch_size", "train_size", "test_size"):
        if hparams[key] is not None:
            check_positive_int(key, hparams[key])
    hparams["milestones"] = [int(m) for m in hparams["milestones"]]
    schedule = lookup(hparams.get("schedule", "multistep"), SCHEDULES, what="learning-rate schedule",
                      hint="; 'onecycle' steps OneCycleLR per batch")
    hparams["schedule"] = schedule
    if not isinstance(hparams.get("nesterov", False), (bool, np.bool_)):
        raise TypeError(f"nesterov must be True or False, got {hparams['nesterov']!r}.")
    if "nesterov" in hparams:
        hparams["nesterov"] = bool(hparams["nesterov"])
    optimizer = lookup(hparams.get("optimizer", "sgd"), OPTIMIZERS, what="optimizer",
                       hint="; 'adamw' is the transformer recipe's")
    hparams["optimizer"] = optimizer
    hparams["precision"] = lookup(hparams.get("precision", "fp32"), PRECISIONS, what="training precision",
                                  hint="; 'bf16' autocasts the forward pass to bfloat16")
    if hparams.get("nesterov") and optimizer != "sgd":
        raise ValueError(f"nesterov=True applies to optimizer='sgd' only, got optimizer={optimizer!r}; "
                         "pass nesterov=False.")
    if hparams.get("nesterov") and not hparams["momentum"] > 0:
        raise ValueError(f"nesterov=True needs momentum > 0, got momentum={hparams['momentum']!r}; "
                         "set momentum (e.g. 0.9) or nesterov=False.")
    if "pct_start" in hparams:
        pct = hparams["pct_start"]
        if isinstance(pct, bool) or not isinstance(pct, (int, float, np.number)) or not 0 < pct < 1:
            raise ValueError(f"pct_start (the one-cycle warm-up fraction) must be a number in (0, 1), got {pct!r}.")
        if schedule != "onecycle" and pct != IMPLICIT_DEFAULTS["pct_start"]:
            raise ValueError(f"pct_start={pct!r} applies to schedule='onecycle' only; this recipe's schedule is "
                             f"{schedule!r}. Pass schedule='onecycle' or drop pct_start.")
        hparams["pct_start"] = float(pct)
    if schedule == "onecycle" and hparams["milestones"]:
        raise ValueError(f"milestones={hparams['milestones']} apply to schedule='multistep' only; the one-cycle "
                         "schedule replaces them. Pass schedule='multistep' with them (on Fashion-MNIST, "
                         "recipe='step' is the 4-epoch step recipe), or milestones=[] with schedule='onecycle'.")
    for key, implicit in IMPLICIT_DEFAULTS.items():
        if key in hparams and hparams[key] == implicit and type(hparams[key]) is type(implicit):
            del hparams[key]
    return hparams


def explicit_recipe(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` with every option spelled out, the implicit ones (:data:`IMPLICIT_DEFAULTS`) included.

    Passed as overrides to :func:`train` it gives exactly this recipe whatever the dataset's
    default is (a merged recipe leaves out ``schedule="multistep"``, which the default of another
    dataset could otherwise fill in), and it merges (and hashes) as ``hparams`` does.
    """
    return {**IMPLICIT_DEFAULTS, **hparams}


def with_recipe(dataset: str, recipe: str | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides that train ``dataset``'s named ``recipe`` (:data:`RECIPES`), then ``overrides`` on top.

    ``recipe=None`` returns ``overrides`` as they are (the dataset's default recipe).

    Raises:
        UnknownNameError: ``dataset`` has no recipe of that name (the message lists those it has).
    """
    if recipe is None:
        return dict(overrides)
    owner = _recipe_owner(dataset)
    names = [name for data, name in RECIPES if data == owner]
    name = lookup(recipe, names, what=f"training recipe for {dataset}",
                  hint="; recipe=None gives the dataset's default recipe")
    given = {key: value for key, value in overrides.items() if value is not None}
    return {**RECIPES[(owner, name)], **given}


def model_recipe(name: str, dataset: str, recipe: str | None = None) -> str | None:
    """The named recipe :func:`pretrained` trains ``name`` on ``dataset`` with.

    ``recipe`` when given; otherwise the one the model's builder names (``recipe=`` of
    :func:`~dynamic_graphs.models.common.register_builder`, ``"transformer"`` for the ViTs) where
    ``dataset`` has it (:data:`RECIPES`; a dataset without recipes of its own, an image folder say,
    has CIFAR-10's); otherwise None, the dataset's default recipe.
    """
    if recipe is not None:
        return recipe
    own = getattr(MODELS.get(name), "recipe", None)
    return own if (_recipe_owner(dataset), own) in RECIPES else None


def model_hparams(name: str, dataset: str, recipe: str | None, overrides: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options :func:`pretrained` trains ``name`` on ``dataset`` with: ``(overrides, hparams)``.

    ``overrides`` are the caller's on top of the model's recipe (:func:`model_recipe`), as
    :func:`train` takes them; ``hparams`` is the whole merged recipe, which keys the cache entry.
    """
    overrides = with_recipe(dataset, model_recipe(name, dataset, recipe), overrides)
    return overrides, _merge(train_defaults(dataset), overrides)


def check_model_options(options: Mapping[str, Mapping[str, Any]] | None, models: Sequence[str],
                        datasets: Sequence[str], overrides: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """Per-model training options, ``{model: {option: value}}``, checked before any training.

    Each key must be one of ``models``; each model's options, on top of the shared ``overrides``
    (a ``recipe`` among them names the recipe), must merge into a valid recipe on every dataset.

    Returns:
        A copy, ``{}`` for None.

    Raises:
        TypeError: not a mapping of mappings, or an unknown training option.
        ValueError: a key that is not among ``models``, or an option out of range.
        UnknownNameError: (a ``KeyError``) an unknown recipe, schedule, optimizer or precision.
    """
    if options is None:
        return {}
    example = "e.g. {'vgg16': {'precision': 'bf16'}}"
    if not isinstance(options, Mapping) or not all(isinstance(value, Mapping) for value in options.values()):
        raise TypeError(f"train_options must map model names to dicts of training options ({example}), "
                        f"got {options!r}.")
    strays = [name for name in options if name not in models]
    if strays:
        raise ValueError(f"train_options names {strays}, which are not among the models {list(models)}; "
                         f"add them to the models or drop their options.")
    for name, own in options.items():
        merged = {**(overrides or {}), **own}
        recipe = merged.pop("recipe", None)
        for dataset in datasets:
            model_hparams(name, dataset, recipe, merged)
    return {name: dict(own) for name, own in options.items()}


def recipe_name(dataset: str | None, hparams: Mapping[str, Any]) -> str:
    """The name of the recipe ``hparams`` follow (:data:`RECIPES`, ``"default"`` for an unnamed default,
    ``"custom"`` otherwise); the subset sizes ``train_size`` and ``test_size`` are not part of it, and
    bfloat16 training adds ``"+bf16"`` (``"onecycle+bf16"``)."""
    def core(recipe: Mapping[str, Any]) -> dict:
        return {key: value for key, value in recipe.items() if key not in ("train_size", "test_size", "precision")}

    merged = _merge(train_defaults(dataset), explicit_recipe(hparams))
    suffix = f"+{merged['precision']}" if "precision" in merged else ""  # present only when not fp32
    wanted = core(merged)
    for data, name in RECIPES:
        if data == _recipe_owner(dataset) and core(train_defaults(data, recipe=name)) == wanted:
            return name + suffix
    return ("default" if core(_merge(train_defaults(dataset), {})) == wanted else "custom") + suffix


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
    train_indices = _subset(len(train_set), hparams["train_size"], seed)
    test_indices = _subset(len(test_set), hparams["test_size"], seed) if test_set is not None else None
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
        state = _read_checkpoint(path)  # raises on a corrupt file: never train over it
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
    for epoch in range(len(history) + 1, hparams["epochs"] + 1):
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(seed * 10_000 + epoch)  # same order after a resume
        order = train_indices[torch.randperm(len(train_indices), generator=generator).numpy()]
        order = _shard(order, hparams["batch_size"], rank, world)
        local_batch = hparams["batch_size"] // world
        model.train()
        loss_sum, correct = 0.0, 0
        lr = optimizer.param_groups[0]["lr"]  # the epoch's (first batch's) learning rate
        bar = progress(_batches(train_set, order, local_batch), desc=f"epoch {epoch}/{hparams['epochs']}",
                       total=-(-len(order) // local_batch))
        for images, labels in bar:
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
        test_acc = (evaluate(model, test_set, device=device, indices=test_indices)
                    if test_set is not None and rank == 0 else None)
        history.append({"epoch": epoch, "lr": lr, "train_loss": loss_sum / seen,
                        "train_acc": correct / seen, "test_acc": test_acc,
                        "seconds": time.perf_counter() - started})
        row = history[-1]
        logger.info("epoch %3d  lr %.4g  loss %.4f  train %.4f  test %s  %.0fs", epoch, lr, row["train_loss"],
                    row["train_acc"], "None" if test_acc is None else f"{test_acc:.4f}", row["seconds"])
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
        if world > 1:
            torch.distributed.barrier()  # every rank starts the next epoch after the checkpoint is written
    if world > 1:  # BN statistics drift per rank after DDP's last broadcast: every replica ends as rank 0's
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, src=0)
    return history


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


# --------------------------------------------------------------------------- shipped weights

# Trained weights committed with the repository, so that a fresh clone skips the training it would
# otherwise repeat. ``manifest.json`` lists each file with what trained it (the fields that
# checkpoint_path hashes), its sha256 and the command that produced it.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
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
                         "e.g. command='python -m dynamic_graphs.training ship resnet56'.")
    model_kwargs = dict(model_kwargs or {})
    _, hparams = model_hparams(name, dataset, recipe, overrides)
    path = checkpoint_path(name, dataset, hparams, seed, model_kwargs)
    if not finished(path):
        raise FileNotFoundError(f"No finished checkpoint for {name} on {dataset} with these options at "
                                f"{shown_path(path)}; train it first with pretrained({name!r}, {dataset!r}, "
                                f"seed={seed}, ...) and the same options.")
    weights_dir = Path(weights_dir if weights_dir is not None else WEIGHTS_DIR)
    entries = read_manifest(weights_dir)  # before writing anything: a broken manifest stops here
    state = _read_checkpoint(path)
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


def pretrained(name: str, dataset: str = "fashion-mnist", *, seed: int = 0, device: str | torch.device = "auto",
               model_kwargs: dict | None = None, keep_epochs: bool = False, recipe: str | None = None,
               **overrides) -> nn.Module:
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
              seed=seed, keep_epochs=keep_epochs, dataset_name=dataset, **overrides)
    return load_checkpoint(path, device=device)
