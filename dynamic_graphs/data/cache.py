"""The on-disk cache of decoded datasets: ``uint8`` tensors under ``settings.data_dir``.

Written atomically and built once when several processes want it at the same time; a cache that
cannot be read or has the wrong content is rebuilt rather than trusted.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from ..utils import atomic_torch_save, cache_lock
from .tensors import ImageTensorDataset

__all__ = ["cached_tensors"]

# Bump when the cached tensors change meaning (e.g. padding), so stale caches are rebuilt.
_CACHE_VERSION = 1


def _valid_cache(obj: Any) -> bool:
    if not isinstance(obj, dict) or obj.get("version") != _CACHE_VERSION:
        return False
    images, labels, classes = obj.get("images"), obj.get("labels"), obj.get("classes")
    return (torch.is_tensor(images) and images.dtype == torch.uint8 and images.ndim == 4
            and torch.is_tensor(labels) and labels.dtype == torch.int64 and labels.ndim == 1
            and len(images) == len(labels) and isinstance(classes, list))


def cached_tensors(path: Path, build: Callable[[], dict]) -> ImageTensorDataset:
    """Load decoded tensors from ``path``, or build and atomically save them.

    A cache that cannot be read or has the wrong content is rebuilt rather than trusted, and
    the rebuilt file replaces it. Processes that want it at once build it once (:func:`cache_lock`).
    """
    cached = _read_tensors(path)
    if cached is not None:
        return cached
    with cache_lock(path, what="the dataset's tensor cache"):
        cached = _read_tensors(path)  # built by another process while this one waited?
        if cached is not None:
            return cached
        obj = build()
        obj["version"] = _CACHE_VERSION
        atomic_torch_save(obj, path)
    return ImageTensorDataset(obj["images"], obj["labels"], obj["classes"])


def _read_tensors(path: Path) -> ImageTensorDataset | None:
    """The cached dataset at ``path``, or None when there is none; an unreadable one is removed (with a
    warning) so that it is rebuilt."""
    if path.is_file():
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any unpickling / zip failure means "rebuild"
            obj, reason = None, f"{type(err).__name__}: {err}"
        else:
            reason = "unexpected content or version"
        if _valid_cache(obj):
            return ImageTensorDataset(obj["images"], obj["labels"], obj["classes"])
        warnings.warn(f"Rebuilding unreadable dataset cache {path} ({reason})", RuntimeWarning, stacklevel=4)
        path.unlink(missing_ok=True)
    return None
