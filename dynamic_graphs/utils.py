"""The helpers every layer shares: argument checks, name look-up, labels, digests, device, messages, files.

One home for each, so that a count is checked, an unknown name is reported and a cache key is
hashed the same way everywhere. Error types follow one rule: ``TypeError`` for a wrong type,
``ValueError`` for a wrong value, :class:`UnknownNameError` (a ``KeyError``) for an unknown name.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from ._settings import settings

__all__ = [
    "OUTPUT_DIRS",
    "UnknownNameError",
    "as_labels",
    "as_list",
    "atomic_path",
    "atomic_torch_save",
    "bfloat16_kernels",
    "cache_key",
    "cache_lock",
    "check_int",
    "check_int_list",
    "check_positive_int",
    "cpu_description",
    "evaluating",
    "git_commit",
    "is_int",
    "isolated_rng",
    "lookup",
    "model_device",
    "model_name",
    "refuse_unknown",
    "resolve_device",
    "restored_environ",
    "seed_everything",
    "shown_path",
    "state_digest",
    "tensor_digest",
]


# --------------------------------------------------------------------------- argument checks


def is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``.

    Raises:
        TypeError: not an integer (bools and floats included, so ``2.0`` and ``True`` are refused).
        ValueError: out of range; the message names ``name`` and the range.

    Example:
        >>> check_int("n", 5)
        5
    """
    if not is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}.")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1 (see :func:`check_int`)."""
    return check_int(name, value, minimum=1)


def check_int_list(name: str, values: Any, *, minimum: int = 1, allow_empty: bool = False) -> list[int]:
    """A single integer or a sequence of distinct integers >= ``minimum``, as a list."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of integers, got the string {values!r}.")
    values = list(values) if isinstance(values, (Sequence, np.ndarray)) else [values]
    if not values and not allow_empty:
        raise ValueError(f"{name} must list at least one integer, got an empty list.")
    checked = [check_int(f"{name}[{i}]", value, minimum=minimum) for i, value in enumerate(values)]
    if len(set(checked)) != len(checked):
        raise ValueError(f"{name} lists a value more than once ({checked}); give each value once.")
    return checked


def as_list(value: Any) -> list:
    """A papermill parameter given as one name or as a list of names, as a list."""
    return [value] if isinstance(value, (str, int, float)) else list(value)


# --------------------------------------------------------------------------- names


def model_name(model: Any) -> str:
    """A registry model's name (``model.config["name"]``), else its class name (a HuggingFace model's
    ``config`` is no dict and has no registry name)."""
    config = getattr(model, "config", None)
    name = config.get("name") if isinstance(config, dict) else None
    return str(name) if name else type(model).__name__


class UnknownNameError(KeyError):
    """A ``KeyError`` for an unknown name whose message prints as written (``KeyError`` quotes it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def lookup(name: Any, choices: Iterable[str], *, what: str, aliases: Mapping[str, str] | None = None,
           error: type[UnknownNameError] = UnknownNameError, hint: str = "") -> str:
    """The choice ``name`` stands for, matched case-insensitively, or an error that suggests close names.

    Args:
        name: what the user wrote.
        choices: the canonical names.
        what: what a name is, for the message (``"model"``, ``"attack"``...).
        aliases: other spellings, mapped to canonical names.
        error: the :class:`UnknownNameError` subclass to raise.
        hint: appended to the message (e.g. "or a path to an image folder").

    Raises:
        TypeError: ``name`` is not a string.
        UnknownNameError: no choice matches.

    Example:
        >>> lookup("ResNet56", ["resnet20", "resnet56"], what="model")
        'resnet56'
    """
    if not isinstance(name, str):
        raise TypeError(f"A {what} name must be a string, got {type(name).__name__}.")
    choices = list(choices)
    lowered = {choice.lower(): choice for choice in choices}
    lowered.update({alias.lower(): target for alias, target in (aliases or {}).items()})
    key = name.strip().lower()
    if key in lowered:
        return lowered[key]
    close = list(dict.fromkeys(lowered[c] for c in difflib.get_close_matches(key, list(lowered), n=3, cutoff=0.6)))
    suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise error(f"Unknown {what} {name!r}.{suggestion} Available: {', '.join(choices)}{hint}.")


def refuse_unknown(names: Iterable[Any], known: Iterable[str], *, what: str, error: type[Exception] = ValueError,
                   context: str = "") -> None:
    """Refuse each of ``names`` that is not exactly one of ``known`` (unlike :func:`lookup`, case counts).

    Args:
        names: what the user passed (parameter names, say).
        known: the names declared.
        what: what a name is, for the message (``"parameter"``).
        error: the exception to raise.
        context: appended to the message: where the names came from, what is declared.

    Raises:
        ValueError: (or ``error``) one sentence per unknown name, ``Unknown parameter 'Repeats'. Did you
            mean 'repeats'?``, then ``context``.

    Example:
        >>> refuse_unknown(["n", "Repeats"], ["n", "repeats"], what="parameter")
        Traceback (most recent call last):
        ...
        ValueError: Unknown parameter 'Repeats'. Did you mean 'repeats'?
    """
    known = list(known)
    lowered = {choice.lower(): choice for choice in reversed(known)}  # a case variant suggests the first spelling
    problems = []
    for name in dict.fromkeys(name for name in names if name not in known):
        close = [lowered[c] for c in difflib.get_close_matches(str(name).strip().lower(), list(lowered), n=3)]
        suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        problems.append(f"Unknown {what} {name!r}.{suggestion}")
    if problems:
        raise error(" ".join([*problems, context]).strip())


# --------------------------------------------------------------------------- labels


def as_labels(labels: Any, n_items: int | None = None, *, what: str = "labels") -> np.ndarray:
    """A 1-D numpy array of labels, one per node or sample (a tensor or a sequence is accepted)."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or (n_items is not None and len(labels) != n_items):
        expected = f"one per item ({n_items})" if n_items is not None else "one per item"
        raise ValueError(f"{what} must be a 1-D sequence with {expected}, got shape {labels.shape}.")
    return labels


# --------------------------------------------------------------------------- digests and cache keys


def tensor_digest(tensors: Mapping[str, torch.Tensor], length: int = 40) -> str:
    """A SHA-1 over named tensors' dtypes, shapes and bytes (the same values give the same digest)."""
    digest = hashlib.sha1()
    for name, tensor in tensors.items():
        tensor = torch.as_tensor(tensor).detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:length]


