"""Probe layers of timm models, read from timm's own structure: the stem and every block, in depth order.

timm describes each model's feature stages in ``model.feature_info`` (one entry per stage where the
resolution changes, naming its module). A stage is a container of blocks (``layer1`` of a ResNet,
``blocks.1`` of an EfficientNet) or holds one (``stages.0.blocks`` of a ConvNeXt), or is a block
itself (``blocks.3`` of a ViT). The stages listed are not always all of them (EfficientNet-Lite0
lists ``blocks.0, 1, 2, 4, 6`` of its 7), so the probe layers come from every child of the
container the listed stages live in, each expanded into its blocks; the stem is the listed
module before the first stage, else the model's ``stem``, ``patch_embed`` or ``bn1``.
"""
from __future__ import annotations

import torch
from torch import nn

from .common import LayerInfo

__all__ = ["is_timm_model", "timm_layer_info", "timm_probe_layers"]

STEM_NAMES = ("stem", "patch_embed", "bn1")  # where timm keeps a stem that feature_info leaves out


def is_timm_model(model: nn.Module) -> bool:
    """True for a model built by timm (``timm.create_model``), whose class lives in ``timm.models``."""
    return type(model).__module__.startswith("timm.") and hasattr(model, "feature_info")


def _feature_modules(model: nn.Module) -> list[str]:
    """The module names of timm's ``feature_info``: a list of dicts, or a ``FeatureInfo`` for features_only models."""
    info = model.feature_info
    if hasattr(info, "module_name"):
        return list(info.module_name())
    return [entry["module"] for entry in info]


def _blocks(name: str, module: nn.Module) -> list[str]:
    """A stage's blocks: the children of a block container (or of its ``blocks``), else the stage itself."""
    container, prefix = module, name
    if not isinstance(module, (nn.Sequential, nn.ModuleList)) and isinstance(getattr(module, "blocks", None),
                                                                           (nn.Sequential, nn.ModuleList)):
        container, prefix = module.blocks, f"{name}.blocks"
    if isinstance(container, (nn.Sequential, nn.ModuleList)) and len(container):
        return [f"{prefix}.{child}" for child, _ in container.named_children()]
    return [name]


def _stem_and_stages(model: nn.Module) -> tuple[str | None, list[str]]:
    """The stem's module name (or None) and the stages' names, in depth order."""
    modules = dict(model.named_modules())
    listed = _feature_modules(model)
    stages: list[str] = []
    stem: str | None = None
    for position, name in enumerate(listed):
        parent = name.rpartition(".")[0]
        if parent and isinstance(modules[parent], (nn.Sequential, nn.ModuleList)):
            # a stage inside a container: every child of the container from this one on is a stage
            children = [f"{parent}.{child}" for child, _ in modules[parent].named_children()]
            stages += [child for child in children[children.index(name):] if child not in stages]
        elif position == 0 and len(listed) > 1 and not isinstance(modules[name], (nn.Sequential, nn.ModuleList)):
            stem = name  # the first listed module, a single layer before the stages (ResNet's act1)
        elif name not in stages:
            stages.append(name)
    if stem is None:
        stem = next((name for name in STEM_NAMES if name in modules and name not in stages), None)
    return stem, stages


def _layers_with_stages(model: nn.Module) -> list[tuple[str, int]]:
    """Each probe layer with its stage: 0 for the stem, then 1, 2, ... in depth order."""
    modules = dict(model.named_modules())
    stem, stages = _stem_and_stages(model)
    layers = [(stem, 0)] if stem else []
    for number, stage in enumerate(stages, start=1):
        layers += [(block, number) for block in _blocks(stage, modules[stage])]
    return layers


def timm_probe_layers(model: nn.Module) -> list[str]:
    """The stem and every block of a timm model, in depth order (see the module's docstring).

    For timm's ``resnet18`` the list starts ``['act1', 'layer1.0', 'layer1.1', 'layer2.0']``
    (``tests/test_timm.py``; timm is an optional dependency, so this is not a doctest).
    """
    return [name for name, _ in _layers_with_stages(model)]


def timm_layer_info(model: nn.Module) -> list[LayerInfo]:
    """:class:`~dynamic_graphs.models.LayerInfo` for each probe layer of a timm model, from one forward pass.

    One image of the model's input size (``pretrained_cfg["input_size"]``, or the ViT's own
    ``patch_embed.img_size``), zeros, through a copy-free ``no_grad`` pass with hooks: each layer's
    output channels (a token sequence's width) and reduction (input side / output side; a ViT's
    patch size), and a block is removable when its output has its input's shape (an identity
    shortcut can stand in for it). Each block is its own unit; the stem is never removable.
    """
    layers = _layers_with_stages(model)
    modules = dict(model.named_modules())
    channels_in, side, _ = getattr(model, "pretrained_cfg", {}).get("input_size", (3, 224, 224))
    size = getattr(getattr(model, "patch_embed", None), "img_size", None)  # a ViT built at another size
    side = int(size[0]) if size is not None else int(side)
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def hook(name):
        def record(_module, inputs, output):
            first = inputs[0] if inputs else None
            shapes[name] = (tuple(first.shape) if isinstance(first, torch.Tensor) else (),
                            tuple(output.shape) if isinstance(output, torch.Tensor) else ())
        return record

    handles = [modules[name].register_forward_hook(hook(name)) for name, _ in layers]
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, channels_in, side, side, device=device))
    finally:
        for handle in handles:
            handle.remove()
    info = []
    for name, stage in layers:
        before, after = shapes[name]
        tokens = len(after) == 3  # (batch, tokens, width)
        channels = after[-1] if tokens else after[1]
        reduction = side // max(1, round((after[1] - _prefix_tokens(model)) ** 0.5)) if tokens else side // after[-1]
        same = stage > 0 and before == after
        info.append(LayerInfo(name, stage, int(channels), int(reduction), same, (name,),
                              "" if same else "the stem" if stage == 0 else "its output's shape differs from its input's"))
    return info


def _prefix_tokens(model: nn.Module) -> int:
    """Class and register tokens ahead of a ViT's patch tokens (timm's ``num_prefix_tokens``)."""
    return int(getattr(model, "num_prefix_tokens", 0))
