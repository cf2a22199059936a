"""Adversarial examples (torchattacks): generation and the on-disk cache (arXiv 2111.12485, Fig. 5).

:func:`attack` draws test images in a seeded order and keeps those the model classifies correctly
and whose attack changes the prediction, as an :class:`AdversarialDataset` (cached on disk). The
figure built on it, the modularity curves of clean and attacked images, is
:func:`dynamic_graphs.figures.adversarial.adversarial_curves`; its plot is
:func:`dynamic_graphs.pl.plot_adversarial_curves`.

Two settings:

* default: the attack sees images in ``[0, 1]`` pixel space and the model's own ``Normalize``;
  every budget (``eps``, ``alpha``...) is in pixel units and torchattacks' ``[0, 1]`` clamp is
  the valid image range.
* ``paper_compat=True``: the paper's code attacks mean/std-*normalised* tensors and clips them to
  ``[0, 1]`` (as its released code does with advertorch). The attack is given the model without its
  ``Normalize`` module and the normalised images, so torchattacks' ``[0, 1]`` clamp acts in
  normalised space and ``eps = 0.3`` is in standard deviations. The result is mapped back,
  ``x = x_norm * std + mean``, so the dataset still holds images for the same model. Note what
  the clamp does: every normalised value below 0 (the dark pixels) or above 1 becomes 0 or 1,
  so the stored image lies in ``[mean, mean + std]``, a change far larger than ``eps``.
"""
from __future__ import annotations

import copy
import functools
import json
import logging
import math
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ._settings import settings
from .data import ImageTensorDataset, as_dataset, load_batch
from .models.common import Normalize
from .progress import progress
from .utils import (UnknownNameError, atomic_torch_save, cache_key, cache_lock, check_positive_int, evaluating,
                    isolated_rng, lookup, resolve_device, tensor_digest)

logger = logging.getLogger(__name__)

__all__ = [
    "ATTACK_DEFAULTS",
    "CLEAN",
    "PAPER_COMPAT_PARAMS",
    "AdversarialDataset",
    "NoSuccessfulAttackError",
    "UnknownAttackError",
    "attack",
    "attack_label",
    "attack_params",
    "list_attacks",
    "resolve_attack",
]

# Our defaults: untargeted attacks on [0, 1] images, budgets in pixel units (1/255 = one grey level).
ATTACK_DEFAULTS: dict[str, dict[str, Any]] = {
    "fgsm": {
        "eps": 8 / 255,          # L∞ step size
    },
    "pgd": {
        "eps": 8 / 255,          # L∞ radius
        "alpha": 2 / 255,        # step size per iteration
        "steps": 10,             # iterations
        "random_start": True,    # start from a uniform point in the eps-ball (uses torch's RNG)
    },
    "cw": {                      # Carlini-Wagner L2, fixed c (torchattacks has no binary search over c)
        "c": 1.0,                # weight of the misclassification term against the L2 distance
        "kappa": 0.0,            # confidence margin
        "steps": 100,            # Adam iterations (the paper: 200); stops early when the batch cost rises
        "lr": 0.01,              # Adam learning rate
    },
    "jsma": {                    # Jacobian saliency map, one image at a time (slow: C backward passes per step)
        "theta": 1.0,            # change per chosen pixel (positive: pixels are increased)
        "gamma": 0.1,            # largest fraction of pixel values that may be changed
    },
    "onepixel": {                # differential evolution, one image at a time (slow: keep these modest)
        "pixels": 1,             # pixels changed
        "steps": 10,             # evolution iterations
        "popsize": 10,           # population multiplier (torchattacks divides it by 2 + channels)
        "inf_batch": 128,        # images per forward pass while scoring a population
    },
}

# What ``paper_compat=True`` changes on top of ATTACK_DEFAULTS: the paper's advertorch 0.2.3 settings
# where torchattacks has the same knob (the paper's official code). Units are normalised (std) units.
PAPER_COMPAT_PARAMS: dict[str, dict[str, Any]] = {
    "fgsm": {"eps": 0.3},
    "pgd": {"eps": 0.3, "alpha": 0.01, "steps": 40},  # advertorch PGDAttack: 40 iterations of 0.01, random init
    "cw": {"steps": 200},        # max_iterations 200; advertorch's 9-step binary search over c has no equivalent
    "jsma": {"gamma": 1.0},      # advertorch's default: any pixel may change
    "onepixel": {},              # advertorch's SinglePixelAttack (greedy, 100 pixels) has no torchattacks twin
}

