"""Training dynamics: Q of chosen probe layers per epoch, from per-epoch checkpoints, and its plot.

Every test but the probe-index one trains a tiny network (marked slow)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in tests)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dynamic_graphs import curve_labels, settings, stack_curves, summarize_curve
from dynamic_graphs.training import load_checkpoint
from dynamic_graphs.figures.dynamics import probe_indices, training_dynamics
from dynamic_graphs.pl import plot_curve, plot_training_dynamics
from dynamic_graphs.training import epoch_checkpoint

TINY = dict(model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=2, batch_size=32, lr=0.05, milestones=[2],
            weight_decay=0.0)  # resnet20 with one block per stage: 4 probe layers


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "data_dir", tmp_path_factory.mktemp("data"))
        patch.setattr(settings, "verbosity", 0)
        with pytest.warns(UserWarning, match=r"Probe layers \[7\] are past resnet20's 4"):
            frame = training_dynamics("resnet20", "synthetic", probe=(1, 2, 4, 7), n=24, repeats=2, **TINY)
        yield frame


@pytest.mark.slow
def test_one_row_per_epoch_layer_and_repeat(run):
    assert len(run) == 2 * 3 * 2  # epochs × kept layers × repeats
    assert sorted(run.epoch.unique()) == [1, 2]
    assert sorted(run.depth.unique()) == [1, 2, 4]
    assert sorted(run.layer.unique()) == ["conv1", "layer1.0", "layer3.0"]
    assert not run.duplicated(["epoch", "layer", "repeat"]).any()
    assert run.modularity.between(-1, 1).all()


@pytest.mark.slow
def test_accuracy_is_each_epoch_checkpoint_s(run):
    path = run.attrs["params"]["checkpoint"]
    for epoch, group in run.groupby("epoch"):
        expected = load_checkpoint(epoch_checkpoint(path, epoch)).checkpoint["test_acc"]
        assert (group.test_acc == expected).all()


@pytest.mark.slow
def test_weights_change_between_epochs_so_does_q(run):
    deepest = run[run.depth == 4].groupby("epoch").modularity.mean()
    assert deepest.nunique() > 1


@pytest.mark.slow
def test_epochs_are_stacked_curves_that_readers_keep_apart(run):
    assert run.attrs["labels"][0] == "epoch" and curve_labels(run)[0] == "epoch"
    summary = summarize_curve(run)  # one row per (epoch, layer), not an average over epochs
    assert len(summary) == 2 * 3
    expected = run.groupby(["epoch", "layer"]).modularity.mean()
    assert np.allclose(summary.set_index(["epoch", "layer"])["mean"].sort_index(), expected.sort_index())
    ax = plot_curve(run)
    assert [line.get_label() for line in ax.get_lines()] == ["epoch=1", "epoch=2"]
    plt.close("all")


@pytest.mark.slow
def test_plot_has_a_line_per_layer_and_the_accuracy(run):
    ax = plot_training_dynamics(run)
    assert [line.get_label() for line in ax.get_lines()] == ["L1", "L2", "L4", "Acc"]
    assert ax.get_ylabel() == "Q / accuracy" and ax.get_xlabel() == "epoch"
    deepest = ax.get_lines()[2]
    assert np.allclose(deepest.get_ydata(), run[run.depth == 4].groupby("epoch").modularity.mean())
    plt.close("all")


@pytest.mark.slow
def test_plot_refuses_several_runs_in_one_frame(run):
    shifted = run.assign(modularity=run.modularity / 2)
    with pytest.raises(ValueError, match=r"plot_training_dynamics: each epoch reads one curve.*'seed'"):
        plot_training_dynamics(stack_curves({0: run, 1: shifted}, name="seed"))
    with pytest.raises(ValueError, match="stack_curves"):  # concatenated: nothing tells the runs apart
        plot_training_dynamics(pd.concat([run, shifted], ignore_index=True))
    with pytest.raises(KeyError, match=r"lacks the column\(s\) \['test_acc'\]"):
        plot_training_dynamics(run.drop(columns="test_acc"))
    plt.close("all")


def test_bad_probe_indices_fail_before_any_training():
    with pytest.raises(ValueError, match=r"probe\[0\] must be an integer >= 1"):
        probe_indices([0, 1], 4)
    with pytest.raises(TypeError, match="must be an integer"):
        probe_indices([1, "2"], 4)
    with pytest.raises(ValueError, match="more than once"):
        probe_indices([1, 1], 4)
    assert probe_indices(3, 4) == [3]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="None of the probe layers"):
        training_dynamics("resnet20", "synthetic", probe=[8, 9], **TINY)


@pytest.mark.slow
def test_missing_epoch_files_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    monkeypatch.setattr(settings, "verbosity", 0)
    options = {**TINY, "epochs": 1}
    frame = training_dynamics("resnet20", "synthetic", probe=[1], n=20, **options)
    epoch_checkpoint(frame.attrs["params"]["checkpoint"], 1).unlink()
    with pytest.raises(FileNotFoundError, match=r"epochs \[1\].*keep_epochs=True.*Delete"):
        training_dynamics("resnet20", "synthetic", probe=[1], n=20, **options)
