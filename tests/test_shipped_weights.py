"""Shipped weights: pretrained() uses a manifest entry when the recipe and seed match, after its sha256."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch

import dynamic_graphs.training as train_module
import dynamic_graphs.training.weights as weights_module
from dynamic_graphs import get_model, pretrained, settings
from dynamic_graphs.data import dataset_info
from dynamic_graphs.training import train
from dynamic_graphs.training import checkpoint_path, read_manifest, ship_weights, shipped_entry
from dynamic_graphs.utils import atomic_torch_save, isolated_rng

MODEL = dict(name="resnet20", dataset="synthetic", model_kwargs={"blocks": [1, 1, 1]}, seed=0)
OPTIONS = dict(epochs=1, batch_size=32, lr=0.05)


class Trained(Exception):
    """Raised by a stand-in for train(): pretrained() decided to train."""


def refuse_training(*args, **kwargs):
    raise Trained


def options(**changes):
    """MODEL and OPTIONS as keyword arguments of pretrained() / ship_weights(), with ``changes``."""
    merged = {**MODEL, **OPTIONS, **changes}
    return merged.pop("name"), merged.pop("dataset"), merged


def fake_checkpoint(seed: int = 0, **overrides) -> dict:
    """Write, without training, the finished cache checkpoint pretrained() would have left for these
    options (with an optimizer state, as train() writes it); return its state_dict."""
    name, dataset, kwargs = options(seed=seed, **overrides)
    model_kwargs, seed = kwargs.pop("model_kwargs"), kwargs.pop("seed")
    hparams = train_module.merge_recipe(train_module.train_defaults(dataset), kwargs)
    info = dataset_info(dataset)
    with isolated_rng(seed + 7):
        model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                          mean=info["mean"], std=info["std"], **model_kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    history = [{"epoch": 1, "lr": hparams["lr"], "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.75, "seconds": 0.1}]
    state = {"config": model.config, "dataset": dataset, "hparams": hparams, "seed": seed, "epoch": 1,
             "complete": True, "test_acc": 0.75, "history": history, "git": None, "state_dict": model.state_dict(),
             "optimizer": optimizer.state_dict(), "scheduler": {}, "rng": torch.get_rng_state()}
    atomic_torch_save(state, checkpoint_path(name, dataset, hparams, seed, model_kwargs))
    return model.state_dict()


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """An empty weights folder that pretrained() and ship_weights() use, quiet output."""
    folder = tmp_path / "weights"
    monkeypatch.setattr(weights_module, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(settings, "verbosity", 0)
    return folder


@pytest.fixture
def fresh_data_dir(tmp_path, monkeypatch):
    """Switch to another, empty data directory (a fresh clone's cache)."""
    def switch(label: str):
        folder = tmp_path / label
        monkeypatch.setattr(settings, "data_dir", folder)
        return folder
    return switch


@pytest.fixture
def shipped(weights_dir, fresh_data_dir):
    """Ship a fake finished checkpoint, then switch to an empty data dir; returns (entry, weights)."""
    fresh_data_dir("trained")
    weights = fake_checkpoint()
    name, dataset, kwargs = options()
    entry = ship_weights(name, dataset, command="pytest tests/test_shipped_weights.py", **kwargs)
    fresh_data_dir("clone")
    return entry, weights


def test_shipped_weights_load_without_training(shipped, weights_dir, monkeypatch):
    entry, weights = shipped
    monkeypatch.setattr(weights_module, "train", refuse_training)
    name, dataset, kwargs = options()
    model = pretrained(name, dataset, device="cpu", **kwargs)
    assert same_weights(model.state_dict(), weights)
    assert not model.training and model.checkpoint["complete"]
    assert model.checkpoint["path"].startswith(str(settings.data_dir))  # copied into the cache
    assert sha256(weights_dir / entry["file"]) == entry["sha256"]


def test_the_manifest_entry_records_file_checksum_and_command(shipped, weights_dir):
    entry, _ = shipped
    manifest = json.loads((weights_dir / "manifest.json").read_text())
    assert manifest == {"weights": [entry]}
    path = weights_dir / entry["file"]
    assert entry["sha256"] == sha256(path) and entry["size"] == path.stat().st_size
    assert entry["command"] == "pytest tests/test_shipped_weights.py"
    assert (entry["model"], entry["dataset"], entry["seed"], entry["model_kwargs"]) == (
        "resnet20", "synthetic", 0, {"blocks": [1, 1, 1]})
    assert entry["hparams"]["epochs"] == 1 and entry["hparams"]["lr"] == 0.05 and entry["top1"] == 0.75
    name, dataset, kwargs = options()
    hparams = train_module.merge_recipe(train_module.train_defaults(dataset), {k: kwargs[k] for k in OPTIONS})
    assert checkpoint_path(name, dataset, hparams, 0, kwargs["model_kwargs"]).stem.endswith(entry["key"])
    state = torch.load(path, weights_only=True)  # plain data, and no optimizer state (resume only)
    assert state["complete"] and not {"optimizer", "scheduler", "rng"} & set(state)


def test_train_on_a_shipped_cache_file_returns_its_history(shipped, monkeypatch):
    # The cache copy of shipped weights has no optimizer state; train() with it must not need one.
    monkeypatch.setattr(weights_module, "train", refuse_training)
    name, dataset, kwargs = options()
    model = pretrained(name, dataset, device="cpu", **kwargs)
    monkeypatch.undo()
    history = train(model, dataset, None, checkpoint=model.checkpoint["path"], device="cpu", dataset_name=dataset,
                    **OPTIONS)
    assert list(history.epoch) == [1]


@pytest.mark.parametrize("change", [dict(seed=1), dict(lr=0.1), dict(epochs=2),
                                    dict(model_kwargs={"blocks": [1, 1, 2]}), dict(keep_epochs=True)],
                         ids=["seed", "lr", "epochs", "model_kwargs", "keep_epochs"])
def test_other_options_do_not_match_the_entry(shipped, monkeypatch, change):
    monkeypatch.setattr(weights_module, "train", refuse_training)
    name, dataset, kwargs = options(**change)
    with pytest.raises(Trained):
        pretrained(name, dataset, device="cpu", **kwargs)
    keep_epochs = kwargs.pop("keep_epochs", False)
    model_kwargs, seed = kwargs.pop("model_kwargs"), kwargs.pop("seed")
    hparams = train_module.merge_recipe(train_module.train_defaults(dataset), kwargs)
    assert keep_epochs or shipped_entry(name, dataset, hparams, seed, model_kwargs) is None


def test_a_corrupt_file_is_reported_and_never_loaded(shipped, weights_dir, monkeypatch, capsys):
    entry, _ = shipped
    path = weights_dir / entry["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped
    path.write_bytes(bytes(data))
    monkeypatch.setattr(weights_module, "train", refuse_training)
    name, dataset, kwargs = options()
    with pytest.raises(Trained):
        pretrained(name, dataset, device="cpu", **kwargs)
    err = capsys.readouterr().err
    assert "failed their checksum" in err and entry["file"] in err
    assert entry["sha256"] in err and sha256(path) in err
    cache = settings.data_dir / "checkpoints"
    assert not cache.exists() or not any(cache.rglob("*.pt*"))  # the unverified copy was discarded


def test_a_missing_file_is_reported_and_training_runs(shipped, weights_dir, monkeypatch, capsys):
    entry, _ = shipped
    (weights_dir / entry["file"]).unlink()
    monkeypatch.setattr(weights_module, "train", refuse_training)
    name, dataset, kwargs = options()
    with pytest.raises(Trained):
        pretrained(name, dataset, device="cpu", **kwargs)
    err = capsys.readouterr().err
    assert "missing" in err and entry["file"] in err and entry["sha256"] in err


def test_shipping_again_replaces_the_entry_and_another_seed_adds_one(shipped, weights_dir, fresh_data_dir):
    entry, _ = shipped
    fresh_data_dir("trained")
    name, dataset, kwargs = options()
    again = ship_weights(name, dataset, command="second", **kwargs)
    fake_checkpoint(seed=1)
    other = ship_weights(name, dataset, command="third", **{**kwargs, "seed": 1})
    entries = read_manifest(weights_dir)
    assert [e["command"] for e in entries] == ["second", "third"]
    assert again["file"] == entry["file"] and other["file"] != entry["file"] and other["seed"] == 1


def test_the_manifest_is_written_atomically(shipped, weights_dir, fresh_data_dir, monkeypatch):
    manifest = weights_dir / "manifest.json"
    before = manifest.read_text()
    fresh_data_dir("trained")
    fake_checkpoint(seed=1)

    def failing_dumps(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(weights_module.json, "dumps", failing_dumps)
    name, dataset, kwargs = options(seed=1)
    with pytest.raises(RuntimeError, match="disk full"):
        ship_weights(name, dataset, command="x", **kwargs)
    monkeypatch.undo()
    assert manifest.read_text() == before and json.loads(before)["weights"]
    assert not list(weights_dir.glob(".*.tmp"))  # no half-written file left behind


def test_a_broken_manifest_stops_shipping_and_does_not_stop_training(shipped, weights_dir, fresh_data_dir,
                                                                      monkeypatch, capsys):
    manifest = weights_dir / "manifest.json"
    manifest.write_text('{"weights": [')
    name, dataset, kwargs = options()
    monkeypatch.setattr(weights_module, "train", refuse_training)
    with pytest.raises(Trained):
        pretrained(name, dataset, device="cpu", **kwargs)
    assert "manifest.json is unreadable" in capsys.readouterr().err
    fresh_data_dir("trained")
    with pytest.raises(ValueError, match="manifest.json is unreadable"):
        ship_weights(name, dataset, command="x", **kwargs)
    assert manifest.read_text() == '{"weights": ['  # left as it was


def test_shipping_needs_a_finished_checkpoint_and_a_command(weights_dir, fresh_data_dir):
    fresh_data_dir("empty")
    name, dataset, kwargs = options()
    with pytest.raises(FileNotFoundError, match="train it first with pretrained"):
        ship_weights(name, dataset, command="x", **kwargs)
    with pytest.raises(ValueError, match="command"):
        ship_weights(name, dataset, command=" ", **kwargs)
    assert not weights_dir.exists()


def test_the_repository_manifest_is_valid_and_its_files_match():
    for entry in read_manifest():
        path = weights_module.WEIGHTS_DIR / entry["file"]
        assert path.is_file(), f"{path} is listed in the manifest but missing"
        assert sha256(path) == entry["sha256"] and path.stat().st_size == entry["size"], path
        assert entry["command"].strip()


@pytest.mark.slow
def test_trained_shipped_then_corrupted_gives_the_same_weights(weights_dir, fresh_data_dir, monkeypatch, capsys):
    name, dataset, kwargs = options()
    fresh_data_dir("first")
    first = pretrained(name, dataset, device="cpu", **kwargs)
    entry = ship_weights(name, dataset, command="pretrained(...)", **kwargs)

    fresh_data_dir("clone")
    with monkeypatch.context() as patch:
        patch.setattr(weights_module, "train", refuse_training)
        loaded = pretrained(name, dataset, device="cpu", **kwargs)
    assert same_weights(loaded.state_dict(), first.state_dict())

    path = weights_dir / entry["file"]
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    fresh_data_dir("corrupt")
    retrained = pretrained(name, dataset, device="cpu", **kwargs)
    assert "failed their checksum" in capsys.readouterr().err
    assert same_weights(retrained.state_dict(), first.state_dict())  # same seed: the same training
    assert len(retrained.checkpoint["history"]) == 1 and "optimizer" in torch.load(
        retrained.checkpoint["path"], weights_only=True)  # trained here, not copied
