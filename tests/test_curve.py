"""The modularity curve on tiny synthetic inputs (extraction itself: test_features.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_net
from torch import nn

from dynamic_graphs import get_dataset, knn_graph, modularity, modularity_curve, summarize_curve
from dynamic_graphs.features import extract_features
from dynamic_graphs.curve import sample_indices


LAYERS = ["0", "2", "4", "6"]


@pytest.fixture(scope="module")
def data():
    return get_dataset("synthetic", n=120, num_classes=3, shape=(3, 8, 8), separation=3.0, seed=0)


# --- the curve ----------------------------------------------------------------------------------

def test_curve_is_tidy_and_equals_the_stage_functions(data):
    net = tiny_net()
    curve = modularity_curve(net, data, layers=LAYERS, n=30, repeats=3, k=3, seed=5, device="cpu")
    assert list(curve[["layer", "depth", "repeat"]].itertuples(index=False, name=None)) == [
        (layer, depth, repeat) for repeat in range(3) for depth, layer in enumerate(LAYERS, start=1)]
    # Recompute repeat 1, layer "2" by hand through the public stage functions.
    indices = sample_indices(len(data), n=30, repeats=3, seed=5)[1]
    images, labels = data.batch(indices)
    features = extract_features(net, images, layers=["2"], device="cpu")["2"]
    expected = modularity(knn_graph(features, k=3), labels)
    row = curve[(curve.repeat == 1) & (curve.layer == "2")]
    assert row.modularity.item() == pytest.approx(expected, abs=1e-12)


def test_repeats_are_disjoint_and_reproducible():
    samples = sample_indices(100, n=20, repeats=5, seed=3)
    assert samples.shape == (5, 20) and np.unique(samples).size == 100
    assert np.array_equal(samples, sample_indices(100, n=20, repeats=5, seed=3))
    assert not np.array_equal(samples, sample_indices(100, n=20, repeats=5, seed=4))
    assert np.array_equal(sample_indices(100, n=20, repeats=2, sampling="sequential"),
                          np.arange(40).reshape(2, 20))


def test_same_seed_gives_an_identical_frame(data):
    first = modularity_curve(tiny_net(), data, layers=LAYERS, n=40, repeats=2, seed=1, device="cpu")
    again = modularity_curve(tiny_net(), data, layers=LAYERS, n=40, repeats=2, seed=1, device="cpu")
    other = modularity_curve(tiny_net(), data, layers=LAYERS, n=40, repeats=2, seed=2, device="cpu")
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first.modularity, other.modularity)


def test_separable_classes_score_high_and_shuffled_labels_score_near_zero(data):
    identity = nn.Sequential(nn.Flatten(), nn.Identity())
    curve = modularity_curve(identity, data, layers=["1"], n=60, repeats=2, device="cpu")
    assert (curve.modularity > 0.4).all()
    shuffled = get_dataset("synthetic", n=120, num_classes=3, shape=(3, 8, 8), separation=0.0, seed=0)
    curve = modularity_curve(identity, shuffled, layers=["1"], n=60, repeats=2, device="cpu")
    assert (curve.modularity.abs() < 0.2).all()


def test_leiden_columns(data):
    curve = modularity_curve(tiny_net(), data, layers=["0", "6"], n=30, repeats=1, device="cpu", with_leiden=True)
    for column in ("leiden_modularity", "leiden_communities", "leiden_nmi", "leiden_ari"):
        assert column in curve
    # Each row reports the Q of the partition Leiden found on that very graph (seeded by seed + repeat).
    from dynamic_graphs import draw_samples
    from dynamic_graphs.graphs import leiden

    images, labels = draw_samples(data, n=30, seed=0)
    features = extract_features(tiny_net(), images, layers=["6"], device="cpu")["6"]
    graph = knn_graph(features, k=3)
    found = leiden(graph, seed=0)
    row = curve[curve.layer == "6"].iloc[0]
    assert row.leiden_modularity == pytest.approx(modularity(graph, found), abs=1e-12)
    assert row.leiden_communities == found.max() + 1


def test_summary_has_mean_and_std_per_layer(data):
    curve = modularity_curve(tiny_net(), data, layers=LAYERS, n=20, repeats=3, device="cpu")
    summary = summarize_curve(curve)
    assert list(summary.layer) == LAYERS
    layer_two = curve[curve.layer == "2"].modularity
    assert summary.set_index("layer").loc["2", "mean"] == pytest.approx(layer_two.mean())
    assert summary.set_index("layer").loc["2", "std"] == pytest.approx(layer_two.std())


def test_curve_bad_inputs(data):
    net = tiny_net()
    with pytest.raises(ValueError, match="n × repeats"):
        modularity_curve(net, data, layers=LAYERS, n=100, repeats=2, device="cpu")
    with pytest.raises(ValueError, match="not in the registry.*layers="):
        modularity_curve(net, data, n=20, repeats=1, device="cpu")
    with pytest.raises(KeyError, match="Close names"):
        modularity_curve(net, data, layers=["07"], n=20, repeats=1, device="cpu")
    with pytest.raises(ValueError, match="1 <= k < n"):
        modularity_curve(net, data, layers=LAYERS, n=20, repeats=1, k=20, device="cpu")


def test_nan_features_name_the_layer(data):
    net = tiny_net()
    with torch.no_grad():
        net[3].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="layer '3'.*NaN"):
        modularity_curve(net, data, layers=["0", "3"], n=20, repeats=1, device="cpu")



def test_an_approximate_curve_reads_the_same_images_with_projected_graphs():
    from conftest import tiny_resnet, tiny_synthetic

    model, data = tiny_resnet(), tiny_synthetic("test")
    exact = modularity_curve(model, data, n=40, repeats=2, device="cpu")
    approx = modularity_curve(model, data, n=40, repeats=2, device="cpu", graph_method="approx", graph_dim=16)
    assert approx[["layer", "repeat"]].equals(exact[["layer", "repeat"]]) and approx.modularity.notna().all()
    narrow = exact.layer == "conv1"  # conv1 of the 8 x 8 images is 16 x 8 x 8 wide: projected, so it differs
    assert not np.allclose(approx.modularity[narrow], exact.modularity[narrow])
    again = modularity_curve(model, data, n=40, repeats=2, device="cpu", graph_method="approx", graph_dim=16)
    assert again.modularity.equals(approx.modularity)  # seeded


# --------------------------------------------------------------------------- the curve's settings, one object


def test_a_spec_and_its_keywords_give_the_same_curve(data):
    from dynamic_graphs import CurveSpec

    net = tiny_net()
    spec = CurveSpec(n=30, repeats=2, k=4, seed=3, device="cpu")
    by_spec = modularity_curve(net, data, spec, layers=LAYERS)
    by_keywords = modularity_curve(net, data, layers=LAYERS, n=30, repeats=2, k=4, seed=3, device="cpu")
    pd.testing.assert_frame_equal(by_spec, by_keywords)
    # a keyword changes the spec it is given, and the change shows in the frame and its params
    changed = modularity_curve(net, data, spec, layers=LAYERS, k=5)
    assert set(changed.k) == {5} and changed.attrs["params"]["k"] == 5 and changed.attrs["params"]["n"] == 30
    assert by_spec.attrs["params"] == {**spec.params(), "model": "Sequential"}


def test_a_spec_is_checked_once_where_it_is_built_naming_the_field():
    from dynamic_graphs import CurveSpec

    with pytest.raises(ValueError, match="k must satisfy 1 <= k < n"):
        CurveSpec(n=5, k=5)
    with pytest.raises(TypeError, match="repeats must be an integer, got 2.5"):
        CurveSpec(repeats=2.5)
    with pytest.raises(KeyError, match="Unknown graph method 'aprox'. Did you mean 'approx'"):
        CurveSpec(graph_method="aprox")
    with pytest.raises(KeyError, match="Unknown pooling 'avg'"):
        CurveSpec(pool="avg")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        CurveSpec(split="val")
    with pytest.raises(TypeError, match="Unknown curve setting 'repeat'. Did you mean 'repeats'"):
        CurveSpec.build(None, repeat=3)
    spec = CurveSpec()
    with pytest.raises(ValueError, match="k must satisfy"):
        spec.replace(n=3)  # a change is checked again
    with pytest.raises(Exception):
        spec.n = 10  # frozen: a spec never changes under a curve
    assert CurveSpec(pool=torch.flatten).pool is torch.flatten  # a callable pools as it is


def test_the_notebook_check_reads_the_rules_the_spec_enforces():
    from dynamic_graphs.curve import SPEC_RULES
    from dynamic_graphs.reports import RULES

    for name in ("n", "repeats", "k", "seed", "device"):
        assert RULES[name] is SPEC_RULES[name]
