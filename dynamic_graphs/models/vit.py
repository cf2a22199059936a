"""Vision transformers: torchvision's ``VisionTransformer``, normalising inside, with its encoder blocks as probe layers.

``vit_tiny`` is CIFAR-sized (32 × 32 images, 4 × 4 patches, 6 blocks of width 128) so that it trains
on Fashion-MNIST on a CPU; ``imagenet_vit_*`` are torchvision's ImageNet ViTs, whose pretrained
weights load directly (``weights="DEFAULT"``). Trained by the package, they use the AdamW
``"transformer"`` recipe (``dg.training.RECIPES``). A probe layer is an encoder block; its output is
the token sequence (N, 1 + patches, width), class token first, which the curve flattens by
default (the paper's semantics) or pools (``pool="mean"`` or ``"cls"``, see
:func:`dynamic_graphs.features.pool_features`).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Collection

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import vision_transformer as tv_vit

from .common import LayerInfo, ZooModel, register_builder
from .imagenet import with_weights

__all__ = ["ZooViT"]

_NOT_REMOVABLE = "pruning transformer blocks is not supported yet"


class ZooViT(ZooModel, tv_vit.VisionTransformer):
    """torchvision ``VisionTransformer`` taking images in [0, 1], with the zoo's per-layer info.

    Args:
        image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
            attention_dropout, num_classes: as for ``torchvision.models.VisionTransformer``.
        **inputs: ``in_channels`` (the patch projection is replaced when != 3), ``mean``, ``std``
            (see :class:`~dynamic_graphs.models.common.ZooModel`).
    """

    def __init__(self, image_size: int, patch_size: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int, num_classes: int = 1000, dropout: float = 0.0, attention_dropout: float = 0.0,
                 imagenet_stats: bool = False, **inputs: Any) -> None:
        super().__init__(image_size=image_size, patch_size=patch_size, num_layers=num_layers, num_heads=num_heads,
                         hidden_dim=hidden_dim, mlp_dim=mlp_dim, dropout=dropout,
                         attention_dropout=attention_dropout, num_classes=num_classes)
        self.imagenet_stats = imagenet_stats
        in_channels = self._add_normalize(**inputs)
        if in_channels != 3:
            self.conv_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)
            fan_in = in_channels * patch_size * patch_size  # torchvision's initialisation of the projection
            nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
            nn.init.zeros_(self.conv_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images in [0, 1], shape (N, in_channels, image_size, image_size)."""
        return super().forward(self.normalize(x))

    def layer_info(self) -> list[LayerInfo]:
        """Every encoder block (``encoder.layers.encoder_layer_<i>``): stage 1, width ``hidden_dim``,
        reduction ``patch_size``; not removable (see the module doc)."""
        return [LayerInfo(f"encoder.layers.{name}", 1, self.hidden_dim, self.patch_size, False,
                          (f"encoder.layers.{name}",), _NOT_REMOVABLE)
                for name, _ in self.encoder.layers.named_children()]

    def architecture_without(self, layers: Collection[str]) -> dict:
        raise NotImplementedError(f"{type(self).__name__}: {_NOT_REMOVABLE}.")


register_builder("vit_tiny", lambda **options: ZooViT(**options),
                 "A CIFAR-sized ViT: 32 x 32 images in 4 x 4 patches (64 tokens and the class token), 6 encoder "
                 "blocks of width 128 with 4 heads and MLP width 256; it trains on Fashion-MNIST on a CPU "
                 "(AdamW, the transformer recipe).", recipe="transformer",
                 image_size=32, patch_size=4, num_layers=6, num_heads=4, hidden_dim=128, mlp_dim=256,
                 dropout=0.0, attention_dropout=0.0)

# torchvision's ImageNet ViTs (the architectures of its vit_* builders), ImageNet statistics by default.
_IMAGENET_VITS: dict[str, tuple[dict[str, int], type[tvm.WeightsEnum]]] = {
    "imagenet_vit_b_16": (dict(patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072),
                          tvm.ViT_B_16_Weights),
    "imagenet_vit_b_32": (dict(patch_size=32, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072),
                          tvm.ViT_B_32_Weights),
    "imagenet_vit_l_16": (dict(patch_size=16, num_layers=24, num_heads=16, hidden_dim=1024, mlp_dim=4096),
                          tvm.ViT_L_16_Weights),
    "imagenet_vit_l_32": (dict(patch_size=32, num_layers=24, num_heads=16, hidden_dim=1024, mlp_dim=4096),
                          tvm.ViT_L_32_Weights),
}
for _name, (_architecture, _enum) in _IMAGENET_VITS.items():
    register_builder(_name, with_weights(partial(ZooViT, imagenet_stats=True), _enum),
                     f"torchvision ImageNet ViT ``{_name}`` ({_architecture}); ``weights=`` names "
                     f"{_enum.__name__} weights to download and load.", recipe="transformer",
                     image_size=224, **_architecture, dropout=0.0, attention_dropout=0.0, weights=None)
del _name, _architecture, _enum
