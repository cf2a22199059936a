"""The companion metrics of layer_metrics, each against a direct NumPy / scikit-learn computation, and
the frame they come in: the images of modularity_curve, one feature pass, one row per (repeat, layer)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

import dynamic_graphs as dg
from dynamic_graphs.graphs import cosine_top_k
from dynamic_graphs.metrics import probe_score

from conftest import tiny_resnet, tiny_synthetic


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _neighbours(x, k):
    """The k most cosine-similar other rows, straight from NumPy (stable: ties to the lower index)."""
    similarity = _unit(x) @ _unit(x).T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def test_neighbours_without_self_match_numpy():
    x = np.random.default_rng(0).standard_normal((40, 6))
    assert np.array_equal(cosine_top_k(x, 4, exclude_self=True)[0], _neighbours(x, 4))
    assert np.array_equal(cosine_top_k(x, 4, exclude_self=True, rows=7)[0], _neighbours(x, 4))


def test_knn_accuracy_matches_a_direct_vote():
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
    neighbours = _neighbours(x, 5)
    expected = []
    for row, label in zip(neighbours, labels):
        votes = labels[row]
        counts = np.bincount(votes, minlength=3)
        tied = np.flatnonzero(counts == counts.max())
        expected.append(next(v for v in votes if v in tied) == label)  # a tie goes to the nearest's label
    assert dg.metrics.knn_accuracy(neighbours, labels) == pytest.approx(np.mean(expected))
    # without ties (k = 1) it is scikit-learn's leave-one-out 1-NN with cosine distance
    nearest = _neighbours(x, 1)
    knn = KNeighborsClassifier(n_neighbors=2, metric="cosine").fit(x, labels)
    sk = knn.kneighbors(x, return_distance=False)[:, 1]  # its first neighbour is the sample itself
    assert np.array_equal(nearest[:, 0], sk)
    assert dg.metrics.knn_accuracy(nearest, labels) == pytest.approx(np.mean(labels[sk] == labels))


def test_mutual_knn_is_the_mean_overlap_of_neighbour_sets():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    na, nb = _neighbours(a, 3), _neighbours(b, 3)
    expected = np.mean([len(set(p) & set(q)) / 3 for p, q in zip(na, nb)])
    assert dg.metrics.mutual_knn(na, nb) == pytest.approx(expected)
    assert dg.metrics.mutual_knn(na, na) == 1.0
    with pytest.raises(ValueError, match="one shape"):
        dg.metrics.mutual_knn(na, nb[:, :2])


def test_separation_fuzziness_is_the_trace_of_within_times_pinv_between():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 15)
    x = rng.standard_normal((60, 7)) + 2 * rng.standard_normal((4, 7))[labels]
    mu, means = x.mean(axis=0), np.stack([x[labels == c].mean(axis=0) for c in range(4)])
    within = sum(np.outer(d, d) for d in x - means[labels]) / 60
    between = sum(np.outer(m - mu, m - mu) for m in means) / 4
    expected = np.trace(within @ np.linalg.pinv(between))
    assert dg.metrics.separation_fuzziness(x, labels) == pytest.approx(expected, rel=1e-9)
    wide = rng.standard_normal((20, 3000))  # D >> N: no D x D matrix is needed
    assert np.isfinite(dg.metrics.separation_fuzziness(wide, np.arange(20) % 2))
    with pytest.raises(ValueError, match="same mean"):
        dg.metrics.separation_fuzziness(np.ones((10, 3)), np.arange(10) % 2)


def test_probe_score_is_a_held_out_accuracy():
    rng = np.random.default_rng(4)
    labels = np.arange(90) % 3
    x = rng.standard_normal((90, 4)) + 4 * np.eye(3, 4)[labels]  # separable
    assert probe_score(x[:60], labels[:60], x[60:], labels[60:]) == 1.0
    noise = rng.standard_normal((90, 4))
    assert probe_score(noise[:60], labels[:60], noise[60:], labels[60:]) < 0.8


def test_layer_metrics_reads_the_curve_images_once_and_matches_each_metric():
    model, data = tiny_resnet(), tiny_synthetic("test", n=120)
    metrics = list(dg.metrics.LAYER_METRICS)
    frame = dg.metrics.layer_metrics(model, data, metrics=metrics, n=30, repeats=2, k=3, seed=5, device="cpu")
    layers = dg.probe_layers(model)
    assert list(frame.columns) == ["repeat", "layer", "depth", *metrics, "n", "k"]
    assert frame.layer.tolist() == layers * 2 and frame.repeat.tolist() == [0] * 4 + [1] * 4
    curve = dg.modularity_curve(model, data, n=30, repeats=2, k=3, seed=5, device="cpu")
    np.testing.assert_allclose(frame.modularity, curve.modularity)  # the same images, the same Q
    # every metric again from the features of the same images
    indices = dg.curve.sample_indices(len(data), n=30, repeats=2, seed=5)[1]
    images, labels = data.batch(torch.as_tensor(indices))
    labels = labels.numpy()
    features = {name: f.numpy() for name, f in dg.features.extract_features(model, images, device="cpu").items()}
    second = frame[frame.repeat == 1].set_index("layer")
    for layer, following in zip(layers, layers[1:] + [None]):
        x = features[layer]
        assert second.loc[layer, "knn_accuracy"] == pytest.approx(dg.metrics.knn_accuracy(_neighbours(x, 3), labels))
        assert second.loc[layer, "separation_fuzziness"] == pytest.approx(dg.metrics.separation_fuzziness(x, labels))
        if following is None:
            assert np.isnan(second.loc[layer, "linear_cka_next"]) and np.isnan(second.loc[layer, "mutual_knn_next"])
        else:
            y = features[following]
            assert second.loc[layer, "linear_cka_next"] == pytest.approx(dg.metrics.linear_cka(x, y))
            assert second.loc[layer, "mutual_knn_next"] == pytest.approx(dg.metrics.mutual_knn(_neighbours(x, 3),
                                                                                        _neighbours(y, 3)))
    assert frame.linear_probe.between(0, 1).all()
    summary = dg.summarize_curve(frame, value="knn_accuracy")
    assert len(summary) == len(layers)
    with pytest.raises(KeyError, match="layer metric"):
        dg.metrics.layer_metrics(model, data, metrics=["cka"], n=30, repeats=1, device="cpu")


@pytest.mark.parametrize("metrics, error, message", [
    ([], ValueError, "metrics is empty; pass at least one measure of modularity, knn_accuracy"),
    ((), ValueError, "metrics is empty"),
    (None, TypeError, "metrics must be a list of measure names of modularity"),
    ("knn_accuracy", TypeError, r"use \['knn_accuracy'\]"),
    (["knn_accuracy", "knn_accuracy"], ValueError, "must list each measure once"),
])
def test_layer_metrics_refuses_no_metric_before_any_forward_pass(metrics, error, message):
    model, data = tiny_resnet(), tiny_synthetic("test", n=40)
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    with pytest.raises(error, match=message):
        dg.metrics.layer_metrics(model, data, metrics=metrics, n=20, repeats=1, k=3, device="cpu")
    assert calls == []


def test_the_probe_fitted_in_the_training_rows_span_is_the_same_probe():
    # more features than samples: the penalised optimum lies in the rows' span, so fitting there changes nothing
    from sklearn.linear_model import LogisticRegression

    from dynamic_graphs.metrics.companions import row_space

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=60)
    features = rng.normal(size=(60, 500)) + 2.0 * np.eye(3)[labels] @ rng.normal(size=(3, 500))
    train, test = features[:40], features[40:]
    train -= train.mean(axis=0)  # centred rows span fewer directions than there are rows: one is dropped
    small_train, small_test = row_space(train, test)
    assert small_train.shape == (40, 39) and small_test.shape == (20, 39)
    full = LogisticRegression(max_iter=10_000, tol=1e-10).fit(train, labels[:40])
    small = LogisticRegression(max_iter=10_000, tol=1e-10).fit(small_train, labels[:40])
    np.testing.assert_allclose(small.decision_function(small_test), full.decision_function(test), atol=1e-5)
    # the weights themselves: the small probe's, mapped back, are the full probe's
    np.testing.assert_allclose(small_train @ small.coef_.T, train @ full.coef_.T, atol=1e-5)
