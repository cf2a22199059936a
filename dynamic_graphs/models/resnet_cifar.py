"""CIFAR ResNets: the small 3-stage ones (resnet20 ... resnet110) and the 4-stage "cResNet" 18 ... 152.

Small ResNets follow akamaster's layout (He et al. 2016, Sec. 4.2) so that its pretrained ``.th``
checkpoints load once the ``module.`` prefix is stripped: parameter names are ``conv1``, ``bn1``,
``layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}`` and ``linear``; shortcuts are "option A" (parameter free).

The cResNets are the paper's CIFAR variants of the ImageNet ResNets: a 3x3 stride-1 stem, no
max-pool, and a 1x1 convolution as the classifier.
"""
from __future__ import annotations

from functools import partial
from typing import Collection, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerInfo, ZooModel, blocks_without, check_block_counts, make_normalize, register_model, resnet_layer_info

__all__ = [
    "PadShortcut",
    "CifarResNetSmall",
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "SMALL_RESNET_BLOCKS",
    "CIFAR_RESNET_BLOCKS",
]

SMALL_RESNET_BLOCKS: dict[str, tuple[int, int, int]] = {
    "resnet20": (3, 3, 3),
    "resnet32": (5, 5, 5),
    "resnet44": (7, 7, 7),
    "resnet56": (9, 9, 9),
    "resnet110": (18, 18, 18),
}

CIFAR_RESNET_BLOCKS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
    "resnet50": (3, 4, 6, 3),
    "resnet101": (3, 4, 23, 3),
    "resnet152": (3, 8, 36, 3),
}


# --------------------------------------------------------------------------------------------------
# Small ResNets (akamaster, option A)
# --------------------------------------------------------------------------------------------------


class PadShortcut(nn.Module):
    """Option-A shortcut: spatial subsampling by ``stride`` and zero channels padded on both sides.

    Args:
        in_planes: input channels.
        planes: output channels (>= ``in_planes``).
        stride: spatial subsampling factor.
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        if planes < in_planes:
            raise ValueError(f"Option-A shortcut cannot reduce channels ({in_planes} -> {planes})")
        self.stride = stride
        # Split the padding as akamaster does (planes//4 each side when the width doubles).
        self.pad_front = (planes - in_planes) // 2
        self.pad_back = planes - in_planes - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Subsample and pad.

        Args:
            x: (N, in_planes, H, W).

        Returns:
            (N, planes, ceil(H/stride), ceil(W/stride)).
        """
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad=({self.pad_front}, {self.pad_back})"


def _make_stage(block, in_planes: int, planes: int, n_blocks: int, stride: int, expansion: int = 1) -> nn.Sequential:
    """``n_blocks`` blocks, the first with ``stride``; each after the first takes the previous one's width."""
    widths = [in_planes] + [planes * expansion] * (n_blocks - 1)
    return nn.Sequential(*(block(width, planes, s) for width, s in zip(widths, [stride] + [1] * (n_blocks - 1))))


