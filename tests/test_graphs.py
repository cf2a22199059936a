"""knn_graph follows the paper's construction; modularity equals networkx's, negative weights included."""
from __future__ import annotations

import igraph
import networkx as nx
import numpy as np
import pytest
import torch

from dynamic_graphs import knn_graph, modularity
from dynamic_graphs.graphs import leiden, partition_agreement
from dynamic_graphs.graphs import cosine_similarity, cosine_top_k
from dynamic_graphs.reference import paper_graph, paper_modularity


def to_networkx(graph: igraph.Graph) -> nx.Graph:
    out = nx.Graph()
    out.add_nodes_from(range(graph.vcount()))
    weights = graph.es["weight"] if "weight" in graph.edge_attributes() else [1.0] * graph.ecount()
    out.add_weighted_edges_from((*e.tuple, w) for e, w in zip(graph.es, weights))
    return out


def nx_modularity(graph: igraph.Graph, labels) -> float:
    labels = np.asarray(labels)
    communities = [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]
    return nx.community.modularity(to_networkx(graph), communities, weight="weight", resolution=1)


def edge_dict(graph) -> dict[tuple[int, int], float]:
    if isinstance(graph, igraph.Graph):
        return {tuple(sorted(e.tuple)): e["weight"] for e in graph.es}
    return {tuple(sorted((u, v))): w for u, v, w in graph.edges(data="weight")}


def negative_features() -> np.ndarray:
    """2-D directions spread over the circle: most pairs have negative cosine similarity."""
    angles = np.array([0.0, 0.3, 2.0, 2.4, 3.3, 4.4, 5.0])
    return np.column_stack([np.cos(angles), np.sin(angles)])


# --- modularity --------------------------------------------------------------------------------

def test_two_disconnected_triangles_by_hand():
    # Each triangle holds half the weight and half the strength: Q = 2 * (1/2 - (1/2)^2) = 0.5.
    graph = igraph.Graph([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
    assert modularity(graph, [0, 0, 0, 1, 1, 1]) == pytest.approx(0.5, abs=1e-12)
    # Each class split across the triangles: Q = -0.25 by the same formula (W_c = 1/6 per triangle half).
    assert modularity(graph, [0, 1, 0, 1, 0, 1]) == pytest.approx(nx_modularity(graph, [0, 1, 0, 1, 0, 1]))


def test_weighted_path_by_hand():
    # Path 0-1-2 with weights 2 and 1, classes {0,1} {2}: W = 3, W_a = 2, strengths (2, 3, 1) so
    # S_a = 5, S_b = 1, and Q = 2/3 - (5/6)^2 - (1/6)^2.
    graph = igraph.Graph([(0, 1), (1, 2)], edge_attrs={"weight": [2.0, 1.0]})
    assert modularity(graph, ["a", "a", "b"]) == pytest.approx(2 / 3 - (5 / 6) ** 2 - (1 / 6) ** 2, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 7])
def test_modularity_equals_networkx_on_knn_graphs(seed, k):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(80, 12)) + np.repeat(rng.normal(size=(4, 12)), 20, axis=0)
    labels = np.repeat(np.arange(4), 20)
    graph = knn_graph(features, k=k)
    assert abs(modularity(graph, labels) - nx_modularity(graph, labels)) <= 1e-9


def test_modularity_with_negative_weights_equals_networkx():
    graph = igraph.Graph([(0, 1), (1, 2), (2, 3), (0, 3), (1, 3)],
                         edge_attrs={"weight": [0.9, -0.2, 0.7, -0.05, 0.4]})
    for labels in ([0, 0, 1, 1], [0, 1, 0, 1], [2, 2, 2, 5]):
        assert abs(modularity(graph, labels) - nx_modularity(graph, labels)) <= 1e-12


def test_knn_graph_with_negative_similarities_keeps_negative_edges_and_matches_networkx():
    features = negative_features()
    graph = knn_graph(features, k=3)
    weights = np.array(graph.es["weight"])
    assert (weights < 0).any(), "this configuration must produce negative edges"
    labels = [0, 0, 1, 1, 2, 2, 2]
    assert abs(modularity(graph, labels) - nx_modularity(graph, labels)) <= 1e-9
    assert modularity(graph, labels) == pytest.approx(paper_modularity(features, labels, k=3), abs=1e-6)


