"""Training: the recipe's options, atomic checkpoints, resume, the pretrained cache, bad checkpoints."""
from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_resnet
from conftest import tiny_synthetic as synthetic

import dynamic_graphs.training.loop as train_module
import dynamic_graphs.training.weights as weights_module
from dynamic_graphs import pretrained, settings
from dynamic_graphs.training import load_checkpoint, train
from dynamic_graphs.training import augment, epoch_checkpoint, evaluate

OPTIONS = dict(epochs=3, batch_size=32, lr=0.05, milestones=[2], weight_decay=0.0)


@pytest.mark.slow
def test_training_learns_and_logs_every_epoch():
    model = tiny_resnet()
    before = evaluate(model, synthetic("test"), device="cpu")
    history = train(model, synthetic("train"), synthetic("test"), device="cpu", **OPTIONS)
    assert list(history.epoch) == [1, 2, 3]
    assert list(history.lr) == pytest.approx([0.05, 0.05, 0.005])  # MultiStepLR at epoch 2
    assert history.test_acc.iloc[-1] > max(before, 0.5)
    assert not model.training


@pytest.mark.slow
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
    assert torch.load(path, weights_only=True)["epoch"] == 1  # plain data: loads without running code
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)

    resumed = tiny_resnet(seed=123)  # different initial weights: everything must come from the checkpoint
    history = train(resumed, synthetic("train"), synthetic("test"), device="cpu", checkpoint=path, **OPTIONS)
    assert list(history.epoch) == [1, 2, 3]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_scoring_every_other_epoch_trains_the_same_weights_and_scores_the_last():
    every, sparse = tiny_resnet(), tiny_resnet()
    full = train(every, synthetic("train"), synthetic("test"), device="cpu", **OPTIONS)
    history = train(sparse, synthetic("train"), synthetic("test"), device="cpu", test_every=2, **OPTIONS)
    assert history.test_acc.isna().tolist() == [True, False, False]  # epoch 2, and epoch 3 as the last
    assert history.test_acc.iloc[1:].tolist() == full.test_acc.iloc[1:].tolist()
    for (name, a), b in zip(every.state_dict().items(), sparse.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_keep_epochs_writes_one_file_per_epoch(tmp_path):
    path = tmp_path / "run.pt"
    train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, keep_epochs=True, **OPTIONS)
    models = [load_checkpoint(epoch_checkpoint(path, epoch)) for epoch in (1, 2, 3)]
    assert [m.checkpoint["epoch"] for m in models] == [1, 2, 3]
    assert not torch.equal(models[0].conv1.weight, models[2].conv1.weight)


@pytest.mark.slow
def test_pretrained_trains_once_then_loads_from_the_cache(data_dir, monkeypatch):
    model = pretrained("resnet20", "synthetic", model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=1)
    assert not model.training and model.checkpoint["complete"]
    assert model.checkpoint["path"].startswith(str(data_dir))

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model was trained again")

    monkeypatch.setattr(weights_module, "train", no_training)  # what pretrained() calls
    again = pretrained("resnet20", "synthetic", model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=1)
    assert torch.equal(model.conv1.weight, again.conv1.weight)


def _draws_after(call=None) -> list:
    """Python, NumPy and torch draws after ``call`` from one fixed global state."""
    random.seed(1234)
    np.random.seed(1234)
    torch.manual_seed(1234)
    if call is not None:
        call()
    return [random.random(), float(np.random.rand()), torch.rand(3)]


@pytest.mark.slow
def test_pretrained_leaves_the_global_random_state_alone_on_a_miss_and_a_hit(data_dir):
    def call():
        return pretrained("resnet20", "synthetic", model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=1)

    untouched = _draws_after()
    miss = _draws_after(call)  # trains: once seeded the global generators with seed=0
    hit = _draws_after(call)   # loads from the cache
    for a, b, c in zip(untouched, miss, hit):
        assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)) and torch.equal(torch.as_tensor(b), torch.as_tensor(c))


