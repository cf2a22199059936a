"""The dataset registry: Fashion-MNIST, CIFAR-10/100, ImageNet-style folders and a synthetic mixture, by name.

Every dataset yields ``(image, label)`` with ``image`` a float32 tensor ``C x H x W`` in
``[0, 1]`` and ``label`` an ``int``. No normalisation is applied here: models normalise with
the statistics from :func:`dataset_info`, so features and adversarial attacks can work in
pixel space.

Small datasets (everything except image folders) are decoded once to ``uint8`` tensors,
cached under ``settings.data_dir`` (:mod:`.cache`) and served from memory by
:class:`~dynamic_graphs.data.ImageTensorDataset`, whose ``batch`` method indexes many items at once.

Fashion-MNIST images are zero-padded from 28x28 to 32x32 (2 px on each side), so that
CIFAR architectures with five 2x poolings (32 -> 1) apply unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import Dataset

from .._settings import settings
from ..utils import UnknownNameError, cache_key, lookup
from .cache import cached_tensors
from .convert import ConvertedImages, conversion_options
from .readers import PADDED_SIZE, fetch_cifar, fetch_fashion_mnist
from .stats import CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD
from .synthetic import SYNTHETIC_DEFAULTS, synthetic_dataset, synthetic_stats
from .tensors import SPLITS, check_split

__all__ = [
    "KNOWN_DATASETS",
    "UnknownDatasetError",
    "as_dataset",
    "dataset_info",
    "get_dataset",
    "train_images",
]

KNOWN_DATASETS = ("cifar10", "cifar100", "fashion-mnist", "synthetic")
# Spellings people type for the same dataset.
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar-100": "cifar100"}

_INFO = {
    # Statistics of the padded 32x32 training images, i.e. of what the models see.
    "fashion-mnist": dict(num_classes=10, in_channels=1, image_size=PADDED_SIZE,
                          mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, split_sizes=(60000, 10000)),
    "cifar10": dict(num_classes=10, in_channels=3, image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                    split_sizes=(50000, 10000)),
    # The paper normalises CIFAR-100 with the CIFAR-10 statistics; keep them for fidelity.
    "cifar100": dict(num_classes=100, in_channels=3, image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                     split_sizes=(50000, 10000)),
}


class UnknownDatasetError(UnknownNameError):
    """KeyError for a dataset name that is not known."""


def _resolve(name: str | os.PathLike) -> str | Path:
    """Return a canonical known name, or the Path of an image folder."""
    if isinstance(name, os.PathLike):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"Image folder {path} does not exist")
        return path
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name or a path, got {type(name).__name__}")
    try:  # known names win over a same-named directory in the cwd
        return lookup(name, KNOWN_DATASETS, what="dataset", aliases=_ALIASES, error=UnknownDatasetError,
                      hint=", or a path to an image folder")
    except UnknownDatasetError:
        if Path(name).expanduser().is_dir():
            return Path(name).expanduser()
        raise


def _folder_split_dir(path: Path, split: str) -> Path:
    """ImageNet layout: use ``path/train`` or ``path/val`` (or ``path/test``) when present."""
    candidates = ("train",) if split == "train" else ("val", "test")
    for sub in candidates:
        if (path / sub).is_dir():
            return path / sub
    return path


def get_dataset(name: str | os.PathLike, split: str = "train", root: str | os.PathLike | None = None, *,
                channels: int | None = None, image_size: int | tuple[int, int] | None = None,
                normalize: str | tuple[Sequence[float], Sequence[float]] | None = None, **kwargs: Any) -> Dataset:
    """Load a dataset whose items are ``(float32 C x H x W image in [0, 1], int label)``.

    The images carry no normalisation: the package's own models normalise inside themselves with
    :func:`dataset_info`'s mean and std. For a model built for other images (a torchvision, timm or
    HuggingFace network), ``channels``, ``image_size`` and ``normalize`` convert each image as it is
    read (:class:`~dynamic_graphs.data.ConvertedImages`; the dataset is never copied whole), e.g. an
    ImageNet network on Fashion-MNIST:
    ``get_dataset("fashion-mnist", "test", channels=3, image_size=224, normalize="imagenet")``.

    Args:
        name: ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"synthetic"``, or an
            existing directory of an ImageNet-style class-per-subfolder layout. Known names take
            precedence over a same-named directory; pass a ``Path`` to force a folder.
        split: ``"train"`` or ``"test"``.
        root: cache/download root; defaults to ``settings.data_dir``. CIFAR is read from the
            extracted archive, ``root/cifar10/cifar-10-batches-py/`` (``root/cifar100/cifar-100-python/``;
            the folder straight under ``root`` also works), and downloaded there when it is missing.
        channels: 3 repeats a grey image's channel, 1 turns colour into grey (ITU-R BT.601
            luminance); None keeps the dataset's own.
        image_size: one side or ``(height, width)`` to resize to (bilinear, antialiased). Fashion-MNIST
            is resized from its padded 32x32, so its 2-pixel black border is resized too.
        normalize: None keeps pixels in ``[0, 1]``; ``"imagenet"`` (ImageNet's mean and std, what
            torchvision's and timm's pretrained networks expect) or a ``(mean, std)`` pair of
            per-channel values gives ``(x - mean) / std``. Only for a model that does not normalise
            inside itself; the attacks need ``[0, 1]`` pixels.
        **kwargs: per dataset:
            ``synthetic``: ``n``, ``num_classes``, ``shape``, ``separation``, ``seed``
            (see :func:`synthetic_dataset`).
            ``fashion-mnist``: ``idx_dir``, a directory of IDX ``.gz`` files to read instead of
            the Debian location (the torchvision download is then not tried). Its tensors are
            cached apart, under a key of the resolved directory (``<split>-idx-<key>.pt``), so two
            folders never share a cache entry; without ``idx_dir`` the cache is ``<split>.pt``.
            image folder: ``transform`` to replace Resize(256), CenterCrop(224), ToTensor.

    Returns:
        An :class:`ImageTensorDataset` (in memory; Fashion-MNIST padded to 32x32) for the
        named datasets, a lazy ``torchvision.datasets.ImageFolder`` for a directory. For a
        folder with ``train/`` and ``val/`` (or ``test/``) subfolders the split picks one;
        otherwise the folder itself is used for either split. With ``channels``, ``image_size`` or
        ``normalize``, a :class:`~dynamic_graphs.data.ConvertedImages` view of it.

    Raises:
        ValueError: bad ``split``, corrupt files, or conversion options that do not fit the images.
        UnknownDatasetError: (a ``KeyError``) unknown name; the message suggests close known ones.
        DatasetNotFoundError: (a ``FileNotFoundError``) the files are missing and cannot be
            downloaded; the message says where a local copy goes. A failed download leaves nothing
            behind.
        TypeError: keyword arguments the dataset does not take.
    """
    check_split(split)
    conversion = conversion_options(channels=channels, image_size=image_size, normalize=normalize)
    if any(value is not None for value in conversion.values()):
        return ConvertedImages(get_dataset(name, split, root, **kwargs), **conversion)
    resolved = _resolve(name)
    root = Path(root if root is not None else settings.data_dir).expanduser()

    def take(allowed: Sequence[str]) -> None:
        extra = sorted(set(kwargs) - set(allowed))
        if extra:
            raise TypeError(f"get_dataset({str(name)!r}) got unexpected keyword arguments: {', '.join(extra)}")

    if isinstance(resolved, Path):
        take(["transform"])
        import torchvision
        from torchvision import transforms as T

        transform = kwargs.get("transform") or T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
        return torchvision.datasets.ImageFolder(str(_folder_split_dir(resolved, split)), transform=transform)
    if resolved == "synthetic":
        take(list(SYNTHETIC_DEFAULTS))
        return synthetic_dataset(**{**SYNTHETIC_DEFAULTS, **kwargs}, split=split)
    cache = root / resolved / f"{split}.pt"
    if resolved == "fashion-mnist":
        take(["idx_dir"])
        idx_dir = kwargs.get("idx_dir")
        if idx_dir is not None:  # each IDX folder gets its own cache, beside the default one
            idx_dir = Path(idx_dir).expanduser().resolve()
            cache = cache.with_name(f"{split}-idx-{cache_key({'idx_dir': str(idx_dir)})}.pt")
        return cached_tensors(cache, lambda: fetch_fashion_mnist(root, split, idx_dir))
    take([])
    return cached_tensors(cache, lambda: fetch_cifar(resolved, root, split))


def dataset_info(name: str | os.PathLike, **kwargs: Any) -> dict:
    """Static facts about a dataset, without loading it.

    Args:
        name: as for :func:`get_dataset`.
        **kwargs: for ``"synthetic"``, ``num_classes``, ``shape``, ``separation`` (defaults as
            in :func:`synthetic_dataset`).

    Returns:
        ``dict(num_classes, in_channels, image_size, mean, std, split_sizes)``; ``mean``/``std``
        are per-channel tuples for normalising ``[0, 1]`` images. For ``"synthetic"`` they are the
        exact pixel-marginal moments of the mixture; for an image folder, ImageNet's values
        and the number of class subfolders. ``split_sizes`` maps ``"train"`` and ``"test"`` to
        their number of images (synthetic: ``n`` each; an image folder: ``None``, not counted).
    """
    resolved = _resolve(name)
    if isinstance(resolved, Path):
        folder = _folder_split_dir(resolved, "train")
        num_classes = sum(1 for p in folder.iterdir() if p.is_dir())
        return dict(num_classes=num_classes, in_channels=3, image_size=224,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, split_sizes=None)
    if resolved == "synthetic":
        extra = sorted(set(kwargs) - set(SYNTHETIC_DEFAULTS))
        if extra:
            raise TypeError(f"dataset_info('synthetic') got unexpected keyword arguments: {', '.join(extra)}")
        cfg = {**SYNTHETIC_DEFAULTS, **kwargs}
        c, h, _ = (int(s) for s in cfg["shape"])  # image_size is the height (square by default)
        mean, std = synthetic_stats(float(cfg["separation"]))
        return dict(num_classes=int(cfg["num_classes"]), in_channels=c, image_size=h,
                    mean=(mean,) * c, std=(std,) * c, split_sizes={split: int(cfg["n"]) for split in SPLITS})
    if kwargs:
        raise TypeError(f"dataset_info({resolved!r}) takes no keyword arguments")
    info = _INFO[resolved]
    return {**info, "mean": tuple(info["mean"]), "std": tuple(info["std"]),
            "split_sizes": dict(zip(SPLITS, info["split_sizes"]))}


def train_images(dataset: str | os.PathLike, train_size: int | None = None,
                 classes: Sequence[int] | None = None) -> int | None:
    """The number of training images a run sees: ``train_size``, or else the share of the split that
    ``classes`` hold (every class: the whole split; None where the split is not counted).

    The registry's splits are balanced (every class the same number of images), so ``classes``
    hold ``len(classes) / num_classes`` of it.

    Example:
        >>> train_images("fashion-mnist"), train_images("fashion-mnist", 600)
        (60000, 600)
        >>> train_images("fashion-mnist", classes=[0, 6])
        12000
    """
    if train_size is not None:
        return train_size
    info = dataset_info(dataset)
    split = (info.get("split_sizes") or {}).get("train")
    if split is None or not classes:
        return split
    return split * len(classes) // info["num_classes"]


def as_dataset(dataset: Dataset | str | os.PathLike, split: str = "test") -> Dataset:
    """``dataset`` itself, or the ``split`` of the registry dataset it names: every function that
    takes a ``dataset`` accepts both."""
    if isinstance(dataset, (str, os.PathLike)):
        return get_dataset(dataset, split)
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError(f"dataset must be a torch Dataset or a dataset name, got {type(dataset).__name__}.")
    return dataset
