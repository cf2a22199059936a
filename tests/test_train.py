"""Training: the recipe's options, atomic checkpoints, resume, the pretrained cache, bad checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dynamic_graphs.training as train_module
from dynamic_graphs import get_dataset, get_model, load_checkpoint, pretrained, settings, train
from dynamic_graphs.training import augment, epoch_checkpoint, evaluate

OPTIONS = dict(epochs=3, batch_size=32, lr=0.05, milestones=[2], weight_decay=0.0)


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    monkeypatch.setattr(settings, "verbosity", 0)
    return tmp_path


def tiny_resnet(seed: int = 0):
    torch.manual_seed(seed)
    return get_model("resnet20", num_classes=4, in_channels=3, blocks=[1, 1, 1])


def synthetic(split: str):
    return get_dataset("synthetic", split, n=96, num_classes=4, shape=(3, 8, 8), separation=3.0)


def test_training_learns_and_logs_every_epoch():
    model = tiny_resnet()
    before = evaluate(model, synthetic("test"), device="cpu")
    history = train(model, synthetic("train"), synthetic("test"), device="cpu", **OPTIONS)
    assert list(history.epoch) == [1, 2, 3]
    assert list(history.lr) == pytest.approx([0.05, 0.05, 0.005])  # MultiStepLR at epoch 2
    assert history.test_acc.iloc[-1] > max(before, 0.5)
    assert not model.training


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    reference = tiny_resnet()
    train(reference, synthetic("train"), synthetic("test"), device="cpu", checkpoint=tmp_path / "ref.pt", **OPTIONS)

    interrupted, path = tiny_resnet(), tmp_path / "run.pt"
    calls = {"n": 0}
    real_evaluate = train_module.evaluate

    def failing_evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed during epoch 2, after epoch 1's checkpoint
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", failing_evaluate)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, synthetic("train"), synthetic("test"), device="cpu", checkpoint=path, **OPTIONS)
    assert torch.load(path, weights_only=False)["epoch"] == 1
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)

    resumed = tiny_resnet(seed=123)  # different initial weights: everything must come from the checkpoint
    history = train(resumed, synthetic("train"), synthetic("test"), device="cpu", checkpoint=path, **OPTIONS)
    assert list(history.epoch) == [1, 2, 3]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_keep_epochs_writes_one_file_per_epoch(tmp_path):
    path = tmp_path / "run.pt"
    train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, keep_epochs=True, **OPTIONS)
    models = [load_checkpoint(epoch_checkpoint(path, epoch)) for epoch in (1, 2, 3)]
    assert [m.checkpoint["epoch"] for m in models] == [1, 2, 3]
    assert not torch.equal(models[0].conv1.weight, models[2].conv1.weight)


def test_pretrained_trains_once_then_loads_from_the_cache(data_dir, monkeypatch):
    model = pretrained("resnet20", "synthetic", model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=1)
    assert not model.training and model.checkpoint["complete"]
    assert model.checkpoint["path"].startswith(str(data_dir))

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model was trained again")

    monkeypatch.setattr(train_module, "train", no_training)
    again = pretrained("resnet20", "synthetic", model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=1)
    assert torch.equal(model.conv1.weight, again.conv1.weight)


def test_corrupt_checkpoint_is_reported_and_never_overwritten(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="unreadable.*delete it"):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, **OPTIONS)
    with pytest.raises(ValueError, match="unreadable"):
        load_checkpoint(path)
    assert path.read_bytes() == b"not a checkpoint"


def test_missing_checkpoint():
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_checkpoint("/nonexistent/model.pt")


def test_checkpoint_with_other_options_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, **OPTIONS)
    with pytest.raises(ValueError, match="other hyperparameters"):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, **{**OPTIONS, "lr": 0.1})


def test_unknown_training_option():
    with pytest.raises(TypeError, match="Unknown training option.*'epoch'"):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", epoch=3)


def test_augment_is_seeded_and_shifts_content():
    images = torch.rand(8, 3, 8, 8)
    first = augment(images, crop_padding=2, flip=True, rotation=10.0, generator=torch.Generator().manual_seed(0))
    again = augment(images, crop_padding=2, flip=True, rotation=10.0, generator=torch.Generator().manual_seed(0))
    assert first.shape == images.shape and torch.equal(first, again)
    assert not torch.equal(first, images)
    plain = augment(images, crop_padding=0, flip=False, rotation=0.0, generator=torch.Generator())
    assert torch.equal(plain, images)


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = augment(image, crop_padding=1, flip=False, rotation=0.0, generator=torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(image, [1, 1, 1, 1])
    windows = [padded[..., i:i + 4, j:j + 4] for i in range(3) for j in range(3)]
    assert any(torch.equal(out, window) for window in windows)


def test_evaluate_counts_correct_predictions():
    data = synthetic("test")
    labels = torch.as_tensor(np.asarray(data.targets))

    class Oracle(torch.nn.Module):  # predicts class 0 always
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 4).float()

    assert evaluate(Oracle(), data, device="cpu") == pytest.approx(float((labels == 0).float().mean()))
