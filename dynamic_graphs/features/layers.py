"""Which layers of a model are probed, and whether its input takes the images given."""
from __future__ import annotations

import difflib
from typing import Sequence

import torch
from torch import nn

from ..models import probe_layers
from ..models.common import Normalize
from ..utils import UnknownNameError, model_name

__all__ = ["check_input_channels", "check_layers", "input_channels", "resolve_layers", "stem_mismatch"]


def check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    """Validate module names against ``model``, suggesting close names for typos.

    Raises:
        TypeError: ``layers`` is a single string instead of a list.
        UnknownNameError: (a ``KeyError``) a name is not a module of ``model``.
        ValueError: no layers, or a name given twice.
    """
    if isinstance(layers, str):
        raise TypeError(f"layers must be a list of module names, got the string {layers!r}; use [{layers!r}].")
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; pass at least one module name.")
    modules = {name for name, _ in model.named_modules() if name}
    for name in layers:
        if name not in modules:
            close = difflib.get_close_matches(str(name), modules, n=5, cutoff=0.5)
            hint = f" Close names: {', '.join(close)}." if close else ""
            raise UnknownNameError(f"Layer {name!r} is not a module of {type(model).__name__}.{hint} "
                                   "See [name for name, _ in model.named_modules()].")
    repeated = sorted({name for name in layers if layers.count(name) > 1})
    if repeated:
        raise ValueError(f"layers lists {repeated} more than once; give each module name once.")
    return layers


def resolve_layers(model: nn.Module, layers: Sequence[str] | None, caller: str = "modularity_curve") -> list[str]:
    """``layers`` checked against ``model``, or the model's registered probe layers when None."""
    if layers is None:
        try:
            layers = probe_layers(model)
        except ValueError as err:
            raise ValueError(f"{err} ({caller}(..., layers=[...]))") from None
    return check_layers(model, layers)


def input_channels(model: nn.Module) -> int | None:
    """The number of image channels ``model`` declares: a registry model's ``config["in_channels"]``,
    else the channels of its input ``Normalize``; ``None`` when it declares neither."""
    config = getattr(model, "config", None)
    if isinstance(config, dict) and isinstance(config.get("in_channels"), int):
        return config["in_channels"]
    return next((len(module.mean_values) for module in model.modules() if isinstance(module, Normalize)), None)


def stem_mismatch(model: nn.Module, images: torch.Tensor) -> ValueError | None:
    """The error to raise when a forward pass failed because ``images`` lack the channels of the
    model's first ``Conv2d`` (the stem in torchvision's CNNs and ViTs), or None. Only for explaining
    a failure: definition order need not be run order."""
    stem = next((module.in_channels for module in model.modules() if isinstance(module, nn.Conv2d)), None)
    if stem is not None and images.ndim == 4 and images.shape[1] != stem:
        return _channel_mismatch(model, stem, images, "the images")
    return None


def _channel_mismatch(model: nn.Module, expected: int, images: torch.Tensor, what: str) -> ValueError:
    got = images.shape[1]
    config = getattr(model, "config", None)
    own_model = isinstance(config, dict) and "in_channels" in config  # built by dg.get_model
    rebuild = (f"build the model for them, dg.get_model(..., in_channels={got}) with the mean and std of "
               "dg.data.dataset_info(name)")
    if {expected, got} == {1, 3}:  # grey and colour convert into each other as the images are read
        how = "grey repeated" if expected == 3 else "colour made grey"
        convert = (f"convert the images as they are read, dg.get_dataset(name, split, channels={expected}) ({how}) "
                   f"or dg.data.ConvertedImages(your_dataset, channels={expected})")
        if own_model:
            fixes = f"{rebuild}; or {convert}"
        elif expected == 3:  # an ImageNet network also expects its input size and statistics
            fixes = f"{convert}; an ImageNet-pretrained network also wants image_size=224, normalize=\"imagenet\""
        else:
            fixes = convert
    else:
        fixes = f"use {expected}-channel images" + (f", or {rebuild}" if own_model else "")
    return ValueError(f"The model ({model_name(model)}) takes {expected}-channel images but {what} are {got}-channel "
                      f"(image shape {tuple(images.shape[1:])}). Fix: {fixes}.")


def check_input_channels(model: nn.Module, images: torch.Tensor, *, what: str = "the images") -> None:
    """Refuse (N, C, H, W) images whose C is not the number of channels ``model`` declares
    (:func:`input_channels`), before any forward pass.

    Raises:
        ValueError: naming both channel counts and the two ways out.
    """
    expected = input_channels(model)
    if expected is not None and images.ndim == 4 and images.shape[1] != expected:
        raise _channel_mismatch(model, expected, images, what)
