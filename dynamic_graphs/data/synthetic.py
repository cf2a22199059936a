"""A seeded Gaussian mixture of images, and the exact moments of its pixels.

For tests and quick experiments: small, offline, and as fast to build as to read.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..utils import check_int, check_positive_int
from .tensors import SPLITS, ImageTensorDataset, check_split

__all__ = [
    "SYNTHETIC_DEFAULTS",
    "synthetic_dataset",
    "synthetic_stats",
]

SYNTHETIC_DEFAULTS: dict[str, Any] = dict(n=200, num_classes=4, shape=(3, 8, 8), separation=2.0, seed=0)
"""The keywords ``get_dataset("synthetic")`` takes, and their defaults."""


def synthetic_dataset(n: int = 200, num_classes: int = 4, shape: Sequence[int] = (3, 8, 8),
                      separation: float = 2.0, seed: int = 0, split: str = "train") -> ImageTensorDataset:
    """A seeded Gaussian mixture of images, for tests and quick experiments.

    Class means ``m_k ~ N(0, I)`` are drawn once from ``seed``; a sample of class ``k`` is
    ``sigmoid(separation * m_k + eps)`` with ``eps ~ N(0, I)``, so pixels lie in ``(0, 1)``.
    Labels are balanced (``n // num_classes`` per class, the remainder to the first classes)
    and shuffled. The train and test splits share the means but draw their samples from
    seeds derived from ``(seed, split)``, so they are different samples of one mixture.

    Args:
        n: number of samples in this split.
        num_classes: number of mixture components.
        shape: ``(C, H, W)`` of each image.
        separation: scale of the class means relative to the unit noise; larger is easier.
        seed: non-negative integer seed.
        split: ``"train"`` or ``"test"``.

    Returns:
        An :class:`ImageTensorDataset` with float32 images.
    """
    check_split(split)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (C, H, W) with positive sizes, got {shape}")
    n = check_positive_int("n", n)
    num_classes = check_positive_int("num_classes", num_classes)
    seed = check_int("seed", seed, minimum=0)
    # Separate streams: means depend on seed only, samples on (seed, split).
    means = np.random.default_rng([seed, 0]).standard_normal((num_classes, *shape))
    rng = np.random.default_rng([seed, 1, SPLITS.index(split)])
    labels = rng.permutation(np.arange(n) % num_classes)
    logits = separation * means[labels] + rng.standard_normal((n, *shape))
    images = torch.from_numpy(1.0 / (1.0 + np.exp(-logits))).float()
    return ImageTensorDataset(images, torch.from_numpy(labels).long(), [f"class {k}" for k in range(num_classes)])


def synthetic_stats(separation: float) -> tuple[float, float]:
    """Mean and std of ``sigmoid(z)``, ``z ~ N(0, separation**2 + 1)``: the pixel marginal."""
    x, w = np.polynomial.hermite_e.hermegauss(80)  # exact enough, deterministic, no sampling
    w = w / w.sum()
    p = 1.0 / (1.0 + np.exp(-np.sqrt(separation ** 2 + 1.0) * x))
    mean = float(np.sum(w * p))
    return mean, float(np.sqrt(np.sum(w * (p - mean) ** 2)))
