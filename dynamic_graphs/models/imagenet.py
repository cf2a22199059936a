"""torchvision's ImageNet ResNets and VGG-BNs (the paper's ``Iresnet*`` and ``Ivgg*``), normalising inside.

The classes subclass ``torchvision.models.ResNet`` / ``VGG``, so parameter names are torchvision's and
its pretrained weights load directly (``weights="DEFAULT"``); ``Normalize`` has no persistent
buffers, so it adds nothing to the state_dict.
"""
from __future__ import annotations

import warnings
from functools import partial
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg

from .common import ResNetFamily, VGGFamily, check_block_counts, register_builder
from .vgg_cifar import check_vgg_cfg, with_default_cfg

__all__ = ["ImageNetResNet", "ImageNetVGG", "load_torchvision_weights", "with_weights"]

_RESNETS: dict[str, tuple[type, tuple[int, ...], type[tvm.WeightsEnum]]] = {
    "imagenet_resnet18": (tv_resnet.BasicBlock, (2, 2, 2, 2), tvm.ResNet18_Weights),
    "imagenet_resnet34": (tv_resnet.BasicBlock, (3, 4, 6, 3), tvm.ResNet34_Weights),
    "imagenet_resnet50": (tv_resnet.Bottleneck, (3, 4, 6, 3), tvm.ResNet50_Weights),
    "imagenet_resnet101": (tv_resnet.Bottleneck, (3, 4, 23, 3), tvm.ResNet101_Weights),
    "imagenet_resnet152": (tv_resnet.Bottleneck, (3, 8, 36, 3), tvm.ResNet152_Weights),
}

_VGGS: dict[str, tuple[str, type[tvm.WeightsEnum]]] = {
    "imagenet_vgg11": ("A", tvm.VGG11_BN_Weights),
    "imagenet_vgg13": ("B", tvm.VGG13_BN_Weights),
    "imagenet_vgg16": ("D", tvm.VGG16_BN_Weights),
    "imagenet_vgg19": ("E", tvm.VGG19_BN_Weights),
}


