"""Images made to fit a model built for other images: grey to colour (or back), resized, normalised.

:class:`ConvertedImages` is a lazy view of any dataset of ``(image, label)`` items: each item, or
each :meth:`~ConvertedImages.batch`, is converted when it is read (:func:`convert_images`), so a
Fashion-MNIST made 3 x 224 x 224 for an ImageNet network never exists as a whole in memory.
:func:`~dynamic_graphs.get_dataset` builds it with ``channels=``, ``image_size=`` and ``normalize=``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils import check_positive_int, lookup
from .stats import IMAGENET_MEAN, IMAGENET_STD
from .tensors import labels_of, load_batch

__all__ = [
    "CONVERTIBLE_CHANNELS",
    "LUMINANCE_WEIGHTS",
    "NAMED_STATISTICS",
    "ConvertedImages",
    "conversion_options",
    "convert_images",
]

CONVERTIBLE_CHANNELS = (1, 3)
# ITU-R BT.601 luma as torchvision's rgb_to_grayscale writes it, so both give one grey.
LUMINANCE_WEIGHTS = (0.2989, 0.587, 0.114)
NAMED_STATISTICS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD)}
"""Per-channel (mean, std) that ``normalize=`` takes by name: what torchvision's and timm's ImageNet
networks were trained with."""


def _check_channels(channels: Any) -> int | None:
    if channels is None:
        return None
    channels = check_positive_int("channels", channels)
    if channels not in CONVERTIBLE_CHANNELS:
        raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels}.")
    return channels


def _check_image_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be one side or (height, width), got {image_size!r}.")
        return (check_positive_int("image_size[0]", image_size[0]), check_positive_int("image_size[1]", image_size[1]))
    side = check_positive_int("image_size", image_size)
    return (side, side)


def _check_statistics(normalize: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    if normalize is None:
        return None
    if isinstance(normalize, str):
        return NAMED_STATISTICS[lookup(normalize, NAMED_STATISTICS, what="normalisation",
                                       hint=", or a (mean, std) pair of per-channel values")]
    try:
        mean, std = normalize
        mean, std = tuple(float(m) for m in np.atleast_1d(mean)), tuple(float(s) for s in np.atleast_1d(std))
    except (TypeError, ValueError):
        raise TypeError(f"normalize must be None, 'imagenet' or a (mean, std) pair of per-channel values, "
                        f"got {normalize!r}.") from None
    if len(mean) != len(std) or not all(s > 0 for s in std):
        raise ValueError(f"normalize's mean and std must have one value per channel and std > 0, got mean={mean}, "
                         f"std={std}.")
    return mean, std


def conversion_options(*, channels: Any = None, image_size: Any = None, normalize: Any = None) -> dict[str, Any]:
    """The options of :func:`convert_images`, checked: ``image_size`` as ``(height, width)``,
    ``normalize`` as a ``(mean, std)`` pair of tuples.

    Raises:
        TypeError, ValueError: naming the option and what it takes.
        UnknownNameError: (a ``KeyError``) an unknown statistics name.
    """
    return dict(channels=_check_channels(channels), image_size=_check_image_size(image_size),
                normalize=_check_statistics(normalize))


def convert_images(images: torch.Tensor, *, channels: int | None = None,
                   image_size: int | tuple[int, int] | None = None,
                   normalize: str | tuple[Sequence[float], Sequence[float]] | None = None) -> torch.Tensor:
    """A batch of ``[0, 1]`` images with other channels, size or statistics.

    Args:
        images: (N, C, H, W) float images in ``[0, 1]`` (or ``uint8``, scaled) with C 1 or 3.
        channels: 3 repeats a grey channel; 1 turns colour into grey by :data:`LUMINANCE_WEIGHTS`;
            None, or the images' own count, keeps them.
        image_size: one side, or ``(height, width)``: a bilinear (antialiased) resize; None keeps it.
        normalize: None keeps pixels in ``[0, 1]``; ``"imagenet"`` or a ``(mean, std)`` pair of
            per-channel values returns ``(x - mean) / std``.

    Returns:
        A new float32 (N, channels, height, width) tensor.

    Raises:
        ValueError: images that are not (N, 1 or 3, H, W), or statistics for another channel count.

    Example:
        >>> convert_images(torch.rand(2, 1, 8, 8), channels=3, image_size=16).shape
        torch.Size([2, 3, 16, 16])
    """
    options = conversion_options(channels=channels, image_size=image_size, normalize=normalize)
    channels, size, statistics = options["channels"], options["image_size"], options["normalize"]
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] not in CONVERTIBLE_CHANNELS:
        found = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"convert_images takes (N, C, H, W) images with C 1 or 3, got {found}.")
    source, images = images, (images.float().div(255.0) if images.dtype == torch.uint8 else images.float())
    if channels == 1 and images.shape[1] == 3:  # grey first: the resize then works on one channel
        weights = torch.tensor(LUMINANCE_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        images = (images * weights).sum(dim=1, keepdim=True)
    if size is not None and tuple(images.shape[2:]) != size:
        images = torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False,
                                                 antialias=True)
    if channels == 3 and images.shape[1] == 1:  # repeated last: the resize worked on one channel
        images = images.repeat(1, 3, 1, 1)
    if statistics is not None:
        mean, std = statistics
        if len(mean) != images.shape[1]:
            raise ValueError(f"normalize has statistics for {len(mean)}-channel images but the images are "
                             f"{images.shape[1]}-channel; pass channels={len(mean)} as well.")
        view = (1, -1, 1, 1)
        images = ((images - torch.tensor(mean, device=images.device).view(view))
                  / torch.tensor(std, device=images.device).view(view))
    return images.clone() if images is source else images.contiguous()  # never a view of the caller's tensor


class ConvertedImages(Dataset):
    """A dataset's images converted as they are read (:func:`convert_images`); labels unchanged.

    Nothing is copied up front: ``self[i]`` converts one image and :meth:`batch` one batch, so
    ``ConvertedImages(fashion_mnist, channels=3, image_size=224)`` costs no more memory than
    Fashion-MNIST. Every function of the package that takes a dataset takes it. With
    ``normalize`` the images are no longer in ``[0, 1]``: give it only to a model that does not
    normalise inside itself (the package's own models do), and not to the adversarial attacks,
    which work in ``[0, 1]`` pixel space.

    Args:
        dataset: a map-style dataset of ``(image, label)`` items, images (C, H, W) in ``[0, 1]``
            (or ``uint8``, scaled) with C 1 or 3.
        channels, image_size, normalize: as for :func:`convert_images`.

    Attributes:
        dataset: the wrapped dataset.
        channels: the images' channel count after conversion.

    Raises:
        ValueError: as :func:`convert_images`, checked on the first image.

    Example:
        >>> from dynamic_graphs.data import synthetic_dataset
        >>> grey = synthetic_dataset(n=8, shape=(1, 8, 8))
        >>> ConvertedImages(grey, channels=3, image_size=16)[0][0].shape
        torch.Size([3, 16, 16])
    """

    def __init__(self, dataset: Dataset, *, channels: int | None = None,
                 image_size: int | tuple[int, int] | None = None,
                 normalize: str | tuple[Sequence[float], Sequence[float]] | None = None) -> None:
        self.dataset = dataset
        self.options = conversion_options(channels=channels, image_size=image_size, normalize=normalize)
        first = load_batch(dataset, [0])[0] if len(dataset) else None
        self.channels = self.options["channels"] or (int(first.shape[1]) if first is not None else None)
        if first is not None:
            convert_images(first, **self.options)  # refuse bad images or statistics now, not mid-curve

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        image, label = self.dataset[int(index)][:2]
        return convert_images(torch.as_tensor(image)[None], **self.options)[0], label

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """The converted images and the labels at ``indices``, equal to stacking ``self[i]``."""
        if hasattr(self.dataset, "batch"):
            images, labels = self.dataset.batch(indices)
        else:
            picked = range(len(self))[indices] if isinstance(indices, slice) else indices
            images, labels = load_batch(self.dataset, picked)
        return convert_images(images, **self.options), torch.as_tensor(labels).long()

    @property
    def targets(self) -> torch.Tensor:
        """The wrapped dataset's labels (:func:`~dynamic_graphs.data.labels_of`)."""
        return torch.from_numpy(labels_of(self.dataset))

    @property
    def classes(self) -> list[str]:
        """The wrapped dataset's class names (``"0"``, ``"1"``... when it has none)."""
        classes = getattr(self.dataset, "classes", None)
        if classes is not None:
            return list(classes)
        labels = self.targets
        return [str(i) for i in range(int(labels.max()) + 1 if len(labels) else 0)]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.options.items() if value is not None)
        return f"{type(self).__name__}({self.dataset!r}, {options})"