# torchattacks class per method, and the names used in legends.
_CLASSES = {"fgsm": "FGSM", "pgd": "PGD", "cw": "CW", "jsma": "JSMA", "onepixel": "OnePixel"}
_ALIASES = {"cw-l2": "cw", "cwl2": "cw", "cw_l2": "cw", "one-pixel": "onepixel", "one_pixel": "onepixel"}
CLEAN = "clean"  # the ``attack`` value of the clean originals' curve

_CACHE_VERSION = 1
_COUNT_KEYS = ("attempted", "correct", "successful", "kept")


class UnknownAttackError(UnknownNameError):
    """KeyError for an attack name that is not known."""


class NoSuccessfulAttackError(RuntimeError):
    """No image was both classified correctly and successfully attacked."""


def list_attacks() -> list[str]:
    """Names accepted by :func:`attack` (case-insensitive)."""
    return list(ATTACK_DEFAULTS)


def resolve_attack(method: str) -> str:
    """The canonical name of an attack, matched case-insensitively, aliases included (``"CW-L2"`` is ``"cw"``).

    Raises:
        TypeError: not a string.
        UnknownAttackError: (a KeyError) unknown name; the message suggests close ones.

    Example:
        >>> resolve_attack("One-Pixel")
        'onepixel'
    """
    return lookup(method, list_attacks(), what="attack", aliases=_ALIASES, error=UnknownAttackError)


def attack_label(method: str) -> str:
    """An attack's name as legends write it (``"pgd"`` -> ``"PGD"``; unknown names as given)."""
    return _CLASSES.get(method, method)


def attack_params(method: str, *, paper_compat: bool = False, **overrides: Any) -> dict[str, Any]:
    """The full parameter set an attack runs with: defaults, the paper's values if asked, then ``overrides``.

    Raises:
        KeyError: unknown method (the message lists the known ones).
        TypeError: a parameter the method does not take (the message lists the valid ones).

    Example:
        >>> attack_params("PGD", steps=20)
        {'eps': 0.03137254901960784, 'alpha': 0.00784313725490196, 'steps': 20, 'random_start': True}
        >>> attack_params("fgsm", paper_compat=True)
        {'eps': 0.3}
    """
    key = resolve_attack(method)
    valid = ATTACK_DEFAULTS[key]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"{_CLASSES[key]} takes no parameter(s) {', '.join(map(repr, unknown))}; "
                        f"valid: {', '.join(valid)}.")
    return {**valid, **(PAPER_COMPAT_PARAMS[key] if paper_compat else {}), **overrides}


# --------------------------------------------------------------------------- the dataset


