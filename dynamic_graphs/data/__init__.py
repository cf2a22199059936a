"""Datasets: Fashion-MNIST, CIFAR-10/100, ImageNet-style folders and a synthetic mixture.

Every dataset yields ``(image, label)``: a float32 ``C x H x W`` image in ``[0, 1]`` and an ``int``
label; models normalise with the statistics here. One job per module: :mod:`.registry` (names,
:func:`dataset_info`; its ``get_dataset`` is exported as ``dynamic_graphs.get_dataset``),
:mod:`.tensors` (in-memory datasets, reading labels and batches), :mod:`.convert` (images made to fit a
model built for others: channels, size, normalisation), :mod:`.readers` (the files and their downloads),
:mod:`.cache` (decoded tensors on disk), :mod:`.synthetic` and :mod:`.stats`.
"""
from .readers import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_IDX_DIR,
    DatasetNotFoundError,
    read_cifar,
    read_fashion_mnist_idx,
    read_idx,
)
from .convert import ConvertedImages, convert_images
from .registry import KNOWN_DATASETS, UnknownDatasetError, as_dataset, dataset_info, train_images
from .stats import CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD
from .synthetic import synthetic_dataset
from .tensors import SPLITS, ImageTensorDataset, class_indices, labels_of, load_batch, load_images

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "ConvertedImages",
    "DatasetNotFoundError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_IDX_DIR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageTensorDataset",
    "KNOWN_DATASETS",
    "SPLITS",
    "UnknownDatasetError",
    "as_dataset",
    "class_indices",
    "convert_images",
    "dataset_info",
    "train_images",
    "labels_of",
    "load_batch",
    "load_images",
    "read_cifar",
    "read_fashion_mnist_idx",
    "read_idx",
    "synthetic_dataset",
]
