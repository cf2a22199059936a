"""In-memory image tensors, and reading any dataset's items and labels.

:class:`ImageTensorDataset` is what every small dataset of the package is served as; the helpers
below (:func:`labels_of`, :func:`load_batch`, :func:`class_indices`) read labels and images from
it in one tensor operation, and from any other map-style dataset of ``(image, label)`` items item
by item.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "SPLITS",
    "ImageTensorDataset",
    "check_split",
    "class_indices",
    "labels_of",
    "load_batch",
    "load_images",
]

SPLITS = ("train", "test")


def check_split(split: str) -> None:
    """Refuse a split other than :data:`SPLITS`, naming them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}; got {split!r}")


class ImageTensorDataset(Dataset):
    """Images and labels held in memory as tensors.

    Args:
        images: ``N x C x H x W`` tensor, either ``uint8`` (0..255, stored compactly and
            scaled on access) or floating point already in ``[0, 1]``.
        labels: ``N`` integer labels.
        classes: class names; defaults to ``["0", "1", ...]`` up to the largest label.

    Attributes:
        images: the stored image tensor (``uint8`` or ``float32``).
        targets: ``int64`` label tensor.
        classes: list of class names.
        num_classes: ``len(classes)``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | Sequence[int] | np.ndarray,
                 classes: Sequence[str] | None = None) -> None:
        images = torch.as_tensor(images)
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        if images.ndim != 4:
            raise ValueError(f"images must be N x C x H x W, got shape {tuple(images.shape)}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"labels must be a vector of length {len(images)}, got shape {tuple(labels.shape)}")
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        if images.dtype != torch.uint8:
            if not images.dtype.is_floating_point:
                raise ValueError(f"images must be uint8 or floating point, got dtype {images.dtype}")
            images = images.float()
            if images.numel() and (images.min() < 0 or images.max() > 1):
                raise ValueError("float images must lie in [0, 1]")
        self.images = images.contiguous()
        self.targets = labels.long().contiguous()
        if classes is None:
            top = int(self.targets.max()) + 1 if len(self.targets) else 0
            classes = [str(i) for i in range(top)]
        self.classes = list(classes)
        if len(self.targets) and (int(self.targets.min()) < 0 or int(self.targets.max()) >= len(self.classes)):
            raise ValueError(f"labels must lie in [0, {len(self.classes)}) to match the {len(self.classes)} classes")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.targets)

    def _to_float(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255.0) if images.dtype == torch.uint8 else images.clone()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = int(index)
        return self._to_float(self.images[index]), int(self.targets[index])

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Fetch many items in one tensor operation.

        Args:
            indices: integer indices (list, array or tensor) or a slice.

        Returns:
            ``(images, labels)``: float32 ``B x C x H x W`` in ``[0, 1]`` and ``int64`` ``B``,
            equal to stacking ``self[i]`` for each index.
        """
        if not isinstance(indices, slice):
            indices = torch.as_tensor(np.asarray(indices) if not torch.is_tensor(indices) else indices,
                                      dtype=torch.long).reshape(-1)
        return self._to_float(self.images[indices]), self.targets[indices].clone()

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return f"{type(self).__name__}(n={len(self)}, shape=({c}, {h}, {w}), num_classes={self.num_classes})"


_NO_LABEL = ("the dataset's items have no label: {found}, but dynamic_graphs needs (image, label) items; "
             "build the dataset as TensorDataset(images, labels) or ImageTensorDataset(images, labels).")


def class_indices(labels: Any, *, what: str = "the dataset's labels") -> np.ndarray:
    """Labels as an ``int64`` vector of class indices; one-hot rows and whole-number floats are converted.

    Args:
        labels: (N,) integer or whole-number float labels, or (N, C) one-hot rows (a tensor or array).
        what: how messages name the labels.

    Returns:
        ``int64`` array of length N (one-hot rows give the index of their 1).

    Raises:
        ValueError: (N, C) rows that are not one-hot (soft or multi-label targets), floats that are
            not whole numbers, or another shape.
        TypeError: labels that are not numbers.

    Example:
        >>> class_indices(torch.tensor([[0, 1, 0], [1, 0, 0]])).tolist()
        [1, 0]
    """
    array = labels.detach().cpu().numpy() if torch.is_tensor(labels) else np.asarray(labels)
    if array.ndim == 2:
        if ((array == 0) | (array == 1)).all() and (array.sum(axis=1) == 1).all():
            return array.argmax(axis=1).astype(np.int64)
        raise ValueError(f"{what} have shape {array.shape} but their rows are not one-hot (soft or multi-label "
                         "targets?); pass one class index per item, or one-hot rows.")
    if array.ndim != 1:
        raise ValueError(f"{what} must be one class index per item (shape (N,)) or one-hot rows (N, C), "
                         f"got shape {array.shape}.")
    if array.dtype.kind == "f":
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = float(array[~whole][0])
            raise ValueError(f"{what} are floats and {bad!r} is not a whole number; pass integer class indices.")
        return array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise TypeError(f"{what} must be integer class indices, got dtype {array.dtype}.")
    return array.astype(np.int64, copy=False)