class CifarResNetSmall(ZooModel, nn.Module):
    """3-stage CIFAR ResNet (16/32/64 channels) with option-A shortcuts, as in akamaster's code.

    Args:
        blocks: number of blocks in each of the 3 stages, e.g. ``(9, 9, 9)`` for ResNet56.
        num_classes: number of output logits.
        in_channels: input image channels.
        mean: per-channel normalisation mean (None: the paper's CIFAR-10 statistics; required
            unless ``in_channels`` is 3).
        std: per-channel normalisation std (None: as for ``mean``).
    """

    def __init__(
        self,
        blocks: Sequence[int] = (9, 9, 9),
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        blocks = check_block_counts(blocks, 3, type(self).__name__)
        self.normalize = make_normalize(in_channels, mean, std)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.in_planes = 16
        self.layer1 = self._make_layer(16, blocks[0], stride=1)
        self.layer2 = self._make_layer(32, blocks[1], stride=2)
        self.layer3 = self._make_layer(64, blocks[2], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, num_classes)
        # akamaster's init: Kaiming-normal (fan_in) on conv and linear weights, defaults elsewhere.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def _make_layer(self, planes: int, n_blocks: int, stride: int) -> nn.Sequential:
        stage = _make_stage(partial(BasicBlock, shortcut=PadShortcut), self.in_planes, planes, n_blocks, stride)
        self.in_planes = planes
        return stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, H, W)."""
        out = F.relu(self.bn1(self.conv1(self.normalize(x))))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = torch.flatten(self.avgpool(out), 1)
        return self.linear(out)

    min_stage_units = 1

    def layer_info(self) -> list[LayerInfo]:
        """The paper's probe layers, ``conv1`` (pre-BN) and every block output, with their info.

        Returns:
            e.g. 28 records for ResNet56. Each block is a unit, removable when its
            shortcut is the identity.
        """
        return resnet_layer_info(self, 3)

    def architecture_without(self, layers: Collection[str]) -> dict:
        """``{"blocks": [...]}``: the blocks kept per stage once ``layers`` are removed."""
        return blocks_without(self.layer_info(), layers)


# --------------------------------------------------------------------------------------------------
# cResNet18 ... 152 (4 stages, 1x1-conv classifier)
# --------------------------------------------------------------------------------------------------


def _projection(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """1x1 conv + BN shortcut when the shape changes, identity otherwise."""
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut; output ``relu(bn2(conv2(.)) + shortcut(x))``.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first convolution.
        shortcut: builds the shortcut from ``(in_planes, planes, stride)`` when the shape changes:
            a 1x1 conv + BN projection (ResNet18/34) or :class:`PadShortcut` (option A, small ResNets).
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut=None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride == 1 and in_planes == planes:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = (shortcut or _projection)(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: (N, in_planes, H, W).

        Returns:
            (N, planes, H/stride, W/stride), after the residual addition and ReLU.
        """
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet50/101/152 block: 1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4.

    Args:
        in_planes: input channels.
        planes: bottleneck width; the output has ``4 * planes`` channels.
        stride: stride of the 3x3 convolution.
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = _projection(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: (N, in_planes, H, W).

        Returns:
            (N, 4 * planes, H/stride, W/stride), after the residual addition and ReLU.
        """
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(ZooModel, nn.Module):
    """The paper's "cResNet": ImageNet-style 4-stage ResNet adapted to 32x32 inputs.

    Stem: 3x3 stride-1 conv (64 channels), BN, ReLU, no max-pool. Stages of 64/128/256/512 planes;
    global average pooling; a 1x1 ``Conv2d`` named ``fc`` as the classifier, then flatten.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        blocks: number of blocks per stage (4 values).
        num_classes: number of output logits.
        in_channels: input image channels.
        mean: per-channel normalisation mean (None: the paper's CIFAR-10 statistics; required
            unless ``in_channels`` is 3).
        std: per-channel normalisation std (None: as for ``mean``).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        blocks = check_block_counts(blocks, 4, type(self).__name__)
        self.normalize = make_normalize(in_channels, mean, std)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.in_planes = 64
        self.layer1 = self._make_layer(block, 64, blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 128, blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 256, blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 512, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(512 * block.expansion, num_classes, 1)
        for m in self.modules():
            # The classifier keeps PyTorch's default init: fan-out Kaiming on 10 outputs would give
            # needlessly large initial logits.
            if isinstance(m, nn.Conv2d) and m is not self.fc:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, n_blocks: int, stride: int
    ) -> nn.Sequential:
        stage = _make_stage(block, self.in_planes, planes, n_blocks, stride, expansion=block.expansion)
        self.in_planes = planes * block.expansion
        return stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, H, W)."""
        out = F.relu(self.bn1(self.conv1(self.normalize(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(self.fc(self.avgpool(out)), 1)

    min_stage_units = 1

    def layer_info(self) -> list[LayerInfo]:
        """The paper's probe layers, ``conv1`` (pre-BN) and every block output, with their info.

        Returns:
            e.g. 9 records for ResNet18 and 51 for ResNet152. Each block is a unit, removable when its
            shortcut is the identity.
        """
        return resnet_layer_info(self, 4)

    def architecture_without(self, layers: Collection[str]) -> dict:
        """``{"blocks": [...]}``: the blocks kept per stage once ``layers`` are removed."""
        return blocks_without(self.layer_info(), layers)


# --------------------------------------------------------------------------------------------------
# Registry entries
# --------------------------------------------------------------------------------------------------


def _register_small(name: str, default_blocks: tuple[int, int, int]) -> None:
    @register_model(name)
    def build(
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        blocks: Sequence[int] = default_blocks,
    ) -> CifarResNetSmall:
        return CifarResNetSmall(blocks, num_classes=num_classes, in_channels=in_channels, mean=mean, std=std)

    build.__doc__ = f"Small CIFAR ResNet ``{name}`` (akamaster, option A); default blocks {default_blocks}."


def _register_cifar(name: str, block: type[BasicBlock] | type[Bottleneck], default_blocks: tuple[int, ...]) -> None:
    @register_model(name)
    def build(
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        blocks: Sequence[int] = default_blocks,
    ) -> CifarResNet:
        return CifarResNet(block, blocks, num_classes=num_classes, in_channels=in_channels, mean=mean, std=std)

    build.__doc__ = f"CIFAR ResNet ``{name}`` (the paper's cResNet, {block.__name__}); default blocks {default_blocks}."


for _name, _blocks in SMALL_RESNET_BLOCKS.items():
    _register_small(_name, _blocks)
for _name, _blocks in CIFAR_RESNET_BLOCKS.items():
    _register_cifar(_name, BasicBlock if _name in ("resnet18", "resnet34") else Bottleneck, _blocks)
del _name, _blocks