def test_modularity_matches_decomposition_identity():
    # The decomposition Q = W_in / W - sum_c (S_c / 2W)^2 (the asymptotics notebook), computed independently here.
    rng = np.random.default_rng(3)
    features, labels = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    graph = knn_graph(features, k=4)
    w = np.array(graph.es["weight"])
    src, dst = np.array(graph.get_edgelist()).T
    total = w.sum()
    inside = w[labels[src] == labels[dst]].sum()
    strength = np.array(graph.strength(weights="weight"))
    expected = inside / total - sum((strength[labels == c].sum() / (2 * total)) ** 2 for c in range(3))
    assert modularity(graph, labels) == pytest.approx(expected, abs=1e-12)


# --- knn_graph construction --------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_knn_graph_matches_the_paper_code_path_on_random_features(seed):
    features = np.random.default_rng(seed).normal(size=(40, 9)).astype(np.float32)
    ours, theirs = edge_dict(knn_graph(features, k=3)), edge_dict(paper_graph(features, k=3))
    assert ours.keys() == theirs.keys()
    assert np.allclose([ours[e] for e in ours], [theirs[e] for e in ours], atol=1e-6)


@pytest.mark.parametrize("rows", [1, 7, 64])
def test_blocked_graph_has_the_edges_of_the_whole_matrix(rows):
    features = torch.from_numpy(np.random.default_rng(rows).normal(size=(150, 12)).astype(np.float32))
    whole = edge_dict(knn_graph(features, k=3, rows=150))  # one block: the full similarity matrix
    blocked = edge_dict(knn_graph(features, k=3, rows=rows))
    assert blocked.keys() == whole.keys()
    assert np.allclose([blocked[e] for e in whole], [whole[e] for e in whole], rtol=1e-6, atol=1e-7)
    # and the same edges as a direct float64 NumPy computation of the definition
    assert blocked.keys() == edge_dict(paper_graph(features.numpy(), k=3)).keys()


def test_blocked_graph_never_builds_more_rows_than_asked(monkeypatch):
    import dynamic_graphs.graphs as graphs_module
    from dynamic_graphs.graphs import knn

    shapes = []
    real = graphs_module.similarity_rows

    def spy(matrix, inverse, start, stop, *args):
        block = real(matrix, inverse, start, stop, *args)
        shapes.append(tuple(block.shape))
        return block

    monkeypatch.setattr(knn, "similarity_rows", spy)  # where cosine_top_k looks it up
    knn_graph(np.random.default_rng(0).normal(size=(23, 4)), k=2, rows=5)
    assert shapes == [(5, 23)] * 4 + [(3, 23)]
    shapes.clear()
    knn_graph(np.random.default_rng(0).normal(size=(23, 4)), k=2)  # the default budget: one block at this N
    assert shapes == [(23, 23)]
    assert graphs_module.block_rows(50_000) == graphs_module.BLOCK_BYTES // (4 * 50_000)  # 1342 rows of 200 kB


def test_ties_across_block_boundaries_still_go_to_the_lower_index():
    one_hot = np.repeat(np.eye(3), 3, axis=0)
    for rows in (1, 2, 4):
        assert edge_dict(knn_graph(one_hot, k=1, rows=rows)) == edge_dict(paper_graph(one_hot, k=1))


def test_bad_block_size_is_refused():
    with pytest.raises(ValueError, match="rows must be an integer >= 1"):
        knn_graph(np.eye(4) + 0.1, k=1, rows=0)


def test_knn_graph_basic_structure():
    features = torch.randn(30, 2, 3, 3)  # flattened to 18 features per sample
    graph = knn_graph(features, k=3)
    assert not graph.is_directed()
    assert graph.vcount() == 30
    assert not any(graph.is_loop())
    assert not graph.has_multiple()
    # Each node points to 3 others, so it has between 3 and 3 + (in-degree) undirected edges.
    assert min(graph.degree()) >= 3
    assert 30 * 3 / 2 <= graph.ecount() <= 30 * 3


def test_mutual_pairs_keep_similarity_and_one_way_pairs_get_half():
    features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    similarity = cosine_similarity(features).double().numpy()
    edges = edge_dict(knn_graph(features, k=1))
    # 0 and 1 choose each other; 2 chooses 1 (its best), 1 does not choose 2.
    assert edges == pytest.approx({(0, 1): similarity[0, 1], (1, 2): similarity[2, 1] / 2})