class AdversarialDataset(ImageTensorDataset):
    """Successful adversarial images with their true labels, and the clean images they came from.

    Items are ``(adversarial image in [0, 1], true label)``; :meth:`batch` fetches many at once, so
    :func:`~dynamic_graphs.modularity_curve` takes this dataset directly.

    Attributes:
        images, targets, classes: as :class:`~dynamic_graphs.data.ImageTensorDataset` (float32 images).
        clean_images: the clean originals, aligned with ``images``.
        clean_indices: ``int64`` array, each image's index in the source dataset.
        predictions: ``int64`` tensor, the model's class for each adversarial image (never the true one).
        method: the attack's name (``"pgd"``...); ``params``: the parameters it ran with.
        paper_compat: whether the attack ran in normalised space (see the module docstring).
        counts: ``attempted`` (images drawn), ``correct`` (classified correctly, hence attacked),
            ``successful`` (attacks that changed the prediction), ``kept`` (returned; at most ``n``).
        success_rate: ``successful / correct``.
        cache_path: the file it was loaded from or saved to (None without caching).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, clean_images: torch.Tensor,
                 clean_indices: Sequence[int] | np.ndarray | torch.Tensor, predictions: torch.Tensor,
                 method: str, params: dict[str, Any], counts: dict[str, int], paper_compat: bool = False,
                 classes: Sequence[str] | None = None, cache_path: Path | None = None) -> None:
        super().__init__(images.float(), labels, classes)
        self.clean_images = torch.as_tensor(clean_images).float().contiguous()
        self.clean_indices = np.asarray(torch.as_tensor(clean_indices).cpu(), dtype=np.int64)
        self.predictions = torch.as_tensor(predictions).long().contiguous()
        if not (self.clean_images.shape == self.images.shape and len(self.clean_indices) == len(self)
                and len(self.predictions) == len(self)):
            raise ValueError("images, clean_images, clean_indices and predictions must have the same length")
        self.method, self.params, self.paper_compat = method, dict(params), bool(paper_compat)
        self.counts = {key: int(counts[key]) for key in _COUNT_KEYS}
        self.cache_path = cache_path

    @property
    def success_rate(self) -> float:
        return self.counts["successful"] / self.counts["correct"] if self.counts["correct"] else float("nan")

    def clean(self) -> ImageTensorDataset:
        """The clean originals with their true labels (all classified correctly by the model)."""
        return ImageTensorDataset(self.clean_images, self.targets, self.classes)

    def with_labels(self, labels: Literal["true", "predicted"]) -> ImageTensorDataset:
        """The adversarial images labelled by their true class or by the model's prediction on them.

        ``"predicted"`` gives the "predicted classes as communities" view of the graphs.
        """
        if labels == "true":
            return ImageTensorDataset(self.images, self.targets, self.classes)
        if labels == "predicted":
            top = int(self.predictions.max()) + 1 if len(self) else 0
            classes = self.classes + [str(i) for i in range(len(self.classes), top)]  # logits beyond the classes
            return ImageTensorDataset(self.images, self.predictions, classes)
        raise ValueError(f"labels must be 'true' or 'predicted', got {labels!r}")

    def distances(self) -> pd.DataFrame:
        """Per image: ``l0`` (pixel values changed), ``l2`` and ``linf`` distances to the clean original."""
        delta = (self.images - self.clean_images).flatten(1)
        return pd.DataFrame({"l0": (delta.abs() > 1e-6).sum(1).numpy(), "l2": delta.norm(dim=1).numpy(),
                             "linf": delta.abs().amax(1).numpy() if len(self) else np.zeros(0)})

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(method={self.method!r}, n={len(self)}, success_rate={self.success_rate:.3f}, "
                f"paper_compat={self.paper_compat})")


# --------------------------------------------------------------------------- running the attacks


def _find_normalize(model: nn.Module) -> tuple[str, Normalize]:
    found = [(name, module) for name, module in model.named_modules() if isinstance(module, Normalize)]
    if len(found) != 1:
        raise ValueError(f"paper_compat=True needs a model that normalises its inputs with exactly one "
                         f"dynamic_graphs Normalize module; {type(model).__name__} has {len(found)}.")
    return found[0]


def _without_normalize(model: nn.Module) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A copy of ``model`` whose Normalize is an Identity (its input is the normalised image), and the stats."""
    name, normalize = _find_normalize(model)
    bare = copy.deepcopy(model)
    parent_name, _, child = name.rpartition(".")
    setattr(bare.get_submodule(parent_name) if parent_name else bare, child, nn.Identity())
    return bare, normalize.mean.detach().clone(), normalize.std.detach().clone()


def _next_class(_images: torch.Tensor, labels: torch.Tensor, *, num_classes: int) -> torch.Tensor:
    return (labels + 1) % num_classes


def _build(method: str, model: nn.Module, params: dict[str, Any], num_classes: int):
    try:
        import torchattacks
    except ImportError as err:
        raise ImportError("Adversarial attacks need torchattacks: pip install --no-deps torchattacks==3.5.1 "
                          "(as `make setup` does; its requests pin conflicts with JupyterLab 4).") from err
    atk = getattr(torchattacks, _CLASSES[method])(model, **params)
    if method == "jsma":
        # torchattacks' untargeted JSMA aims at (label + 1) % 10, wrong for other class counts; aim at the
        # next class of this model instead. Success is still judged as "prediction changed".
        atk.set_mode_targeted_by_function(functools.partial(_next_class, num_classes=num_classes), quiet=True)
    return atk


