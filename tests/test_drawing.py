"""The layer graphs (figures.graphs) and their pictures (pl.graphs): colours by class, shades by weight, the GIF."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in tests)

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, PathCollection
from PIL import Image

from dynamic_graphs import draw_samples, get_dataset, get_model, modularity_curve
from dynamic_graphs.figures.graphs import layer_graph_table, layer_graphs
from dynamic_graphs.pl.graphs import draw_graph, embed_gif, graph_animation, graph_layout, plot_layer_graphs


@pytest.fixture(autouse=True)
def quiet(data_dir):  # data_dir (conftest): an empty settings.data_dir and verbosity 0 for each test
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return get_dataset("synthetic", "test", n=80, num_classes=4, shape=(3, 8, 8), separation=1.0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return get_model("resnet20", num_classes=4, blocks=[1, 1, 1]).eval()


@pytest.fixture(scope="module")
def graphs_and_labels(data, model):
    images, labels = draw_samples(data, n=40, seed=3)
    return layer_graphs(model, images, labels, k=3, device="cpu"), labels


def weighted_graph():
    import igraph

    weights = [0.9, -0.2, 0.5, 0.1, 0.7, 0.3]
    return igraph.Graph(n=6, edges=[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)],
                        edge_attrs={"weight": weights}), weights


def test_nodes_are_coloured_by_class_and_edges_shaded_by_weight():
    graph, weights = weighted_graph()
    coords = np.column_stack([np.arange(6.0), np.arange(6.0) ** 2])  # distinct points identify the nodes
    ax = draw_graph(graph, [2, 2, 0, 0, 1, 1], layout=coords, class_names=["a", "b", "c"])

    nodes = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(nodes) == 1 and len(nodes[0].get_offsets()) == 6
    assert len(np.unique(nodes[0].get_facecolors().round(6), axis=0)) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]

    edges = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(edges) == 1
    segments, colors = edges[0].get_segments(), edges[0].get_colors()
    assert len(segments) == graph.ecount() == len(colors)
    weight_of = {frozenset(e): w for e, w in zip(graph.get_edgelist(), weights)}
    drawn = [weight_of[frozenset(int(x) for x in segment[:, 0])] for segment in segments]
    order = np.argsort(drawn)
    assert np.all(np.diff(colors[order, 3]) > 0), "opacity must rise with the weight"
    assert np.all(np.diff(colors[order, 0]) < 0), "the shade must darken with the weight"
    assert colors[:, 3].min() > 0.1, "the weakest (negative) edge stays visible"


def test_circle_layout_groups_each_class_on_one_arc_and_fr_is_seeded():
    graph, _ = weighted_graph()
    labels = np.array([1, 0, 2, 0, 1, 2])
    coords = graph_layout(graph, labels, "circle")
    around = labels[np.argsort(np.arctan2(coords[:, 1], coords[:, 0]))]
    assert np.count_nonzero(around != np.roll(around, 1)) == 3  # one arc per class
    first, again = graph_layout(graph, labels, "fr", seed=1), graph_layout(graph, labels, "fr", seed=1)
    assert np.array_equal(first, again)
    assert not np.allclose(first, graph_layout(graph, labels, "fr", seed=2))


def test_layouts_leave_the_callers_random_state_alone_and_accept_unweighted_graphs():
    import random

    import igraph

    graph, _ = weighted_graph()
    labels = np.array([1, 0, 2, 0, 1, 2])
    random.seed(5)
    np.random.seed(5)
    expected = random.random(), np.random.random()
    random.seed(5)
    np.random.seed(5)
    graph_layout(graph, labels, "random", seed=1)
    graph_layout(graph, labels, "fr", seed=1)
    assert (random.random(), np.random.random()) == expected
    unweighted = igraph.Graph(n=6, edges=graph.get_edgelist())  # no "weight": every edge counts 1
    assert graph_layout(unweighted, labels, "fr", seed=1).shape == (6, 2)


def test_labels_must_be_one_per_node():
    graph, _ = weighted_graph()
    with pytest.raises(ValueError, match=r"one per item \(6\)"):
        draw_graph(graph, [0, 1, 0])


def test_layer_graphs_give_the_modularity_curve_values(data, model, graphs_and_labels):
    graphs, _ = graphs_and_labels
    curve = modularity_curve(model, data, n=40, repeats=1, k=3, seed=3, device="cpu")
    assert [g.layer for g in graphs] == list(curve.layer)
    assert [q for _, _, q in graphs] == pytest.approx(list(curve.modularity), abs=1e-12)
    assert all(g.graph.vcount() == 40 for g in graphs)
    table = layer_graph_table(graphs)
    assert list(table.depth) == list(curve.depth) and list(table.edges) == list(curve.edges)


def test_layer_graphs_take_layers_by_keyword_only(data, model):
    images, labels = draw_samples(data, n=20, seed=0)
    chosen = layer_graphs(model, images, labels, layers=["conv1", "layer2.0"], k=3, device="cpu")
    assert [g.layer for g in chosen] == ["conv1", "layer2.0"]
    with pytest.raises(TypeError, match="positional"):
        layer_graphs(model, images, labels, ["conv1"])


def test_panels_show_the_chosen_layers_with_q_and_drop_missing_ones(graphs_and_labels):
    graphs, labels = graphs_and_labels
    with pytest.warns(UserWarning, match=r"Layers \[9\]"):
        figure = plot_layer_graphs(graphs, labels, layers=[1, "layer2.0", 9], ncols=2)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[:2] == [f"L1 (conv1)  Q = {graphs[0].modularity:.2f}",
                          f"L3 (layer2.0)  Q = {graphs[2].modularity:.2f}"]
    assert "modularity curve" in titles


def test_animation_writes_a_gif_with_one_frame_per_layer(graphs_and_labels, tmp_path):
    graphs, labels = graphs_and_labels
    path = graph_animation(graphs, labels, tmp_path / "out" / "layers.gif", fps=2, dpi=40)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(graphs)
    assert sorted(p.name for p in path.parent.iterdir()) == ["layers.gif"]  # no temporary file left
    assert embed_gif(path).data.startswith('<img src="data:image/gif;base64,R0lG')  # b"GIF" in base64


def test_panel_layers_follow_the_error_rule(graphs_and_labels):
    from dynamic_graphs.utils import UnknownNameError

    graphs, labels = graphs_and_labels
    with pytest.raises(UnknownNameError, match="Did you mean 'layer2.0'"):
        plot_layer_graphs(graphs, labels, layers=["layer2.O"])
    with pytest.raises(TypeError, match="1-based positions"):
        plot_layer_graphs(graphs, labels, layers=[1.0])
    with pytest.raises(ValueError, match=r"layers\[0\] must be an integer >= 1"):
        plot_layer_graphs(graphs, labels, layers=[0])
