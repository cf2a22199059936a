"""Reading the datasets' files: Fashion-MNIST's IDX files and the CIFAR pickles, downloading them when missing.

The readers check what they read (magic numbers, sizes, label ranges) and name the file when it is
corrupt; the pickles are unpickled with an allow-list, so a file can never run code. A download
that fails leaves nothing behind and says where a local copy goes (:class:`DatasetNotFoundError`).
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
from typing import Any, Sequence

import numpy as np
import torch

from .tensors import SPLITS, check_split

__all__ = [
    "DatasetNotFoundError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_IDX_DIR",
    "PADDED_SIZE",
    "fetch_cifar",
    "fetch_fashion_mnist",
    "read_cifar",
    "read_fashion_mnist_idx",
    "read_idx",
]

logger = logging.getLogger(__name__)

FASHION_MNIST_IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where the Debian package ``dataset-fashion-mnist`` installs the IDX files."""

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

_FASHION_FILES = {"train": "train", "test": "t10k"}
_MNIST_SIZE = 28
PADDED_SIZE = 32
"""Fashion-MNIST's side after zero-padding, so that CIFAR architectures apply unchanged."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset that is neither on disk nor downloadable; the message says where a local copy goes."""


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
    pad = (PADDED_SIZE - h) // 2
    out = torch.zeros(n, c, PADDED_SIZE, PADDED_SIZE, dtype=images.dtype)
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
    check_split(split)
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


def fetch_fashion_mnist(root: Path, split: str, idx_dir: str | os.PathLike | None) -> dict:
    """One Fashion-MNIST split as ``dict(images, labels, classes)``: from ``idx_dir`` when given, else
    from :data:`FASHION_MNIST_IDX_DIR`, else downloaded by torchvision under ``root/fashion-mnist``."""
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
    check_split(split)
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


# --------------------------------------------------------------------------- downloads


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


def fetch_cifar(name: str, root: Path, split: str) -> dict:
    """One CIFAR split as ``dict(images, labels, classes)`` from ``root/<name>/<folder>`` (or the folder
    straight under ``root``), downloading and extracting the archive there when it is missing."""
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