@contextmanager
def _heartbeat(model: nn.Module, bar) -> Iterator[None]:
    """Let ``bar``'s line come, when due, at each forward pass of an attack's iterations (a batch of a
    strong attack can run for minutes), not only between batches."""
    handle = model.register_forward_hook(lambda *_: bar.update(0))
    try:
        yield
    finally:
        handle.remove()


def _generate(model: nn.Module, dataset: Dataset, method: str, params: dict[str, Any], *, n: int, seed: int,
              batch_size: int, device: torch.device, paper_compat: bool) -> dict[str, Any]:
    """Attack candidates in a seeded order until ``n`` successes; the tensors and counts, on the CPU."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    kept: dict[str, list] = {"images": [], "labels": [], "clean_images": [], "clean_indices": [], "predictions": []}
    atk, position = None, 0
    # Eval mode with frozen weights (backward passes leave no .grad), gradients on even under no_grad;
    # torch's (PGD's random start) and NumPy's (OnePixel's evolution) generators seeded; all restored after.
    with (progress(total=n, desc=f"{_CLASSES[method]} attack · examples kept") as bar,
          evaluating(model, device, frozen=True) as net, _heartbeat(net, bar), torch.enable_grad(),
          isolated_rng(seed, device)):
        target, mean, std = (_without_normalize(net) if paper_compat else (net, None, None))
        while counts["kept"] < n and position < len(order):
            remaining = n - counts["kept"]
            # Draw about as many candidates as should yield the remaining successes, so that slow
            # attacks are not run on images that will not be needed.
            rate = max(counts["successful"], 1) / counts["attempted"] if counts["attempted"] else 1.0
            size = min(batch_size, len(order) - position, max(1, math.ceil(1.1 * remaining / rate)))
            indices = order[position:position + size]
            position += size
            images, labels = load_batch(dataset, indices)
            images, labels = images.to(device), labels.to(device)
            with torch.no_grad():
                logits = net(images)
            correct = logits.argmax(1) == labels
            counts["attempted"] += size
            counts["correct"] += int(correct.sum())
            if not correct.any():
                continue
            if atk is None:
                atk = _build(method, target, params, num_classes=logits.shape[1])
            images, labels, indices = images[correct], labels[correct], indices[correct.cpu().numpy()]
            if paper_compat:
                adversarial = atk((images - mean) / std, labels).detach() * std + mean
            else:
                adversarial = atk(images, labels).detach()
            adversarial = adversarial.clamp(0, 1)  # a no-op but for rounding in the paper_compat round trip
            with torch.no_grad():  # judged on the stored images with the model itself
                predictions = net(adversarial).argmax(1)
            success = (predictions != labels).nonzero().flatten()
            counts["successful"] += len(success)
            take = success[:remaining]
            for name, tensor in (("images", adversarial), ("labels", labels), ("clean_images", images),
                                 ("predictions", predictions)):
                kept[name].append(tensor[take].cpu())
            kept["clean_indices"].append(torch.as_tensor(indices[take.cpu().numpy()]))
            counts["kept"] += len(take)
            bar.update(len(take))
    if counts["kept"] == 0:
        raise NoSuccessfulAttackError(f"No successful {_CLASSES[method]} attack: {counts['attempted']} images "
                                      f"drawn, {counts['correct']} classified correctly, none flipped. Use a "
                                      "stronger attack (see attack_params) or a larger dataset.")
    if counts["kept"] < n:
        warnings.warn(f"{_CLASSES[method]}: the dataset ran out after {counts['attempted']} images with "
                      f"{counts['kept']} of the {n} successful attacks asked for; returning {counts['kept']}.",
                      RuntimeWarning, stacklevel=3)
    out = {name: torch.cat(tensors) for name, tensors in kept.items()}
    out["counts"] = counts
    return out


# --------------------------------------------------------------------------- cache


def _model_identity(model: nn.Module) -> dict[str, Any]:
    normalizers = [[list(m.mean_values), list(m.std_values)] for m in model.modules() if isinstance(m, Normalize)]
    return {"config": getattr(model, "config", None) or type(model).__name__, "normalize": normalizers,
            "state_dict": tensor_digest(model.state_dict())}


def _dataset_identity(dataset: Dataset) -> dict[str, Any]:
    """Length, class name, and the labels and pixel hash of a few evenly spaced items."""
    size = len(dataset)
    positions = sorted({int(i) for i in np.linspace(0, size - 1, num=min(size, 8))})
    items = [dataset[i] for i in positions]
    pixels = tensor_digest({str(i): torch.as_tensor(x) for i, (x, _) in zip(positions, items)}, length=16)
    return {"type": type(dataset).__name__, "len": size, "labels": [int(y) for _, y in items], "pixels": pixels}


def _cache_entry(model: nn.Module, dataset: Dataset, method: str, **fields: Any) -> tuple[str, Path]:
    """The cache file's key (a JSON description, stored in the file and checked on reading) and its path."""
    description = {"version": _CACHE_VERSION, "model": _model_identity(model), "dataset": _dataset_identity(dataset),
                   "method": method, **fields}
    key = json.dumps(description, sort_keys=True, default=str)
    return key, Path(settings.data_dir) / "adversarial" / f"{method}-{cache_key(description, length=12)}.pt"


