"""Tests for dynamic_graphs.data: tiny, offline, fast."""
from __future__ import annotations

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dynamic_graphs import data
from dynamic_graphs.data import (
    ImageTensorDataset,
    dataset_info,
    labels_of,
    read_fashion_mnist_idx,
    synthetic_dataset,
)
from dynamic_graphs.data.registry import get_dataset


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file (magic 0x000008<ndim>, big-endian sizes)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_idx(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Five random 28x28 test-split images with labels, in the Debian file layout."""
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(5, 28, 28), dtype=np.uint8)  # no zeros: padding is visible
    labels = np.array([0, 3, 9, 1, 3], dtype=np.uint8)
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    write_idx(idx_dir / "t10k-images-idx3-ubyte.gz", images)
    write_idx(idx_dir / "t10k-labels-idx1-ubyte.gz", labels)
    return idx_dir, images, labels


# --------------------------------------------------------------------------- synthetic


def test_synthetic_shape_range_labels():
    ds = get_dataset("synthetic", n=30, num_classes=3, shape=(2, 5, 5))
    assert isinstance(ds, ImageTensorDataset)
    assert len(ds) == 30 and ds.num_classes == 3 and len(ds.classes) == 3
    x, y = ds[0]
    assert x.shape == (2, 5, 5) and x.dtype == torch.float32 and isinstance(y, int)
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.targets.dtype == torch.int64
    assert np.bincount(labels_of(ds)).tolist() == [10, 10, 10]  # balanced


def test_synthetic_reproducible_and_splits_differ():
    a = synthetic_dataset(seed=1)
    b = synthetic_dataset(seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.images, synthetic_dataset(seed=2).images)
    test = synthetic_dataset(seed=1, split="test")
    assert not torch.equal(a.images, test.images)


def test_synthetic_classes_separate():
    # Same mixture for train and test: nearest class mean from train classifies test well.
    train = synthetic_dataset(n=400, separation=3.0, split="train")
    test = synthetic_dataset(n=200, separation=3.0, split="test")
    xtr, ytr = train.batch(range(len(train)))
    xte, yte = test.batch(range(len(test)))
    means = torch.stack([xtr[ytr == k].mean(0) for k in range(4)]).flatten(1)
    pred = torch.cdist(xte.flatten(1), means).argmin(1)
    assert (pred == yte).float().mean() > 0.9


def test_dataset_info():
    info = dataset_info("cifar100")
    assert info["num_classes"] == 100 and info["mean"] == dataset_info("cifar10")["mean"]
    fm = dataset_info("fashion-mnist")
    assert (fm["in_channels"], fm["image_size"], fm["num_classes"]) == (1, 32, 10)
    syn = dataset_info("synthetic")
    assert (syn["num_classes"], syn["in_channels"], syn["image_size"]) == (4, 3, 8)
    assert syn["mean"][0] == pytest.approx(0.5)
    x = synthetic_dataset(n=2000, seed=3).images
    assert syn["std"][0] == pytest.approx(float(x.std()), abs=0.02)


# --------------------------------------------------------------------------- errors


def test_unknown_name_suggests_close_match():
    with pytest.raises(data.UnknownDatasetError, match="(?i)did you mean 'cifar10'") as err:
        get_dataset("cifar11")
    assert isinstance(err.value, KeyError)
    assert "synthetic" in str(err.value) and "image folder" in str(err.value)
    assert len(get_dataset("Synthetic", n=8)) == 8  # names are case-insensitive


@pytest.mark.parametrize("kwargs, error", [(dict(n=0), ValueError), (dict(n=2.5), TypeError),
                                           (dict(num_classes=0), ValueError), (dict(seed=-1), ValueError)])
def test_synthetic_bad_counts(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        get_dataset("synthetic", **kwargs)


def test_bad_split():
    with pytest.raises(ValueError, match="train.*test"):
        get_dataset("synthetic", split="val")


def test_unexpected_kwarg():
    with pytest.raises(TypeError, match="bogus"):
        get_dataset("synthetic", bogus=1)


# --------------------------------------------------------------------------- IDX / cache


def test_idx_round_trip_and_padding(fake_idx):
    idx_dir, images, labels = fake_idx
    x, y = read_fashion_mnist_idx(idx_dir, "test")
    assert x.shape == (5, 1, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x[:, 0, 2:30, 2:30], torch.from_numpy(images))
    assert x[:, :, :2].sum() == 0 and x[:, :, -2:].sum() == 0 and x[..., :2].sum() == 0 and x[..., -2:].sum() == 0
    assert y.tolist() == labels.tolist() and y.dtype == torch.int64


@pytest.mark.parametrize("corruption", ["magic", "truncated", "not-gzip"])
def test_corrupt_idx_names_file(fake_idx, corruption):
    idx_dir, images, _ = fake_idx
    bad = idx_dir / "t10k-images-idx3-ubyte.gz"
    if corruption == "magic":
        write_idx(bad, images[:, :, :, None])  # 4 dimensions instead of 3
    elif corruption == "truncated":
        write_idx(bad, images)
        raw = gzip.decompress(bad.read_bytes())
        bad.write_bytes(gzip.compress(raw[:-10]))
    else:
        bad.write_bytes(b"definitely not gzip")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        read_fashion_mnist_idx(idx_dir, "test")


def test_cache_written_and_reused(fake_idx, tmp_path, monkeypatch):
    idx_dir, images, _ = fake_idx
    root = tmp_path / "root"
    ds = get_dataset("fashion-mnist", split="test", root=root, idx_dir=idx_dir)
    [cache] = (root / "fashion-mnist").glob("test*.pt")
    assert cache.name.startswith("test-idx-")  # an IDX folder's own cache, not the default test.pt
    assert len(ds) == 5 and ds.classes[0] == "T-shirt/top"
    assert not list(cache.parent.glob(".*.tmp"))  # atomic write left no temp file

    def fail(*args, **kwargs):
        raise AssertionError("source was read again despite a valid cache")

    monkeypatch.setattr(data.readers, "read_fashion_mnist_idx", fail)
    again = get_dataset("fashion-mnist", split="test", root=root, idx_dir=idx_dir)
    assert torch.equal(again.images, ds.images) and torch.equal(again.targets, ds.targets)


def test_two_idx_folders_get_two_cache_entries(fake_idx, tmp_path):
    idx_dir, images, labels = fake_idx
    other = tmp_path / "other"
    other.mkdir()
    write_idx(other / "t10k-images-idx3-ubyte.gz", 255 - images[:3])
    write_idx(other / "t10k-labels-idx1-ubyte.gz", labels[:3])
    root = tmp_path / "root"
    first = get_dataset("fashion-mnist", split="test", root=root, idx_dir=idx_dir)
    second = get_dataset("fashion-mnist", split="test", root=root, idx_dir=other)
    assert len(first) == 5 and len(second) == 3
    assert torch.equal(second.images[:, 0, 2:30, 2:30], torch.from_numpy(255 - images[:3]))
    # the same folder, spelt differently, is the same entry
    again = get_dataset("fashion-mnist", split="test", root=root, idx_dir=str(idx_dir / ".." / "idx"))
    assert torch.equal(again.images, first.images)
    assert len(list((root / "fashion-mnist").glob("test*.pt"))) == 2


def test_corrupt_cache_is_rebuilt(fake_idx, tmp_path):
    idx_dir, images, _ = fake_idx
    get_dataset("fashion-mnist", split="test", root=tmp_path / "root", idx_dir=idx_dir)
    [cache] = (tmp_path / "root" / "fashion-mnist").glob("test*.pt")
    cache.write_bytes(b"\x00garbage")
    with pytest.warns(RuntimeWarning, match="Rebuilding"):
        ds = get_dataset("fashion-mnist", split="test", root=tmp_path / "root", idx_dir=idx_dir)
    assert torch.equal(ds.images[:, 0, 2:30, 2:30], torch.from_numpy(images))
    assert torch.load(cache, weights_only=True)["images"].shape == (5, 1, 32, 32)


# --------------------------------------------------------------------------- ImageTensorDataset


def test_batch_matches_getitem():
    imgs = torch.randint(0, 256, (7, 1, 4, 4), dtype=torch.uint8)
    ds = ImageTensorDataset(imgs, torch.tensor([0, 1, 2, 0, 1, 2, 0]), classes=["a", "b", "c"])
    idx = [4, 0, 6, 4]
    x, y = ds.batch(idx)
    assert torch.equal(x, torch.stack([ds[i][0] for i in idx]))
    assert y.tolist() == [ds[i][1] for i in idx]
    assert x.dtype == torch.float32 and x.max() <= 1 and ds.num_classes == 3
    assert torch.equal(ds.batch(np.array(idx))[0], x) and torch.equal(ds.batch(slice(0, 7))[0], ds.batch(range(7))[0])
    x[0].fill_(5)  # results are copies, not views of the store
    assert ds[4][0].max() <= 1


def test_labels_of_subset_and_fallback():
    ds = synthetic_dataset(n=12)
    sub = torch.utils.data.Subset(ds, [3, 1, 7])
    assert labels_of(sub).tolist() == ds.targets[[3, 1, 7]].tolist()
    plain = [(torch.zeros(1), k % 3) for k in range(5)]
    assert labels_of(plain).tolist() == [0, 1, 2, 0, 1]


def test_image_folder(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (300, 260), (255, 0, 0)).save(tmp_path / cls / "a.png")
    ds = get_dataset(str(tmp_path))
    x, y = ds[1]
    assert x.shape == (3, 224, 224) and y == 1 and labels_of(ds).tolist() == [0, 1]
    assert dataset_info(tmp_path)["num_classes"] == 2


# --------------------------------------------------------------------------- converted images


def test_channels_3_repeats_the_grey_image_lazily(fake_idx, tmp_path):
    idx_dir, images, labels = fake_idx
    grey = get_dataset("fashion-mnist", "test", root=tmp_path, idx_dir=idx_dir)
    colour = get_dataset("fashion-mnist", "test", root=tmp_path, idx_dir=idx_dir, channels=3)
    assert isinstance(colour, data.ConvertedImages) and colour.dataset.images.shape == (5, 1, 32, 32)  # not copied
    x, y = colour[2]
    assert x.shape == (3, 32, 32) and y == 9
    assert torch.equal(x, grey[2][0].expand(3, -1, -1))
    batch, batch_labels = colour.batch([4, 0, 4])
    assert torch.equal(batch, torch.stack([colour[i][0] for i in (4, 0, 4)]))
    assert batch_labels.tolist() == [3, 0, 3] and labels_of(colour).tolist() == labels.tolist()
    assert colour.classes == grey.classes and len(colour) == 5


def test_image_size_resizes_bilinearly_as_torchvision_does(fake_idx, tmp_path):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    idx_dir, _, _ = fake_idx
    grey = get_dataset("fashion-mnist", "test", root=tmp_path, idx_dir=idx_dir)
    big = get_dataset("fashion-mnist", "test", root=tmp_path, idx_dir=idx_dir, channels=3, image_size=224)
    x = big.batch([1, 3])[0]
    assert x.shape == (2, 3, 224, 224)
    expected = TF.resize(grey.batch([1, 3])[0], [224, 224], interpolation=InterpolationMode.BILINEAR, antialias=True)
    torch.testing.assert_close(x, expected.expand(-1, 3, -1, -1))
    small = get_dataset("synthetic", "test", n=4, shape=(3, 8, 8), image_size=(4, 6))
    assert small[0][0].shape == (3, 4, 6) and 0 <= small.batch([0, 1])[0].min() <= small.batch([0, 1])[0].max() <= 1


def test_channels_1_is_the_luminance_of_colour():
    from torchvision.transforms import functional as TF

    colour = synthetic_dataset(n=6, shape=(3, 5, 5))
    grey = data.ConvertedImages(colour, channels=1)
    torch.testing.assert_close(grey.batch(range(6))[0], TF.rgb_to_grayscale(colour.batch(range(6))[0]))
    assert grey[0][0].shape == (1, 5, 5)


def test_normalize_imagenet_gives_the_standardised_pixels():
    grey = synthetic_dataset(n=4, shape=(1, 6, 6))
    x = data.ConvertedImages(grey, channels=3, normalize="imagenet").batch([0, 1])[0]
    mean, std = torch.tensor(data.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(data.IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x * std + mean, grey.batch([0, 1])[0].expand(-1, 3, -1, -1))
    own = data.ConvertedImages(grey, normalize=([0.5], [0.25])).batch([0])[0]
    torch.testing.assert_close(own, (grey.batch([0])[0] - 0.5) / 0.25)


def test_converted_plain_tensor_dataset_and_no_aliasing():
    images = torch.randint(0, 256, (4, 1, 4, 4), dtype=torch.uint8)
    view = data.ConvertedImages(torch.utils.data.TensorDataset(images, torch.tensor([0, 1, 0, 1])), channels=3)
    assert torch.equal(view[1][0], (images[1].float() / 255).expand(3, -1, -1))
    assert torch.equal(view.batch(slice(1, 3))[0], view.batch([1, 2])[0]) and view.num_classes == 2
    store = synthetic_dataset(n=4, shape=(1, 4, 4))
    unchanged = data.convert_images(store.images)
    unchanged.fill_(0)  # a result is never a view of its input
    assert store.images.max() > 0


@pytest.mark.parametrize("options, error, message", [
    (dict(channels=2), ValueError, "channels must be 1 .grey. or 3"),
    (dict(image_size=0), ValueError, "image_size must be an integer >= 1"),
    (dict(normalize="imagnet"), KeyError, "Did you mean 'imagenet'"),
    (dict(normalize="imagenet"), ValueError, "statistics for 3-channel images .* pass channels=3"),
    (dict(normalize=(1, 2, 3)), TypeError, r"a \(mean, std\) pair"),
])
def test_bad_conversion_options_are_refused_by_name(options, error, message):
    with pytest.raises(error, match=message):
        get_dataset("synthetic", "test", n=4, shape=(1, 4, 4), **options)
    with pytest.raises(ValueError, match="C 1 or 3"):
        data.ConvertedImages(synthetic_dataset(n=4, shape=(2, 4, 4)), channels=3)


def test_a_torchvision_model_measures_grey_images_made_colour():
    import torchvision

    import dynamic_graphs as dg

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=4)
    grey = get_dataset("synthetic", "test", n=24, shape=(1, 8, 8), separation=3.0)
    colour = get_dataset("synthetic", "test", n=24, shape=(1, 8, 8), separation=3.0, channels=3, image_size=32,
                         normalize="imagenet")
    with pytest.raises(ValueError, match=r"channels=3\)"):
        dg.modularity_curve(net, grey, layers=["layer1", "layer4"], n=8, repeats=1, k=3, device="cpu")
    frame = dg.modularity_curve(net, colour, layers=["layer1", "layer4"], n=8, repeats=1, k=3, device="cpu")
    assert frame.layer.tolist() == ["layer1", "layer4"] and frame.modularity.notna().all()


# --------------------------------------------------------------------------- real data


@pytest.mark.skipif(not data.FASHION_MNIST_IDX_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_test_split(tmp_path):
    ds = get_dataset("fashion-mnist", split="test", root=tmp_path)
    assert len(ds) == 10000 and ds.num_classes == 10
    x, y = ds.batch(range(0, 10000, 997))
    assert x.shape[1:] == (1, 32, 32) and 0 <= x.min() and x.max() <= 1
    assert np.bincount(labels_of(ds)).tolist() == [1000] * 10
    # The normalisation statistics are those of the padded images the models see.
    images = ds.images.float() / 255
    info = dataset_info("fashion-mnist")
    assert info["mean"][0] == pytest.approx(float(images.mean()), abs=0.005)
    assert info["std"][0] == pytest.approx(float(images.std()), abs=0.005)


# --------------------------------------------------------------------------- CIFAR on disk, and no network


def write_cifar_pickle(path: Path, obj: dict) -> None:
    """Pickle like the published CIFAR files: protocol 2, arrays under numpy.core.multiarray."""
    raw = pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    path.write_bytes(raw)


def fake_cifar(root: Path, name: str = "cifar10", per_file: int = 3) -> dict:
    """A tiny CIFAR-10 (or -100) in torchvision's extracted layout under ``root/name``; returns its arrays."""
    cifar10 = name == "cifar10"
    folder = root / name / ("cifar-10-batches-py" if cifar10 else "cifar-100-python")
    folder.mkdir(parents=True)
    classes = [f"class{k}" for k in range(10 if cifar10 else 100)]
    write_cifar_pickle(folder / ("batches.meta" if cifar10 else "meta"),
                       {"label_names" if cifar10 else "fine_label_names": classes})
    rng = np.random.default_rng(0)
    arrays = {}
    files = {"train": [f"data_batch_{i}" for i in range(1, 6)] if cifar10 else ["train"],
             "test": ["test_batch"] if cifar10 else ["test"]}
    for split, names in files.items():
        chunks, labels = [], []
        for file in names:
            data_ = rng.integers(0, 256, size=(per_file, 3072), dtype=np.uint8)
            targets = rng.integers(0, len(classes), size=per_file).tolist()
            write_cifar_pickle(folder / file, {"batch_label": file, "data": data_,
                                               "labels" if cifar10 else "fine_labels": targets})
            chunks.append(data_)
            labels += targets
        arrays[split] = (np.vstack(chunks), np.array(labels))
    return dict(folder=folder, classes=classes, **arrays)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_local_cifar_loads_through_get_dataset(tmp_path, name):
    fake = fake_cifar(tmp_path, name)
    for split, count in (("train", 15 if name == "cifar10" else 3), ("test", 3)):
        ds = get_dataset(name, split, root=tmp_path)
        images, labels = fake[split]
        assert len(ds) == count and ds.classes == fake["classes"]
        assert torch.equal(ds.images, torch.from_numpy(images.reshape(-1, 3, 32, 32)))  # rows are R, G, B planes
        assert ds.targets.tolist() == labels.tolist()
        x, y = ds[1]
        assert x.shape == (3, 32, 32) and torch.equal(x, torch.from_numpy(images[1].reshape(3, 32, 32)).float() / 255)
        assert (tmp_path / name / f"{split}.pt").is_file()  # cached beside the folder, as before


def test_local_cifar_matches_torchvision(tmp_path, monkeypatch):
    """Same images, labels and classes as torchvision's reader (its md5 check switched off for the fake)."""
    import torchvision.datasets.cifar as tv_cifar

    fake_cifar(tmp_path)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    reference = tv_cifar.CIFAR10(tmp_path / "cifar10", train=True, download=False)
    ours = data.read_cifar(tmp_path / "cifar10" / "cifar-10-batches-py", "cifar10", "train")
    assert torch.equal(ours["images"].permute(0, 2, 3, 1), torch.from_numpy(reference.data))
    assert ours["labels"].tolist() == reference.targets and ours["classes"] == reference.classes


def test_cifar_pickle_that_would_run_code_is_refused(tmp_path):
    fake = fake_cifar(tmp_path)

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    (fake["folder"] / "test_batch").write_bytes(pickle.dumps({"data": Payload(), "labels": []}, protocol=2))
    with pytest.raises(ValueError, match=r"Corrupt CIFAR file .*test_batch.*unexpected object __builtin__\.print"):
        get_dataset("cifar10", "test", root=tmp_path)


def test_cifar_file_of_wrong_shape(tmp_path):
    fake = fake_cifar(tmp_path)
    write_cifar_pickle(fake["folder"] / "test_batch", {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})
    with pytest.raises(ValueError, match="Corrupt CIFAR file .*test_batch.*N x 3072"):
        get_dataset("cifar10", "test", root=tmp_path)


def no_network(monkeypatch):
    """Every download attempt fails as it does offline."""
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)


