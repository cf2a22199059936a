"""The data axis: equal-step recipes, the plateau share of a curve, its summary across seeds, and a tiny grid."""
from __future__ import annotations

import math

import pandas as pd
import pytest

import dynamic_graphs as dg
from dynamic_graphs.cli import main as cli_main
from dynamic_graphs.figures import equal_step_epochs, plateau_share, plateau_summary, rise_depth


def hand_curve(q_by_repeat: list[list[float]]) -> pd.DataFrame:
    """A curve from Q per repeat (rows) and layer (columns)."""
    return pd.DataFrame([{"repeat": r, "depth": d + 1, "layer": f"l{d + 1}", "modularity": q}
                         for r, row in enumerate(q_by_repeat) for d, q in enumerate(row)])


def test_equal_steps_give_every_subset_the_recipes_updates():
    recipe = dg.training.train_defaults("fashion-mnist")
    full_steps = recipe["epochs"] * math.ceil(60_000 / recipe["batch_size"])
    for size in (600, 6000, 60_000):
        epochs = equal_step_epochs(size)
        assert abs(epochs * math.ceil(size / recipe["batch_size"]) - full_steps) <= math.ceil(size / 128) / 2
    assert equal_step_epochs(None, classes=[0, 6]) == equal_step_epochs(12_000)  # two classes: 12,000 images
    assert equal_step_epochs(600, steps=3) == 1  # at least one epoch


def test_plateau_share_counts_gains_whose_interval_reaches_zero():
    rising = hand_curve([[0.5, 0.6, 0.7, 0.8], [0.52, 0.61, 0.72, 0.81], [0.49, 0.6, 0.69, 0.8]])
    assert plateau_share(rising) == {"plateau_share": 0.0, "longest_run": 0, "dips": 0, "gains": 3}
    # layers 3 and 4 add nothing measurable (one flat, one dip): a run of two
    flat_then_dip = hand_curve([[0.5, 0.6, 0.6, 0.55], [0.52, 0.62, 0.63, 0.57], [0.49, 0.6, 0.59, 0.53]])
    share = plateau_share(flat_then_dip)
    assert share == {"plateau_share": pytest.approx(2 / 3), "longest_run": 2, "dips": 1, "gains": 3}
    one_repeat = plateau_share(hand_curve([[0.5, 0.6, 0.6]]))
    assert math.isnan(one_repeat["plateau_share"]) and one_repeat["gains"] == 2  # no interval: not measurable


def test_rise_depth_is_where_the_curve_has_made_most_of_its_rise_whatever_the_gains_size():
    # mean Q 0.5, 0.7, 0.78, 0.8, 0.8: 0.9 of the rise (0.5 + 0.27 = 0.77) first reached at the third of five layers
    plateau = hand_curve([[0.5, 0.7, 0.78, 0.8, 0.8], [0.5, 0.7, 0.78, 0.8, 0.8]])
    assert rise_depth(plateau) == pytest.approx(2 / 4)
    rising = hand_curve([[0.5, 0.55, 0.6, 0.65, 0.7]])
    assert rise_depth(rising) == 1.0  # still rising at its last layer
    # every gain halved: the same rise depth, where plateau_share would resolve fewer gains
    halved = plateau.assign(modularity=0.5 + (plateau["modularity"] - 0.5) / 2)
    assert rise_depth(halved) == rise_depth(plateau)
    # a dip over the last layers: the rise is to the highest layer, made by the second of four
    dip = hand_curve([[0.5, 0.8, 0.7, 0.6]])
    assert rise_depth(dip) == pytest.approx(1 / 3)
    # the mean over repeats decides, not any one repeat
    assert rise_depth(hand_curve([[0.5, 0.9, 0.9], [0.5, 0.5, 0.9]])) == pytest.approx(2 / 2)
    assert math.isnan(rise_depth(hand_curve([[0.5, 0.4, 0.3]])))  # never above its first layer: no rise
    assert rise_depth(plateau, reached=0.5) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="reached must be a share"):
        rise_depth(plateau, reached=90)


def test_plateau_summary_pools_the_seeds_of_a_cell():
    rising = hand_curve([[0.5, 0.6, 0.7], [0.52, 0.61, 0.72]])
    flat = hand_curve([[0.5, 0.6, 0.6], [0.52, 0.61, 0.62]])
    curves = dg.stack_curves({("m", 600, "all", 0): flat.assign(test_acc=0.8), ("m", 600, "all", 1): rising.assign(test_acc=0.9),
                              ("m", 60000, "all", 0): rising.assign(test_acc=0.93),
                              ("m", 60000, "all", 1): rising.assign(test_acc=0.95)},
                             name=["model", "train_size", "classes", "train_seed"])
    summary = plateau_summary(curves).set_index("train_size")
    assert summary.loc[600, "plateau_share"] == pytest.approx(0.25) and summary.loc[600, "seeds"] == 2
    assert summary.loc[600, "share_low"] < 0.25 < summary.loc[600, "share_high"]
    assert summary.loc[60000, "plateau_share"] == 0 and summary.loc[60000, "test_acc"] == pytest.approx(0.94)
    assert summary.loc[600, "rise_depth"] == pytest.approx((0.5 + 1.0) / 2)  # flat: 0.6 by layer 2 of 3; rising: 3
    assert summary.loc[600, "rise_low"] < 0.75 < summary.loc[600, "rise_high"]
    assert summary.loc[60000, "rise_depth"] == 1.0
    figure = dg.pl.plot_plateau_shares(summary.reset_index())
    assert figure.axes[0].get_legend_handles_labels()[1] == ["m"]
    assert sorted(text.get_text() for text in figure.axes[0].texts) == ["85 %", "94 %"]  # each cell's accuracy
    depth = dg.pl.plot_plateau_shares(summary.reset_index(), value="rise_depth", accuracy=False)
    assert depth.axes[0].get_ylabel() == "relative depth of 90 % of the rise" and not depth.axes[0].texts
    assert sorted(depth.axes[0].lines[0].get_ydata()) == pytest.approx([0.75, 1.0])
    with pytest.raises(KeyError, match="Did you mean 'rise_depth'"):
        dg.pl.plot_plateau_shares(summary.reset_index(), value="rise_dept")


