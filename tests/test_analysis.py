"""Layer similarity (metrics), t-SNE, the k/N ablation and asymptotics (figures) and their plots, on tiny inputs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import igraph
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dynamic_graphs import get_dataset, knn_graph, metrics, modularity_curve, pl, stack_curves
from dynamic_graphs.features import extract_features
from dynamic_graphs.curve import draw_samples, sample_indices, summarize_curve
from dynamic_graphs.figures.ablation import ablation_curves, asymptotic_sweep
from dynamic_graphs.figures.embeddings import layer_embeddings
from dynamic_graphs.metrics import (cka_matrix, edge_statistics, linear_cka, matrix_rank_correlation,
                                    modularity_difference, one_nn_error)


def tiny_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 6), nn.ReLU(),
                         nn.Linear(6, 3))


LAYERS = ["0", "1", "3", "5"]


@pytest.fixture(scope="module")
def data():
    return get_dataset("synthetic", n=120, num_classes=3, shape=(3, 8, 8), separation=3.0, seed=0)


def direct_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The authors' formula written out: HSIC = tr(KHLH) / (n - 1)^2 with K = XXᵀ, L = YYᵀ."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n

    def hsic(k, l):
        return np.trace(k @ h @ l @ h) / (n - 1) ** 2

    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


# --- layer similarity ---------------------------------------------------------------------------

def test_linear_cka_equals_the_direct_formula_and_its_invariances():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((25, 7)) + 2.0  # an offset, so that centring matters
    y = x @ rng.standard_normal((7, 4)) + rng.standard_normal((25, 4))
    assert linear_cka(x, y) == pytest.approx(direct_cka(x, y), abs=1e-12)
    assert 0 < linear_cka(x, y) < 1
    rotation, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    assert linear_cka(x @ rotation * 3.7, y) == pytest.approx(linear_cka(x, y), abs=1e-12)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x + 5.0) == pytest.approx(1.0, abs=1e-12)  # a shift is centred away


def test_centred_gram_in_column_blocks_equals_one_product(monkeypatch):
    x = torch.rand(9, 2, 3, 5, dtype=torch.float64)
    whole = metrics.centred_gram(x)
    monkeypatch.setattr(metrics.similarity, "_GRAM_CHUNK", 20)  # 2 columns per block
    assert torch.allclose(metrics.centred_gram(x), whole, atol=1e-12)
    centred = x.reshape(9, -1) - x.reshape(9, -1).mean(0)
    assert torch.allclose(whole, centred @ centred.T, atol=1e-12)


def test_linear_cka_refuses_mismatched_or_constant_inputs():
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(np.ones((4, 2)), np.random.default_rng(0).standard_normal((4, 2)))


def test_cka_matrix_is_symmetric_with_unit_diagonal_and_matches_pairwise_cka():
    net, images = tiny_net(), torch.rand(16, 3, 8, 8)
    matrix = cka_matrix(net, images, layers=LAYERS, device="cpu", batch_size=5)
    assert matrix.shape == (4, 4)
    assert np.array_equal(matrix, matrix.T) and np.array_equal(np.diag(matrix), np.ones(4))
    features = extract_features(net, images, layers=LAYERS, device="cpu")
    for i, a in enumerate(LAYERS):
        for j, b in enumerate(LAYERS):
            assert matrix[i, j] == pytest.approx(linear_cka(features[a], features[b]), abs=1e-6)
    reordered = cka_matrix(net, images, layers=["5", "0"], device="cpu")  # rows follow the order asked for
    assert reordered[0, 1] == pytest.approx(matrix[3, 0], abs=1e-6)


def test_layers_are_keyword_only():
    net, images = tiny_net(), torch.rand(8, 3, 8, 8)
    with pytest.raises(TypeError, match="positional"):
        cka_matrix(net, images, LAYERS)
    with pytest.raises(TypeError, match="positional"):
        layer_embeddings(net, images, [0, 1] * 4, LAYERS)


def test_modularity_difference_by_hand_and_from_frames():
    expected = np.array([[0.0, 0.2, 0.5], [0.2, 0.0, 0.3], [0.5, 0.3, 0.0]])
    assert np.allclose(modularity_difference([0.1, 0.3, 0.6]), expected)
    curve = pd.DataFrame({"layer": list("abcabc"), "depth": [1, 2, 3] * 2, "repeat": [0, 0, 0, 1, 1, 1],
                          "modularity": [0.0, 0.3, 0.5, 0.2, 0.3, 0.7]})
    assert np.allclose(modularity_difference(curve), expected)
    summary = summarize_curve(curve).iloc[::-1]  # depth order is restored
    assert np.allclose(modularity_difference(summary), expected)
    with pytest.raises(KeyError, match="summarize_curve"):
        modularity_difference(pd.DataFrame({"depth": [1]}))


@pytest.mark.parametrize("stack", ["concat", "stack_curves"])
def test_modularity_difference_refuses_two_curves_and_accepts_one_selected(stack):
    curve = pd.DataFrame({"layer": list("abcabc"), "depth": [1, 2, 3] * 2, "repeat": [0, 0, 0, 1, 1, 1],
                          "modularity": [0.0, 0.3, 0.5, 0.2, 0.3, 0.7]})
    other = curve.assign(modularity=curve.modularity * 2)
    frame = (pd.concat([curve.assign(model="a"), other.assign(model="b")], ignore_index=True) if stack == "concat"
             else stack_curves({"a": curve, "b": other}, name="model"))
    with pytest.raises(ValueError, match=r"modularity_difference reads one curve, but the frame holds 2, "
                                         r"told apart by \['model'\]"):
        modularity_difference(frame)
    with pytest.raises(ValueError, match="reads one curve"):
        modularity_difference(summarize_curve(frame))
    assert np.allclose(modularity_difference(frame[frame.model == "b"]), 2 * modularity_difference(curve))
    with pytest.raises(ValueError, match="stacks curves"):  # two curves no column tells apart
        modularity_difference(pd.concat([curve, other], ignore_index=True))


def test_rank_correlation_of_a_matrix_with_itself_and_its_reverse():
    d = modularity_difference([0.1, 0.15, 0.4, 0.42, 0.8])
    assert matrix_rank_correlation(d, d) == pytest.approx(1.0)
    assert matrix_rank_correlation(d, 1 - d) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same shape"):
        matrix_rank_correlation(d, d[:4, :4])


def test_cka_agreement_is_each_repeats_correlation_recomputed_by_hand(data):
    from dynamic_graphs.figures import cka_agreement, summarize_agreement

    net = tiny_net()
    frame = cka_agreement(net, data, layers=LAYERS, n=30, repeats=3, k=3, seed=2, device="cpu")
    assert list(frame.columns) == ["repeat", "spearman", "pairs", "n", "k"]
    assert frame["pairs"].eq(6).all() and frame["repeat"].tolist() == [0, 1, 2]
    curve = modularity_curve(net, data, layers=LAYERS, n=30, repeats=3, k=3, seed=2, device="cpu")
    from scipy.stats import spearmanr

    upper = np.triu_indices(len(LAYERS), k=1)
    for repeat, indices in enumerate(sample_indices(len(data), n=30, repeats=3, seed=2)):
        q = curve[curve.repeat == repeat].sort_values("depth").modularity.to_numpy()
        d = np.abs(q[:, None] - q[None, :])
        by_layer = extract_features(net, data.batch(indices)[0], layers=LAYERS, device="cpu")
        features = [by_layer[layer].double().numpy() for layer in LAYERS]
        cka = np.array([[direct_cka(a, b) for b in features] for a in features])
        expected = spearmanr(d[upper], (1 - cka)[upper])[0]
        assert frame.spearman[repeat] == pytest.approx(expected, abs=1e-9)
    summary = summarize_agreement(frame)
    values = frame.spearman.to_numpy()
    assert summary["mean"].item() == pytest.approx(values.mean())
    assert summary.ci_low.item() < values.mean() < summary.ci_high.item()
    assert summary.repeats.item() == 3
    assert np.isnan(summarize_agreement(frame.iloc[:1]).ci_low.item())  # one repeat has no interval
    with pytest.raises(ValueError, match="at least 3 layers"):
        cka_agreement(net, data, layers=LAYERS[:2], n=30, repeats=1, device="cpu")
    with pytest.raises(KeyError, match="spearman"):
        summarize_agreement(curve)


def test_draw_samples_are_the_first_repeat_of_the_curve(data):
    images, labels = draw_samples(data, n=30, seed=4)
    indices = sample_indices(len(data), n=30, repeats=3, seed=4)[0]
    expected_images, expected_labels = data.batch(indices)
    assert torch.equal(images, expected_images) and np.array_equal(labels, expected_labels.numpy())


# --- t-SNE --------------------------------------------------------------------------------------

def test_layer_embeddings_are_tidy_and_seeded(data):
    images, labels = draw_samples(data, n=20, seed=0)
    frame = layer_embeddings(tiny_net(), images, labels, layers=["1", "5"], seed=3, perplexity=5, device="cpu")
    assert list(frame.columns) == ["layer", "depth", "sample", "x", "y", "label"]
    assert len(frame) == 40 and frame.groupby("layer").depth.first().to_dict() == {"1": 1, "5": 2}
    again = layer_embeddings(tiny_net(), images, labels, layers=["1", "5"], seed=3, perplexity=5, device="cpu")
    pd.testing.assert_frame_equal(frame, again)
    with pytest.raises(ValueError, match="perplexity"):
        layer_embeddings(tiny_net(), images, labels, layers=["1"], perplexity=20, device="cpu")
    with pytest.raises(ValueError, match="one per item"):
        layer_embeddings(tiny_net(), images, labels[:-1], layers=["1"], perplexity=5, device="cpu")


# --- ablation -----------------------------------------------------------------------------------

def test_ablation_frame_structure_and_agreement_with_the_curve(data):
    net = tiny_net()
    frame = ablation_curves(net, data, ks=[3, 5], ns=[20, 40], k=3, n=30, repeats=2, seed=1,
                            device="cpu", layers=LAYERS)
    assert list(frame.columns[:2]) == ["sweep", "value"]
    counts = frame.groupby(["sweep", "value"]).size()
    assert counts.to_dict() == {("k", 3): 8, ("k", 5): 8, ("n", 20): 8, ("n", 40): 8}  # 2 repeats × 4 layers
    assert (frame[frame.sweep == "k"].value == frame[frame.sweep == "k"].k).all()
    assert (frame[frame.sweep == "n"].value == frame[frame.sweep == "n"].n).all()
    # features computed once for all k give exactly the curve computed at each k
    curve = modularity_curve(net, data, layers=LAYERS, n=30, repeats=2, k=5, seed=1, device="cpu")
    mine = frame[(frame.sweep == "k") & (frame.value == 5)].drop(columns=["sweep", "value"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, curve, check_like=True)
    # the stacked-curve contract: declared labels, and summaries keep every (sweep, value) curve apart
    assert frame.attrs["labels"][:2] == ["sweep", "value"]
    summary = summarize_curve(frame)
    assert len(summary) == 4 * len(LAYERS) and not summary.duplicated(["sweep", "value", "layer"]).any()
    assert summary[(summary.sweep == "k") & (summary.value == 5)]["mean"].tolist() == pytest.approx(
        summarize_curve(curve)["mean"].tolist())


def test_ablation_accepts_a_dataset_name():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6), nn.ReLU())
    options = dict(ks=[3], ns=[20], n=20, repeats=2, layers=["1", "2"], device="cpu")
    by_name = ablation_curves(net, "synthetic", **options)
    pd.testing.assert_frame_equal(by_name, ablation_curves(net, get_dataset("synthetic", "test"), **options))


def test_ablation_and_asymptotics_check_counts_with_the_error_rule(data):
    with pytest.raises(TypeError, match=r"ks\[1\] must be an integer"):
        ablation_curves(tiny_net(), data, ks=[3, 2.5], ns=[20], n=30, repeats=2, layers=LAYERS)
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        ablation_curves(tiny_net(), data, ks=[3], ns=[20], n=30, repeats=0, layers=LAYERS)
    options = dict(ns=[30], ks=[3], separation=1.0, num_classes=3, dim=4, repeats=1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        asymptotic_sweep(**options, seed=1.5)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        asymptotic_sweep(**options, seed=-1)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        asymptotic_sweep(**{**options, "num_classes": 1})


def test_ablation_names_the_sweep_that_does_not_fit(data):
    with pytest.raises(ValueError, match=r"n sweep's dataset has 120 images but max\(ns\) × repeats = 80 × 2 = 160"):
        ablation_curves(tiny_net(), data, ks=[3], ns=[20, 80], n=30, repeats=2, layers=LAYERS)
    with pytest.raises(ValueError, match=r"k sweep needs every k < n = 30"):
        ablation_curves(tiny_net(), data, ks=[3, 30], ns=[20], n=30, repeats=2, layers=LAYERS)


# --- asymptotics --------------------------------------------------------------------------------

def test_edge_statistics_decomposition_d1():
    stats = edge_statistics(igraph.Graph([(0, 1), (2, 3), (1, 2)]), [0, 0, 1, 1])
    assert stats["p_in"] == pytest.approx(2 / 3) and stats["sum_pi2"] == 0.5
    assert stats["sum_strength2"] == pytest.approx(0.5) and stats["modularity"] == pytest.approx(1 / 6)
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(300) % 3)
    features = rng.standard_normal((3, 16))[labels] + rng.standard_normal((300, 16))
    stats = edge_statistics(knn_graph(features, k=5), labels)
    assert stats["modularity"] == pytest.approx(stats["p_in"] - stats["sum_strength2"], abs=1e-12)  # exact
    assert stats["modularity"] == pytest.approx(stats["p_in"] - stats["sum_pi2"], abs=0.02)  # near-uniform strengths


def test_one_nn_error():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    separable = np.where(labels[:, None] == 0, [1.0, 0.0], [0.0, 1.0]) + 0.05 * rng.random((40, 2))
    assert one_nn_error(separable, labels) == 0.0
    assert one_nn_error(separable, labels, chunk_size=7) == 0.0
    assert one_nn_error(np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]]), [0, 1, 0, 1]) == 1.0


def test_asymptotic_sweep_is_reproducible_and_tidy():
    options = dict(ns=[30, 60], ks=[3, 5], separation=[0.0, 2.0], num_classes=3, dim=8, repeats=2)
    frame = asymptotic_sweep(**options, seed=7)
    pd.testing.assert_frame_equal(frame, asymptotic_sweep(**options, seed=7))
    assert not np.allclose(frame.modularity, asymptotic_sweep(**options, seed=8).modularity)
    assert len(frame) == 2 * 2 * 2 * 2
    assert (frame.groupby("separation").limit.nunique() == 1).all()
    assert np.allclose(frame.modularity, frame.p_in - frame.sum_strength2, atol=1e-12)
    by_separation = frame.groupby("separation").modularity.mean()
    assert by_separation[2.0] > 0.5 > abs(by_separation[0.0])


# --- plots --------------------------------------------------------------------------------------

def test_plot_helpers_draw_every_panel(data):
    import matplotlib.pyplot as plt

    ax = pl.plot_layer_matrix(modularity_difference([0.1, 0.5, 0.6]), title="D")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    embeddings = pd.DataFrame({"layer": ["a"] * 4 + ["b"] * 4, "depth": [1] * 4 + [2] * 4, "sample": [0, 1, 2, 3] * 2,
                               "x": np.arange(8.0), "y": np.arange(8.0), "label": [0, 1] * 4})
    curve = pd.DataFrame({"layer": ["a", "b"], "depth": [1, 2], "repeat": 0, "modularity": [0.1, 0.6]})
    figure = pl.plot_embeddings(embeddings, class_names=["cat", "dog"], ncols=2, curve=curve)
    assert len([a for a in figure.axes if a.get_visible()]) == 3 and "Q = 0.60" in figure.axes[1].get_title()
    ablation = pd.concat([curve.assign(sweep=sweep, value=value, n=30, k=3) for sweep in "kn" for value in (3, 5)])
    assert len(pl.plot_ablation(ablation, sweep="n").get_legend().get_texts()) == 2
    sweep = asymptotic_sweep(ns=[20, 40], ks=[3], separation=[0.5, 2.0], num_classes=2, dim=4, repeats=1)
    assert len(pl.plot_asymptotics(sweep).axes) == 3
    plt.close("all")


def ablation_frame(shift: float = 0.0) -> pd.DataFrame:
    curve = pd.DataFrame({"layer": ["a", "b"], "depth": [1, 2], "repeat": 0, "modularity": [0.1 + shift, 0.6]})
    return stack_curves({(sweep, value): curve.assign(n=30 if sweep == "k" else value, k=value if sweep == "k" else 3)
                         for sweep in "kn" for value in (3, 5)}, name=["sweep", "value"])


def test_plot_ablation_keeps_stacked_ablations_apart_and_refuses_unlabelled_ones():
    import matplotlib.pyplot as plt

    two_models = stack_curves({"m1": ablation_frame(), "m2": ablation_frame(0.2)}, name="model")
    ax = pl.plot_ablation(two_models, sweep="k")
    lines = [line for line in ax.get_lines() if line.get_label().startswith("k = ")]
    assert sorted(line.get_label() for line in lines) == ["k = 3 (model=m1)", "k = 3 (model=m2)",
                                                         "k = 5 (model=m1)", "k = 5 (model=m2)"]
    assert sorted(line.get_ydata()[0] for line in lines) == pytest.approx([0.1, 0.1, 0.3, 0.3])  # not averaged
    with pytest.raises(ValueError, match="stacks curves"):
        pl.plot_ablation(pd.concat([ablation_frame(), ablation_frame(0.2)], ignore_index=True), sweep="k")
    plt.close("all")


def test_plot_embeddings_refuses_a_curve_frame_of_several_curves():
    import matplotlib.pyplot as plt

    embeddings = pd.DataFrame({"layer": ["a"] * 4, "depth": 1, "sample": range(4), "x": np.arange(4.0),
                               "y": np.arange(4.0), "label": [0, 1] * 2})
    curve = pd.DataFrame({"layer": ["a"], "depth": [1], "repeat": 0, "modularity": [0.1]})
    two = stack_curves({"m1": curve, "m2": curve.assign(modularity=0.9)}, name="model")
    with pytest.raises(ValueError, match="plot_embeddings reads one curve"):
        pl.plot_embeddings(embeddings, curve=two)
    figure = pl.plot_embeddings(embeddings, curve=two[two.model == "m2"])
    assert "Q = 0.90" in figure.axes[0].get_title()
    plt.close("all")