_TENSORS = ("images", "labels", "clean_images", "clean_indices", "predictions")


def _read_cache(path: Path, key: str) -> dict[str, Any]:
    advice = "It was left as it is; move or delete it to generate the set again, or pass cache=False."
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling / zip failure
        reason = (str(err).splitlines() or [""])[0][:200]
        raise ValueError(f"Adversarial cache {path} is unreadable ({type(err).__name__}: {reason}). {advice}") from err
    if (not isinstance(state, dict) or state.get("version") != _CACHE_VERSION
            or not all(torch.is_tensor(state.get(name)) for name in _TENSORS)
            or not isinstance(state.get("counts"), dict) or set(state["counts"]) != set(_COUNT_KEYS)):
        raise ValueError(f"Adversarial cache {path} does not hold a dynamic_graphs adversarial set "
                         f"(version {_CACHE_VERSION}). {advice}")
    if state.get("key") != key:
        raise ValueError(f"Adversarial cache {path} was made for other settings (a hash collision or a "
                         f"hand-copied file). {advice}")
    return state


# --------------------------------------------------------------------------- public entry points


def attack(model: nn.Module, dataset: Dataset | str, method: str, *, n: int, seed: int = 0, batch_size: int = 250,
           device: str | torch.device = "auto", paper_compat: bool = False, cache: bool = True,
           **params: Any) -> AdversarialDataset:
    """``n`` successful untargeted adversarial examples of ``dataset`` images against ``model``.

    Candidates are drawn from ``dataset`` in a permutation seeded by ``seed``; an image is kept only
    if the model classifies it correctly and the attack changes that prediction (the paper's
    filter, as in its official code), until ``n`` are kept. Candidates are attacked in batches of at most
    ``batch_size``, sized to what the remaining successes should need. torch's and NumPy's global
    RNGs are seeded with ``seed`` for the attack (PGD's random start, OnePixel's evolution) and
    restored afterwards, so the same arguments give the same set. Every attack uses the same
    candidate order, so different attacks start from largely the same clean images.

    Args:
        model: a classifier taking ``[0, 1]`` images (every model of the package normalises inside).
        dataset: a torch Dataset of ``(image in [0, 1], label)``, usually the test split; or a
            dataset name (:func:`~dynamic_graphs.get_dataset`), whose test split is used.
        method: ``"fgsm"``, ``"pgd"``, ``"cw"`` (CW-L2), ``"jsma"`` or ``"onepixel"``, in any case.
            JSMA and OnePixel work one image at a time and are slow on a CPU.
        n: successful examples wanted.
        seed: candidate order and attack randomness.
        batch_size: most images per attack call.
        device: where the model and the attack run.
        paper_compat: attack the normalised tensors with the paper's budgets (see the module
            docstring and :data:`PAPER_COMPAT_PARAMS`); needs a model with a ``Normalize`` module.
        cache: load the set from, or save it to, ``settings.data_dir / "adversarial"``, keyed by the
            model's config and weights, the dataset, the method, the parameters, ``n``, ``seed``,
            ``batch_size`` and ``paper_compat`` (not the device: a set made on a GPU is reused on a CPU).
        **params: attack parameters overriding :data:`ATTACK_DEFAULTS` (see :func:`attack_params`).

    Returns:
        An :class:`AdversarialDataset`; fewer than ``n`` images (with a warning) if the dataset ran out.

    Raises:
        UnknownAttackError: (a KeyError) unknown method.
        TypeError: unknown parameter, or ``n``/``batch_size`` not an integer.
        NoSuccessfulAttackError: (a RuntimeError) no attack succeeded.
        ValueError: ``n``/``batch_size`` below 1, an unreadable cache file (left untouched), or
            paper_compat with no Normalize.
    """
    method = resolve_attack(method)
    params = attack_params(method, paper_compat=paper_compat, **params)
    n = check_positive_int("n", n)
    batch_size = check_positive_int("batch_size", batch_size)
    dataset = as_dataset(dataset, "test")
    if paper_compat:
        _find_normalize(model)
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    device = resolve_device(device)
    if not cache:
        return _make_set(model, dataset, method, params, n=n, seed=int(seed), batch_size=batch_size, device=device,
                         paper_compat=bool(paper_compat), path=None, key=None)
    key, path = _cache_entry(model, dataset, method, params=params, n=n, seed=int(seed), batch_size=batch_size,
                             paper_compat=bool(paper_compat))
    if path.exists():
        return _cached_set(path, key, n, method, params, paper_compat)
    with cache_lock(path, what=f"{_CLASSES[method]} examples"):  # one producer; the others read its set
        if path.exists():
            return _cached_set(path, key, n, method, params, paper_compat)
        return _make_set(model, dataset, method, params, n=n, seed=int(seed), batch_size=batch_size, device=device,
                         paper_compat=bool(paper_compat), path=path, key=key)


