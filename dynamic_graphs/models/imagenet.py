"""torchvision's ImageNet ResNets and VGG-BNs (the paper's ``Iresnet*`` and ``Ivgg*``), normalising inside.

The classes subclass ``torchvision.models.ResNet`` / ``VGG``, so parameter names are torchvision's and
its pretrained weights load directly (``weights="DEFAULT"``); ``Normalize`` has no persistent
buffers, so it adds nothing to the state_dict.
"""
from __future__ import annotations

import warnings
from typing import Collection, Sequence

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg

from .common import (LayerInfo, ZooModel, blocks_without, cfg_without, check_block_counts, make_normalize, register_model,
                     resnet_layer_info, vgg_layer_info)
from .vgg_cifar import check_vgg_cfg

__all__ = ["ImageNetResNet", "ImageNetVGG", "load_torchvision_weights"]

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


class ImageNetResNet(ZooModel, tv_resnet.ResNet):
    """torchvision ResNet (7x7/2 stem, max-pool, 4 stages, ``fc``) with normalisation inside.

    Args:
        block: torchvision ``BasicBlock`` or ``Bottleneck``.
        blocks: number of blocks per stage (4 values).
        num_classes: number of output logits.
        in_channels: input image channels (the stem conv is replaced when != 3).
        mean: per-channel normalisation mean (None: ImageNet's statistics; required unless
            ``in_channels`` is 3).
        std: per-channel normalisation std (None: as for ``mean``).
    """

    def __init__(
        self,
        block: type[tv_resnet.BasicBlock] | type[tv_resnet.Bottleneck],
        blocks: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(block, check_block_counts(blocks, 4, type(self).__name__), num_classes=num_classes)
        self.normalize = make_normalize(in_channels, mean, std, imagenet=True)
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch.

        Args:
            x: images in [0, 1], shape (N, in_channels, H, W).

        Returns:
            Logits of shape (N, num_classes).
        """
        return self._forward_impl(self.normalize(x))

    min_stage_units = 1

    def layer_info(self) -> list[LayerInfo]:
        """The paper's probe layers, ``conv1`` (before BN and max-pool) and every block output, with info.

        Returns:
            E.g. 9 records for ResNet18 and 51 for ResNet152; a block is a unit, removable when
            it has no downsampling shortcut.
        """
        return resnet_layer_info(self, 4)

    def architecture_without(self, layers: Collection[str]) -> dict:
        """``{"blocks": [...]}``: the blocks kept per stage once ``layers`` are removed."""
        return blocks_without(self.layer_info(), layers)


class ImageNetVGG(ZooModel, tv_vgg.VGG):
    """torchvision VGG-BN (``features``, AdaptiveAvgPool(7, 7), 4096-4096 classifier), normalising inside.

    Args:
        cfg: conv widths and ``"M"`` pools (torchvision cfgs "A", "B", "D", "E" by default).
        num_classes: number of output logits.
        in_channels: input image channels (the first conv is replaced when != 3).
        mean: per-channel normalisation mean (None: ImageNet's statistics; required unless
            ``in_channels`` is 3).
        std: per-channel normalisation std (None: as for ``mean``).
        dropout: classifier dropout probability.
    """

    def __init__(
        self,
        cfg: Sequence[int | str],
        num_classes: int = 1000,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        dropout: float = 0.5,
    ) -> None:
        cfg = check_vgg_cfg(cfg, type(self).__name__)
        super().__init__(tv_vgg.make_layers(cfg, batch_norm=True), num_classes=num_classes, dropout=dropout)
        self.cfg = cfg
        self.normalize = make_normalize(in_channels, mean, std, imagenet=True)
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
        """Classify a batch.

        Args:
            x: images in [0, 1], shape (N, in_channels, H, W).

        Returns:
            Logits of shape (N, num_classes).
        """
        return super().forward(self.normalize(x))

    def layer_info(self) -> list[LayerInfo]:
        """The paper's probe layers, every ``Conv2d`` in ``features`` (before BN and ReLU), with info.

        Returns:
            The same indices as the CIFAR VGGs (e.g. 13 records for VGG16).
        """
        return vgg_layer_info(self.features)

    def architecture_without(self, layers: Collection[str]) -> dict:
        """``{"cfg": [...]}``: this model's cfg without the convs of ``layers``."""
        return cfg_without(self.cfg, self.layer_info(), layers)


def _register_resnet(
    name: str, block: type, default_blocks: tuple[int, ...], weights_enum: type[tvm.WeightsEnum]
) -> None:
    @register_model(name)
    def build(
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        blocks: Sequence[int] = default_blocks,
        weights: str | tvm.WeightsEnum | None = None,
    ) -> ImageNetResNet:
        model = ImageNetResNet(block, blocks, num_classes=num_classes, in_channels=in_channels, mean=mean, std=std)
        if weights is not None:
            load_torchvision_weights(model, weights_enum, weights)
        return model

    build.__doc__ = (
        f"torchvision ImageNet ResNet ``{name}`` (default blocks {default_blocks}); "
        f"``weights=`` names {weights_enum.__name__} weights to download and load."
    )


def _register_vgg(name: str, cfg_key: str, weights_enum: type[tvm.WeightsEnum]) -> None:
    @register_model(name)
    def build(
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        cfg: Sequence[int | str] | None = None,
        dropout: float = 0.5,
        weights: str | tvm.WeightsEnum | None = None,
    ) -> ImageNetVGG:
        model = ImageNetVGG(
            list(tv_vgg.cfgs[cfg_key]) if cfg is None else cfg,
            num_classes=num_classes,
            in_channels=in_channels,
            mean=mean,
            std=std,
            dropout=dropout,
        )
        if weights is not None:
            load_torchvision_weights(model, weights_enum, weights)
        return model

    build.__doc__ = (
        f"torchvision ImageNet VGG-BN ``{name}`` (cfg {cfg_key!r}); "
        f"``weights=`` names {weights_enum.__name__} weights to download and load."
    )


for _name, (_block, _blocks, _enum) in _RESNETS.items():
    _register_resnet(_name, _block, _blocks, _enum)
for _name, (_key, _enum) in _VGGS.items():
    _register_vgg(_name, _key, _enum)
del _name, _block, _blocks, _key, _enum
