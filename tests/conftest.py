"""Shared fixtures: a temporary data directory for the session, the test device, tiny data and models.

No test writes into the repository's ``data/``: for the whole session ``settings.data_dir`` and
``$DG_DATA_DIR`` (read by notebook kernels, which are subprocesses) point at a temporary
directory; :func:`data_dir` gives one test an empty directory of its own.

``DG_TEST_DEVICE`` selects the device tests run on (default ``"cpu"``), e.g.
``DG_TEST_DEVICE=cuda pytest -m "not slow"``. ``DG_TEST_THREADS`` sets torch's CPU threads
(default 1: the tests' tensors are tiny, and on a busy machine several threads spinning for
them cost several times more wall time than one).
"""
from __future__ import annotations

import os

import pytest
import torch

from dynamic_graphs import get_dataset, get_model, settings
from dynamic_graphs.utils import isolated_rng, resolve_device, restored_environ

TEST_DEVICE = os.environ.get("DG_TEST_DEVICE", "cpu")
torch.set_num_threads(int(os.environ.get("DG_TEST_THREADS", "1")))


@pytest.fixture(scope="session", autouse=True)
def session_data_dir(tmp_path_factory) -> os.PathLike:
    """One temporary data directory for the session, for this process and for notebook kernels."""
    root = tmp_path_factory.mktemp("dg-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "data_dir", root)
        patch.setenv("DG_DATA_DIR", str(root))
        yield root


@pytest.fixture(autouse=True)
def environment_restored():
    """Each test leaves ``os.environ`` as it found it. A test that starts a dask cluster in this
    process would otherwise leave OMP_NUM_THREADS=1 to every later notebook kernel (torch on one
    thread: fig5 at the CI preset took 464 s in CI, 88 s alone)."""
    with restored_environ():
        yield


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data directory for one test (so every cache starts empty), with quiet output."""
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    monkeypatch.setattr(settings, "verbosity", 0)
    return tmp_path


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The device tests run on: ``$DG_TEST_DEVICE``, default CPU."""
    return resolve_device(TEST_DEVICE)


def tiny_synthetic(split: str = "train", n: int = 96):
    """Four well-separated classes of 3x8x8 images (seeded, in memory)."""
    return get_dataset("synthetic", split, n=n, num_classes=4, shape=(3, 8, 8), separation=3.0)


def tiny_net(seed: int = 0, in_channels: int = 3) -> torch.nn.Sequential:
    """A five-layer CNN for 8x8 images (modules "0"..."6": conv, BN, ReLU, conv, ReLU, flatten,
    linear), in train mode; its weights come from ``seed`` (the caller's global random state is left alone)."""
    from torch import nn

    with isolated_rng(seed):
        return nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))


def tiny_resnet(seed: int = 0) -> torch.nn.Module:
    """A ResNet20 with one block per stage for :func:`tiny_synthetic`, in train mode; its weights
    come from ``seed`` (the caller's global random state is left alone)."""
    with isolated_rng(seed):
        return get_model("resnet20", num_classes=4, in_channels=3, blocks=[1, 1, 1])


@pytest.fixture(scope="session")
def tiny_dataset():
    """The train split of :func:`tiny_synthetic` (do not modify it)."""
    return tiny_synthetic("train")


@pytest.fixture(scope="session")
def tiny_test_dataset():
    """The test split of :func:`tiny_synthetic` (do not modify it)."""
    return tiny_synthetic("test")


@pytest.fixture
def tiny_model() -> torch.nn.Module:
    """A fresh :func:`tiny_resnet` (seed 0) for each test."""
    return tiny_resnet()
