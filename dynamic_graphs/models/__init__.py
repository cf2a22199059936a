"""Model zoo: the paper's architectures, a name registry, and per-probe-layer info.

Every model takes images in ``[0, 1]`` and normalises them inside itself, and declares its probe
layers, the dotted module names whose outputs the paper turns into graphs (Lu et al. 2022; the
layers its code hooks), each with a :class:`LayerInfo` record (stage, channels, reduction, and the
unit pruning may remove). Typical use::

    model = get_model("resnet56", num_classes=10)
    names = probe_layers(model)            # ["conv1", "layer1.0", ..., "layer3.8"]
    info = layer_info(model)               # [LayerInfo(name="conv1", stage=0, channels=16, ...), ...]
    pruned = get_model("resnet56", blocks=(2, 3, 6))
    again = get_model(**pruned.config)     # rebuild, e.g. from a checkpoint's stored config

A model with other than 3 input channels needs its normalisation statistics:
``get_model("resnet20", in_channels=1, mean=info["mean"], std=info["std"])`` with
``info = dg.data.dataset_info("fashion-mnist")``.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from ..utils import UnknownNameError, check_positive_int, lookup
from .common import MODELS, LayerInfo, Normalize, register_model
from .external import (IMAGENET_NETWORKS, efficientnet_lite0, efficientnet_lite0_mapping, imagenet_network,
                       imagenet_predictions, load_mapped_state_dict)
from .timm_layers import is_timm_model, timm_layer_info, timm_probe_layers
from . import imagenet, resnet_cifar, vgg_cifar, vit  # noqa: F401  (importing registers the models)

# get_model, list_models and probe_layers are exported at the top level: dg.get_model(...)
__all__ = ["IMAGENET_NETWORKS", "MODELS", "LayerInfo", "Normalize", "UnknownModelError", "efficientnet_lite0", "efficientnet_lite0_mapping",
           "imagenet_network", "imagenet_predictions", "layer_info", "load_mapped_state_dict", "register_model"]

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
    return lookup(name, list_models(), what="model", error=UnknownModelError)


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
        mean: per-channel normalisation mean, usually the dataset's (``dataset_info(name)["mean"]``).
            None uses the family default, which only 3-channel models have: the paper's CIFAR-10
            statistics, or ImageNet's for ``imagenet_*``.
        std: per-channel normalisation std; None as for ``mean``.
        **kwargs: passed to the builder: ``blocks=(2, 3, 6)`` for ResNets, ``cfg=[...]`` for VGGs,
            ``weights="DEFAULT"`` for ``imagenet_*`` (downloads torchvision weights).

    Returns:
        The model, in training mode, with ``model.config`` holding plain-python constructor arguments
        (normalisation stats resolved, ``weights`` left out) such that ``get_model(**model.config)``
        rebuilds the same architecture.

    Raises:
        UnknownModelError: (a ``KeyError``) for an unknown name, suggesting close matches.
        TypeError: a ``num_classes`` or ``in_channels`` that is not an integer, or an unknown override.
        ValueError: a ``num_classes`` or ``in_channels`` below 1, ``mean``/``std`` left out for a
            model without 3 input channels or of the wrong length, or a bad override.
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


def _structure(name_or_model: Any, overrides: dict, caller: str) -> tuple[nn.Module, str]:
    """The model to read layers from, and the prefix its wrappers add to module names.

    A name is built on the meta device, which gives the structure without allocating or
    initialising any weights; ``nn.DataParallel`` / DDP wrappers are looked through.
    """
    if isinstance(name_or_model, str):
        with torch.device("meta"):
            return get_model(name_or_model, **overrides), ""
    if not isinstance(name_or_model, nn.Module):
        raise TypeError(f"Expected a model name or an nn.Module, got {type(name_or_model).__name__}")
    if overrides:
        raise TypeError(f"{caller}(model) takes no overrides, got {sorted(overrides)}")
    model, prefix = name_or_model, ""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model, prefix = model.module, prefix + "module."
    return model, prefix


def probe_layers(name_or_model: str | nn.Module, **kwargs: Any) -> list[str]:
    """Dotted module names of the paper's probe layers (the tensors turned into graphs).

    Args:
        name_or_model: a registry name, a model built by ``get_model`` (or any module with a
            ``probe_layers()`` method), or a timm model: its stem and every block, read from
            timm's ``feature_info`` (:func:`~dynamic_graphs.models.timm_layers.timm_probe_layers`). ``nn.DataParallel`` / DDP wrappers are looked through and
            their ``module.`` prefix is added.
        **kwargs: with a name, architecture overrides passed to ``get_model`` (e.g. ``blocks=(2, 3, 6)``).

    Returns:
        Names valid in ``dict(model.named_modules())``, in forward order.

    Raises:
        ValueError: for a module that has no ``probe_layers()`` method.
        KeyError: for an unknown name.
    """
    model, prefix = _structure(name_or_model, kwargs, "probe_layers")
    method = getattr(model, "probe_layers", None)
    if not callable(method) and is_timm_model(model):
        method = partial(timm_probe_layers, model)
    if not callable(method):
        raise ValueError(
            f"Model {type(model).__name__} is not in the registry, so its probe layers are unknown; "
            "pass layers=[...] (module names from model.named_modules())"
        )
    return [prefix + n for n in method()]


def layer_info(name_or_model: str | nn.Module, **kwargs: Any) -> list[LayerInfo]:
    """What the zoo declares about each probe layer: module, stage, channels, reduction, removable unit.

    Args:
        name_or_model: a registry name (built on the meta device, so nothing is allocated), a
            model built by ``get_model``, or a timm model (one forward pass of zeros measures its
            layers: :func:`~dynamic_graphs.models.timm_layers.timm_layer_info`); wrappers as for
            :func:`probe_layers`.
        **kwargs: with a name, overrides passed to ``get_model`` (e.g. ``blocks=(2, 3, 6)``).

    Returns:
        One :class:`LayerInfo` per probe layer, in forward order (their names are
        :func:`probe_layers`).

    Raises:
        ValueError: a module that does not declare its layers (not built by ``get_model``).
        UnknownModelError: an unknown name.

    Example:
        >>> [(i.name, i.stage, i.channels, i.removable) for i in layer_info("resnet20")][:3]
        [('conv1', 0, 16, False), ('layer1.0', 1, 16, True), ('layer1.1', 1, 16, True)]
        >>> layer_info("vgg11")[3].unit
        ('features.11', 'features.12', 'features.13')
    """
    model, prefix = _structure(name_or_model, kwargs, "layer_info")
    method = getattr(model, "layer_info", None)
    if not callable(method) and is_timm_model(model):
        method = partial(timm_layer_info, model)
    if not callable(method):
        raise ValueError(f"Model {type(model).__name__} is not in the registry, so it declares no layer info; "
                         "build it with dg.get_model(...).")
    return [info.with_prefix(prefix) if prefix else info for info in method()]
