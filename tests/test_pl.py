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


# --------------------------------------------- any stacked frame: roles from its labels, named layers, legends outside


def resnet_layers(blocks: int) -> list[str]:
    """The probe layers of a CIFAR ResNet with ``blocks`` blocks per stage: 10 for resnet20, 55 for resnet110."""
    return ["conv1"] + [f"layer{stage}.{block}" for stage in (1, 2, 3) for block in range(blocks)]


def hand_curve(values, layers=None, repeats=2, **extra) -> pd.DataFrame:
    """A curve shaped like modularity_curve's, without a model: Q = values[layer] + 0.01 * repeat."""
    layers = layers or [f"l{depth}" for depth in range(1, len(values) + 1)]
    return pd.DataFrame([{"layer": layer, "depth": depth, "repeat": repeat, "modularity": value + 0.01 * repeat,
                          "edges": 10, "n": 20, "k": 3, **extra}
                         for repeat in range(repeats) for depth, (layer, value) in enumerate(zip(layers, values), 1)])


def drawn(ax) -> list:
    """The lines of ``ax`` that hold data (not the band's edges or empty legend proxies)."""
    return [line for line in ax.get_lines() if len(line.get_xdata())]


def data_overlap(figure) -> list[str]:
    """The legends of ``figure`` that overlap the data area of one of its visible axes, after a draw."""
    figure.canvas.draw()
    legends = [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None] + list(figure.legends)
    found = []
    for legend in legends:
        box = legend.get_window_extent()
        for ax in figure.axes:
            area = ax.get_window_extent()
            if ax.get_visible() and box.x0 < area.x1 - 1 and box.x1 > area.x0 + 1 and box.y0 < area.y1 - 1 \
                    and box.y1 > area.y0 + 1:
                found.append(f"{legend.get_texts()[0].get_text()!r} over {ax.get_title()!r}")
    return found


def test_grid_of_a_stack_curves_frame_draws_one_named_line_per_curve():
    values = {"a": [0.1, 0.3, 0.5], "b": [0.2, 0.2, 0.6], "c": [0.0, 0.4, 0.4]}
    frame = stack_curves({key: hand_curve(v, ["conv1", "layer1.0", "fc"]) for key, v in values.items()}, name="run")
    figure = plot_curve_grid(frame)
    [ax] = figure.axes
    lines = drawn(ax)
    assert [line.get_label() for line in lines] == ["run=a", "run=b", "run=c"]  # the only label that varies
    for line, expected in zip(lines, values.values()):
        assert np.allclose(line.get_ydata(), np.array(expected) + 0.005)  # each curve's own mean over its repeats
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "layer1.0", "fc"]
    assert list(ax.get_xticks()) == [1, 2, 3]
    assert ax.get_title() == "" and ax.get_ylabel() == "Q"
    [legend] = [a.get_legend() for a in figure.axes if a.get_legend()]
    assert [t.get_text() for t in legend.get_texts()] == ["run=a", "run=b", "run=c"]
    assert data_overlap(figure) == []


def test_grid_panels_name_each_models_own_layers_with_integer_thinned_ticks():
    deep, shallow = resnet_layers(18), resnet_layers(3)  # resnet110's 55 probe layers, resnet20's 10
    frame = stack_curves({(model, run): hand_curve(np.linspace(0.1, 0.6 + 0.1 * run, len(layers)), layers)
                          for model, layers in (("resnet20", shallow), ("resnet110", deep)) for run in (0, 1)},
                         name=["model", "run"])
    figure = plot_curve_grid(frame)
    shallow_ax, deep_ax = figure.axes
    assert [ax.get_title() for ax in figure.axes] == ["resnet20", "resnet110"]  # a panel per model, a line per run
    assert [len(drawn(ax)) for ax in figure.axes] == [2, 2]
    figure.canvas.draw()
    for ax, layers in ((shallow_ax, shallow), (deep_ax, deep)):
        ticks, names = list(ax.get_xticks()), [t.get_text() for t in ax.get_xticklabels()]
        assert all(float(tick).is_integer() for tick in [*ticks, *ax.get_xticks(minor=True)])
        assert names == [layers[int(tick) - 1] for tick in ticks]  # the names of this panel's own layers
        assert names[0] == "conv1" and names[-1] == layers[-1]
        assert all(label.get_rotation() == 90 for label in ax.get_xticklabels())
        every = sorted([*ticks, *ax.get_xticks(minor=True)])  # minor ticks where no name is
        assert every == list(range(1, len(layers) + 1))  # every layer keeps a tick
    assert len(shallow_ax.get_xticks()) == 10 and 12 <= len(deep_ax.get_xticks()) <= 16
    assert data_overlap(figure) == []


