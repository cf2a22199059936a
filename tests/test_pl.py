"""The curve plots keep stacked curves apart (one line per curve) or refuse; the shared axes helpers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in tests)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dynamic_graphs import get_dataset, modularity_curve, stack_curves, summarize_curve
from dynamic_graphs.pl import plot_curve, plot_curve_grid, plot_training_dynamics, plot_variant_curves
from dynamic_graphs.pl._axes import new_axes, require_columns


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def curves():
    """Two genuinely different curves of one tiny network: 2 layers × 2 repeats on synthetic images."""
    data = get_dataset("synthetic", "test", n=80, num_classes=2, shape=(1, 4, 4), separation=1.0, seed=0)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8))
    return {seed: modularity_curve(net, data, layers=["1", "3"], n=20, repeats=2, seed=seed, device="cpu")
            for seed in (0, 1)}


def means(curve: pd.DataFrame) -> list[float]:
    return curve.groupby("depth")["modularity"].mean().tolist()


def test_one_curve_is_one_unlabelled_line_of_its_means(curves):
    ax = plot_curve(curves[0])
    [line] = ax.get_lines()
    assert np.allclose(line.get_ydata(), means(curves[0]))
    assert ax.get_legend() is None and ax.get_xlabel() == "layer" and ax.get_ylabel() == "Q"


def test_stacked_curves_are_drawn_one_line_each_with_their_own_means(curves):
    assert means(curves[0]) != means(curves[1])  # otherwise the test could not tell lines from an average
    stacked = stack_curves({"a": curves[0], "b": curves[1]}, name="run")
    ax = plot_curve(stacked)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["run=a", "run=b"]  # only the label that differs
    assert np.allclose(lines[0].get_ydata(), means(curves[0]))
    assert np.allclose(lines[1].get_ydata(), means(curves[1]))
    ax = plot_curve(stacked, label="net")
    assert [line.get_label() for line in ax.get_lines()][-2:] == ["net: run=a", "net: run=b"]


def test_curves_concatenated_without_a_label_column_are_refused(curves):
    mixed = pd.concat([curves[0], curves[1]], ignore_index=True)
    with pytest.raises(ValueError, match=r"plot_curve: .*share their layer and repeat.*stack_curves"):
        plot_curve(mixed)
    with pytest.raises(ValueError, match="stack_curves"):  # the same frames error as the summaries'
        summarize_curve(mixed)


def grid_frame(curves, **extra):
    frames = {(model, trained): curves[seed].assign(test_acc=0.9 if trained else np.nan, **extra)
              for seed, (model, trained) in enumerate([("m1", True), ("m1", False)])}
    return stack_curves(frames, name=["model", "trained"]).assign(dataset="synthetic")


def test_curve_grid_draws_a_line_per_hue_and_refuses_a_line_of_several_curves(curves):
    frame = grid_frame(curves)
    figure = plot_curve_grid(frame)
    [ax] = figure.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["trained (90.0% test acc.)", "untrained"]
    assert np.allclose(ax.get_lines()[1].get_ydata(), means(curves[1]))
    two_seeds = stack_curves({0: grid_frame(curves), 1: grid_frame(curves)}, name="seed")
    with pytest.raises(ValueError, match=r"plot_curve_grid: each line reads one curve.*'seed'"):
        plot_curve_grid(two_seeds)
    plot_curve_grid(two_seeds, row="seed")  # the seeds as rows: one curve per line again
    with pytest.raises(KeyError, match="'variant'"):
        plot_curve_grid(frame, hue="variant")


def test_curve_grid_wraps_the_models_of_one_dataset_into_rows(curves):
    frame = stack_curves({f"m{i}": curves[i % 2].assign(trained=True) for i in range(5)}, name="model")
    figure = plot_curve_grid(frame.assign(dataset="synthetic"), col_wrap=3)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["m0", "m1", "m2", "m3", "m4"]
    assert len(figure.axes) == 6 and figure.axes[0].get_gridspec().get_geometry() == (2, 3)
    assert np.allclose(visible[4].get_lines()[0].get_ydata(), means(curves[0]))  # m4 drew its own curve
    assert [visible[i].get_ylabel() for i in (0, 3)] == ["Q (synthetic)"] * 2  # each figure row's first panel
    with pytest.raises(ValueError, match="col_wrap wraps the panels of one 'dataset' value.*2"):
        plot_curve_grid(pd.concat([frame.assign(dataset="a"), frame.assign(dataset="b")]), col_wrap=3)
    with pytest.raises(ValueError, match="col_wrap must be a positive integer"):
        plot_curve_grid(frame.assign(dataset="synthetic"), col_wrap=0)


def test_variant_curves_draw_a_line_per_variant_and_refuse_mixed_ones(curves):
    frame = stack_curves({"base": curves[0].assign(top1=91.0), "pruned": curves[1].assign(top1=90.5)},
                         name="variant")
    ax = plot_variant_curves(frame, title="t")
    assert [line.get_label() for line in ax.get_lines()] == ["base (91.00 %)", "pruned (90.50 %)"]
    assert np.allclose(ax.get_lines()[1].get_ydata(), means(curves[1]))
    twice = stack_curves({"x": frame, "y": frame}, name="model")
    with pytest.raises(ValueError, match=r"plot_variant_curves: each line reads one curve.*'model'"):
        plot_variant_curves(twice)


def test_new_axes_and_required_columns():
    figure, ax = new_axes(None, (2, 1))
    assert tuple(figure.get_size_inches()) == (2, 1) and ax.figure is figure
    assert new_axes(ax, (9, 9)) == (figure, ax)
    require_columns(pd.DataFrame({"a": [1]}), ["a"], source="f()")
    with pytest.raises(KeyError, match=r"plot_x: the frame lacks the column\(s\) \['b'\]; pass the frame from f\(\)"):
        require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], source="f()", caller="plot_x")
    with pytest.raises(TypeError, match="DataFrame"):
        require_columns([1], ["a"], source="f()")


def test_training_dynamics_plot_draws_a_line_per_layer_and_refuses_several_runs(curves):
    run = stack_curves({1: curves[0].assign(test_acc=0.5), 2: curves[1].assign(test_acc=0.75)}, name="epoch")
    ax = plot_training_dynamics(run)
    assert [line.get_label() for line in ax.get_lines()] == ["L1", "L2", "Acc"]
    assert np.allclose(ax.get_lines()[0].get_ydata(), [means(curves[0])[0], means(curves[1])[0]])
    assert list(ax.get_lines()[2].get_ydata()) == [0.5, 0.75]
    with pytest.raises(ValueError, match=r"plot_training_dynamics: each epoch reads one curve.*'seed'"):
        plot_training_dynamics(stack_curves({0: run, 1: run}, name="seed"))