def test_the_legend_names_every_model_when_a_class_set_holds_fewer():
    summary = pd.DataFrame({"model": ["a", "b", "a", "b", "a"], "train_size": [600, 600, 6000, 6000, 12000],
                            "classes": ["all"] * 4 + ["0,6"], "plateau_share": [0.5, 0.4, 0.2, 0.3, 0.6],
                            "share_low": math.nan, "share_high": math.nan, "test_acc": 0.9})
    figure = dg.pl.plot_plateau_shares(summary)
    legend = figure.axes[-1].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["a", "b"]
    colours = [[bars.lines[0].get_color() for bars in ax.containers] for ax in figure.axes]
    assert colours[1] == colours[0][:1] and colours[0][0] != colours[0][1]  # a model keeps its colour in every panel


@pytest.mark.slow
def test_a_tiny_grid_trains_each_cell_on_its_images_and_measures_it_on_its_classes(data_dir):
    curves = dg.figures.data_axis_curves("resnet20", "fashion-mnist", train_sizes=[40], class_sets=[None, [0, 6]],
                                         class_train_sizes=[80], train_seeds={"resnet20": [0, 1]}, steps=2,
                                         test_size=100, n=40, repeats=2, device="cpu")
    cells = curves.groupby(["train_size", "classes", "train_seed"]).size()
    assert list(cells.index) == [(40, "all", 0), (40, "all", 1), (80, "0,6", 0), (80, "0,6", 1)]
    assert (curves["epochs"] == 2).all()  # 2 steps at one batch of 40 (or 80) images an epoch
    two = curves[curves["classes"] == "0,6"]
    assert two["test_acc"].between(0, 1).all() and len(two["layer"].unique()) == len(dg.probe_layers("resnet20"))
    summary = plateau_summary(curves)
    assert list(summary["seeds"]) == [2, 2] and summary["plateau_share"].between(0, 1).all()


def test_a_class_set_too_small_for_n_times_repeats_is_refused_before_any_training(data_dir, monkeypatch):
    trained = []
    monkeypatch.setattr(dg.figures.data_axis, "pretrained", lambda *args, **kwargs: trained.append(args))
    # synthetic's test split: 200 images, 50 of each of 4 classes; 40 × 5 fits all of them, not classes 0 and 1
    with pytest.raises(ValueError, match=r"The test split of classes 0,1 has 100 images but n × repeats = 40 × 5"):
        dg.figures.data_axis_curves("resnet20", "synthetic", train_sizes=[40], class_sets=[None, [0, 1]], n=40,
                                    repeats=5, device="cpu")
    assert trained == []


def test_model_seeds_gives_each_model_its_seeds_and_refuses_what_it_cannot_place():
    assert dg.figures.model_seeds(["a", "b"], [0, 1]) == {"a": [0, 1], "b": [0, 1]}
    assert dg.figures.model_seeds(["a", "b"], {"b": [2], "a": [0, 1]}) == {"a": [0, 1], "b": [2]}
    with pytest.raises(ValueError, match="Unknown model in train_seeds 'resnet2'. Did you mean 'resnet20'"):
        dg.figures.model_seeds(["resnet20"], {"resnet2": [0]})
    with pytest.raises(ValueError, match="gives no seeds for resnet56"):
        dg.figures.model_seeds(["resnet20", "resnet56"], {"resnet20": [0]})


@pytest.mark.slow
def test_cells_name_the_command_that_trains_them_and_missing_skip_leaves_the_untrained_out(data_dir, caplog):
    grid = {"train_sizes": [40, 80], "train_seeds": [3], "steps": 2, "test_size": 100}
    cells = dg.figures.data_axis_cells("resnet20", **grid)
    assert list(cells["train_size"]) == [40, 80] and not cells["trained"].any() and list(cells["epochs"]) == [2, 2]
    command = cells.loc[0, "command"]
    assert command == "dynamic-graphs zoo resnet20:3 --train-size 40 --subset per-class --epochs 2 --test-size 100"
    with pytest.raises(FileNotFoundError, match="train it with `dynamic-graphs zoo resnet20:3 --train-size 40 "):
        dg.figures.data_axis_curves("resnet20", missing="raise", n=40, repeats=2, device="cpu", **grid)
    with pytest.raises(ValueError, match="No cell of the grid is trained yet"):
        dg.figures.data_axis_curves("resnet20", missing="skip", n=40, repeats=2, device="cpu", **grid)
    assert cli_main(command.split()[1:] + ["--device", "cpu"]) == 0  # the command trains exactly that cell
    assert list(dg.figures.data_axis_cells("resnet20", **grid)["trained"]) == [True, False]
    curves = dg.figures.data_axis_curves("resnet20", missing="skip", n=40, repeats=2, device="cpu", **grid)
    assert set(curves["train_size"]) == {40}
    assert "1 of the grid's 2 cells are not trained yet and are left out: resnet20:3 on 80 images." in caplog.text
    assert "e.g. `dynamic-graphs zoo resnet20:3 --train-size 80 " in caplog.text
    with pytest.raises(KeyError, match="Unknown missing= policy .skp.. Did you mean .skip."):
        dg.figures.data_axis_curves("resnet20", missing="skp", **grid)
