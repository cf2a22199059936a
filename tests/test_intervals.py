"""Confidence intervals of curves and gains (t-intervals over repeats, paired gains) and the
interval rule of redundant_layers (docs/method.md, "Intervals")."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in tests)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import dynamic_graphs as dg
from dynamic_graphs.frames import curve_labels, t_interval
from dynamic_graphs.utils import UnknownNameError, isolated_rng
from conftest import tiny_synthetic

IDENTITY_BLOCKS = ["layer2.1", "layer3.1"]  # blocks whose previous probe layer is their input


def hand_curve(table, layers=None, **columns) -> pd.DataFrame:
    """A curve frame from a (repeats, layers) table of Q values."""
    table = np.asarray(table, dtype=float)
    layers = layers or [f"l{depth}" for depth in range(1, table.shape[1] + 1)]
    return pd.DataFrame([{"layer": layer, "depth": depth, "repeat": repeat, "modularity": table[repeat, depth - 1],
                          **columns}
                         for repeat in range(table.shape[0]) for depth, layer in enumerate(layers, start=1)])


def direct_interval(values):
    """The 95 % t-interval of the mean of ``values``, straight from SciPy."""
    values = np.asarray(values, dtype=float)
    return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


# ------------------------------------------------------------------------------ summarize_curve


def test_summary_interval_is_the_t_interval_over_repeats():
    table = np.random.default_rng(0).normal(0.5, 0.05, size=(5, 3))
    summary = dg.summarize_curve(hand_curve(table))
    assert summary.columns.tolist() == ["depth", "layer", "mean", "std", "repeats", "ci_low", "ci_high"]
    for depth in range(3):
        low, high = direct_interval(table[:, depth])
        row = summary.iloc[depth]
        np.testing.assert_allclose([row.ci_low, row.ci_high], [low, high], rtol=1e-12)
        mean = table[:, depth].mean()
        half = stats.t.ppf(0.975, 4) * table[:, depth].std(ddof=1) / np.sqrt(5)
        np.testing.assert_allclose([row.ci_low, row.ci_high], [mean - half, mean + half], rtol=1e-12)
        assert row.repeats == 5 and row.ci_low < row["mean"] < row.ci_high


def test_summary_mean_and_std_are_unchanged_and_stacked_curves_get_their_own_interval():
    a, b = np.array([[0.1, 0.2], [0.3, 0.5]]), np.array([[0.6, 0.6], [0.6, 0.9], [0.9, 0.9]])
    stacked = dg.stack_curves({"a": hand_curve(a), "b": hand_curve(b)}, name="variant")
    summary = dg.summarize_curve(stacked).set_index(["variant", "layer"])
    for name, table in (("a", a), ("b", b)):
        for depth in (1, 2):
            row = summary.loc[(name, f"l{depth}")]
            column = table[:, depth - 1]
            np.testing.assert_allclose([row["mean"], row["std"]], [column.mean(), column.std(ddof=1)], rtol=1e-12)
            np.testing.assert_allclose([row.ci_low, row.ci_high], direct_interval(column), rtol=1e-12)
            assert row.repeats == len(column)


def test_one_repeat_or_undefined_values_give_nan_or_fewer_repeats():
    one = dg.summarize_curve(hand_curve([[0.2, 0.4]]))
    assert one[["ci_low", "ci_high"]].isna().all().all() and one.repeats.tolist() == [1, 1]
    # An undefined Q (NaN) in one repeat is left out of that layer's interval.
    table = np.array([[0.2, 0.4], [0.3, np.nan], [0.25, 0.5]])
    summary = dg.summarize_curve(hand_curve(table))
    assert summary.repeats.tolist() == [3, 2]
    np.testing.assert_allclose(summary.loc[1, ["ci_low", "ci_high"]].astype(float), direct_interval([0.4, 0.5]))


def test_t_interval_is_nan_below_two_draws():
    low, high = t_interval([0.5, 0.5, 0.5], [0.1, 0.1, 0.0], [1, 0, 3])
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all() and low[2] == high[2] == 0.5


# ------------------------------------------------------------------------------ layer_gains


def test_gain_interval_is_the_t_interval_of_the_paired_differences():
    # Both layers share a large per-repeat offset (a hard or easy image sample); the gain is 0.1 ± 0.01.
    shared = np.array([0.0, 0.2, -0.15, 0.1, 0.05])
    gain = np.array([0.10, 0.11, 0.09, 0.10, 0.105])
    table = np.column_stack([0.3 + shared, 0.3 + shared + gain])
    model = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[1, 1, 1])
    layers = dg.probe_layers(model)[:2]
    frame = hand_curve(np.column_stack([table, table[:, 1:] + 0.1, table[:, 1:] + 0.2]), layers=dg.probe_layers(model))
    gains = dg.pruning.layer_gains(frame, model)
    assert gains.columns.tolist() == ["layer", "depth", "modularity", "std", "delta", "gain_low", "gain_high",
                                      "removable"]
    assert gains.layer.tolist()[:2] == layers and np.isnan(gains.loc[0, ["gain_low", "gain_high"]].astype(float)).all()
    differences = table[:, 1] - table[:, 0]
    paired = direct_interval(differences)
    np.testing.assert_allclose(gains.loc[1, ["gain_low", "gain_high"]].astype(float), paired, rtol=1e-10)
    # delta is the difference of the means, as before; the interval contains it.
    assert gains.loc[1, "delta"] == table[:, 1].mean() - table[:, 0].mean()
    assert gains.loc[1, "gain_low"] <= gains.loc[1, "delta"] <= gains.loc[1, "gain_high"]
    # An unpaired interval (the two layers' spreads combined) is far wider, and would straddle 0.
    r = len(table)
    half = stats.t.ppf(0.975, r - 1) * np.sqrt(table[:, 0].var(ddof=1) / r + table[:, 1].var(ddof=1) / r)
    assert half > 5 * (paired[1] - paired[0]) / 2 and gains.loc[1, "delta"] - half < 0 < paired[0]


def test_gains_of_stacked_curves_are_paired_within_each_curve():
    model = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[1, 1, 1])
    layers = dg.probe_layers(model)
    rng = np.random.default_rng(1)
    tables = {3: rng.uniform(0.2, 0.8, size=(4, len(layers))), 5: rng.uniform(0.2, 0.8, size=(3, len(layers)))}
    gains = dg.pruning.layer_gains(dg.stack_curves({k: hand_curve(t, layers=layers) for k, t in tables.items()}, name="k"),
                           model)
    for k, table in tables.items():
        one = gains[gains.k == k].reset_index(drop=True)
        for depth in range(1, len(layers)):
            np.testing.assert_allclose(one.loc[depth, ["gain_low", "gain_high"]].astype(float),
                                       direct_interval(table[:, depth] - table[:, depth - 1]), rtol=1e-10)


# ------------------------------------------------------------------------------ redundant_layers(rule=...)


def test_interval_rule_needs_the_whole_interval_below_the_threshold():
    model = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[2, 2, 2])
    layers = dg.probe_layers(model)  # conv1, 1.0, 1.1, 2.0, 2.1, 3.0, 3.1
    base = np.array([0.30, 0.40, 0.405, 0.50, 0.60, 0.70, 0.80])
    noise = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0.01, 0, 0, 0, 0.0001], [0, 0, -0.01, 0, 0, 0, -0.0001]])
    curve = hand_curve(base + noise, layers=layers)
    # layer1.1 gains 0.005 on average but its interval reaches far above 0.01; layer3.1 gains 0.1.
    assert dg.pruning.redundant_layers(curve, model, threshold=0.01) == ["layer1.1"]
    assert dg.pruning.redundant_layers(curve, model, threshold=0.01, rule="mean") == ["layer1.1"]
    assert dg.pruning.redundant_layers(curve, model, threshold=0.01, rule="interval") == []
    # A confident plateau passes both rules: layer3.1 made flat (gain 0 ± 0.0001).
    flat = hand_curve(base + noise - np.array([0, 0, 0, 0, 0, 0, 0.1]), layers=layers)
    assert dg.pruning.redundant_layers(flat, model, threshold=0.01, rule="Interval") == ["layer3.1"]


def test_an_unknown_rule_or_one_repeat_is_refused():
    model = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[2, 2, 2])
    curve = hand_curve(np.tile(np.linspace(0.3, 0.8, 7), (2, 1)), layers=dg.probe_layers(model))
    with pytest.raises(UnknownNameError, match="Did you mean 'interval'"):
        dg.pruning.redundant_layers(curve, model, rule="intervals")
    with pytest.raises(KeyError, match="Available: mean, interval"):
        dg.pruning.redundant_layers(curve, model, rule="median")
    with pytest.raises(ValueError, match="repeats >= 2"):
        dg.pruning.redundant_layers(curve[curve.repeat == 0], model, rule="interval")


# ------------------------------------------------------------------------------ a trained ResNet with identity blocks


@pytest.fixture(scope="module")
def identity_resnet():
    """A ResNet20 [2, 2, 2] trained briefly on tiny_synthetic, then layer2.1 and layer3.1 made exact
    identities (bn2 weight and bias zero: the block returns relu(x) = x, its input being non-negative)."""
    with isolated_rng(0):
        model = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[2, 2, 2])
        data = tiny_synthetic("train", n=96)
        images = torch.stack([data[i][0] for i in range(len(data))])
        labels = torch.tensor([int(data[i][1]) for i in range(len(data))])
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(15):  # full-batch steps
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
    return make_identities(model.eval())


def make_identities(model: torch.nn.Module) -> torch.nn.Module:
    """Zero the last BN of each of IDENTITY_BLOCKS: the block then returns relu(x) = x, its input being
    non-negative."""
    with torch.no_grad():
        for name in IDENTITY_BLOCKS:
            model.get_submodule(name).bn2.weight.zero_()
            model.get_submodule(name).bn2.bias.zero_()
    return model


@pytest.fixture(scope="module")
def identity_curves(identity_resnet):
    test = tiny_synthetic("test", n=192)
    return {repeats: dg.modularity_curve(identity_resnet, test, n=24, repeats=repeats, k=3, seed=0, device="cpu")
            for repeats in (2, 8)}


def test_identity_blocks_have_zero_gain_and_are_flagged_by_the_interval_rule(identity_resnet, identity_curves):
    curve = identity_curves[8]
    gains = dg.pruning.layer_gains(curve, identity_resnet).set_index("layer")
    for name in IDENTITY_BLOCKS:  # the same features as the previous layer: Q identical in every repeat
        assert gains.loc[name, ["delta", "gain_low", "gain_high"]].tolist() == [0.0, 0.0, 0.0]
    flagged = dg.pruning.redundant_layers(curve, identity_resnet, threshold=1e-6, rule="interval")
    # On these easy images Q already peaks at conv1 and stage 1 falls, so stage 1 gives up its one
    # removable block too: the one whose fall is most certain (a fall counts as redundant, by the rule).
    assert gains.loc["layer1.0", "gain_high"] < min(0.0, gains.loc["layer1.1", "gain_high"])
    assert flagged == ["layer1.0", *IDENTITY_BLOCKS]
    # No other unit is an identity: every other gain differs from 0.
    assert (gains.drop(index=["conv1", *IDENTITY_BLOCKS]).delta != 0).all()


def test_intervals_contain_their_means_and_narrow_as_repeats_grow(identity_resnet, identity_curves):
    widths = {}
    for repeats, curve in identity_curves.items():
        summary = dg.summarize_curve(curve)
        gains = dg.pruning.layer_gains(curve, identity_resnet).iloc[1:]
        assert (summary.repeats == repeats).all()
        assert (summary.ci_low <= summary["mean"]).all() and (summary["mean"] <= summary.ci_high).all()
        assert (gains.gain_low <= gains.delta + 1e-12).all() and (gains.delta <= gains.gain_high + 1e-12).all()
        widths[repeats] = ((summary.ci_high - summary.ci_low).mean(), (gains.gain_high - gains.gain_low).mean())
    assert widths[8][0] < widths[2][0] and widths[8][1] < widths[2][1]


@pytest.mark.slow
def test_on_the_shipped_resnet20_two_identity_blocks_are_the_redundant_ones_and_intervals_narrow(device):
    """The trained Fashion-MNIST ResNet20 (shipped weights, 92.89 %), at the paper's n = 500 and the default
    threshold: with layer2.1 and layer3.1 made exact identities, both rules flag those two blocks and no
    other (every other removable block gains at least 0.01 here), and the intervals narrow with repeats."""
    model = make_identities(dg.pretrained("resnet20", "fashion-mnist", seed=0, device=device))
    test = dg.get_dataset("fashion-mnist", "test")
    widths = {}
    for repeats in (3, 10):
        curve = dg.modularity_curve(model, test, n=500, repeats=repeats, k=3, seed=0, device=device)
        gains = dg.pruning.layer_gains(curve, model).set_index("layer")
        for name in IDENTITY_BLOCKS:
            assert gains.loc[name, ["delta", "gain_low", "gain_high"]].tolist() == [0.0, 0.0, 0.0]
        for rule in ("mean", "interval"):
            assert dg.pruning.redundant_layers(curve, model, rule=rule) == IDENTITY_BLOCKS, (repeats, rule)
        summary = dg.summarize_curve(curve)
        assert (summary.ci_low <= summary["mean"]).all() and (summary["mean"] <= summary.ci_high).all()
        gains = gains.iloc[1:]
        assert (gains.gain_low <= gains.delta + 1e-12).all() and (gains.delta <= gains.gain_high + 1e-12).all()
        widths[repeats] = ((summary.ci_high - summary.ci_low).mean(), (gains.gain_high - gains.gain_low).mean())
    assert widths[10][0] < widths[3][0] and widths[10][1] < widths[3][1]


# ------------------------------------------------------------------------------ the band of plot_curve


def test_plot_curve_draws_the_interval_band_on_request():
    table = np.random.default_rng(2).normal(0.5, 0.05, size=(4, 3))
    curve = hand_curve(table)
    summary = dg.summarize_curve(curve)
    bands = {}
    for band in ("sd", "ci"):
        ax = dg.pl.plot_curve(curve, band=band)
        vertices = ax.collections[0].get_paths()[0].vertices
        bands[band] = vertices[:, 1].min(), vertices[:, 1].max()
        plt.close("all")
    np.testing.assert_allclose(bands["ci"], (summary.ci_low.min(), summary.ci_high.max()), rtol=1e-10)
    std_band = ((summary["mean"] - summary["std"]).min(), (summary["mean"] + summary["std"]).max())
    np.testing.assert_allclose(bands["sd"], std_band, rtol=1e-10)  # the default band is still ±1 std
    with pytest.raises(KeyError, match="Unknown band"):
        dg.pl.plot_curve(curve, band="se")


def test_the_repeats_count_of_a_summary_is_no_label():
    # An integer column would otherwise be read as a label: a summary of two curves must show one label.
    stacked = dg.stack_curves({"a": hand_curve([[0.1, 0.2], [0.2, 0.3]]), "b": hand_curve([[0.5, 0.6]])}, name="model")
    summary = dg.summarize_curve(stacked)
    assert curve_labels(summary) == ["model"]
    with pytest.raises(ValueError, match=r"told apart by \['model'\] "):
        dg.metrics.modularity_difference(summary)