def _labelled_tensors(dataset: torch.utils.data.TensorDataset) -> tuple[torch.Tensor, torch.Tensor]:
    if len(dataset.tensors) < 2:
        raise ValueError(_NO_LABEL.format(found=f"the TensorDataset holds {len(dataset.tensors)} tensor"))
    return dataset.tensors[0], dataset.tensors[1]


def _item(dataset: Dataset, index: int) -> tuple[Any, Any]:
    item = dataset[int(index)]
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        found = (f"item {index} is a {len(item)}-tuple" if isinstance(item, (tuple, list))
                 else f"item {index} is a {type(item).__name__}")
        raise ValueError(_NO_LABEL.format(found=found))
    return item[0], item[1]


def _as_unit_float(images: torch.Tensor) -> torch.Tensor:
    """Float images; ``uint8`` ones scaled from 0..255 to [0, 1], as the package's datasets store them."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


def labels_of(dataset: Dataset) -> np.ndarray:
    """All labels of a dataset as an ``int64`` array, without loading images when possible.

    Uses ``.targets`` (ours, torchvision's, ``ImageFolder``'s), a ``TensorDataset``'s second tensor,
    and looks through ``torch.utils.data.Subset``; otherwise iterates the dataset. One-hot rows and
    whole-number float labels become class indices (:func:`class_indices`).

    Args:
        dataset: any map-style dataset of ``(x, label)`` items.

    Returns:
        ``int64`` array of length ``len(dataset)``.

    Raises:
        ValueError: items without a label, labels that are not one-hot rows, or non-integral floats.
    """
    if isinstance(dataset, torch.utils.data.Subset):
        return labels_of(dataset.dataset)[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return class_indices(_labelled_tensors(dataset)[1])
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return class_indices(targets)
    if len(dataset) == 0:
        return np.zeros(0, dtype=np.int64)
    labels = [_item(dataset, i)[1] for i in range(len(dataset))]
    try:
        stacked = np.stack([np.asarray(label.detach().cpu() if torch.is_tensor(label) else label) for label in labels])
    except ValueError:  # labels of different shapes
        raise ValueError("the dataset's labels differ in shape from item to item; "
                         "give every item one class index.") from None
    return class_indices(stacked)


def load_batch(dataset: Dataset, indices: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The items at ``indices`` as a (len(indices), C, H, W) float tensor and an int64 label tensor.

    ``uint8`` images (for example in a ``TensorDataset``) are scaled to [0, 1], as the package's own
    datasets are; labels are converted as by :func:`labels_of`.

    Raises:
        ValueError: items without a label, or labels that are not class indices (see :func:`class_indices`).
    """
    indices = np.asarray(indices)
    if hasattr(dataset, "batch"):  # in-memory datasets: one indexing operation
        images, labels = dataset.batch(indices)
        return images.float(), torch.as_tensor(labels).long()
    if isinstance(dataset, torch.utils.data.TensorDataset):  # one indexing operation too
        images, labels = _labelled_tensors(dataset)
        picked = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        return _as_unit_float(images[picked]), torch.from_numpy(class_indices(labels[picked]))
    items = [_item(dataset, i) for i in indices]
    labels = [label.detach().cpu() if torch.is_tensor(label) else label for _, label in items]
    return (_as_unit_float(torch.stack([torch.as_tensor(image) for image, _ in items])),
            torch.from_numpy(class_indices(np.stack([np.asarray(label) for label in labels]) if labels
                                           else np.zeros(0, dtype=np.int64))))


def load_images(dataset: Dataset, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
    """The images at ``indices`` as one (len(indices), C, H, W) float tensor (``uint8`` scaled to [0, 1])."""
    return load_batch(dataset, indices)[0]