@pytest.mark.parametrize("name, folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_cifar_offline_says_where_a_copy_goes_and_leaves_nothing(tmp_path, monkeypatch, name, folder):
    no_network(monkeypatch)
    root = tmp_path / "data"
    with pytest.raises(data.DatasetNotFoundError) as err:
        get_dataset(name, "test", root=root)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError) and err.value.__cause__ is None and err.value.__suppress_context__
    assert "could not be downloaded (URLError" in message and "name resolution" in message
    assert f"{root / name / folder}/" in message and "root=DIR" in message and "https://www.cs.toronto.edu" in message
    assert not root.exists()  # not even the data directory was left behind


def test_cifar_offline_keeps_an_existing_folder_and_removes_only_what_it_made(tmp_path, monkeypatch):
    no_network(monkeypatch)
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "notes.txt").write_text("mine")
    with pytest.raises(data.DatasetNotFoundError, match="cifar-10-batches-py"):
        get_dataset("cifar10", root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == ["notes.txt"]


def test_fashion_mnist_offline_without_debian_files(tmp_path, monkeypatch):
    no_network(monkeypatch)
    monkeypatch.setattr(data.readers, "FASHION_MNIST_IDX_DIR", tmp_path / "no-debian-package")
    root = tmp_path / "data"
    with pytest.raises(data.DatasetNotFoundError) as err:
        get_dataset("fashion-mnist", "test", root=root)
    message = str(err.value)
    assert "Fashion-MNIST is not on this machine and could not be downloaded" in message
    assert "t10k-images-idx3-ubyte.gz" in message and "idx_dir=DIR" in message and "dataset-fashion-mnist" in message
    assert err.value.__cause__ is None and not root.exists()


def test_cifar_folder_straight_under_root_also_loads(tmp_path):
    fake = fake_cifar(tmp_path / "elsewhere")
    fake["folder"].rename(tmp_path / "cifar-10-batches-py")
    ds = get_dataset("cifar10", "test", root=tmp_path)
    assert ds.targets.tolist() == fake["test"][1].tolist()
