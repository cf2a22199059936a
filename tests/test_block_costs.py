"""The block-cost study behind metrics.ipynb: removal costs, unit scores and their rank correlation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

import dynamic_graphs as dg
from dynamic_graphs.pruning.baselines import unit_pairs
from dynamic_graphs.utils import isolated_rng

from conftest import tiny_synthetic


@pytest.fixture(scope="module")
def resnet():
    """A ResNet20 [2, 2, 2] for tiny_synthetic, in eval mode, with layer1.1 made an exact identity
    (its last BN's weight and bias zero: the block returns relu(x) = x, its input being non-negative)."""
    with isolated_rng(0):
        model = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[2, 2, 2]).eval()
    with torch.no_grad():
        model.layer1[1].bn2.weight.zero_()
        model.layer1[1].bn2.bias.zero_()
    return model


def test_removal_costs_remove_each_unit_alone_and_an_identity_block_costs_nothing(resnet):
    test = tiny_synthetic("test", n=64)
    costs = dg.figures.block_removal_costs(resnet, test, device="cpu")
    units = [unit for _, unit, _ in unit_pairs(resnet)]
    assert costs["layer"].tolist() == units
    unpruned = 100 * dg.training.evaluate(resnet, test, device="cpu")
    assert np.allclose(costs["top1_unpruned"], unpruned)
    for row in costs.itertuples():
        assert row.top1 == pytest.approx(100 * dg.training.evaluate(dg.pruning.prune(resnet, [row.layer]), test, device="cpu"))
    assert np.allclose(costs["acc_drop"], costs["top1_unpruned"] - costs["top1"])
    assert costs.set_index("layer").loc["layer1.1", "acc_drop"] == 0


def test_removal_costs_use_a_seeded_test_subset_and_refuse_unknown_units(resnet):
    test = tiny_synthetic("test", n=64)
    half = dg.figures.block_removal_costs(resnet, test, layers=["layer1.1"], test_size=32, seed=3, device="cpu")
    again = dg.figures.block_removal_costs(resnet, test, layers=["layer1.1"], test_size=32, seed=3, device="cpu")
    pd.testing.assert_frame_equal(half, again)
    assert half.attrs["params"]["test_images"] == 32
    with pytest.raises(ValueError, match="not removable units.*removable_layers"):
        dg.figures.block_removal_costs(resnet, test, layers=["layer2.0"], device="cpu")


def _metrics_frame(model, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """A layer_metrics-shaped frame: one row per (repeat, layer), the given values per metric (repeats x layers)."""
    layers = dg.probe_layers(model)
    repeats = next(iter(values.values())).shape[0]
    rows = [{"repeat": r, "layer": layer, "depth": d + 1, **{m: v[r, d] for m, v in values.items()}, "n": 20, "k": 3}
            for r in range(repeats) for d, layer in enumerate(layers)]
    return pd.DataFrame(rows)


def test_block_scores_follow_each_rule_per_repeat(resnet):
    layers = dg.probe_layers(resnet)
    rng = np.random.default_rng(0)
    values = {metric: rng.uniform(0.1, 1.0, size=(3, len(layers))) for metric in dg.figures.BLOCK_SCORES}
    scores = dg.figures.block_scores(_metrics_frame(resnet, values), resnet)
    position = {layer: i for i, layer in enumerate(layers)}
    for source, unit, _ in unit_pairs(resnet):
        i, j = position[source], position[unit]
        expected = {
            "modularity": values["modularity"][:, j] - values["modularity"][:, i],
            "knn_accuracy": values["knn_accuracy"][:, j] - values["knn_accuracy"][:, i],
            "linear_probe": values["linear_probe"][:, j] - values["linear_probe"][:, i],
            "separation_fuzziness": np.log(values["separation_fuzziness"][:, i] / values["separation_fuzziness"][:, j]),
            "linear_cka_next": 1 - values["linear_cka_next"][:, i],
            "mutual_knn_next": 1 - values["mutual_knn_next"][:, i],
        }
        for metric, per_repeat in expected.items():
            row = scores[(scores.metric == metric) & (scores.layer == unit)].iloc[0]
            assert row.score == pytest.approx(per_repeat.mean())
            assert row.score_std == pytest.approx(per_repeat.std(ddof=1))
            assert row.repeats == 3


def test_block_scores_add_unit_scores_and_refuse_another_models_frame(resnet):
    layers = dg.probe_layers(resnet)
    frame = _metrics_frame(resnet, {"modularity": np.ones((2, len(layers)))})
    units = [unit for _, unit, _ in unit_pairs(resnet)]
    influence = pd.DataFrame({"layer": units, "score": np.arange(len(units), dtype=float)})
    scores = dg.figures.block_scores(frame, resnet, unit_scores={"block_influence": influence})
    assert scores[scores.metric == "block_influence"]["score"].tolist() == list(range(len(units)))
    with pytest.raises(ValueError, match="no score for"):
        dg.figures.block_scores(frame, resnet, unit_scores={"block_influence": influence.iloc[1:]})
    other = dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[3, 3, 3])
    with pytest.raises(ValueError, match="has no values for"):
        dg.figures.block_scores(frame, other)


