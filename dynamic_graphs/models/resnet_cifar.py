"""CIFAR ResNets: the small 3-stage ones (resnet20 ... resnet110) and the 4-stage "cResNet" 18 ... 152.

Small ResNets follow akamaster's layout (He et al. 2016, Sec. 4.2) so that its pretrained ``.th``
checkpoints load once the ``module.`` prefix is stripped: parameter names are ``conv1``, ``bn1``,
``layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}`` and ``linear``; shortcuts are "option A" (parameter free).

The cResNets are the paper's CIFAR variants of the ImageNet ResNets: a 3x3 stride-1 stem, no
max-pool, and a 1x1 convolution as the classifier.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import ResNetFamily, check_block_counts, register_builder

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


class _CifarTrunk(ResNetFamily, nn.Module):
    """What both CIFAR ResNet families share: the input options, a 3x3 stride-1 conv + BN + ReLU stem
    (``conv1``, ``bn1``; no max-pool), stages ``layer1`` ... of ``widths`` planes (stride 1, then 2)
    and global average pooling; the subclass adds its classifier and initialisation.

    Args:
        block: builds a block from ``(in_planes, planes, stride)``.
        widths: planes per stage; their number is ``n_stages``.
        blocks: the (unchecked) block counts per stage.
        expansion: output channels of a block per plane.
        inputs: ``in_channels``, ``mean``, ``std`` (see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    def __init__(self, block, widths: Sequence[int], blocks: Sequence[int], expansion: int, inputs: dict) -> None:
        super().__init__()
        blocks = check_block_counts(blocks, len(widths), type(self).__name__)
        in_channels = self._add_normalize(**inputs)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.in_planes = widths[0]
        for stage, (planes, n_blocks) in enumerate(zip(widths, blocks), start=1):
            layer = _make_stage(block, self.in_planes, planes, n_blocks, 1 if stage == 1 else 2, expansion)
            setattr(self, f"layer{stage}", layer)
            self.in_planes = planes * expansion
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled last-stage features (N, C, 1, 1) of images in [0, 1], shape (N, in_channels, H, W)."""
        out = F.relu(self.bn1(self.conv1(self.normalize(x))))
        for stage in range(1, self.n_stages + 1):
            out = getattr(self, f"layer{stage}")(out)
        return self.avgpool(out)


class CifarResNetSmall(_CifarTrunk):
    """3-stage CIFAR ResNet (16/32/64 channels) with option-A shortcuts, as in akamaster's code.

    Args:
        blocks: number of blocks in each of the 3 stages, e.g. ``(9, 9, 9)`` for ResNet56.
        num_classes: number of output logits.
        **inputs: ``in_channels``, ``mean``, ``std`` (see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    n_stages = 3

    def __init__(self, blocks: Sequence[int] = (9, 9, 9), num_classes: int = 10, **inputs: Any) -> None:
        super().__init__(partial(BasicBlock, shortcut=PadShortcut), (16, 32, 64), blocks, 1, inputs)
        self.linear = nn.Linear(64, num_classes)
        # akamaster's init: Kaiming-normal (fan_in) on conv and linear weights, defaults elsewhere.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, H, W)."""
        return self.linear(torch.flatten(self._trunk(x), 1))


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


class CifarResNet(_CifarTrunk):
    """The paper's "cResNet": ImageNet-style 4-stage ResNet adapted to 32x32 inputs.

    Stem: 3x3 stride-1 conv (64 channels), BN, ReLU, no max-pool. Stages of 64/128/256/512 planes;
    global average pooling; a 1x1 ``Conv2d`` named ``fc`` as the classifier, then flatten.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        blocks: number of blocks per stage (4 values).
        num_classes: number of output logits.
        **inputs: ``in_channels``, ``mean``, ``std`` (see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    def __init__(
        self, block: type[BasicBlock] | type[Bottleneck], blocks: Sequence[int], num_classes: int = 10, **inputs: Any
    ) -> None:
        super().__init__(block, (64, 128, 256, 512), blocks, block.expansion, inputs)
        self.fc = nn.Conv2d(512 * block.expansion, num_classes, 1)
        for m in self.modules():
            # The classifier keeps PyTorch's default init: fan-out Kaiming on 10 outputs would give
            # needlessly large initial logits.
            if isinstance(m, nn.Conv2d) and m is not self.fc:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, H, W)."""
        return torch.flatten(self.fc(self._trunk(x)), 1)


# --------------------------------------------------------------------------------------------------
# Registry entries
# --------------------------------------------------------------------------------------------------


for _name, _blocks in SMALL_RESNET_BLOCKS.items():
    register_builder(_name, CifarResNetSmall,
                     f"Small CIFAR ResNet ``{_name}`` (akamaster, option A); default blocks {_blocks}.", blocks=_blocks)
for _name, _blocks in CIFAR_RESNET_BLOCKS.items():
    _block = BasicBlock if _name in ("resnet18", "resnet34") else Bottleneck
    register_builder(_name, partial(CifarResNet, _block),
                     f"CIFAR ResNet ``{_name}`` (the paper's cResNet, {_block.__name__}); default blocks {_blocks}.",
                     blocks=_blocks)
del _name, _blocks, _block