def test_curves_that_disagree_on_a_layers_name_get_integer_depths():
    frame = stack_curves({"base": hand_curve([0.1, 0.2, 0.3], ["a", "b", "c"]),
                          "pruned": hand_curve([0.1, 0.3], ["a", "c"])}, name="variant")
    ax = plot_curve(frame)
    ax.figure.canvas.draw()
    assert all(float(tick).is_integer() for tick in ax.get_xticks())
    assert all(t.get_text().lstrip("−").isdigit() for t in ax.get_xticklabels())  # depths, not one curve's names


def test_model_curves_grid_keeps_fig3s_layout_with_a_legend_beside_each_panel():
    shallow, deep = resnet_layers(3), resnet_layers(18)
    curves = {}
    for model, layers, accuracy in (("resnet20", shallow, 0.91), ("resnet110", deep, 0.93)):
        for trained in (True, False):
            for seed in (0, 1):
                values = np.linspace(0.05, (0.7 if trained else 0.2) + 0.05 * seed, len(layers))
                curves[("cifar10", model, trained, seed)] = hand_curve(
                    values, layers, test_acc=accuracy + 0.01 * seed if trained else np.nan)
    frame = stack_curves(curves, name=["dataset", "model", "trained", "train_seed"])
    figure = plot_curve_grid(frame, over="train_seed", col_wrap=2)
    assert [ax.get_title() for ax in figure.axes] == ["resnet20", "resnet110"]
    left = figure.axes[0]
    assert left.get_ylabel() == "Q (cifar10)"
    labels = left.get_legend_handles_labels()[1]
    assert labels == ["trained (91.5% ± 0.7%, 2 seeds)", "untrained"]
    assert len(drawn(left)) == 2 * 3  # per trained state: the mean over seeds and each seed's thin line
    colours = [[line.get_color() for line in ax.get_lines() if not line.get_label().startswith("_")]
               for ax in figure.axes]
    assert colours[0] == colours[1]  # trained and untrained keep their colours in every panel
    assert all(ax.get_legend() is not None for ax in figure.axes)  # accuracies differ between panels
    assert data_overlap(figure) == []
    with pytest.raises(ValueError, match=r"each line reads one curve.*\['train_seed'\].*over='train_seed'"):
        plot_curve_grid(frame)  # two seeds in one line: refused, never averaged


def test_grid_roles_default_to_the_labels_that_vary_and_refuse_what_they_cannot_separate():
    ablation = stack_curves({(sweep, value): hand_curve([0.1 * value, 0.2 * value], k=value)
                             for sweep in ("k", "n") for value in (1, 2, 3)}, name=["sweep", "value"])
    figure = plot_curve_grid(ablation)  # k varies with value only: it needs no role of its own
    assert [ax.get_title() for ax in figure.axes] == ["sweep=k", "sweep=n"]
    assert [line.get_label() for line in drawn(figure.axes[0])] == ["value=1", "value=2", "value=3"]
    four = stack_curves({key: hand_curve([0.1, 0.2]) for key in [(a, b, c, d) for a in "xy" for b in "xy"
                                                                 for c in "xy" for d in "xy"]},
                        name=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"plot_curve_grid: each line reads one curve.*\['a'\].*over='a'"):
        plot_curve_grid(four)  # three roles for four varying labels: the outermost is named
    figure = plot_curve_grid(four, over="a")
    assert len(figure.axes) == 4 and len(drawn(figure.axes[0])) == 2 * 3  # a pooled: mean and two thin lines
    with pytest.raises(ValueError, match=r"still differ in \['b', 'c'\]"):
        plot_curve_grid(four, row=None, col=None, hue="d", over="a")
    with pytest.raises(KeyError, match=r"hue='model' is not a column.*are \['a', 'b', 'c', 'd', 'n', 'k'\]"):
        plot_curve_grid(four, hue="model")
    with pytest.raises(KeyError, match="hue='depth' is a coordinate or measure column"):
        plot_curve_grid(four, hue="depth")
    with pytest.raises(ValueError, match="'a' is given two roles"):
        plot_curve_grid(four, col="a", hue="a")


def test_plot_curve_puts_its_legend_outside_the_data():
    frame = stack_curves({"a": hand_curve([0.1, 0.9, 0.1]), "b": hand_curve([0.9, 0.1, 0.9])}, name="run")
    ax = plot_curve(frame)
    assert ax.get_legend() is not None and data_overlap(ax.figure) == []