def test_zero_weight_self_entry_gives_fewer_edges():
    # Node 0's similarities are 1 (node 2) and -1 (nodes 1, 3); with k = 2 its second choice is its own
    # zeroed diagonal entry, which is no edge, so it ends with a single edge.
    features = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    graph = knn_graph(features, k=2)
    assert edge_dict(graph) == {(0, 2): 1.0, (1, 3): 1.0}
    assert edge_dict(graph) == edge_dict(paper_graph(features, k=2))


def test_duplicate_rows_break_ties_towards_lower_index():
    one_hot = np.repeat(np.eye(3), 3, axis=0)  # exact ties: similarity 1 within a group, 0 across
    graph = knn_graph(one_hot, k=1)
    # Node 0 ties between 1 and 2 and takes 1; nodes 1 and 2 take 0 (lower than 2 and 1).
    assert edge_dict(graph) == edge_dict(paper_graph(one_hot, k=1))
    assert set(edge_dict(graph)) == {(0, 1), (0, 2), (3, 4), (3, 5), (6, 7), (6, 8)}


def test_all_zero_rows_get_no_edges():
    features = np.random.default_rng(0).normal(size=(12, 5))
    features[[2, 7]] = 0
    graph = knn_graph(features, k=3)
    assert graph.degree([2, 7]) == [0, 0]
    assert edge_dict(graph).keys() == edge_dict(paper_graph(features, k=3)).keys()


def test_all_zero_features_make_modularity_undefined():
    graph = knn_graph(np.zeros((6, 4)), k=2)
    assert graph.ecount() == 0
    with pytest.raises(ValueError, match="total edge weight"):
        modularity(graph, [0, 0, 0, 1, 1, 1])


def test_numpy_and_torch_inputs_agree():
    features = np.random.default_rng(1).normal(size=(20, 4)).astype(np.float32)
    assert edge_dict(knn_graph(features, k=2)) == edge_dict(knn_graph(torch.from_numpy(features), k=2))


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, -1, 10, 11])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match="1 <= k < N"):
        knn_graph(np.random.rand(10, 3), k=k)


def test_k_not_integer():
    with pytest.raises(TypeError, match="k must be an integer"):
        knn_graph(np.random.rand(10, 3), k=2.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_features_name_the_layer(bad):
    features = np.random.rand(10, 3)
    features[4, 1] = bad
    with pytest.raises(ValueError, match="layer 'layer2.3'.*NaN or Inf"):
        knn_graph(features, k=2, name="layer2.3")


def test_features_of_wrong_type():
    with pytest.raises(TypeError, match="torch.Tensor or numpy.ndarray"):
        knn_graph([[1, 2], [3, 4]], k=1)


def test_labels_of_wrong_length():
    graph = knn_graph(np.random.rand(10, 3), k=2)
    with pytest.raises(ValueError, match=r"labels must be a 1-D sequence with one per item \(10\)"):
        modularity(graph, [0, 1] * 4)
    with pytest.raises(ValueError, match="1-D"):
        modularity(graph, np.zeros((10, 2)))


def test_fewer_than_two_classes():
    graph = knn_graph(np.random.rand(10, 3), k=2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        modularity(graph, [1] * 10)


# --- Leiden --------------------------------------------------------------------------------------

# Leiden is a heuristic: it need not reach a higher Q than the label partition, so the tests below
# assert what it guarantees (well-connected, reproducible communities whose Q it reports correctly).

def two_cliques(size: int = 6, weight: float = 0.8) -> igraph.Graph:
    """Two disconnected weighted cliques: the only partition Leiden can return is the two cliques."""
    edges = [(i, j) for block in (0, size) for i in range(block, block + size) for j in range(i + 1, block + size)]
    return igraph.Graph(n=2 * size, edges=edges, edge_attrs={"weight": [weight] * len(edges)})


def test_leiden_finds_two_disconnected_cliques_exactly():
    graph = two_cliques()
    truth = np.repeat([0, 1], 6)
    for seed in range(3):
        found = leiden(graph, seed=seed)
        assert partition_agreement(found, truth) == pytest.approx({"nmi": 1.0, "ari": 1.0})
        assert modularity(graph, found) == pytest.approx(0.5, abs=1e-12)  # two equal halves: 2 (1/2 - 1/4)


def test_leiden_reports_the_modularity_of_its_own_partition():
    import leidenalg

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 30)
    features = np.eye(8)[:3][labels] * 2 + rng.normal(size=(90, 8))
    graph = knn_graph(features, k=5)
    found = leiden(graph, seed=1)
    assert found.shape == (90,) and found.min() == 0 and np.array_equal(np.unique(found), np.arange(found.max() + 1))
    partition = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition, weights="weight",
                                         resolution_parameter=1.0, n_iterations=-1, seed=1)
    assert np.array_equal(found, partition.membership)  # our wrapper returns leidenalg's partition
    # RB-configuration quality at resolution 1 is 2W times the weighted modularity
    assert modularity(graph, found) == pytest.approx(partition.quality() / (2 * sum(graph.es["weight"])), abs=1e-9)
    assert modularity(graph, found) == pytest.approx(
        graph.modularity(found.tolist(), weights="weight", resolution=1), abs=1e-12)