def _cached_set(path: Path, key: str, n: int, method: str, params: dict, paper_compat: bool) -> AdversarialDataset:
    """The adversarial set cached at ``path`` (see :func:`_read_cache`), with a warning if it is short."""
    state = _read_cache(path, key)
    if len(state["labels"]) < n:
        warnings.warn(f"{_CLASSES[method]}: the cached set {path} holds only {len(state['labels'])} of the "
                      f"{n} examples asked for (the dataset ran out when it was made).", RuntimeWarning,
                      stacklevel=3)
    return AdversarialDataset(state["images"], state["labels"], clean_images=state["clean_images"],
                              clean_indices=state["clean_indices"], predictions=state["predictions"],
                              method=method, params=params, counts=state["counts"],
                              paper_compat=paper_compat, classes=state.get("classes"), cache_path=path)


def _make_set(model: nn.Module, dataset: Dataset, method: str, params: dict, *, n: int, seed: int, batch_size: int,
              device: torch.device, paper_compat: bool, path: Path | None, key: str | None) -> AdversarialDataset:
    """Generate the adversarial set and, with a ``path``, save it there atomically."""
    made = _generate(model, dataset, method, params, n=n, seed=seed, batch_size=batch_size,
                     device=device, paper_compat=paper_compat)
    classes = getattr(dataset, "classes", None)
    classes = list(classes) if classes is not None else None
    result = AdversarialDataset(made["images"], made["labels"], clean_images=made["clean_images"],
                                clean_indices=made["clean_indices"], predictions=made["predictions"],
                                method=method, params=params, counts=made["counts"], paper_compat=paper_compat,
                                classes=classes, cache_path=path)
    if settings.verbosity >= 1:
        c = result.counts
        logger.info("%s: kept %d of %d images drawn (%d correct, success rate %.1f%%)", _CLASSES[method],
                    c["kept"], c["attempted"], c["correct"], 100 * result.success_rate)
    if path is not None:
        import torchattacks

        atomic_torch_save({"version": _CACHE_VERSION, "key": key, "method": method, "params": params,
                           "paper_compat": paper_compat, "device": str(device),
                           "torchattacks": torchattacks.__version__, "classes": classes,
                           "counts": made["counts"], **{name: made[name] for name in _TENSORS}}, path)
    return result
