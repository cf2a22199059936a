"""Per-channel statistics of the datasets, for normalising ``[0, 1]`` images.

Dataset statistics live with the data, not with the models: the zoo's ``Normalize`` reads them
from here (:mod:`dynamic_graphs.models.common`), and :func:`~dynamic_graphs.data.dataset_info`
reports them.
"""
from __future__ import annotations

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

# The paper's CIFAR-10 statistics (its code uses them for CIFAR-100 too: Lu et al. 2022, official
# code, Data/).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
# Of the zero-padded 32x32 images that get_dataset("fashion-mnist") returns (28x28: 0.2860, 0.3530).
FASHION_MNIST_MEAN = (0.2190,)
FASHION_MNIST_STD = (0.3318,)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