def test_leiden_is_reproducible_for_a_seed():
    rng = np.random.default_rng(2)
    graph = knn_graph(rng.normal(size=(80, 6)), k=4)  # no class structure: many near-equal partitions
    assert np.array_equal(leiden(graph, seed=3), leiden(graph, seed=3))
    assert any(not np.array_equal(leiden(graph, seed=3), leiden(graph, seed=s)) for s in range(4, 12))


def test_partition_agreement_of_identical_and_relabelled_partitions():
    labels = np.repeat(np.arange(3), 5)
    assert partition_agreement(labels, labels) == pytest.approx({"nmi": 1.0, "ari": 1.0})
    assert partition_agreement((labels + 1) % 3, labels) == pytest.approx({"nmi": 1.0, "ari": 1.0})
    assert partition_agreement(np.arange(15) % 2, labels)["ari"] < 0.2


def in_order_of_appearance(labels) -> list[int]:
    """Community ids renumbered 0, 1, ... in order of first appearance, to compare partitions up to their ids."""
    ids: dict = {}
    return [ids.setdefault(label, len(ids)) for label in np.asarray(labels).tolist()]


def all_partitions(n: int) -> list[list[int]]:
    """Every partition of n vertices, once each (restricted growth strings): the brute-force reference."""
    if n == 1:
        return [[0]]
    return [p + [c] for p in all_partitions(n - 1) for c in range(max(p) + 2)]


def without_negative_edges(graph: igraph.Graph) -> igraph.Graph:
    positive = graph.copy()
    positive.delete_edges([e.index for e in positive.es if e["weight"] < 0])
    return positive


def two_triangles_and_a_repelled_node() -> igraph.Graph:
    """Unit-weight triangles {0, 1, 2} and {3, 4, 5} joined by a weak edge (2, 3), and node 6 tied weakly
    to 0 (0.3) and repelled by 3, 4, 5 (-0.8 each). Without its negative edges node 6 belongs with 0;
    taken as positive (abs), they would pull it into the second triangle."""
    edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3), (0, 6), (3, 6), (4, 6), (5, 6)]
    return igraph.Graph(n=7, edges=edges, edge_attrs={"weight": [1.0] * 6 + [0.2, 0.3, -0.8, -0.8, -0.8]})


@pytest.mark.parametrize("make, communities", [
    (two_triangles_and_a_repelled_node, [0, 0, 0, 1, 1, 1, 0]),
    # the k-NN graph of directions on three arcs of the circle, {0, 0.3}, {2, 2.4, 3.3}, {4.4, 5}; edge (1, 6) < 0
    (lambda: knn_graph(negative_features(), k=3), [0, 0, 1, 1, 1, 2, 2]),
], ids=["two-triangles", "knn-of-directions"])
def test_leiden_leaves_negative_edges_out_and_finds_the_communities(make, communities):
    import leidenalg

    graph = make()
    assert min(graph.es["weight"]) < 0  # leidenalg itself refuses such a graph ("Cannot accept negative weights")
    found = leiden(graph, seed=0)
    assert found.dtype == np.int64 and found.shape == (graph.vcount(),)
    assert sorted(set(found.tolist())) == list(range(max(communities) + 1))  # ids 0..c-1
    assert in_order_of_appearance(found) == communities
    # the negative edges are left out of the detection: leidenalg's partition of the graph without them, ids included
    positive = without_negative_edges(graph)
    for seed in range(4):
        partition = leidenalg.find_partition(positive, leidenalg.RBConfigurationVertexPartition, weights="weight",
                                             resolution_parameter=1.0, n_iterations=-1, seed=seed)
        assert leiden(graph, seed=seed).tolist() == partition.membership
    # ... and the best partition of that graph, by brute force over all of them (networkx's modularity)
    best = max(all_partitions(graph.vcount()), key=lambda p: nx_modularity(positive, p))
    assert best == communities
    # scored on the full graph, negative edges kept, as networkx scores it
    assert modularity(graph, found) == pytest.approx(nx_modularity(graph, communities), abs=1e-12)
    assert np.array_equal(leiden(graph, seed=0), found)  # the seed reproduces it