def state_digest(model: torch.nn.Module, length: int = 10) -> str:
    """A digest of a model's weights (its ``state_dict``): a key for caches derived from them."""
    digest = hashlib.sha1()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:length]


def cache_key(fields: Mapping[str, Any], length: int = 10) -> str:
    """A short hash of a JSON-able description; sorted keys, so field order does not matter."""
    return hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:length]


# --------------------------------------------------------------------------- device, seeds, model state


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` into CUDA when present, else CPU; pass anything else to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"Unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:i]'.") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available; use device='auto' or 'cpu'.")
    return resolved


def bfloat16_kernels(device: torch.device) -> bool:
    """Whether bfloat16 has fast kernels on ``device``: a CUDA GPU that supports it, or a CPU where
    oneDNN has bfloat16 kernels (AVX512 or AMX). On other CPUs (AVX2) bfloat16 is emulated: a VGG16
    training step under bfloat16 autocast took 26x as long as in float32 on an AVX2 CPU
    (``benchmarks/bench_precision.py``)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return True  # no knowledge of other backends: do not warn
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private op: fall back to the instruction set
        return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def cpu_description() -> str:
    """The instruction set torch's CPU kernels use here, and whether bfloat16 has kernels on it:
    ``"AVX2, bfloat16 emulated"``."""
    emulated = "" if bfloat16_kernels(torch.device("cpu")) else ", bfloat16 emulated"
    return torch.backends.cpu.get_cpu_capability() + emulated


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def restored_environ() -> Iterator[None]:
    """Leave ``os.environ`` as it was on entry. Starting a dask ``LocalCluster`` sets OMP_NUM_THREADS=1
    (and MKL's, OpenBLAS's) in the starting process itself, and every process it starts later, a
    notebook kernel among them, would run torch on one thread."""
    before = dict(os.environ)
    try:
        yield
    finally:
        if dict(os.environ) != before:
            os.environ.clear()
            os.environ.update(before)


@contextmanager
def isolated_rng(seed: int | None = None, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with its own random streams and leave the caller's global state as it was.

    With ``seed``, Python, NumPy and torch are seeded inside the block; on exit all three global
    generators are restored, so code after a cached and an uncached call behaves the same.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = []
    if device is not None and device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            seed_everything(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def model_device(model: torch.nn.Module, default: torch.device | None = None) -> torch.device:
    """The device of a model's first parameter or buffer (``default``, else CPU, when it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return default or torch.device("cpu")


@contextmanager
def evaluating(model: torch.nn.Module, device: torch.device, *,
               frozen: bool = False) -> Iterator[torch.nn.Module]:
    """``model`` in eval mode on ``device``; its train/eval mode and device are restored afterwards.

    ``frozen=True`` also turns off ``requires_grad`` of every parameter (restored on exit), for
    code that back-propagates to the input, such as adversarial attacks.
    """
    was_training = model.training
    home = model_device(model, device)
    parameters = list(model.parameters()) if frozen else []
    flags = [p.requires_grad for p in parameters]
    model.eval().to(device)
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad_(flag)
        model.train(was_training).to(home)


# --------------------------------------------------------------------------- messages


class _VerbosityHandler(logging.Handler):
    """Prints the package's log records where the user looks, as ``settings.verbosity`` allows.

    Information (epoch and progress lines, "resumed from epoch 3", cache hits) shows at verbosity >= 1, warnings
    always. The stream is looked up at each record, so a notebook cell's redirected stdout gets it.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and settings.verbosity < 1:
            return
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # pragma: no cover - a closed stream must not break a computation
            self.handleError(record)


def _package_logger() -> logging.Logger:
    logger = logging.getLogger("dynamic_graphs")
    if not any(isinstance(handler, _VerbosityHandler) for handler in logger.handlers):
        logger.addHandler(_VerbosityHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False  # our handler prints it; the root logger would print it twice
    return logger


_package_logger()


# --------------------------------------------------------------------------- files


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash mid-write leaves the old file (if any) intact and no half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp makes owner-only files; caches and reports are shared
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def cache_lock(path: str | os.PathLike, *, what: str = "this cache entry") -> Iterator[None]:
    """Hold the lock of the cache entry ``path`` while producing it (``<path>.lock`` beside it).

    Several processes asking for one entry at once (a sweep's workers, two notebooks) produce it
    once: the first takes the lock; the others wait for it, then find the entry finished (callers
    check again after taking the lock). The lock is an OS file lock (``filelock``), which the system
    releases when its holder exits or crashes, so a crashed producer never leaves a lock that
    blocks; its half-written file never exists either (:func:`atomic_path`). A producer that fails
    removes its lock file and the folders it made. Within one process the lock is reentrant.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    created = []  # the folders this call makes, innermost first
    folder = path.parent
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.lock", is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logging.getLogger(__name__).info("Waiting for another process producing %s (%s)", what, shown_path(path))
        lock.acquire()
    produced = False
    try:
        yield
        produced = True
    finally:
        lock.release()
        if not produced:  # a failed producer leaves no trace: no lock file, no empty folder (a waiter retries)
            Path(lock.lock_file).unlink(missing_ok=True)
            for made in created:
                try:
                    made.rmdir()
                except OSError:  # not empty: something else lives there now
                    break


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# Outputs, not code: rendering rewrites reports/ (the executed notebook, figures, tables) before the
# report's run_info cell asks for the commit, so changes there must not mark the code dirty.
OUTPUT_DIRS = ("reports",)


def git_commit(root: str | os.PathLike | None = None) -> str | None:
    """The checkout's commit (short hash, ``+dirty`` when tracked code has uncommitted changes), if any.

    Changes under the output folders (``reports/``, and the data directory when it lies inside the
    checkout) do not count: they are what a run writes, so a report rendered from a clean checkout
    records the clean commit. ``root`` is any folder of the checkout (default: the package's).
    """
    cwd = Path(root) if root is not None else Path(__file__).parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        top = git("rev-parse", "--show-toplevel")
        commit = git("rev-parse", "--short", "HEAD")
        if not top or not commit:
            return None
        excluded = list(OUTPUT_DIRS)
        try:
            data = Path(settings.data_dir).resolve().relative_to(Path(top).resolve()).as_posix()
        except ValueError:  # the data directory is outside the checkout
            data = "."
        if data != ".":
            excluded.append(data)
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                    *(f":(top,exclude){path}" for path in excluded))
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as logs and reports show it, without the machine's absolute prefix where it can.

    Relative to the checkout when inside it (``data/checkpoints/...``), else ``<data_dir>/...`` under
    ``settings.data_dir`` (``$DG_DATA_DIR``); any other path is shown as given.
    """
    path = Path(path)
    resolved = path.resolve()
    repo = Path(__file__).resolve().parent.parent
    for base, prefix in ((repo, ""), (Path(settings.data_dir).resolve(), "<data_dir>/")):
        try:
            return prefix + resolved.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)
