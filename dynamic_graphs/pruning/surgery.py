"""Model surgery: which units a model can lose, a new model without them, and what a model costs.

A *unit* is what one probe layer's removal takes out, as the zoo declares it
(:func:`dynamic_graphs.models.layer_info`): a residual block of a ResNet (its probe layer is the
block's output) or a conv with its BN and ReLU in a VGG (its probe layer is the conv). Only units
whose input and output shapes match can go: a block with an identity shortcut, a conv with as many
output channels as input channels. The stem and shape-changing units stay. This is the layer
pruning of Lu et al. 2022 (Figs. 8-9, Table 1): the units are deleted from the architecture and the
shallower network keeps every remaining weight.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import check_layers
from ..models import LayerInfo, get_model, layer_info
from ..utils import evaluating, isolated_rng, model_device

__all__ = [
    "check_removal",
    "model_cost",
    "prune",
    "removable_layers",
    "stage_room",
    "units",
]


def _model_name(model: nn.Module) -> str:
    return model.config["name"] if hasattr(model, "config") else type(model).__name__


def units(model: nn.Module) -> list[LayerInfo]:
    """Every probe layer of ``model`` with its unit, or a TypeError for a model that declares none."""
    if not callable(getattr(model, "layer_info", None)) or not callable(getattr(model, "architecture_without", None)):
        raise TypeError(f"Pruning supports registry models that declare their units (the CIFAR ResNets and VGGs, "
                        f"and the ImageNet ResNets and VGGs); got {type(model).__name__}. Build the model with "
                        "dg.get_model(...).")
    return layer_info(model)


def removable_layers(model: nn.Module) -> list[str]:
    """Probe layers whose unit (residual block or VGG conv) can be removed without breaking shapes.

    Example:
        >>> removable_layers(get_model("resnet20"))[:3]
        ['layer1.0', 'layer1.1', 'layer1.2']
        >>> removable_layers(get_model("vgg11"))
        ['features.11', 'features.18', 'features.22', 'features.25']
    """
    return [unit.name for unit in units(model) if unit.removable]


def stage_room(model: nn.Module) -> dict[int, int]:
    """How many units each stage can lose together: its removable ones, as long as the stage keeps
    the ``min_stage_units`` its family needs (a ResNet stage keeps a block)."""
    infos = units(model)
    keep = getattr(model, "min_stage_units", 0)
    room = {}
    for stage in dict.fromkeys(info.stage for info in infos):
        members = [info for info in infos if info.stage == stage]
        room[stage] = max(0, min(sum(info.removable for info in members), len(members) - keep))
    return room


def check_removal(model: nn.Module, layers: Sequence[str]) -> list[LayerInfo]:
    """The units for ``layers``, or a clear error for a layer that is unknown or cannot be removed."""
    if isinstance(layers, str):
        raise TypeError(f"layers must be a list of probe-layer names, got the string {layers!r}; use [{layers!r}].")
    layers = list(layers)
    infos = {info.name: info for info in units(model)}
    name = _model_name(model)
    for layer in layers:
        if layer not in infos:
            check_layers(model, [layer])  # an unknown module: UnknownNameError with close names
            raise ValueError(f"{layer!r} is not a probe layer of {name}, so it is no unit that pruning can remove; "
                             f"removable layers: {', '.join(removable_layers(model))}.")
        if not infos[layer].removable:
            raise ValueError(f"{layer!r} of {name} cannot be removed: {infos[layer].reason}. "
                             f"Removable layers: {', '.join(removable_layers(model))}.")
    repeated = sorted({layer for layer in layers if layers.count(layer) > 1})
    if repeated:
        raise ValueError(f"layers lists {repeated} more than once; give each layer once.")
    return [infos[layer] for layer in layers]


def prune(model: nn.Module, layers: Sequence[str]) -> nn.Module:
    """A new model without the units of ``layers``, keeping every remaining weight.

    The original model is left untouched, and so is the caller's random state (the new
    architecture's initial weights, overwritten at once, are drawn from a separate stream). The
    result is an ordinary registry model (``get_model(**pruned.config)`` rebuilds it; ``blocks=``
    or ``cfg=`` record the new shape), so it saves and loads as configuration plus state_dict,
    trains with :func:`dynamic_graphs.training.train` and has probe layers and a modularity curve of its
    own. ``pruned.pruned_layers`` lists what was removed.

    Args:
        model: a ResNet or VGG built by :func:`dynamic_graphs.get_model` (trained or not).
        layers: probe-layer names to remove (see :func:`removable_layers`).

    Raises:
        TypeError: a model that does not declare its units, or ``layers`` given as one string.
        UnknownNameError: (a ``KeyError``) a name that is not a module of the model.
        ValueError: a layer that cannot be removed (the message says why), or removing every
            block of a ResNet stage.

    Example:
        >>> net = get_model("resnet20")
        >>> small = prune(net, ["layer1.1", "layer3.2"])
        >>> small.config["blocks"], len(net.probe_layers()), len(small.probe_layers())
        ([2, 3, 2], 10, 8)
    """
    units(model)
    if not hasattr(model, "config"):
        raise TypeError("prune needs a model built by dg.get_model (it rebuilds the architecture from model.config).")
    removed = check_removal(model, layers)
    drop = {unit.name for unit in removed}
    infos = units(model)
    keep = getattr(model, "min_stage_units", 0)
    for stage in dict.fromkeys(info.stage for info in infos):
        kept = sum(info.stage == stage and info.name not in drop for info in infos)
        if kept < keep:
            raise ValueError(f"Removing {sorted(drop)} leaves stage {stage} without blocks; keep at least {keep}.")
    with isolated_rng():  # the fresh weights are overwritten below: they must not consume the caller's stream
        pruned = get_model(**{**model.config, **model.architecture_without(drop)})
    pruned.to(model_device(model))
    # Every tensor outside the removed units, in order, is the pruned model's next tensor.
    gone = tuple(f"{module}." for unit in removed for module in unit.unit)
    source = model.state_dict()
    kept_keys = [key for key in source if not key.startswith(gone)]
    target = pruned.state_dict()
    if len(kept_keys) != len(target) or any(
            old.rsplit(".", 1)[-1] != new.rsplit(".", 1)[-1] or source[old].shape != target[new].shape
            for old, new in zip(kept_keys, target)):
        raise RuntimeError(f"prune: the weights of {_model_name(model)} without {sorted(drop)} do not line up "
                           "with the rebuilt architecture; its layer info does not match its modules.")
    pruned.load_state_dict({new: source[old].clone() for old, new in zip(kept_keys, target)})
    pruned.train(model.training)
    order = [info.name for info in infos]
    pruned.pruned_layers = sorted(drop, key=order.index)
    return pruned


def model_cost(model: nn.Module, *, image_size: int = 32) -> dict[str, int]:
    """Parameters, FLOPs and MACs of one forward pass on a single image, by torch's FlopCounterMode.

    FLOPs count a multiply-add as two operations (convolutions and matrix products); MACs are half
    of that. The paper's thop counts (Lu et al. 2022, Table 1) are MACs.

    Returns:
        ``{"params": ..., "flops": ..., "macs": ...}``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = model_device(model)
    image = torch.zeros(1, model.config["in_channels"] if hasattr(model, "config") else 3, image_size, image_size,
                        device=device)
    counter = FlopCounterMode(display=False)
    with evaluating(model, device), torch.no_grad(), counter:
        model(image)
    flops = int(counter.get_total_flops())
    return {"params": int(sum(p.numel() for p in model.parameters())), "flops": flops, "macs": flops // 2}