@pytest.mark.slow
def test_train_is_seeded_by_its_seed_not_by_the_callers_state():
    first, second = tiny_resnet(), tiny_resnet()
    torch.manual_seed(1)
    train(first, synthetic("train"), None, device="cpu", seed=5, **{**OPTIONS, "epochs": 1})
    torch.manual_seed(2)
    train(second, synthetic("train"), None, device="cpu", seed=5, **{**OPTIONS, "epochs": 1})
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


class _Linear(torch.nn.Module):
    """A model that trains in milliseconds: the subset tests need the loop, not a network."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.mark.slow
def test_the_epoch_line_shows_at_verbosity_one_and_not_at_zero(monkeypatch, capsys):
    monkeypatch.setattr(settings, "verbosity", 1)
    train(_Linear(), synthetic("train"), synthetic("test"), device="cpu", **{**OPTIONS, "epochs": 2})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and lines[0].split()[:4] == ["epoch", "1", "lr", "0.05"] and "test 0." in lines[0]
    monkeypatch.setattr(settings, "verbosity", 0)
    train(_Linear(), synthetic("train"), None, device="cpu", **{**OPTIONS, "epochs": 1})
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_test_images_do_not_depend_on_the_training_subset(monkeypatch):
    seen = []
    real_evaluate, real_batches = train_module.evaluate, train_module.iter_batches

    def recording_evaluate(model, dataset, **kwargs):
        seen.append(("test", sorted(kwargs["indices"].tolist())))
        return real_evaluate(model, dataset, **kwargs)

    def recording_batches(dataset, indices, batch_size):
        if batch_size == OPTIONS["batch_size"]:  # the training loop's batches, not evaluate's
            seen.append(("train", sorted(indices.tolist())))
        return real_batches(dataset, indices, batch_size)

    monkeypatch.setattr(train_module, "evaluate", recording_evaluate)
    monkeypatch.setattr(train_module, "iter_batches", recording_batches)
    options = {**OPTIONS, "epochs": 1, "test_size": 20}
    train(_Linear(), synthetic("train"), synthetic("test"), device="cpu", seed=3, **options)
    train(_Linear(), synthetic("train"), synthetic("test"), device="cpu", seed=3, train_size=32, **options)
    assert [kind for kind, _ in seen] == ["train", "test", "train", "test"]
    (_, all_train), (_, test_without), (_, subset), (_, test_with) = seen
    assert len(test_without) == 20 and test_with == test_without  # the same test images either way
    assert all_train == list(range(96))
    # The training subset is drawn as before the fix, so cached models keep their meaning.
    assert subset == sorted(np.random.default_rng(3).permutation(96)[:32].tolist())


@pytest.mark.slow
def test_corrupt_checkpoint_is_reported_and_never_overwritten(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="unreadable.*delete it"):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, **OPTIONS)
    with pytest.raises(ValueError, match="unreadable"):
        load_checkpoint(path)
    assert path.read_bytes() == b"not a checkpoint"


def test_a_checkpoint_that_would_run_code_is_refused_unexecuted(tmp_path):
    class Payload:  # unpickling calls open(marker, "w"): code from the file
        def __reduce__(self):
            return open, (str(tmp_path / "marker"), "w")

    path = tmp_path / "evil.pt"
    torch.save({"config": {"name": "resnet20"}, "state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(ValueError, match="unreadable"):
        load_checkpoint(path, device="cpu")
    assert not (tmp_path / "marker").exists()


def test_missing_checkpoint():
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_checkpoint("/nonexistent/model.pt")


@pytest.mark.slow
def test_checkpoint_with_other_options_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, **OPTIONS)
    with pytest.raises(ValueError, match="other hyperparameters"):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", checkpoint=path, **{**OPTIONS, "lr": 0.1})


def test_unknown_training_option():
    with pytest.raises(TypeError, match="Unknown training option.*'epoch'"):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", epoch=3)


@pytest.mark.parametrize("option, value, error", [("epochs", 0, ValueError), ("batch_size", 2.0, TypeError),
                                                  ("train_size", -1, ValueError), ("test_every", 0, ValueError)])
def test_bad_counts_are_refused_before_training(option, value, error):
    with pytest.raises(error, match=option):
        train(tiny_resnet(), synthetic("train"), None, device="cpu", **{option: value})


def test_augment_is_seeded_and_shifts_content():
    images = torch.rand(8, 3, 8, 8)
    first = augment(images, crop_padding=2, flip=True, rotation=10.0, generator=torch.Generator().manual_seed(0))
    again = augment(images, crop_padding=2, flip=True, rotation=10.0, generator=torch.Generator().manual_seed(0))
    assert first.shape == images.shape and torch.equal(first, again)
    assert not torch.equal(first, images)
    plain = augment(images, crop_padding=0, flip=False, rotation=0.0, generator=torch.Generator())
    assert torch.equal(plain, images)


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = torch.arange(16.0).add(1).reshape(1, 1, 4, 4).repeat(16, 1, 1, 1)  # no zeros: padding shows
    out = augment(images, crop_padding=1, flip=False, rotation=0.0, generator=torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(images[:1], [1, 1, 1, 1])
    windows = {(i - 1, j - 1): padded[..., i:i + 4, j:j + 4] for i in range(3) for j in range(3)}
    shifts = [next((shift for shift, window in windows.items() if torch.equal(crop[None], window)), None)
              for crop in out]
    assert None not in shifts  # every crop is one of the 9 windows ...
    assert len(set(shifts) - {(0, 0)}) >= 3  # ... and crops actually move: not only the centre one, (0, 0)


def test_evaluate_counts_correct_predictions():
    data = synthetic("test")
    labels = torch.as_tensor(np.asarray(data.targets))

    class Oracle(torch.nn.Module):  # predicts class 0 always
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 4).float()

    assert evaluate(Oracle(), data, device="cpu") == pytest.approx(float((labels == 0).float().mean()))


def test_a_resumed_run_says_from_which_epoch(tmp_path, monkeypatch, capsys):
    options = dict(OPTIONS, epochs=2, milestones=[1])
    path = tmp_path / "run.pt"
    data = synthetic("train", n=32)
    train(tiny_resnet(), data, device="cpu", checkpoint=path, **options)
    state = torch.load(path, weights_only=True)  # as if killed after epoch 1's checkpoint
    torch.save({**state, "epoch": 1, "complete": False, "history": state["history"][:1]}, path)
    monkeypatch.setattr(settings, "verbosity", 1)
    capsys.readouterr()
    history = train(tiny_resnet(), data, device="cpu", checkpoint=path, **options)
    out = capsys.readouterr().out
    assert f"Resuming {path}: epochs 1-1 done, continuing at epoch 2 of 2" in out, out
    assert list(history.epoch) == [1, 2] and out.count("epoch   2") == 1 and "epoch   1" not in out


# --------------------------------------------------------------------------- schedules: multistep, onecycle

ONECYCLE = dict(epochs=3, batch_size=32, lr=0.1, weight_decay=0.0, schedule="onecycle", nesterov=True,
                milestones=[], pct_start=0.25)


def _record_steps(monkeypatch, optimizer=torch.optim.SGD, keys=("lr", "momentum", "nesterov")) -> list[dict]:
    """Record ``keys`` of the first param group at every step of ``optimizer`` (a class)."""
    seen: list[dict] = []
    real_step = optimizer.step

    def step(self, *args, **kwargs):
        seen.append({key: self.param_groups[0][key] for key in keys})
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(optimizer, "step", step)
    return seen


def test_the_step_recipes_and_their_cache_keys_are_unchanged():
    from dynamic_graphs.training import checkpoint_path, merge_recipe, train_defaults

    step = train_defaults("fashion-mnist", recipe="step")
    assert "schedule" not in step and "nesterov" not in step and "pct_start" not in step
    assert checkpoint_path("resnet20", "fashion-mnist", step, 0, {}).name == "resnet20-041c5e5963.pt"
    spelled_out = merge_recipe(train_defaults("fashion-mnist"), {"schedule": "MultiStep", "nesterov": False,
                                                           "pct_start": 0.3, "lr": 0.05, "epochs": 4,
                                                           "milestones": [2, 3]})
    assert spelled_out == step  # the implicit defaults, written or not, merge and hash the same
    assert checkpoint_path("resnet56", "cifar10", merge_recipe(train_defaults("cifar10"), {"epochs": 3}), 1,
                           {}).name == "resnet56-096128c0f3.pt"


def test_the_multistep_run_is_the_same_with_the_new_options_spelled_out(monkeypatch):
    seen = _record_steps(monkeypatch)
    plain, explicit = _Linear(), _Linear()
    explicit.load_state_dict(plain.state_dict())
    options = dict(OPTIONS, epochs=2, milestones=[1])
    history = train(plain, synthetic("train"), None, device="cpu", **options)
    train(explicit, synthetic("train"), None, device="cpu", schedule="multistep", nesterov=False, **options)
    for a, b in zip(plain.state_dict().values(), explicit.state_dict().values()):
        assert torch.equal(a, b)
    assert list(history.lr) == pytest.approx([0.05, 0.005])  # MultiStepLR, per epoch, as before
    assert {row["nesterov"] for row in seen} == {False}
    assert [row["lr"] for row in seen] == pytest.approx(2 * ([0.05] * 3 + [0.005] * 3))  # constant per epoch


def test_onecycle_steps_per_batch_like_onecycle_lr_with_nesterov(monkeypatch):
    seen = _record_steps(monkeypatch)
    history = train(_Linear(), synthetic("train", n=96), None, device="cpu", **ONECYCLE)
    seen = list(seen)  # the training run's steps only, not the reference's below
    steps = 3 * 3  # 3 epochs of ceil(96 / 32) batches
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.1, total_steps=steps, pct_start=0.25,
                                                   cycle_momentum=False)
    expected = []
    for _ in range(steps):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    assert [row["lr"] for row in seen] == pytest.approx(expected)
    assert max(row["lr"] for row in seen) == pytest.approx(0.1, rel=0.05)  # max_lr = lr, after the warm-up
    assert seen[0]["lr"] == pytest.approx(0.1 / 25) and seen[-1]["lr"] < 1e-3
    assert {row["nesterov"] for row in seen} == {True} and {row["momentum"] for row in seen} == {0.9}
    assert list(history.lr) == pytest.approx(expected[::3])  # each epoch's first batch


def test_interrupted_onecycle_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    reference = _Linear()
    start = {key: value.clone() for key, value in reference.state_dict().items()}
    train(reference, synthetic("train"), synthetic("test"), device="cpu", checkpoint=tmp_path / "ref.pt", **ONECYCLE)

    interrupted, path = _Linear(), tmp_path / "run.pt"
    interrupted.load_state_dict(start)
    calls = {"n": 0}
    real_evaluate = train_module.evaluate

    def failing_evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed in epoch 2, mid-cycle, after epoch 1's checkpoint
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", failing_evaluate)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, synthetic("train"), synthetic("test"), device="cpu", checkpoint=path, **ONECYCLE)
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 1 and state["scheduler"]["last_epoch"] == 3  # the per-batch schedule's position
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)

    resumed = _Linear()  # other initial weights: everything must come from the checkpoint
    history = train(resumed, synthetic("train"), synthetic("test"), device="cpu", checkpoint=path, **ONECYCLE)
    assert list(history.epoch) == [1, 2, 3]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_fashion_mnist_trains_one_cycle_by_default_and_keeps_the_step_recipe_by_name():
    from dynamic_graphs.training import FASHION_MNIST_ONECYCLE, checkpoint_path, merge_recipe, train_defaults

    default = merge_recipe(train_defaults("fashion-mnist"), {})
    assert (default["schedule"], default["nesterov"], default["momentum"], default["lr"]) == ("onecycle", True, 0.9, 0.1)
    assert (default["weight_decay"], default["batch_size"], default["epochs"], default["milestones"]) == \
        (5e-4, 128, 6, [])
    assert train_defaults("fashion-mnist", recipe="onecycle") == default  # the former option is the default
    assert merge_recipe(train_defaults("fashion-mnist"), FASHION_MNIST_ONECYCLE) == default
    step = train_defaults("fashion-mnist", recipe="step")
    assert "schedule" not in step and "nesterov" not in step  # implicit: hashed as before the options existed
    assert (step["lr"], step["epochs"], step["milestones"]) == (0.05, 4, [2, 3])
    assert [step[key] for key in ("crop_padding", "flip", "rotation")] == \
        [default[key] for key in ("crop_padding", "flip", "rotation")]  # the same augmentation
    # The cache keys of the step recipe are the ones its checkpoints were written under.
    assert checkpoint_path("resnet20", "fashion-mnist", step, 0).name == "resnet20-041c5e5963.pt"
    assert checkpoint_path("resnet20", "fashion-mnist", default, 0).name == "resnet20-bedaa5de6a.pt"
    with pytest.raises(KeyError, match="onecycle"):  # UnknownNameError, suggesting the close name
        train_defaults("fashion-mnist", recipe="one-cycle")


def test_a_named_recipe_reaches_training_and_explicit_options_override_it(monkeypatch):
    from dynamic_graphs.training import explicit_recipe, merge_recipe, train_defaults, with_recipe

    overrides = with_recipe("fashion-mnist", "step", {"epochs": 1, "lr": None})
    assert merge_recipe(train_defaults("fashion-mnist"), overrides) == dict(train_defaults("fashion-mnist", "step"),
                                                                       epochs=1)
    # A merged step recipe passed back as overrides stays a step recipe on a one-cycle dataset.
    step = train_defaults("fashion-mnist", recipe="step")
    assert merge_recipe(train_defaults("fashion-mnist"), explicit_recipe(step)) == step
    with pytest.raises(KeyError, match="training recipe for fashion-mnist"):
        with_recipe("fashion-mnist", "cosine", {})


def test_adamw_steps_per_batch_on_the_one_cycle_schedule(monkeypatch):
    seen = _record_steps(monkeypatch, torch.optim.AdamW, ("lr", "weight_decay"))
    sgd_steps = _record_steps(monkeypatch)
    options = dict(ONECYCLE, optimizer="adamw", nesterov=False, lr=1e-3, weight_decay=0.05)
    train(_Linear(), synthetic("train", n=96), None, device="cpu", **options)
    assert sgd_steps == [] and len(seen) == 3 * 3
    assert {row["weight_decay"] for row in seen} == {0.05}
    assert max(row["lr"] for row in seen) == pytest.approx(1e-3, rel=0.05)
    assert seen[0]["lr"] == pytest.approx(1e-3 / 25) and seen[-1]["lr"] < 1e-4


def test_vision_transformers_train_with_the_transformer_recipe_unless_told_otherwise():
    from dynamic_graphs.training import TRANSFORMER, merge_recipe, model_recipe, train_defaults, with_recipe

    for dataset in ("fashion-mnist", "cifar10", "synthetic"):  # synthetic: CIFAR-10's recipes
        assert model_recipe("vit_tiny", dataset) == "transformer"
        assert model_recipe("imagenet_vit_b_16", dataset) == "transformer"
        assert model_recipe("resnet20", dataset) is None
    assert model_recipe("vit_tiny", "fashion-mnist", "step") == "step"  # an explicit recipe wins
    vit = merge_recipe(train_defaults("fashion-mnist"), with_recipe("fashion-mnist", "transformer", {}))
    assert (vit["optimizer"], vit["lr"], vit["weight_decay"], vit["schedule"]) == ("adamw", 1e-3, 0.05, "onecycle")
    assert "nesterov" not in vit and vit["epochs"] == train_defaults("fashion-mnist")["epochs"]
    assert "optimizer" not in train_defaults("fashion-mnist")  # SGD is implicit: the CNN cache keys stay
    assert TRANSFORMER["optimizer"] == "adamw"


def test_pretrained_trains_a_vit_with_adamw(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    monkeypatch.setattr(settings, "verbosity", 0)
    steps = _record_steps(monkeypatch, torch.optim.AdamW, ("lr",))
    tiny = dict(image_size=8, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=8)
    model = pretrained("vit_tiny", "synthetic", model_kwargs=tiny, device="cpu", epochs=1)
    assert model.checkpoint["hparams"]["optimizer"] == "adamw" and len(steps) > 0


def test_fine_tuning_keeps_its_step_schedule_under_the_one_cycle_default():
    from dynamic_graphs.pruning.recovery import FINETUNE_DEFAULTS
    from dynamic_graphs.training import merge_recipe

    finetune = merge_recipe(FINETUNE_DEFAULTS["fashion-mnist"], {})
    assert finetune == {"epochs": 2, "batch_size": 128, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
                        "milestones": [1], "gamma": 0.1, "crop_padding": 2, "flip": True, "rotation": 0.0,
                        "train_size": None, "test_size": None}


def test_bf16_training_autocasts_the_forward_pass_and_keeps_float32_weights(monkeypatch):
    from dynamic_graphs.training import checkpoint_path, merge_recipe, recipe_name, train_defaults

    monkeypatch.setattr(train_module, "bfloat16_kernels", lambda device: True)  # autocast semantics, not speed
    seen = []
    fp32, bf16 = _Linear(), _Linear()
    bf16.load_state_dict(fp32.state_dict())
    hook = bf16.register_forward_hook(lambda module, args, output: seen.append((module.training, output.dtype)))
    history = train(bf16, synthetic("train", n=96), synthetic("test", n=32), device="cpu", precision="bf16",
                    **dict(OPTIONS, epochs=1))
    hook.remove()
    train(fp32, synthetic("train", n=96), synthetic("test", n=32), device="cpu", **dict(OPTIONS, epochs=1))
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    assert {dtype for training, dtype in seen if not training} == {torch.float32}  # evaluation stays fp32
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    moved = [not torch.equal(a, b) for a, b in zip(bf16.state_dict().values(), fp32.state_dict().values())]
    assert any(moved) and np.isfinite(history.train_loss.iloc[0])  # another run, rounded differently
    merged = merge_recipe(train_defaults("fashion-mnist"), {"precision": "bf16"})
    assert merged["precision"] == "bf16" and "precision" not in merge_recipe(train_defaults("fashion-mnist"),
                                                                         {"precision": "fp32"})
    assert checkpoint_path("resnet20", "fashion-mnist", merged, 0, {}) != \
        checkpoint_path("resnet20", "fashion-mnist", train_defaults("fashion-mnist"), 0, {})
    assert recipe_name("fashion-mnist", merged) == "onecycle+bf16"
    assert recipe_name("fashion-mnist", train_defaults("fashion-mnist")) == "onecycle"


def test_bf16_on_a_device_without_bfloat16_kernels_warns_that_it_is_slow(monkeypatch):
    def run(precision):
        train(_Linear(), synthetic("train", n=32), None, device="cpu", precision=precision, **dict(OPTIONS, epochs=1))

    monkeypatch.setattr(train_module, "bfloat16_kernels", lambda device: False)
    with pytest.warns(RuntimeWarning, match=r"precision='bf16' on cpu: this device has no bfloat16 kernels.*"
                                            r"precision='fp32'"):
        run("bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run("fp32")  # float32 never warns
        monkeypatch.setattr(train_module, "bfloat16_kernels", lambda device: True)
        run("bf16")  # nor does bfloat16 where it has kernels


def test_bfloat16_kernels_follow_torchs_cpu_support_and_reports_name_the_cpu(monkeypatch):
    from dynamic_graphs.reports import run_info
    from dynamic_graphs.utils import bfloat16_kernels, cpu_description

    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert bfloat16_kernels(torch.device("cpu")) is native
    capability = torch.backends.cpu.get_cpu_capability()
    assert cpu_description() == (capability if native else f"{capability}, bfloat16 emulated")
    assert run_info(device="cpu").loc[("provenance", "CPU"), "value"] == cpu_description()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert cpu_description().endswith(", bfloat16 emulated")
    # a GPU counts only where bfloat16 runs natively, not where CUDA emulates it (pre-Ampere)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert bfloat16_kernels(torch.device("cuda")) is False


@pytest.mark.parametrize("options, error, match", [
    ({"precision": "fp16"}, KeyError, "training precision"),
    ({"schedule": "cosine"}, KeyError, "learning-rate schedule"),
    ({"schedule": 1}, TypeError, "schedule name must be a string"),
    ({"nesterov": "yes"}, TypeError, "nesterov must be True or False"),
    ({"nesterov": True, "momentum": 0.0}, ValueError, "nesterov=True needs momentum > 0"),
    ({"optimizer": "adam"}, KeyError, "optimizer"),
    ({"optimizer": "adamw", "nesterov": True}, ValueError, "nesterov=True applies to optimizer='sgd' only"),
    ({"schedule": "onecycle", "milestones": [], "pct_start": 1.5}, ValueError, r"pct_start.*\(0, 1\)"),
    ({"pct_start": 0.2}, ValueError, "applies to schedule='onecycle' only"),
    ({"schedule": "onecycle"}, ValueError, "milestones=.*milestones=\\[\\] with schedule=.onecycle."),
])
def test_bad_schedule_options_are_refused_before_training(options, error, match):
    with pytest.raises(error, match=match):
        train(_Linear(), synthetic("train", n=8), None, device="cpu", **options)


def test_class_subset_keeps_the_plain_draw_and_balances_per_class():
    from dynamic_graphs.training import class_subset, subset_indices

    labels = np.repeat([0, 1, 2, 3], [50, 30, 20, 10])
    assert np.array_equal(class_subset(labels, 40, 3), subset_indices(len(labels), 40, 3))  # unchanged default
    balanced = class_subset(labels, 22, 3, per_class=True)
    assert np.bincount(labels[balanced]).tolist() == [6, 6, 5, 5] and len(set(balanced)) == 22
    two = class_subset(labels, None, 3, classes=[3, 1])
    assert set(labels[two]) == {1, 3} and len(two) == 40  # every image of the two classes
    assert np.array_equal(class_subset(labels, 22, 3, per_class=True), balanced)  # seeded
    assert not np.array_equal(class_subset(labels, 22, 4, per_class=True), balanced)
    with pytest.raises(ValueError, match="needs 15 of class 3, which has 10"):
        class_subset(labels, 60, 0, per_class=True)


def test_training_on_two_classes_sees_and_scores_only_them(monkeypatch):
    seen = []
    original = train_module.iter_batches

    def recording(dataset, indices, batch_size):
        seen.append(np.asarray(indices))
        return original(dataset, indices, batch_size)

    monkeypatch.setattr(train_module, "iter_batches", recording)
    data = synthetic("train")
    history = train(tiny_resnet(), data, synthetic("test"), device="cpu", classes=[2, 0], subset="per-class",
                    train_size=20, **{**OPTIONS, "epochs": 1})
    labels = np.asarray(data.targets)
    assert np.bincount(labels[seen[0]], minlength=4).tolist() == [10, 0, 10, 0]
    assert 0 <= history["test_acc"].iloc[0] <= 1
    with pytest.raises(ValueError, match="at least two distinct class indices"):
        train(tiny_resnet(), data, None, device="cpu", classes=[1], **OPTIONS)
    with pytest.raises(KeyError, match="Unknown subset draw 'balanced'"):
        train(tiny_resnet(), data, None, device="cpu", subset="balanced", **OPTIONS)