def _scores_and_costs(score: np.ndarray, cost: np.ndarray):
    units = [f"u{i}" for i in range(len(score))]
    scores = pd.DataFrame({"metric": "m", "layer": units, "score": score, "stage": 1})
    return scores, pd.DataFrame({"layer": units[::-1], "acc_drop": cost[::-1]})  # order must not matter


def test_cost_correlations_match_scipy_with_a_seeded_bootstrap_around_it():
    rng = np.random.default_rng(1)
    score = rng.normal(size=25)
    cost = score + rng.normal(scale=0.8, size=25)
    scores, costs = _scores_and_costs(score, cost)
    table = dg.figures.cost_correlations(scores, costs, n_boot=500, seed=0)
    row = table.iloc[0]
    reference = spearmanr(score, cost)
    assert row.spearman == pytest.approx(reference.statistic)
    assert row.p_value == pytest.approx(reference.pvalue)
    assert row.ci_low < row.spearman < row.ci_high
    assert row.units == 25
    pd.testing.assert_frame_equal(table, dg.figures.cost_correlations(scores, costs, n_boot=500, seed=0))
    wider = dg.figures.cost_correlations(scores, costs, n_boot=500, seed=0, confidence=0.99).iloc[0]
    assert wider.ci_low <= row.ci_low and wider.ci_high >= row.ci_high


def test_cost_correlations_of_a_monotone_score_are_one_and_of_other_units_refused():
    score = np.arange(10, dtype=float)
    scores, costs = _scores_and_costs(score, score ** 3)
    row = dg.figures.cost_correlations(scores, costs, n_boot=200).iloc[0]
    assert (row.spearman, row.ci_low, row.ci_high) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))
    assert dg.figures.cost_correlations(*_scores_and_costs(score, -score), n_boot=200).iloc[0].spearman == pytest.approx(-1)
    with pytest.raises(ValueError, match="not the same ones"):
        dg.figures.cost_correlations(scores, costs.iloc[1:], n_boot=10)


def test_block_cost_plots_draw_a_panel_per_measure():
    import matplotlib

    matplotlib.use("Agg")
    score = np.arange(6, dtype=float)
    scores, costs = _scores_and_costs(score, score)
    scores = pd.concat([scores, scores.assign(metric="other", score=-score)])
    table = dg.figures.cost_correlations(scores, costs, n_boot=50)
    figure = dg.pl.plot_block_costs(scores, costs, correlations=table, ncols=2)
    assert sum(ax.get_visible() for ax in figure.axes) == 2
    assert "ρ = 1.00" in figure.axes[0].get_title()
    ax = dg.pl.plot_cost_correlations(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["other", "m"]
