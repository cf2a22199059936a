"""Pruning baselines at equal budgets: random units matched per stage, and the unit scores of linear
CKA (Pons et al., ICPR 2024) and block influence (ShortGPT, Men et al. 2024) between a unit's input
and output; and compare_pruning's method list."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import dynamic_graphs as dg
from dynamic_graphs.figures import pruning as figures_pruning
from dynamic_graphs.models import layer_info
from dynamic_graphs.utils import isolated_rng

from conftest import tiny_synthetic

N = 40  # images the unit scores are computed on


def small_resnet(**kwargs) -> torch.nn.Module:
    """An untrained ResNet20 with two blocks per stage for tiny_synthetic's 3x8x8 images, in eval mode.
    Removable: layer1.0 and layer1.1 (one of them at a time), layer2.1, layer3.1."""
    with isolated_rng(0):
        return dg.get_model("resnet20", num_classes=4, in_channels=3, blocks=[2, 2, 2], **kwargs).eval()


def make_identity(model: torch.nn.Module, block: str) -> None:
    """Zero the last BN of ``block`` so that it computes relu(x): x itself for a non-negative input."""
    bn = model.get_submodule(block).bn2
    with torch.no_grad():
        bn.weight.zero_()
        bn.bias.zero_()


def stage_counts(model, layers) -> dict[int, int]:
    stage = {info.name: info.stage for info in layer_info(model)}
    counts: dict[int, int] = {}
    for layer in layers:
        counts[stage[layer]] = counts.get(stage[layer], 0) + 1
    return counts


@pytest.fixture(scope="module")
def data():
    return tiny_synthetic("train")


def unit_features(model, data, source, unit):
    images, _ = dg.draw_samples(data, n=N, seed=0)
    features = dg.features.extract_features(model, images, layers=[source, unit], device="cpu")
    return features[source].double().numpy(), features[unit].double().numpy()


# ------------------------------------------------------------------------------ random-matched


def test_random_matched_takes_as_many_units_per_stage_as_the_selection_it_matches():
    model = dg.get_model("resnet20")  # three blocks per stage: two removable in stages 2 and 3, three in 1
    like = ["layer1.0", "layer1.2", "layer3.1"]
    draws = [dg.pruning.random_matched_layers(model, like, seed=seed) for seed in range(12)]
    order = dg.probe_layers(model)
    for chosen in draws:
        assert stage_counts(model, chosen) == {1: 2, 3: 1}
        assert set(chosen) <= set(dg.pruning.removable_layers(model)) and chosen == sorted(chosen, key=order.index)
        costs = dg.pruning.model_cost(dg.pruning.prune(model, chosen)), dg.pruning.model_cost(dg.pruning.prune(model, like))
        assert costs[0] == costs[1]  # same-width blocks: the same parameters and FLOPs removed
    assert len({tuple(chosen) for chosen in draws}) > 1  # random within the stages
    assert dg.pruning.random_matched_layers(model, [], seed=3) == []


def test_random_matched_is_seeded_with_its_own_stream():
    model = dg.get_model("resnet20")
    like = ["layer1.0", "layer2.1", "layer3.2"]
    torch.manual_seed(0)
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    first = dg.pruning.random_matched_layers(model, like, seed=5)
    assert (np.random.get_state()[1] == state).all()  # the global stream is left alone
    np.random.seed(123)
    assert dg.pruning.random_matched_layers(model, like, seed=5) == first


def test_random_matched_refuses_a_selection_that_cannot_be_removed():
    model = dg.get_model("resnet20")
    with pytest.raises(TypeError, match=r"like must be a list.*\['layer1.0'\]"):
        dg.pruning.random_matched_layers(model, "layer1.0")
    with pytest.raises(ValueError, match="cannot be removed"):
        dg.pruning.random_matched_layers(model, ["layer2.0"])
    with pytest.raises(ValueError, match="3 units of stage 1, but stage 1 can lose at most 2"):
        dg.pruning.random_matched_layers(model, ["layer1.0", "layer1.1", "layer1.2"])  # a ResNet stage keeps a block
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        dg.pruning.random_matched_layers(model, ["layer1.0"], seed=-1)


# ------------------------------------------------------------------------------ unit scores


def test_unit_scores_equal_a_direct_numpy_computation(data):
    model = small_resnet()
    cka = dg.pruning.cka_scores(model, data, n=N, device="cpu")
    influence = dg.pruning.block_influence(model, data, n=N, device="cpu")
    expected_units = ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]
    for frame in (cka, influence):
        assert list(frame.columns) == ["layer", "depth", "stage", "input", "score"]
        assert frame.layer.tolist() == expected_units and frame.stage.tolist() == [1, 1, 2, 3]
        assert frame.input.tolist() == ["conv1", "layer1.0", "layer2.0", "layer3.0"]
        assert frame.depth.tolist() == [dg.probe_layers(model).index(u) + 1 for u in expected_units]
    centre = np.eye(N) - np.ones((N, N)) / N
    for row in cka.itertuples():
        x, y = unit_features(model, data, row.input, row.layer)
        k, l = x @ x.T, y @ y.T
        grams = {"x": k, "y": l}
        hsic = {(a, b): np.trace(grams[a] @ centre @ grams[b] @ centre) for a in grams for b in grams}
        assert row.score == pytest.approx(hsic["x", "y"] / np.sqrt(hsic["x", "x"] * hsic["y", "y"]), rel=1e-6)
    for row in influence.itertuples():
        x, y = unit_features(model, data, row.input, row.layer)
        cosine = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
        assert row.score == pytest.approx(np.mean(1 - cosine), rel=1e-6)
    # Seeded: the same draw gives the same scores; another draw other ones.
    pd.testing.assert_frame_equal(dg.pruning.cka_scores(model, data, n=N, device="cpu"), cka)
    assert not np.allclose(dg.pruning.block_influence(model, data, n=N, seed=1, device="cpu").score, influence.score)


def test_an_identity_unit_has_cka_one_and_influence_zero_and_goes_first(data):
    model = small_resnet()
    natural = dg.pruning.cka_scores(model, data, n=N, device="cpu").set_index("layer").score
    assert natural.idxmax() != "layer2.1"  # so choosing it below is the identity's doing
    assert dg.pruning.block_influence(model, data, n=N, device="cpu").set_index("layer").score.idxmin() != "layer2.1"
    make_identity(model, "layer2.1")  # its input, layer2.0's output, is after a ReLU: non-negative
    cka = dg.pruning.cka_scores(model, data, n=N, device="cpu").set_index("layer").score
    influence = dg.pruning.block_influence(model, data, n=N, device="cpu").set_index("layer").score
    assert cka["layer2.1"] == pytest.approx(1.0, abs=1e-9)
    assert influence["layer2.1"] == pytest.approx(0.0, abs=1e-9)
    assert dg.pruning.cka_layers(model, data, 1, n=N, device="cpu") == ["layer2.1"]
    assert dg.pruning.block_influence_layers(model, data, 1, n=N, device="cpu") == ["layer2.1"]


def test_score_rules_honour_the_per_stage_limits(data):
    model = small_resnet()
    make_identity(model, "layer1.0")
    make_identity(model, "layer1.1")  # both stage-1 blocks score best, but the stage keeps one
    for rule in (dg.pruning.cka_layers, dg.pruning.block_influence_layers):
        chosen = rule(model, data, 2, n=N, device="cpu")
        assert len(chosen) == 2 and stage_counts(model, chosen)[1] == 1
        assert stage_counts(model, rule(model, data, 3, n=N, device="cpu")) == {1: 1, 2: 1, 3: 1}
        with pytest.raises(ValueError, match="count=4 but at most 3 units"):
            rule(model, data, 4, n=N, device="cpu")
        assert rule(model, data, 0, n=N, device="cpu") == []


def test_unit_scores_refuse_bad_sizes(data):
    model = small_resnet()
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        dg.pruning.cka_scores(model, data, n=0)
    with pytest.raises(TypeError, match="n must be an integer"):
        dg.pruning.block_influence(model, data, n=10.0)
    with pytest.raises(TypeError, match="count must be an integer"):
        dg.pruning.cka_layers(model, data, 1.5, n=N, device="cpu")


# ------------------------------------------------------------------------------ compare_pruning


def flat_curve(model) -> pd.DataFrame:
    layers = dg.probe_layers(model)
    return pd.DataFrame([{"layer": layer, "depth": depth, "repeat": repeat, "modularity": 0.1 * depth + 0.001 * repeat}
                         for repeat in range(2) for depth, layer in enumerate(layers, start=1)])


@pytest.fixture
def captured(monkeypatch):
    """compare_pruning with evaluate_variants replaced by a recorder (no recovery training)."""
    seen = {}

    def fake(parent, variants, dataset, spec, **options):
        seen.update(variants)
        return pd.DataFrame({"variant": ["unpruned", *variants], "removed": [0, *map(len, variants.values())],
                             "delta_acc": 0.0}), pd.DataFrame()

    monkeypatch.setattr(figures_pruning, "evaluate_variants", fake)
    return seen


def _compare(model, data, **options):
    return dg.figures.compare_pruning(model, flat_curve(model), data, threshold=1.0, max_layers=2, random_seeds=[0, 1],
                              probe_train=60, probe_test=30, device="cpu", **options)


def test_compare_pruning_keeps_its_default_methods(data, captured):
    table = _compare(small_resnet(), data)
    assert table.method.tolist() == ["unpruned", "modularity", "tail", "linear-probe", "random", "random"]
    assert table.seed.tolist() == [0, 0, 0, 0, 0, 1]
    assert list(captured) == ["modularity/0", "tail/0", "linear-probe/0", "random/0", "random/1"]


def test_compare_pruning_adds_the_equal_budget_baselines_on_request(data, captured):
    model = small_resnet()
    table = _compare(model, data, methods=["Random-Matched", "cka", "block-influence"], n=N)
    assert table.method.tolist() == ["unpruned", "modularity", "random-matched", "random-matched", "cka",
                                     "block-influence"]
    assert table.seed.tolist() == [0, 0, 0, 1, 0, 0] and table.removed.tolist() == [0, 2, 2, 2, 2, 2]
    modularity = captured["modularity/0"]
    assert captured["random-matched/1"] == dg.pruning.random_matched_layers(model, modularity, seed=1)
    assert stage_counts(model, captured["random-matched/0"]) == stage_counts(model, modularity)
    assert captured["cka/0"] == dg.pruning.cka_layers(model, data, 2, n=N, device="cpu")
    assert captured["block-influence/0"] == dg.pruning.block_influence_layers(model, data, 2, n=N, device="cpu")


def test_compare_pruning_picks_its_modularity_units_by_the_rule_it_is_given(data, captured):
    model = small_resnet()
    layers = dg.probe_layers(model)
    # layer2.1 gains 0.004 in every repeat (a sure plateau); layer3.1 gains 0.002 on average but
    # swings by ±0.05 (noise). The mean rule takes both, the interval rule only the sure one.
    gains = {"layer2.1": [0.004, 0.004], "layer3.1": [0.052, -0.048]}
    rows, level = [], [0.0, 0.0]
    for depth, layer in enumerate(layers, start=1):
        level = [q + gain for q, gain in zip(level, gains.get(layer, [0.1, 0.1]))]
        rows += [{"layer": layer, "depth": depth, "repeat": repeat, "modularity": level[repeat]} for repeat in range(2)]
    curve = pd.DataFrame(rows)
    options = dict(threshold=0.01, probe_train=60, probe_test=30, device="cpu", methods=["random-matched"],
                   random_seeds=[0])
    assert dg.figures.compare_pruning(model, curve, data, **options).removed.tolist() == [0, 2, 2]
    assert captured["modularity/0"] == ["layer2.1", "layer3.1"]
    captured.clear()
    assert dg.figures.compare_pruning(model, curve, data, rule="interval", **options).removed.tolist() == [0, 1, 1]
    assert captured["modularity/0"] == ["layer2.1"]
    assert stage_counts(model, captured["random-matched/0"]) == {2: 1}  # matched to the interval rule's choice
    with pytest.raises(ValueError, match=r"No removable layer is redundant by rule='interval' at threshold = 0.001"):
        dg.figures.compare_pruning(model, curve, data, rule="interval", **{**options, "threshold": 0.001})


def test_compare_pruning_refuses_unknown_or_repeated_methods(data, captured):
    model = small_resnet()
    with pytest.raises(dg.utils.UnknownNameError, match="block-influence"):
        _compare(model, data, methods=["block-influenc"])
    with pytest.raises(TypeError, match="methods must be a list"):
        _compare(model, data, methods="cka")
    with pytest.raises(ValueError, match="more than once"):
        _compare(model, data, methods=["cka", "CKA"])
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        _compare(model, data, methods=["cka"], n=0)
    with pytest.raises(TypeError, match="Unknown curve setting 'similarity_n'"):
        _compare(model, data, methods=["cka"], similarity_n=10)
    assert not captured


@pytest.fixture
def recorded(monkeypatch):
    """compare_pruning with evaluate_variants replaced by a recorder: a list of (recovery seed, variants)."""
    calls = []

    def fake(parent, variants, dataset, spec, **options):
        seed = spec.seed
        calls.append((seed, dict(variants)))
        return pd.DataFrame({"variant": ["unpruned", *variants], "removed": [0, *map(len, variants.values())],
                             "top1": [90.0] + [80.0 + seed] * len(variants), "delta_acc": 0.0}), pd.DataFrame()

    monkeypatch.setattr(figures_pruning, "evaluate_variants", fake)
    return calls


def test_every_method_gets_one_run_per_recovery_seed(data, recorded):
    model = small_resnet()
    table = dg.figures.compare_pruning(model, flat_curve(model), data, threshold=1.0, max_layers=2, recovery_seeds=[4, 7],
                               device="cpu", methods=["unpruned-finetuned", "random-matched", "cka"],
                               n=N)
    assert [seed for seed, _ in recorded] == [4, 7]  # one recovery budget per seed, every method in each
    for seed, variants in recorded:
        assert list(variants) == [f"modularity/{seed}", f"unpruned-finetuned/{seed}", f"random-matched/{seed}",
                                  f"cka/{seed}"]
        assert variants[f"unpruned-finetuned/{seed}"] == []  # the unpruned model, recovered like the others
        # the random draw is seeded by its run's recovery seed: two runs, two draws
        assert variants[f"random-matched/{seed}"] == dg.pruning.random_matched_layers(model, variants[f"modularity/{seed}"],
                                                                              seed=seed)
    assert table.method.tolist() == ["unpruned", "modularity", "modularity", "unpruned-finetuned",
                                     "unpruned-finetuned", "random-matched", "random-matched", "cka", "cka"]
    assert table.seed.tolist() == [0, 4, 7, 4, 7, 4, 7, 4, 7]
    assert table.draw.isna().tolist() == [True] * 5 + [False, False] + [True] * 2
    assert table.draw.dropna().tolist() == [4, 7]
    assert table.top1.tolist() == [90.0] + [84.0, 87.0] * 4  # each row from its own seed's run


def test_random_draws_pair_with_recovery_seeds_or_are_refused(data, recorded):
    model = small_resnet()
    options = dict(threshold=1.0, max_layers=2, device="cpu", methods=["random"])
    table = dg.figures.compare_pruning(model, flat_curve(model), data, recovery_seeds=[0, 1], random_seeds=[10, 11], **options)
    assert table[table.method == "random"][["seed", "draw"]].values.tolist() == [[0, 10], [1, 11]]
    assert recorded[1][1]["random/1"] == dg.pruning.random_layers(model, 2, seed=11)
    with pytest.raises(ValueError, match=r"random_seeds \[10\] and recovery_seeds \[0, 1\] pair up run by run"):
        dg.figures.compare_pruning(model, flat_curve(model), data, recovery_seeds=[0, 1], random_seeds=[10], **options)
    with pytest.raises(ValueError, match="recovery_seeds lists a value more than once"):
        dg.figures.compare_pruning(model, flat_curve(model), data, recovery_seeds=[1, 1], **options)


def test_summarize_comparison_tests_each_method_against_modularity():
    from scipy import stats

    table = pd.DataFrame({
        "method": ["unpruned", "modularity", "modularity", "modularity", "tail", "tail", "tail", "cka"],
        "removed": [0, 2, 2, 2, 2, 2, 2, 2], "top1": [91.0, 89.0, 89.5, 90.0, 85.0, 86.0, 86.5, 88.0],
        "params_reduction": [0, 0.4, 0.4, 0.4, 0.6, 0.6, 0.6, 0.5], "flops_reduction": [0, 0.6] + [0.6] * 6})
    summary = dg.figures.summarize_comparison(table).set_index("method")
    assert summary.runs.tolist() == [1, 3, 3, 1]
    assert summary.loc["tail", "top1"] == pytest.approx(85.8333333)
    assert summary.loc["tail", "diff"] == pytest.approx(85.8333333 - 89.5)
    # Welch's t-test written out: t = (m1 - m2) / sqrt(s1²/n1 + s2²/n2), Welch–Satterthwaite dof
    a, b = np.array([85.0, 86.0, 86.5]), np.array([89.0, 89.5, 90.0])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 3
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    assert summary.loc["tail", "p_value"] == pytest.approx(2 * stats.t.sf(abs(t), dof))
    assert bool(summary.loc["tail", "beyond_spread"])  # 3.7 points against stds of 0.76 and 0.5
    assert np.isnan(summary.loc["cka", "p_value"]) and np.isnan(summary.loc["unpruned", "p_value"])  # one run
    assert np.isnan(summary.loc["modularity", "p_value"]) and summary.loc["modularity", "diff"] == 0
    with pytest.raises(KeyError, match="no 'modularity' rows"):
        dg.figures.summarize_comparison(table[table.method != "modularity"])