def test_leiden_communities_of_the_two_triangles_score_by_hand():
    graph = two_triangles_and_a_repelled_node()
    absolute = graph.copy()
    absolute.es["weight"] = np.abs(graph.es["weight"]).tolist()
    # the toy tells leaving negative edges out from taking them as positive: that would put node 6 with {3, 4, 5}
    assert max(all_partitions(7), key=lambda p: nx_modularity(absolute, p)) == [0, 0, 0, 1, 1, 1, 1]
    assert in_order_of_appearance(leiden(graph, seed=0)) == [0, 0, 0, 1, 1, 1, 0]
    # W = 6 + 0.2 + 0.3 - 2.4 = 4.1. {0, 1, 2, 6}: internal weight 3.3, strength 2 * 3.3 + 0.2 - 2.4 = 4.4;
    # {3, 4, 5}: internal 3, strength 6 + 0.2 - 2.4 = 3.8. Q = (3.3 + 3) / 4.1 - (4.4² + 3.8²) / 8.2²
    assert modularity(graph, leiden(graph, seed=0)) == pytest.approx(6.3 / 4.1 - (4.4**2 + 3.8**2) / 8.2**2, abs=1e-12)


def test_the_approximate_graph_is_the_exact_one_of_a_seeded_projection():
    from dynamic_graphs.graphs import random_projection

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 40)
    x = (rng.standard_normal((200, 2000)) + 1.2 * rng.standard_normal((5, 2000))[labels]).astype(np.float32)
    projected = random_projection(x, 64, seed=3)
    assert tuple(projected.shape) == (200, 64)
    # the projection itself, written out: one Gaussian matrix drawn in row blocks from the seed's generator
    generator = torch.Generator().manual_seed(3)
    reference = torch.from_numpy(x) @ torch.randn(2000, 64, generator=generator) / 8
    torch.testing.assert_close(projected, reference, rtol=1e-4, atol=1e-4)
    approx = knn_graph(x, k=3, method="approx", dim=64, seed=3)
    assert edge_dict(approx).keys() == edge_dict(knn_graph(projected, k=3)).keys()
    assert abs(modularity(approx, labels) - modularity(knn_graph(x, k=3), labels)) < 0.02
    assert edge_dict(knn_graph(x[:, :50], k=3, method="approx", dim=64)) == edge_dict(knn_graph(x[:, :50], k=3))
    with pytest.raises(KeyError, match="graph method"):
        knn_graph(x, k=3, method="faiss")


def test_neighbour_lists_resolve_every_tie_towards_the_lower_index():
    # orthogonal samples: every similarity to another sample is exactly 0, a tie of all N - 1
    indices, values = cosine_top_k(np.eye(6, dtype=np.float32), 2, exclude_self=True)
    assert indices.tolist() == [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1], [0, 1]]
    assert np.all(values == 0)
    # equal similarities within the top k: the lower index comes first, as heapq.nlargest orders them
    features = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    indices, _ = cosine_top_k(features, 2, exclude_self=True)
    assert indices[:3].tolist() == [[1, 2], [0, 2], [0, 1]]


def test_gc_paused_restores_the_collector():
    """knn_graph builds its igraph graph with the cyclic collector paused (a collection midway walks every
    live object and frees nothing); the collector's state is the caller's afterwards, on or off."""
    import gc

    from dynamic_graphs.graphs.knn import gc_paused

    was = gc.isenabled()
    try:
        for before in (True, False):
            gc.enable() if before else gc.disable()
            with gc_paused():
                assert not gc.isenabled()
            assert gc.isenabled() == before
        gc.enable()
        with pytest.raises(RuntimeError), gc_paused():
            raise RuntimeError("inside")
        assert gc.isenabled()
    finally:
        gc.enable() if was else gc.disable()
