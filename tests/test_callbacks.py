"""The curve during training: the plain hook (any loop, and dg.training.train) and the Lightning callback."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_resnet, tiny_synthetic
from torch import nn

import dynamic_graphs as dg
from dynamic_graphs.training import CurveRecorder, curve_scalars, train

PROBE = dict(n=40, repeats=2, k=3, seed=3, device="cpu")  # a fixed, seeded probe set
LR, BATCH = 0.05, 32


class Scalars:
    """A stand-in for TensorBoard's SummaryWriter that keeps what it is given."""

    def __init__(self):
        self.added = []

    def add_scalar(self, tag, value, step):
        self.added.append((tag, value, step))


def test_the_recorder_measures_every_nth_epoch_and_stacks_the_curves():
    model, data = tiny_resnet(), tiny_synthetic("test")
    writer = Scalars()
    recorder = CurveRecorder(data, every=2, writer=writer, **PROBE)
    measured = [recorder(model, epoch, test_acc=0.5) for epoch in (1, 2, 3, 4)]
    assert [curve is None for curve in measured] == [True, False, True, False]
    frame = recorder.frame
    assert sorted(frame["epoch"].unique()) == [2, 4] and dg.curve_labels(frame)[0] == "epoch"
    layers = dg.probe_layers(model)
    assert len(frame) == 2 * len(layers) * PROBE["repeats"] and (frame["test_acc"] == 0.5).all()
    # the same model and the same seeded images give the same curve at both epochs
    first, second = (frame[frame["epoch"] == e].drop(columns="epoch").reset_index(drop=True) for e in (2, 4))
    pd.testing.assert_frame_equal(first, second)
    # one scalar per layer and measured epoch: the mean over repeats
    assert [(tag, step) for tag, _, step in writer.added] == [(f"modularity/{layer}", epoch) for epoch in (2, 4)
                                                              for layer in layers]
    expected = frame[frame["epoch"] == 2].groupby("layer")["modularity"].mean()
    assert dict((tag, value) for tag, value, step in writer.added if step == 2) == {
        f"modularity/{layer}": pytest.approx(expected[layer]) for layer in layers}
    assert set(recorder.seconds) == {2, 4}


def test_measuring_leaves_the_model_and_the_random_streams_as_they_were():
    model = tiny_resnet().train()
    torch.manual_seed(11)
    state = torch.get_rng_state()
    CurveRecorder(tiny_synthetic("test"), **PROBE)(model, 1)
    assert model.training and torch.equal(torch.get_rng_state(), state)


def test_an_empty_recorder_and_a_bad_epoch_are_refused():
    recorder = CurveRecorder(tiny_synthetic("test"), **PROBE)
    with pytest.raises(ValueError, match="No curve recorded yet"):
        recorder.frame
    with pytest.raises(ValueError, match="epoch"):
        recorder(tiny_resnet(), 0)
    with pytest.raises(TypeError, match="curve setting"):
        CurveRecorder(tiny_synthetic("test"), repeat=2)  # a misspelt option names the close field


@pytest.mark.slow
def test_train_calls_the_hook_after_each_epoch_without_changing_the_weights():
    options = dict(epochs=2, batch_size=BATCH, lr=LR, milestones=[2], weight_decay=0.0)
    plain, hooked = tiny_resnet(), tiny_resnet()
    train(plain, tiny_synthetic("train"), None, device="cpu", **options)
    recorder = CurveRecorder(tiny_synthetic("test"), **PROBE)
    train(hooked, tiny_synthetic("train"), None, device="cpu", callbacks=[recorder], **options)
    assert sorted(recorder.curves) == [1, 2]
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, hooked.state_dict()[name]), name
    # the last epoch's curve is the trained model's
    again = dg.modularity_curve(hooked, tiny_synthetic("test"), **PROBE)
    np.testing.assert_array_equal(recorder.curves[2]["modularity"], again["modularity"])


def _batches():
    data = tiny_synthetic("train")
    return torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=False)


def _hand_written_loop(model: nn.Module, recorder: CurveRecorder, epochs: int) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for epoch in range(1, epochs + 1):
        model.train()
        for images, labels in _batches():
            loss = nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        recorder(model, epoch)


@pytest.mark.slow
def test_lightning_callback_logs_per_layer_scalars_and_matches_the_plain_hook(tmp_path):
    lightning = pytest.importorskip("lightning.pytorch")
    pytest.importorskip("tensorboard")
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    class Classifier(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = tiny_resnet()

        def training_step(self, batch, _index):
            images, labels = batch
            return nn.functional.cross_entropy(self.model(images), labels)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=LR)

    callback = dg.training.ModularityCallback(tiny_synthetic("test"), **PROBE)
    trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", logger=TensorBoardLogger(tmp_path, name="run"),
                                callbacks=[callback], enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, log_every_n_steps=1)
    module = Classifier()
    trainer.fit(module, train_dataloaders=_batches())
    frame = callback.frame
    layers = dg.probe_layers(module.model)  # the child network that declares them is probed
    assert sorted(frame["epoch"].unique()) == [1, 2] and list(frame.loc[frame["epoch"] == 1, "layer"].unique()) == layers
    assert not np.array_equal(*(frame.loc[frame["epoch"] == e, "modularity"] for e in (1, 2)))  # it trained
    events = EventAccumulator(str(next(tmp_path.rglob("events.out.tfevents.*")).parent))
    events.Reload()
    for layer in layers:
        logged = events.Scalars(f"modularity/{layer}")
        assert [event.step for event in logged] == [1, 2]
        expected = curve_scalars(frame[frame["epoch"] == 2])[f"modularity/{layer}"]
        assert logged[-1].value == pytest.approx(expected, rel=1e-6)
    # the same training by hand, with the plain hook, gives the same frame
    recorder = CurveRecorder(tiny_synthetic("test"), **PROBE)
    _hand_written_loop(tiny_resnet(), recorder, epochs=2)
    pd.testing.assert_frame_equal(frame, recorder.frame)


@pytest.mark.slow
def test_lightning_callback_refuses_a_module_whose_layers_it_cannot_tell():
    lightning = pytest.importorskip("lightning.pytorch")

    class Two(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.first, self.second = tiny_resnet(), tiny_resnet()

    callback = dg.training.ModularityCallback(tiny_synthetic("test"), **PROBE)
    with pytest.raises(ValueError, match="2 of its child modules declare probe layers"):
        callback.on_fit_start(None, Two())
    with pytest.raises(AttributeError, match="no module attribute 'net'"):
        dg.training.ModularityCallback(tiny_synthetic("test"), attribute="net", **PROBE).on_fit_start(None, Two())
