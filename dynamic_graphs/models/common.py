"""Pieces shared by every architecture: the model registry, input normalisation, per-layer info.

Every model in the zoo takes images in ``[0, 1]`` and normalises them itself (a ``Normalize`` module
applied first in ``forward``). That keeps data pipelines, adversarial attacks (which clip to
``[0, 1]``) and graph construction free of per-dataset statistics.

Every family also declares, per probe layer, a :class:`LayerInfo` record (in the spirit of timm's
``feature_info``): its module, stage, channels, reduction, and the unit that pruning may remove
with it. Code that needs to know where features live or which block may go reads these records
instead of testing classes.

The options every model shares have one home each: :func:`register_builder` gives every registry
entry the signature ``(num_classes=10, in_channels=3, mean=None, std=None, *, <architecture>)``,
and :class:`ZooModel` reads ``in_channels``/``mean``/``std`` and builds the ``Normalize``;
:class:`ResNetFamily` and :class:`VGGFamily` declare the two families' layer info.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, Sequence

import torch
from torch import nn

from ..data import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from ..utils import check_positive_int

__all__ = [
    "MODELS",
    "register_model",
    "register_builder",
    "Normalize",
    "default_stats",
    "make_normalize",
    "check_block_counts",
    "LayerInfo",
    "resnet_layer_info",
    "vgg_layer_info",
    "blocks_without",
    "cfg_without",
    "ZooModel",
    "ResNetFamily",
    "VGGFamily",
]

# name -> ``builder(num_classes=, in_channels=, mean=, std=, **kwargs) -> nn.Module`` (see register_builder).
# It lives here rather than in __init__ so that the architecture modules can register themselves
# without a circular import; ``dynamic_graphs.models`` re-exports both names.
MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that adds a model builder to ``MODELS`` under ``name``.

    Args:
        name: registry key, e.g. ``"resnet56"``. Must not be registered yet.

    Returns:
        The decorator; it returns the builder unchanged (apart from its ``__qualname__``, set to
        ``name`` so that a wrong keyword argument gives ``resnet56() got an unexpected keyword ...``).

    Raises:
        ValueError: if ``name`` is already registered or is not a non-empty string.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Model name must be a non-empty string, got {name!r}")
    if name in MODELS:
        raise ValueError(f"Model {name!r} is already registered ({MODELS[name]!r})")

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        # Checked again here: the name could have been taken between decoration and application.
        if name in MODELS:
            raise ValueError(f"Model {name!r} is already registered ({MODELS[name]!r})")
        builder.__qualname__ = name
        MODELS[name] = builder
        return builder

    return decorator


def register_builder(
    name: str, make: Callable[..., nn.Module], doc: str, *, recipe: str | None = None, **architecture: Any
) -> Callable[..., nn.Module]:
    """Register ``name`` as a builder that takes the zoo's shared options and ``architecture``'s keywords.

    The builder has the signature ``(num_classes=10, in_channels=3, mean=None, std=None, *,
    **architecture)`` and returns ``make(**architecture, num_classes=..., in_channels=..., mean=...,
    std=...)``, with the caller's overrides of ``architecture``'s keywords in place of their defaults.

    Args:
        name: registry key, e.g. ``"resnet56"``.
        make: builds the model from those keywords (a family's class, or a function around it).
        doc: the builder's docstring.
        recipe: the named training recipe the model trains with by default (``dg.training.RECIPES``, e.g.
            ``"transformer"``), where the dataset has it; None: the dataset's default recipe.
        **architecture: the keywords a caller may pass besides the shared options, with their
            defaults, e.g. ``blocks=(9, 9, 9)``.

    Returns:
        The registered builder. Any other keyword raises ``TypeError: <name>() got an unexpected
        keyword argument ...``.

    Raises:
        ValueError: as :func:`register_model`.
    """

    def build(num_classes: int = 10, in_channels: int = 3, mean: float | Sequence[float] | None = None,
              std: float | Sequence[float] | None = None, **overrides: Any) -> nn.Module:
        unknown = [key for key in overrides if key not in architecture]
        if unknown:
            raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")
        options = {**architecture, **overrides}
        return make(**options, num_classes=num_classes, in_channels=in_channels, mean=mean, std=std)

    # What help() and inspect show: the shared options, then the architecture keywords with their defaults.
    shared = inspect.signature(build).parameters
    build.__signature__ = inspect.Signature(
        [p for p in shared.values() if p.kind is not p.VAR_KEYWORD]
        + [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=value)
           for key, value in architecture.items()],
        return_annotation="nn.Module",
    )
    build.__doc__ = doc
    build.recipe = recipe
    return register_model(name)(build)


def default_stats(in_channels: int, imagenet: bool = False) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Default per-channel mean and std of a family, for a model built without ``mean=``/``std=``.

    Only 3-channel models have a default: the paper's CIFAR-10 statistics for the CIFAR families
    (the paper's code normalises CIFAR-100 with them too) and ImageNet's for ``imagenet_*``. Any
    other channel count has no statistics to assume (a 1-channel model could be Fashion-MNIST or
    anything else), so the caller must pass them, usually from the dataset's info.

    Args:
        in_channels: number of input channels.
        imagenet: use ImageNet statistics instead of the paper's CIFAR-10 ones.

    Returns:
        ``(mean, std)`` tuples of length 3.

    Raises:
        ValueError: ``in_channels`` is not 3; the message names the fix.
    """
    if in_channels == 3:
        return (IMAGENET_MEAN, IMAGENET_STD) if imagenet else (CIFAR10_MEAN, CIFAR10_STD)
    raise ValueError(
        f"A model with in_channels={in_channels} needs its input statistics: pass mean= and std= (e.g. "
        "info = dg.data.dataset_info(name); dg.get_model(..., mean=info['mean'], std=info['std'])). Only "
        "3-channel models default to the CIFAR-10 (or, for imagenet_*, ImageNet) statistics."
    )


def _to_floats(values: float | Iterable[float]) -> tuple[float, ...]:
    """A scalar, sequence or tensor as a tuple of python floats."""
    if isinstance(values, torch.Tensor):
        values = values.detach().flatten().tolist()
    if isinstance(values, (int, float)):
        values = (values,)
    return tuple(float(v) for v in values)


def _as_stats(values: float | Iterable[float], in_channels: int, what: str) -> tuple[float, ...]:
    """Turn a scalar or a sequence into a tuple of ``in_channels`` floats (length 1 broadcasts)."""
    out = _to_floats(values)
    if len(out) == 1:
        out = out * in_channels
    if len(out) != in_channels:
        raise ValueError(f"{what} has {len(out)} values but the model has in_channels={in_channels}")
    return out


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, for NCHW inputs in ``[0, 1]``.

    The statistics are non-persistent buffers: they follow ``.to(device)`` and ``.half()`` but are not
    in ``state_dict()``, so checkpoints stay interchangeable with plain (un-normalised) versions of
    the same architecture, e.g. torchvision's or akamaster's.

    Args:
        mean: per-channel means (a scalar broadcasts to one channel).
        std: per-channel standard deviations, all > 0.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__()
        mean_t = _to_floats(mean)
        if not mean_t:
            raise ValueError("mean must have at least one value")
        std_t = _as_stats(std, len(mean_t), "std")
        if any(s <= 0 for s in std_t):
            raise ValueError(f"std must be > 0 in every channel, got {std_t}")
        # Plain-python copies: readable on the meta device and cheap to put in a model config.
        self.mean_values: tuple[float, ...] = mean_t
        self.std_values: tuple[float, ...] = std_t
        self.register_buffer("mean", torch.tensor(mean_t, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std_t, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x``.

        Args:
            x: tensor of shape (N, C, H, W) with C equal to the number of stored channels.

        Returns:
            The normalised tensor, same shape.
        """
        # Without this check a 1-channel Normalize would silently broadcast over RGB inputs.
        if x.dim() != 4 or x.shape[1] != len(self.mean_values):
            raise ValueError(
                f"Expected input of shape (N, {len(self.mean_values)}, H, W), got {tuple(x.shape)}"
            )
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean_values}, std={self.std_values}"


def make_normalize(
    in_channels: int,
    mean: float | Sequence[float] | None,
    std: float | Sequence[float] | None,
    imagenet: bool = False,
) -> Normalize:
    """Build a ``Normalize`` with the family defaults filled in.

    Args:
        in_channels: number of input channels of the model.
        mean: per-channel means, a scalar, or None for the default.
        std: per-channel stds, a scalar, or None for the default.
        imagenet: whether the defaults are ImageNet's (else the paper's CIFAR-10 ones).

    Returns:
        The ``Normalize`` module.

    Raises:
        ValueError: ``mean`` or ``std`` left out for a model that does not have 3 channels
            (see :func:`default_stats`), or statistics of the wrong length.
    """
    if mean is None or std is None:
        default_mean, default_std = default_stats(in_channels, imagenet=imagenet)
        mean = default_mean if mean is None else mean
        std = default_std if std is None else std
    return Normalize(_as_stats(mean, in_channels, "mean"), _as_stats(std, in_channels, "std"))


def check_block_counts(blocks: Sequence[int], n_stages: int, model: str) -> list[int]:
    """Validate a per-stage block-count override such as ``blocks=(2, 3, 6)``.

    Args:
        blocks: one count per stage.
        n_stages: the number of stages the architecture has.
        model: model name for the error message.

    Returns:
        The counts as a list of ints.

    Raises:
        TypeError: not a sequence of integers.
        ValueError: not one count >= 1 per stage.
    """
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
        raise TypeError(f"{model}: blocks must be a sequence of {n_stages} ints >= 1, got {blocks!r}")
    if len(blocks) != n_stages:
        raise ValueError(f"{model}: blocks must be a sequence of {n_stages} ints >= 1, got {blocks!r}")
    return [check_positive_int(f"{model}: blocks[{i}]", b) for i, b in enumerate(blocks)]


# --------------------------------------------------------------------------------------------------
# Per-layer info
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerInfo:
    """What the zoo declares about one probe layer, read with :func:`dynamic_graphs.models.layer_info`.

    Attributes:
        name: the probe layer's dotted module name; its output is the layer's features.
        stage: 0 for the stem, else the 1-based stage (a ResNet stage, or a VGG group between pools).
        channels: channels of the probe layer's output.
        reduction: how many times smaller than the input each spatial side of the output is.
        removable: whether pruning may remove the layer's unit (its input and output shapes match).
        unit: the module names removed with the layer: one residual block, or a VGG conv with the
            BN and ReLU that follow it.
        reason: why the unit cannot be removed ("" when it can).
    """

    name: str
    stage: int
    channels: int
    reduction: int
    removable: bool
    unit: tuple[str, ...]
    reason: str = ""

    def with_prefix(self, prefix: str) -> "LayerInfo":
        """The same record with ``prefix`` before every module name (e.g. ``module.`` of a wrapper)."""
        return LayerInfo(prefix + self.name, self.stage, self.channels, self.reduction, self.removable,
                         tuple(prefix + m for m in self.unit), self.reason)


def _stride(module: nn.Module) -> int:
    stride = getattr(module, "stride", 1)
    return int(stride[0] if isinstance(stride, (tuple, list)) else stride)


def resnet_layer_info(model: nn.Module, n_stages: int) -> list[LayerInfo]:
    """The ResNet probe layers (the stem ``conv1``, then every residual block) as :class:`LayerInfo`.

    A block is a removable unit when it keeps the shape (as many output as input channels, stride
    1: an identity shortcut), so that its output can stand in for its input; the stem never is.

    Args:
        model: a ResNet with ``conv1`` and ``layer1`` ... ``layer{n_stages}`` of blocks with
            ``conv1``, ``conv2`` (and, for bottlenecks, ``conv3``).
        n_stages: number of stages.

    A ``maxpool`` attribute (torchvision's stem) counts in the blocks' reduction.
    """
    reduction = _stride(model.conv1)
    infos = [LayerInfo("conv1", 0, model.conv1.out_channels, reduction, False, ("conv1", "bn1"),
                       "it is the stem convolution")]
    if isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        reduction *= _stride(model.maxpool)
    for stage in range(1, n_stages + 1):
        for index, block in enumerate(getattr(model, f"layer{stage}")):
            last = block.conv3 if hasattr(block, "conv3") else block.conv2
            stride = max(_stride(block.conv1), _stride(block.conv2))
            reduction *= stride
            keeps_shape = block.conv1.in_channels == last.out_channels and stride == 1
            reason = "" if keeps_shape else (
                f"it changes the shape ({block.conv1.in_channels} -> {last.out_channels} channels, "
                f"stride {stride}), so its output cannot stand in for its input")
            name = f"layer{stage}.{index}"
            infos.append(LayerInfo(name, stage, last.out_channels, reduction, keeps_shape, (name,), reason))
    return infos


def vgg_layer_info(features: nn.Sequential, prefix: str = "features") -> list[LayerInfo]:
    """The VGG probe layers (every ``Conv2d`` of ``features``, before BN and ReLU) as :class:`LayerInfo`.

    A conv's unit is the conv and the modules after it up to the next conv or pool (its BN and
    ReLU); it is removable when it keeps the channel count. Stages are the groups between pools.
    """
    children = list(features.named_children())
    infos, stage, reduction = [], 1, 1
    for position, (name, module) in enumerate(children):
        if isinstance(module, nn.MaxPool2d):
            stage += 1
            reduction *= _stride(module)
        elif isinstance(module, nn.Conv2d):
            unit = [name]
            for follower, after in children[position + 1:]:
                if isinstance(after, (nn.Conv2d, nn.MaxPool2d)):
                    break
                unit.append(follower)
            keeps_shape = module.in_channels == module.out_channels and _stride(module) == 1
            reason = "" if keeps_shape else (
                f"it changes the channel count ({module.in_channels} -> {module.out_channels}), "
                "so the next layer could not take its input")
            infos.append(LayerInfo(f"{prefix}.{name}", stage, module.out_channels, reduction, keeps_shape,
                                   tuple(f"{prefix}.{m}" for m in unit), reason))
    return infos


def blocks_without(infos: Sequence[LayerInfo], layers: Collection[str]) -> dict[str, list[int]]:
    """The ``blocks=`` override of a ResNet without the blocks of ``layers``: kept blocks per stage."""
    stages = sorted({info.stage for info in infos if info.stage > 0})
    return {"blocks": [sum(info.stage == stage and info.name not in layers for info in infos) for stage in stages]}


def cfg_without(cfg: Sequence[int | str], infos: Sequence[LayerInfo], layers: Collection[str]) -> dict[str, list]:
    """The ``cfg=`` override of a VGG without the convs of ``layers`` (its probe layers, in cfg order)."""
    convs = iter(infos)
    return {"cfg": [item for item in cfg if item == "M" or next(convs).name not in layers]}


class ZooModel:
    """What every family of the zoo declares, mixed into its ``nn.Module`` class.

    A family implements :meth:`layer_info` and :meth:`architecture_without`, and sets
    :attr:`min_stage_units`; :meth:`probe_layers` follows from the first. Its constructor takes the
    input options shared by the whole zoo as keywords (``**inputs``) and hands them to
    :meth:`_add_normalize`, the one place that reads them:

    Args:
        in_channels: input image channels (default 3).
        mean: per-channel normalisation mean, a scalar or one value per channel. None: the family
            default, which only 3-channel models have (the paper's CIFAR-10 statistics, or
            ImageNet's for a family with :attr:`imagenet_stats`; see :func:`default_stats`).
        std: per-channel normalisation std (None: as for ``mean``).
    """

    #: how many units each stage must keep (a ResNet stage needs a block; a VGG stage may be only its pool)
    min_stage_units: int = 0
    #: whether the default input statistics are ImageNet's rather than the paper's CIFAR-10 ones
    imagenet_stats: bool = False

    def _add_normalize(self, in_channels: int = 3, mean: float | Sequence[float] | None = None,
                       std: float | Sequence[float] | None = None, **unknown: object) -> int:
        """Add the ``normalize`` module (see :func:`make_normalize`) and return ``in_channels``.

        Raises:
            TypeError: a keyword other than ``in_channels``, ``mean`` and ``std``, named with the class.
            ValueError: as :func:`make_normalize`.
        """
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {next(iter(unknown))!r}")
        self.normalize = make_normalize(in_channels, mean, std, imagenet=self.imagenet_stats)
        return in_channels

    def layer_info(self) -> list[LayerInfo]:
        """One :class:`LayerInfo` per probe layer, in forward order."""
        raise NotImplementedError

    def probe_layers(self) -> list[str]:
        """The paper's probe layers (Lu et al. 2022; the layers its code hooks), in forward order."""
        return [info.name for info in self.layer_info()]

    def architecture_without(self, layers: Collection[str]) -> dict:
        """The builder override (``blocks=`` or ``cfg=``) that rebuilds this model without ``layers``' units."""
        raise NotImplementedError


class ResNetFamily(ZooModel):
    """A ResNet: the stem ``conv1``, then stages ``layer1`` ... ``layer{n_stages}`` of residual blocks."""

    #: number of stages
    n_stages: int = 4
    min_stage_units = 1

    def layer_info(self) -> list[LayerInfo]:
        """The paper's probe layers, ``conv1`` (pre-BN) and every block output, with their info.

        Returns:
            E.g. 28 records for ResNet56, 9 for ResNet18 and 51 for ResNet152 (see
            :func:`resnet_layer_info`). Each block is a unit, removable when its shortcut is the identity.
        """
        return resnet_layer_info(self, self.n_stages)

    def architecture_without(self, layers: Collection[str]) -> dict:
        """``{"blocks": [...]}``: the blocks kept per stage once ``layers`` are removed."""
        return blocks_without(self.layer_info(), layers)


class VGGFamily(ZooModel):
    """A VGG built from a cfg list (kept as ``self.cfg``) into ``features``."""

    def layer_info(self) -> list[LayerInfo]:
        """The paper's probe layers, every ``Conv2d`` in ``features`` (outputs before BN and ReLU), with info.

        Returns:
            E.g. ``features.0, features.4, ...`` (8 records) for VGG11, 13 for VGG16 (see
            :func:`vgg_layer_info`). Each conv with its BN and ReLU is a unit, removable when it keeps
            the channel count.
        """
        return vgg_layer_info(self.features)

    def architecture_without(self, layers: Collection[str]) -> dict:
        """``{"cfg": [...]}``: this model's cfg without the convs of ``layers``."""
        return cfg_without(self.cfg, self.layer_info(), layers)
