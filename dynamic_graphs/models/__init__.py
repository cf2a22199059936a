"""Model zoo: the paper's architectures, a name registry, and their probe layers.

Every model takes images in ``[0, 1]`` and normalises them inside itself, and has a
``probe_layers()`` method giving the dotted module names whose outputs the paper turns into graphs
(PAPER.md 1.2). Typical use::

    model = get_model("resnet56", num_classes=10)
    names = probe_layers(model)            # ["conv1", "layer1.0", ..., "layer3.8"]
    pruned = get_model("resnet56", blocks=(2, 3, 6))
    again = get_model(**pruned.config)     # rebuild, e.g. from a checkpoint's stored config
"""
from __future__ import annotations

import difflib
from typing import Any

import torch
from torch import nn

from ..utils import UnknownNameError
from .common import MODELS, Normalize, check_positive_int, register_model
from . import imagenet, resnet_cifar, vgg_cifar  # noqa: F401  (importing registers the models)

__all__ = ["MODELS", "register_model", "list_models", "get_model", "probe_layers", "Normalize", "UnknownModelError"]

# Builder arguments that describe how weights were obtained rather than the architecture; they are
# left out of ``model.config`` so that rebuilding from a checkpoint never triggers a download.
_NOT_IN_CONFIG = ("weights",)


class UnknownModelError(UnknownNameError):
    """KeyError for a name that is not in the registry."""


def list_models() -> list[str]:
    """Names of all registered models.

    Returns:
        The registry keys, sorted alphabetically.
    """
    return sorted(MODELS)


def _resolve_name(name: str) -> str:
    """Return the registry key for ``name`` (case-insensitive), or raise ``UnknownModelError``."""
    if not isinstance(name, str):
        raise TypeError(f"Model name must be a string, got {type(name).__name__}")
    if name in MODELS:
        return name
    lowered = {key.lower(): key for key in MODELS}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    hint = ""
    if close:
        quoted = [repr(lowered[c]) for c in close]
        hint = " did you mean " + (", ".join(quoted[:-1]) + " or " if len(quoted) > 1 else "") + quoted[-1] + "?"
    raise UnknownModelError(f"Unknown model {name!r};{hint} Available: {', '.join(list_models())}")


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so a config survives a JSON round trip unchanged."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def get_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    mean: Any = None,
    std: Any = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name, e.g. ``"resnet56"``, ``"vgg16"``, ``"imagenet_resnet50"`` (see ``list_models()``).
        num_classes: number of output logits (int >= 1).
        in_channels: number of input image channels (int >= 1).
        mean: per-channel normalisation mean; None uses the family default (CIFAR-10 stats for
            3 channels, ImageNet stats for ``imagenet_*``, Fashion-MNIST stats for 1 channel).
        std: per-channel normalisation std; None uses the family default.
        **kwargs: passed to the builder: ``blocks=(2, 3, 6)`` for ResNets, ``cfg=[...]`` for VGGs,
            ``weights="DEFAULT"`` for ``imagenet_*`` (downloads torchvision weights).

    Returns:
        The model, in training mode, with ``model.config`` holding plain-python constructor arguments
        (normalisation stats resolved, ``weights`` left out) such that ``get_model(**model.config)``
        rebuilds the same architecture.

    Raises:
        KeyError: (``UnknownModelError``) for an unknown name, suggesting close matches.
        ValueError: for a bad ``num_classes``, ``in_channels``, ``mean``/``std`` or override.
    """
    key = _resolve_name(name)
    num_classes = check_positive_int("num_classes", num_classes)
    in_channels = check_positive_int("in_channels", in_channels)
    model = MODELS[key](num_classes=num_classes, in_channels=in_channels, mean=mean, std=std, **kwargs)
    norm = getattr(model, "normalize", None)
    config: dict[str, Any] = {
        "name": key,
        "num_classes": num_classes,
        "in_channels": in_channels,
        # Resolved values rather than None: a checkpoint then keeps its statistics even if the
        # defaults change later.
        "mean": list(norm.mean_values) if isinstance(norm, Normalize) else _plain(mean),
        "std": list(norm.std_values) if isinstance(norm, Normalize) else _plain(std),
    }
    config.update({k: _plain(v) for k, v in kwargs.items() if k not in _NOT_IN_CONFIG})
    model.config = config
    return model


def probe_layers(name_or_model: str | nn.Module, **kwargs: Any) -> list[str]:
    """Dotted module names of the paper's probe layers (the tensors turned into graphs).

    Args:
        name_or_model: a registry name, or a model built by ``get_model`` (or any module with a
            ``probe_layers()`` method). ``nn.DataParallel`` / DDP wrappers are looked through and
            their ``module.`` prefix is added.
        **kwargs: with a name, architecture overrides passed to ``get_model`` (e.g. ``blocks=(2, 3, 6)``).

    Returns:
        Names valid in ``dict(model.named_modules())``, in forward order.

    Raises:
        ValueError: for a module that has no ``probe_layers()`` method.
        KeyError: for an unknown name.
    """
    if isinstance(name_or_model, str):
        # The meta device gives the structure without allocating or initialising any weights.
        with torch.device("meta"):
            model = get_model(name_or_model, **kwargs)
        return model.probe_layers()
    if not isinstance(name_or_model, nn.Module):
        raise TypeError(f"Expected a model name or an nn.Module, got {type(name_or_model).__name__}")
    if kwargs:
        raise TypeError(f"probe_layers(model) takes no overrides, got {sorted(kwargs)}")
    model, prefix = name_or_model, ""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model, prefix = model.module, prefix + "module."
    method = getattr(model, "probe_layers", None)
    if not callable(method):
        raise ValueError(
            f"Model {type(model).__name__} is not in the registry, so its probe layers are unknown; "
            "pass layers=[...] (module names from model.named_modules())"
        )
    return [prefix + n for n in method()]
