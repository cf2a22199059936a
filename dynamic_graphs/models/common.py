"""Pieces shared by every architecture: the model registry, input normalisation, argument checks.

Every model in the zoo takes images in ``[0, 1]`` and normalises them itself (a ``Normalize`` module
applied first in ``forward``). That keeps data pipelines, adversarial attacks (which clip to
``[0, 1]``) and graph construction free of per-dataset statistics.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn

__all__ = [
    "MODELS",
    "register_model",
    "Normalize",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "default_stats",
    "make_normalize",
    "check_positive_int",
    "check_block_counts",
    "conv_probe_names",
    "resnet_probe_names",
]

# The paper's CIFAR-10 statistics (also used by its code for CIFAR-100, see PAPER.md 2.1).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
# Of the zero-padded 32x32 images that get_dataset("fashion-mnist") returns (28x28: 0.2860, 0.3530).
FASHION_MNIST_MEAN = (0.2190,)
FASHION_MNIST_STD = (0.3318,)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# name -> builder(num_classes=, in_channels=, mean=, std=, **kwargs) -> nn.Module.
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


def default_stats(in_channels: int, imagenet: bool = False) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Default per-channel mean and std for a model family.

    Args:
        in_channels: number of input channels.
        imagenet: use ImageNet statistics for 3-channel inputs instead of the paper's CIFAR-10 ones.

    Returns:
        ``(mean, std)`` tuples of length ``in_channels``: CIFAR-10 (or ImageNet) stats for 3 channels,
        Fashion-MNIST stats for 1 channel, 0.5/0.5 otherwise.
    """
    if in_channels == 3:
        return (IMAGENET_MEAN, IMAGENET_STD) if imagenet else (CIFAR10_MEAN, CIFAR10_STD)
    if in_channels == 1:
        return FASHION_MNIST_MEAN, FASHION_MNIST_STD
    return (0.5,) * in_channels, (0.5,) * in_channels


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
        imagenet: whether the defaults are ImageNet's (else the paper's CIFAR-10 / Fashion-MNIST ones).

    Returns:
        The ``Normalize`` module.
    """
    default_mean, default_std = default_stats(in_channels, imagenet=imagenet)
    mean_t = _as_stats(default_mean if mean is None else mean, in_channels, "mean")
    std_t = _as_stats(default_std if std is None else std, in_channels, "std")
    return Normalize(mean_t, std_t)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ValueError naming ``name``.

    Args:
        name: argument name for the error message.
        value: the value to check (bools are rejected even though they are ints).

    Returns:
        ``value`` as an int.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def check_block_counts(blocks: Sequence[int], n_stages: int, model: str) -> list[int]:
    """Validate a per-stage block-count override such as ``blocks=(2, 3, 6)``.

    Args:
        blocks: one count per stage.
        n_stages: the number of stages the architecture has.
        model: model name for the error message.

    Returns:
        The counts as a list of ints.
    """
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or len(blocks) != n_stages:
        raise ValueError(f"{model}: blocks must be a sequence of {n_stages} ints >= 1, got {blocks!r}")
    return [check_positive_int(f"{model}: blocks[{i}]", b) for i, b in enumerate(blocks)]


def conv_probe_names(features: nn.Module, prefix: str = "features") -> list[str]:
    """Dotted names of every ``Conv2d`` inside ``features`` (the VGG probe layers, pre-BN outputs).

    Args:
        features: the module to search (usually ``model.features``).
        prefix: the attribute name of ``features`` in the model.

    Returns:
        Names such as ``["features.0", "features.3", ...]`` in forward order.
    """
    return [f"{prefix}.{name}" for name, m in features.named_modules() if isinstance(m, nn.Conv2d)]


def resnet_probe_names(model: nn.Module, n_stages: int) -> list[str]:
    """The paper's ResNet probe layers: the stem ``conv1`` plus the output of every residual block.

    Args:
        model: a ResNet with attributes ``conv1`` and ``layer1`` ... ``layer{n_stages}``.
        n_stages: number of stages.

    Returns:
        ``["conv1", "layer1.0", ..., "layer{n_stages}.{last}"]``, read from the actual stage lengths.
    """
    names = ["conv1"]
    for stage in range(1, n_stages + 1):
        layer = getattr(model, f"layer{stage}")
        names.extend(f"layer{stage}.{i}" for i in range(len(layer)))
    return names
