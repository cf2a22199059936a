"""Training recipes: each dataset's defaults, the named recipes, and merging and checking options.

The CIFAR recipe is the one of the official code of Lu et al. 2022 (arXiv 2111.12485): SGD,
momentum 0.9, MultiStepLR, random crop and flip. Fashion-MNIST's default is a one-cycle recipe
(Nesterov momentum, ``OneCycleLR`` stepped per batch, 6 epochs); its first, 4-epoch step recipe
stays available as ``recipe="step"`` (:data:`RECIPES`), see the "Training recipes" section of
``docs/method.md``. A merged recipe keys the checkpoint cache, so merging is kept stable: see
:func:`merge_recipe`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..models import MODELS
from ..utils import check_positive_int, lookup

__all__ = ["FALLBACK_DEFAULTS", "FASHION_MNIST_ONECYCLE", "FASHION_MNIST_STEP", "FASHION_MNIST_STEP_BASE",
           "IMPLICIT_DEFAULTS", "OPTIMIZERS", "PRECISIONS", "RECIPES", "SCHEDULES", "SUBSETS", "TRAIN_DEFAULTS",
           "TRANSFORMER", "check_classes", "check_model_options", "check_subset_sizes", "explicit_recipe",
           "merge_recipe", "model_hparams", "model_recipe", "recipe_name", "train_defaults", "with_recipe"]

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
    "subset": "random",       # how train_size draws its images: "random", or "per-class" (as many of each class)
    "classes": None,          # train and test on these class indices only (a sorted list); None: every class
}
SUBSETS = ("random", "per-class")
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
    return merge_recipe(defaults, with_recipe(dataset, recipe, {}))


def _recipe_owner(dataset: str | None) -> str:
    """The dataset whose recipes ``dataset`` trains with: itself, or the fallback (the paper's CIFAR-10)."""
    return str(dataset) if str(dataset) in TRAIN_DEFAULTS else FALLBACK_DEFAULTS


def merge_recipe(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
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
    hparams["subset"] = lookup(hparams.get("subset", "random"), SUBSETS, what="subset draw",
                               hint="; 'per-class' draws train_size / classes images of each class")
    if hparams.get("classes") is not None:
        hparams["classes"] = check_classes(hparams["classes"])
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
    return overrides, merge_recipe(train_defaults(dataset), overrides)


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


def check_classes(classes: Any) -> list[int]:
    """At least two distinct class indices (>= 0), sorted, so that the same classes hash the same."""
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise TypeError(f"classes must be a list of class indices, e.g. [0, 1], got {classes!r}.")
    values = list(classes)
    if any(isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0 for value in values):
        raise TypeError(f"classes must hold class indices (integers >= 0), got {values!r}.")
    if len(set(values)) != len(values) or len(values) < 2:
        raise ValueError(f"classes must list at least two distinct class indices, got {values!r}; None trains on "
                         "every class.")
    return sorted(int(value) for value in values)


def recipe_name(dataset: str | None, hparams: Mapping[str, Any]) -> str:
    """The name of the recipe ``hparams`` follow (:data:`RECIPES`, ``"default"`` for an unnamed default,
    ``"custom"`` otherwise); which images it trains on (``train_size``, ``test_size``, ``subset``,
    ``classes``) is not part of it, and bfloat16 training adds ``"+bf16"`` (``"onecycle+bf16"``)."""
    def core(recipe: Mapping[str, Any]) -> dict:
        return {key: value for key, value in recipe.items()
                if key not in ("train_size", "test_size", "precision", "subset", "classes")}

    merged = merge_recipe(train_defaults(dataset), explicit_recipe(hparams))
    suffix = f"+{merged['precision']}" if "precision" in merged else ""  # present only when not fp32
    wanted = core(merged)
    for data, name in RECIPES:
        if data == _recipe_owner(dataset) and core(train_defaults(data, recipe=name)) == wanted:
            return name + suffix
    return ("default" if core(merge_recipe(train_defaults(dataset), {})) == wanted else "custom") + suffix


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
