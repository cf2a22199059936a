"""Datasets: Fashion-MNIST, CIFAR-10/100, ImageNet-style folders and a synthetic mixture.

Every dataset yields ``(image, label)`` with ``image`` a float32 tensor ``C x H x W`` in
``[0, 1]`` and ``label`` an ``int``. No normalisation is applied here: models normalise with
the statistics from :func:`dataset_info`, so features and adversarial attacks can work in
pixel space.

Small datasets (everything except image folders) are decoded once to ``uint8`` tensors,
cached under ``settings.data_dir`` and served from memory by :class:`ImageTensorDataset`,
whose :meth:`ImageTensorDataset.batch` indexes many items at once.

Fashion-MNIST images are zero-padded from 28x28 to 32x32 (2 px on each side), so that
CIFAR architectures with five 2x poolings (32 -> 1) apply unchanged.
"""
from __future__ import annotations

import gzip
import logging
import os
import pickle
import shutil
import struct
import tarfile
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ._settings import settings
from .models.common import CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD
from .utils import UnknownNameError, atomic_torch_save, cache_key, cache_lock, check_int, check_positive_int, lookup

__all__ = [
    "DatasetNotFoundError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_IDX_DIR",
    "ImageTensorDataset",
    "class_indices",
    "dataset_info",
    "get_dataset",
    "labels_of",
    "load_batch",
    "load_images",
    "read_cifar",
    "read_idx",
    "read_fashion_mnist_idx",
    "synthetic_dataset",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
KNOWN_DATASETS = ("cifar10", "cifar100", "fashion-mnist", "synthetic")
# Spellings people type for the same dataset.
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar-100": "cifar100"}

FASHION_MNIST_IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where the Debian package ``dataset-fashion-mnist`` installs the IDX files."""

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

_FASHION_FILES = {"train": "train", "test": "t10k"}
_MNIST_SIZE, _PADDED_SIZE = 28, 32

# Bump when the cached tensors change meaning (e.g. padding), so stale caches are rebuilt.
_CACHE_VERSION = 1

_SYNTHETIC_DEFAULTS: dict[str, Any] = dict(n=200, num_classes=4, shape=(3, 8, 8), separation=2.0, seed=0)

_INFO = {
    # Statistics of the padded 32x32 training images, i.e. of what the models see.
    "fashion-mnist": dict(num_classes=10, in_channels=1, image_size=_PADDED_SIZE,
                          mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, split_sizes=(60000, 10000)),
    "cifar10": dict(num_classes=10, in_channels=3, image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                    split_sizes=(50000, 10000)),
    # The paper normalises CIFAR-100 with the CIFAR-10 statistics; keep them for fidelity.
    "cifar100": dict(num_classes=100, in_channels=3, image_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                     split_sizes=(50000, 10000)),
}
_IMAGENET_MEAN, _IMAGENET_STD = IMAGENET_MEAN, IMAGENET_STD


class UnknownDatasetError(UnknownNameError):
    """KeyError for a dataset name that is not known."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset that is neither on disk nor downloadable; the message says where a local copy goes."""


# --------------------------------------------------------------------------- in-memory dataset


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


# --------------------------------------------------------------------------- IDX (Fashion-MNIST)


def read_idx(path: str | os.PathLike, shape: Sequence[int | None]) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzipped), as used by (Fashion-)MNIST.

    Args:
        path: the ``.gz`` (or uncompressed) IDX file.
        shape: expected dimensions; ``None`` accepts any size on that axis (e.g. the count).

    Returns:
        A ``uint8`` array of the stored shape.

    Raises:
        ValueError: naming the file if it cannot be decompressed, has a wrong magic number,
            wrong dimensions or a size that disagrees with its header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:  # truncated, garbled or not gzip at all
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"Corrupt IDX file {path}: cannot read it ({err})") from err
    ndim = len(shape)
    if len(raw) < 4:
        raise ValueError(f"Corrupt IDX file {path}: only {len(raw)} bytes")
    zero, dtype_code, file_ndim = struct.unpack(">HBB", raw[:4])
    # Magic is 0x0000 | 0x08 (unsigned byte) | ndim.
    if zero != 0 or dtype_code != 0x08 or file_ndim != ndim:
        raise ValueError(f"Corrupt IDX file {path}: magic number 0x{raw[:4].hex()} "
                         f"!= 0x000008{ndim:02x} (unsigned bytes, {ndim} dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"Corrupt IDX file {path}: header truncated")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    for got, want in zip(dims, shape):
        if want is not None and got != want:
            raise ValueError(f"Corrupt IDX file {path}: dimensions {dims}, expected {tuple(shape)}")
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise ValueError(f"Corrupt IDX file {path}: {len(raw) - header} data bytes, header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _fashion_paths(idx_dir: Path, split: str) -> tuple[Path, Path]:
    stem = _FASHION_FILES[split]
    return (idx_dir / f"{stem}-images-idx3-ubyte.gz", idx_dir / f"{stem}-labels-idx1-ubyte.gz")


def _pad_to_32(images: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``N x 1 x 28 x 28`` to ``N x 1 x 32 x 32`` (2 px each side)."""
    n, c, h, w = images.shape
    pad = (_PADDED_SIZE - h) // 2
    out = torch.zeros(n, c, _PADDED_SIZE, _PADDED_SIZE, dtype=images.dtype)
    out[:, :, pad:pad + h, pad:pad + w] = images
    return out


def read_fashion_mnist_idx(idx_dir: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Decode one Fashion-MNIST split from its four-file IDX layout.

    Args:
        idx_dir: directory holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.
        split: ``"train"`` or ``"test"`` (``t10k``).

    Returns:
        ``(images, labels)``: ``uint8`` ``N x 1 x 32 x 32`` (zero-padded from 28x28) and
        ``int64`` ``N``.

    Raises:
        ValueError: if a file is corrupt, or images and labels disagree in count or range.
    """
    _check_split(split)
    img_path, lbl_path = _fashion_paths(Path(idx_dir), split)
    images = read_idx(img_path, (None, _MNIST_SIZE, _MNIST_SIZE))
    labels = read_idx(lbl_path, (None,))
    if len(images) != len(labels):
        raise ValueError(f"Corrupt IDX files: {img_path} has {len(images)} images "
                         f"but {lbl_path} has {len(labels)} labels")
    if len(labels) and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"Corrupt IDX file {lbl_path}: label {labels.max()} >= {len(FASHION_MNIST_CLASSES)}")
    images_t = torch.from_numpy(images.copy()).unsqueeze(1)  # copy: frombuffer is read-only
    return _pad_to_32(images_t), torch.from_numpy(labels.astype(np.int64))


def _load_fashion_mnist(root: Path, split: str, idx_dir: str | os.PathLike | None) -> dict:
    explicit = idx_dir is not None
    idx_dir = Path(idx_dir) if explicit else FASHION_MNIST_IDX_DIR
    paths = _fashion_paths(idx_dir, split)
    if all(p.is_file() for p in paths):
        images, labels = read_fashion_mnist_idx(idx_dir, split)
    elif explicit:
        missing = ", ".join(str(p) for p in paths if not p.is_file())
        raise DatasetNotFoundError(f"Fashion-MNIST IDX files missing: {missing}")
    else:
        import torchvision

        home = root / "fashion-mnist" / "FashionMNIST"  # torchvision's own layout under our folder
        try:
            with _leave_nothing_on_failure(home):
                ds = torchvision.datasets.FashionMNIST(home.parent, train=split == "train", download=True)
        except (OSError, RuntimeError) as err:  # each mirror's URLError ends as one RuntimeError
            raise _download_failed("fashion-mnist", root, err) from None
        images, labels = _pad_to_32(ds.data.unsqueeze(1).to(torch.uint8)), torch.as_tensor(ds.targets).long()
    return dict(images=images, labels=labels, classes=list(FASHION_MNIST_CLASSES))


# --------------------------------------------------------------------------- CIFAR (python pickles)


_CIFAR = {
    # torchvision's on-disk layout (the extracted archives of https://www.cs.toronto.edu/~kriz/cifar.html).
    "cifar10": dict(title="CIFAR-10", folder="cifar-10-batches-py", archive="cifar-10-python.tar.gz",
                    train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                    meta="batches.meta", names="label_names", labels="labels"),
    "cifar100": dict(title="CIFAR-100", folder="cifar-100-python", archive="cifar-100-python.tar.gz",
                     train=["train"], test=["test"], meta="meta", names="fine_label_names", labels="fine_labels"),
}
_CIFAR_PIXELS = 3 * 32 * 32


class _CifarUnpickler(pickle.Unpickler):
    """Reads the CIFAR pickles (dicts of numpy arrays, lists and strings) and refuses anything else,
    so that loading a file can never run code from it (as checkpoints are read with ``weights_only``)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}  # how Python 3's protocol 2 writes bytes

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        with warnings.catch_warnings():  # numpy 2 warns on the numpy.core path that the files name
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _read_cifar_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _CifarUnpickler(fh, encoding="latin1").load()
    except Exception as err:  # garbled bytes fail in many ways (KeyError, EOFError, UnicodeDecodeError...)
        raise ValueError(f"Corrupt CIFAR file {path}: cannot unpickle it ({err}); extract the archive again.") from None
    if not isinstance(obj, dict):
        raise ValueError(f"Corrupt CIFAR file {path}: expected a dict, got {type(obj).__name__}.")
    return obj


def read_cifar(folder: str | os.PathLike, name: str = "cifar10", split: str = "train") -> dict:
    """Decode one CIFAR split from its extracted python-pickle folder (torchvision's layout).

    The same images, labels and classes as ``torchvision.datasets.CIFAR10``/``CIFAR100`` read, without
    their md5 check of every file, so that any local copy in the standard layout loads; the files
    are checked for shape and label range instead.

    Args:
        folder: the ``cifar-10-batches-py`` (or ``cifar-100-python``) directory.
        name: ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` (``data_batch_1``..``5``; ``train``) or ``"test"`` (``test_batch``; ``test``).

    Returns:
        ``dict(images, labels, classes)``: ``uint8`` ``N x 3 x 32 x 32``, ``int64`` ``N``, class names.

    Raises:
        DatasetNotFoundError: (a ``FileNotFoundError``) a file of the split is missing.
        ValueError: a file is corrupt (not a CIFAR pickle, wrong sizes, labels out of range).
    """
    _check_split(split)
    spec, folder = _CIFAR[name], Path(folder)
    missing = [file for file in (*spec[split], spec["meta"]) if not (folder / file).is_file()]
    if missing:
        raise DatasetNotFoundError(f"{spec['title']} files missing in {folder}: {', '.join(missing)}.")
    classes = _read_cifar_pickle(folder / spec["meta"]).get(spec["names"])
    if not isinstance(classes, list) or not classes:
        raise ValueError(f"Corrupt CIFAR file {folder / spec['meta']}: no {spec['names']!r} list.")
    chunks, labels = [], []
    for file in spec[split]:
        entry = _read_cifar_pickle(folder / file)
        images, targets = entry.get("data"), entry.get("labels", entry.get("fine_labels"))
        if (not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2
                or images.shape[1] != _CIFAR_PIXELS or targets is None or len(targets) != len(images)):
            raise ValueError(f"Corrupt CIFAR file {folder / file}: expected 'data' as N x {_CIFAR_PIXELS} uint8 "
                             f"and {spec['labels']!r} with N labels.")
        chunks.append(images)
        labels.extend(int(label) for label in targets)
    labels_t = torch.tensor(labels, dtype=torch.long)
    if len(labels_t) and (int(labels_t.min()) < 0 or int(labels_t.max()) >= len(classes)):
        raise ValueError(f"Corrupt CIFAR files in {folder}: labels outside [0, {len(classes)}).")
    images_t = torch.from_numpy(np.vstack(chunks).reshape(-1, 3, 32, 32))  # rows are channel-major: NCHW
    return dict(images=images_t, labels=labels_t, classes=[str(c) for c in classes])


def _first_missing(path: Path) -> Path | None:
    """The outermost directory on the way to ``path`` that does not exist yet (None if it exists)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            return missing
        missing = candidate
    return missing


@contextmanager
def _leave_nothing_on_failure(target: Path, *paths: Path):
    """Remove what a failed download created: the new directories on the way to ``target``, and
    those of ``paths`` (files or directories) that did not exist before."""
    fresh = [path for path in (_first_missing(target), *paths) if path is not None and not path.exists()]
    try:
        yield
    except BaseException:
        for path in fresh:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def _provide_locally(name: str, root: Path) -> str:
    """How to put a copy of the named dataset where :func:`get_dataset` finds it."""
    if name == "fashion-mnist":
        files = ", ".join(path.name for split in SPLITS for path in _fashion_paths(Path("."), split))
        return (f"Put the four IDX files ({files}) in {FASHION_MNIST_IDX_DIR} (Debian: apt install "
                "dataset-fashion-mnist) or in any directory DIR and call get_dataset('fashion-mnist', idx_dir=DIR).")
    spec = _CIFAR[name]
    return (f"Download {spec['archive']} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it so that "
            f"{root / name / spec['folder']}/ holds {_file_list(spec)} "
            f"(or put the archive itself in {root / name}/); or call get_dataset({name!r}, root=DIR) with the "
            f"folder at DIR/{name}/{spec['folder']}/. The data directory is settings.data_dir ($DG_DATA_DIR).")


def _file_list(spec: dict) -> str:
    train = spec["train"][0] if len(spec["train"]) == 1 else f"{spec['train'][0]}..{spec['train'][-1][-1]}"
    return f"{train}, {', '.join(spec['test'])} and {spec['meta']}"


def _download_failed(name: str, root: Path, err: BaseException) -> DatasetNotFoundError:
    title = _CIFAR[name]["title"] if name in _CIFAR else "Fashion-MNIST"
    reason = getattr(err, "reason", None) or err
    detail = " ".join(str(reason).split())[:200]
    return DatasetNotFoundError(f"{title} is not on this machine and could not be downloaded "
                                f"({type(err).__name__}: {detail}). {_provide_locally(name, root)}")


def _load_cifar(name: str, root: Path, split: str) -> dict:
    spec = _CIFAR[name]
    home = root / name
    folder = home / spec["folder"]

    def complete(candidate: Path) -> bool:
        return all((candidate / file).is_file() for file in (*spec["train"], *spec["test"], spec["meta"]))

    if not complete(folder) and complete(root / spec["folder"]):  # the archive extracted straight into root
        folder = root / spec["folder"]
    if not complete(folder):
        from torchvision.datasets import CIFAR10, CIFAR100
        from torchvision.datasets.utils import download_and_extract_archive

        source = CIFAR10 if name == "cifar10" else CIFAR100
        logger.info("%s not found in %s: downloading %s", spec["title"], folder, source.url)
        try:
            with _leave_nothing_on_failure(home, home / spec["archive"], folder):
                download_and_extract_archive(source.url, str(home), filename=spec["archive"], md5=source.tgz_md5)
        except (OSError, RuntimeError, tarfile.TarError) as err:  # URLError is an OSError
            raise _download_failed(name, root, err) from None
    return read_cifar(folder, name, split)


# --------------------------------------------------------------------------- cache


def _valid_cache(obj: Any) -> bool:
    if not isinstance(obj, dict) or obj.get("version") != _CACHE_VERSION:
        return False
    images, labels, classes = obj.get("images"), obj.get("labels"), obj.get("classes")
    return (torch.is_tensor(images) and images.dtype == torch.uint8 and images.ndim == 4
            and torch.is_tensor(labels) and labels.dtype == torch.int64 and labels.ndim == 1
            and len(images) == len(labels) and isinstance(classes, list))


def _cached_tensors(path: Path, build: Callable[[], dict]) -> ImageTensorDataset:
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


# --------------------------------------------------------------------------- synthetic


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
    _check_split(split)
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


def _synthetic_stats(separation: float) -> tuple[float, float]:
    """Mean and std of ``sigmoid(z)``, ``z ~ N(0, separation**2 + 1)``: the pixel marginal."""
    x, w = np.polynomial.hermite_e.hermegauss(80)  # exact enough, deterministic, no sampling
    w = w / w.sum()
    p = 1.0 / (1.0 + np.exp(-np.sqrt(separation ** 2 + 1.0) * x))
    mean = float(np.sum(w * p))
    return mean, float(np.sqrt(np.sum(w * (p - mean) ** 2)))


# --------------------------------------------------------------------------- public entry points


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}; got {split!r}")


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


def get_dataset(name: str | os.PathLike, split: str = "train", root: str | os.PathLike | None = None,
                **kwargs: Any) -> Dataset:
    """Load a dataset whose items are ``(float32 C x H x W image in [0, 1], int label)``.

    Args:
        name: ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"synthetic"``, or an
            existing directory of an ImageNet-style class-per-subfolder layout. Known names take
            precedence over a same-named directory; pass a ``Path`` to force a folder.
        split: ``"train"`` or ``"test"``.
        root: cache/download root; defaults to ``settings.data_dir``. CIFAR is read from the
            extracted archive, ``root/cifar10/cifar-10-batches-py/`` (``root/cifar100/cifar-100-python/``;
            the folder straight under ``root`` also works), and downloaded there when it is missing.
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
        otherwise the folder itself is used for either split.

    Raises:
        ValueError: bad ``split``, or corrupt files.
        UnknownDatasetError: (a ``KeyError``) unknown name; the message suggests close known ones.
        DatasetNotFoundError: (a ``FileNotFoundError``) the files are missing and cannot be
            downloaded; the message says where a local copy goes. A failed download leaves nothing
            behind.
        TypeError: keyword arguments the dataset does not take.
    """
    _check_split(split)
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
        take(list(_SYNTHETIC_DEFAULTS))
        return synthetic_dataset(**{**_SYNTHETIC_DEFAULTS, **kwargs}, split=split)
    cache = root / resolved / f"{split}.pt"
    if resolved == "fashion-mnist":
        take(["idx_dir"])
        idx_dir = kwargs.get("idx_dir")
        if idx_dir is not None:  # each IDX folder gets its own cache, beside the default one
            idx_dir = Path(idx_dir).expanduser().resolve()
            cache = cache.with_name(f"{split}-idx-{cache_key({'idx_dir': str(idx_dir)})}.pt")
        return _cached_tensors(cache, lambda: _load_fashion_mnist(root, split, idx_dir))
    take([])
    return _cached_tensors(cache, lambda: _load_cifar(resolved, root, split))


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
                    mean=_IMAGENET_MEAN, std=_IMAGENET_STD, split_sizes=None)
    if resolved == "synthetic":
        extra = sorted(set(kwargs) - set(_SYNTHETIC_DEFAULTS))
        if extra:
            raise TypeError(f"dataset_info('synthetic') got unexpected keyword arguments: {', '.join(extra)}")
        cfg = {**_SYNTHETIC_DEFAULTS, **kwargs}
        c, h, _ = (int(s) for s in cfg["shape"])  # image_size is the height (square by default)
        mean, std = _synthetic_stats(float(cfg["separation"]))
        return dict(num_classes=int(cfg["num_classes"]), in_channels=c, image_size=h,
                    mean=(mean,) * c, std=(std,) * c, split_sizes={split: int(cfg["n"]) for split in SPLITS})
    if kwargs:
        raise TypeError(f"dataset_info({resolved!r}) takes no keyword arguments")
    info = _INFO[resolved]
    return {**info, "mean": tuple(info["mean"]), "std": tuple(info["std"]),
            "split_sizes": dict(zip(SPLITS, info["split_sizes"]))}


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


def as_dataset(dataset: Dataset | str | os.PathLike, split: str = "test") -> Dataset:
    """``dataset`` itself, or the ``split`` of the registry dataset it names: every function that
    takes a ``dataset`` accepts both."""
    if isinstance(dataset, (str, os.PathLike)):
        return get_dataset(dataset, split)
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError(f"dataset must be a torch Dataset or a dataset name, got {type(dataset).__name__}.")
    return dataset
