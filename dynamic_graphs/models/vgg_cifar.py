"""CIFAR VGG with batch norm (the paper's ``cvgg11_bn`` ... ``cvgg19_bn``).

``features`` is built from a cfg list (torchvision's A/B/D/E by default), so module indices match the
paper's probe lists (``features.0``, ``features.3``, ...). A ``cfg=`` override builds the pruned
variants of Figs. 8-9 and Table 1, e.g. ``get_model("vgg19", cfg=[64, "M", 128, "M", 256, 256, 256,
256, "M", 512, "M", 512, "M"])`` for ``cvgg19_8``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence, Union

import torch
from torch import nn

from .common import VGGFamily, register_builder

__all__ = ["VGG_CFGS", "CifarVGG", "make_vgg_features", "check_vgg_cfg", "with_default_cfg"]

CfgItem = Union[int, str]

# torchvision's cfgs "A", "B", "D", "E" (copied as data so the indices cannot drift).
VGG_CFGS: dict[str, list[CfgItem]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def check_vgg_cfg(cfg: Sequence[CfgItem], model: str = "VGG") -> list[CfgItem]:
    """Validate a VGG cfg: ints >= 1 (conv widths) and ``"M"`` (2x2 max-pool), at least one conv.

    Args:
        cfg: the cfg list.
        model: model name for the error message.

    Returns:
        The cfg as a new list.

    Raises:
        TypeError: ``cfg`` is not a list.
        ValueError: an entry that is neither an int >= 1 nor ``"M"``, or no conv at all.
    """
    if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence):
        raise TypeError(f"{model}: cfg must be a list of ints and 'M', got {cfg!r}")
    out: list[CfgItem] = []
    for item in cfg:
        if item == "M":
            out.append("M")
        elif isinstance(item, int) and not isinstance(item, bool) and item >= 1:
            out.append(int(item))
        else:
            raise ValueError(f"{model}: cfg entries must be ints >= 1 or 'M', got {item!r} in {cfg!r}")
    if not any(isinstance(v, int) for v in out):
        raise ValueError(f"{model}: cfg needs at least one conv layer, got {cfg!r}")
    return out


def make_vgg_features(cfg: Sequence[CfgItem], in_channels: int = 3) -> nn.Sequential:
    """Conv3x3(pad 1) -> BatchNorm2d -> ReLU for each int, MaxPool2d(2) for each ``"M"``.

    Args:
        cfg: the (validated) cfg list.
        in_channels: input channels of the first conv.

    Returns:
        The ``features`` Sequential. ReLUs are not in-place so that forward hooks on any module see
        tensors that later layers do not overwrite.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.BatchNorm2d(item), nn.ReLU(inplace=False)]
            channels = item
    return nn.Sequential(*layers)


def with_default_cfg(cls: Callable[..., nn.Module], default_cfg: Sequence[CfgItem]) -> Callable[..., nn.Module]:
    """A maker of ``cls(cfg, **options)`` in which ``cfg=None`` (or no ``cfg``) stands for a copy of ``default_cfg``."""

    def make(cfg: Sequence[CfgItem] | None = None, **options: Any) -> nn.Module:
        return cls(list(default_cfg) if cfg is None else cfg, **options)

    return make


class CifarVGG(VGGFamily, nn.Module):
    """VGG-BN for 32x32 inputs: ``features`` -> flatten -> 3-layer ``classifier``.

    The classifier is Dropout -> Linear(C, 512) -> ReLU -> Dropout -> Linear(512, 512) -> ReLU ->
    Linear(512, num_classes), with C the width of the last conv. With five ``"M"`` a 32x32 input is
    1x1 after ``features``; a cfg with fewer pools needs smaller inputs or fails at the classifier.

    Args:
        cfg: conv widths and ``"M"`` pools.
        num_classes: number of output logits.
        **inputs: ``in_channels``, ``mean``, ``std`` (see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    def __init__(self, cfg: Sequence[CfgItem], num_classes: int = 10, **inputs: Any) -> None:
        super().__init__()
        cfg = check_vgg_cfg(cfg, type(self).__name__)
        last_width = [v for v in cfg if isinstance(v, int)][-1]
        self.cfg = cfg
        in_channels = self._add_normalize(**inputs)
        self.features = make_vgg_features(cfg, in_channels)
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(last_width, 512),
            nn.ReLU(inplace=False),
            nn.Dropout(),
            nn.Linear(512, 512),
            nn.ReLU(inplace=False),
            nn.Linear(512, num_classes),
        )
        # Init of the CIFAR VGG code the paper builds on: conv weights N(0, sqrt(2/n)), n = k*k*out.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, 32, 32)."""
        out = self.features(self.normalize(x))
        return self.classifier(torch.flatten(out, 1))


for _name, _cfg in VGG_CFGS.items():
    register_builder(_name, with_default_cfg(CifarVGG, _cfg),
                     f"CIFAR VGG-BN ``{_name}``; ``cfg=`` overrides the default {_cfg}.", cfg=None)
del _name, _cfg