def load_torchvision_weights(
    model: nn.Module, weights_enum: type[tvm.WeightsEnum], weights: str | tvm.WeightsEnum, progress: bool = True
) -> list[str]:
    """Load torchvision pretrained weights into ``model``, keeping shape-mismatched tensors as initialised.

    Tensors that do not fit (a classifier with ``num_classes != 1000``, a first conv with
    ``in_channels != 3``, stages that were made shorter) are skipped with a warning, which is the
    usual fine-tuning set-up (the paper's code suggests its ImageNet50 models were fine-tuned from
    1000-class weights).

    Args:
        model: a model with torchvision parameter names.
        weights_enum: e.g. ``torchvision.models.ResNet18_Weights``.
        weights: a member of ``weights_enum`` or its name, e.g. ``"DEFAULT"`` or ``"IMAGENET1K_V1"``.
        progress: show torchvision's download progress bar.

    Returns:
        The names of the model's state_dict entries that were NOT loaded.
    """
    try:
        resolved = weights_enum.verify(weights)
    except (KeyError, TypeError) as err:
        choices = ", ".join(dict.fromkeys(["DEFAULT", *weights_enum.__members__]))
        raise ValueError(f"Unknown weights {weights!r} for {weights_enum.__name__}; choose from {choices}") from err
    pretrained = resolved.get_state_dict(progress=progress, check_hash=True)
    own = model.state_dict()
    compatible = {k: v for k, v in pretrained.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(compatible, strict=False)
    not_loaded = sorted(set(own) - set(compatible))
    if not_loaded:
        warnings.warn(
            f"{type(model).__name__}: {len(not_loaded)} tensors keep their fresh initialisation because the "
            f"pretrained {resolved} weights do not fit them: {not_loaded[:8]}{' ...' if len(not_loaded) > 8 else ''}",
            stacklevel=3,
        )
    return not_loaded


def with_weights(make: Callable[..., nn.Module], weights_enum: type[tvm.WeightsEnum]) -> Callable[..., nn.Module]:
    """``make`` with a ``weights=`` keyword: the ``weights_enum`` weights to load (None: fresh initialisation)."""

    def build(weights: str | tvm.WeightsEnum | None = None, **options: Any) -> nn.Module:
        model = make(**options)
        if weights is not None:
            load_torchvision_weights(model, weights_enum, weights)
        return model

    return build


class ImageNetResNet(ResNetFamily, tv_resnet.ResNet):
    """torchvision ResNet (7x7/2 stem, max-pool, 4 stages, ``fc``) with normalisation inside.

    Args:
        block: torchvision ``BasicBlock`` or ``Bottleneck``.
        blocks: number of blocks per stage (4 values).
        num_classes: number of output logits.
        **inputs: ``in_channels`` (the stem conv is replaced when != 3), ``mean``, ``std`` (None:
            ImageNet's statistics; see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    imagenet_stats = True

    def __init__(
        self,
        block: type[tv_resnet.BasicBlock] | type[tv_resnet.Bottleneck],
        blocks: Sequence[int],
        num_classes: int = 1000,
        **inputs: Any,
    ) -> None:
        super().__init__(block, check_block_counts(blocks, 4, type(self).__name__), num_classes=num_classes)
        in_channels = self._add_normalize(**inputs)
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, H, W)."""
        return self._forward_impl(self.normalize(x))


class ImageNetVGG(VGGFamily, tv_vgg.VGG):
    """torchvision VGG-BN (``features``, AdaptiveAvgPool(7, 7), 4096-4096 classifier), normalising inside.

    Args:
        cfg: conv widths and ``"M"`` pools (torchvision cfgs "A", "B", "D", "E" by default).
        num_classes: number of output logits.
        dropout: classifier dropout probability.
        **inputs: ``in_channels`` (the first conv is replaced when != 3), ``mean``, ``std`` (None:
            ImageNet's statistics; see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    imagenet_stats = True

    def __init__(self, cfg: Sequence[int | str], num_classes: int = 1000, dropout: float = 0.5, **inputs: Any) -> None:
        cfg = check_vgg_cfg(cfg, type(self).__name__)
        super().__init__(tv_vgg.make_layers(cfg, batch_norm=True), num_classes=num_classes, dropout=dropout)
        self.cfg = cfg
        in_channels = self._add_normalize(**inputs)
        widths = [v for v in cfg if isinstance(v, int)]
        # make_layers hard-codes 3 input channels and the classifier hard-codes 512 * 7 * 7 inputs;
        # patch both for other inputs / pruned cfgs, initialised the way torchvision initialises them.
        if in_channels != 3:
            self.features[0] = nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1)
            nn.init.kaiming_normal_(self.features[0].weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(self.features[0].bias)
        if widths[-1] != 512:
            self.classifier[0] = nn.Linear(widths[-1] * 7 * 7, 4096)
            nn.init.normal_(self.classifier[0].weight, 0.0, 0.01)
            nn.init.zeros_(self.classifier[0].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, H, W)."""
        return super().forward(self.normalize(x))


def _weights_doc(weights_enum: type[tvm.WeightsEnum]) -> str:
    return f"``weights=`` names {weights_enum.__name__} weights to download and load."


for _name, (_block, _blocks, _enum) in _RESNETS.items():
    register_builder(_name, with_weights(partial(ImageNetResNet, _block), _enum),
                     f"torchvision ImageNet ResNet ``{_name}`` (default blocks {_blocks}); {_weights_doc(_enum)}",
                     blocks=_blocks, weights=None)
for _name, (_key, _enum) in _VGGS.items():
    register_builder(_name, with_weights(with_default_cfg(ImageNetVGG, tv_vgg.cfgs[_key]), _enum),
                     f"torchvision ImageNet VGG-BN ``{_name}`` (cfg {_key!r}); {_weights_doc(_enum)}",
                     cfg=None, dropout=0.5, weights=None)
del _name, _block, _blocks, _key, _enum
