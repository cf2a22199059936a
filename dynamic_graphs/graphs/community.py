"""Modularity of a graph against the true classes, Leiden communities and their agreement with the classes.

igraph and leidenalg are imported when first needed (:func:`import_igraph`), so
``import dynamic_graphs`` stays light.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..utils import as_labels

__all__ = [
    "class_membership",
    "edge_list",
    "edge_weights",
    "import_igraph",
    "leiden",
    "modularity",
    "partition_agreement",
    "partition_modularity",
]

if TYPE_CHECKING:  # igraph is imported lazily: `import dynamic_graphs` stays light
    import igraph


def import_igraph():
    try:
        import igraph
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("dynamic_graphs needs igraph: `pip install igraph` "
                          "or `conda install -c conda-forge python-igraph`.") from err
    return igraph


def class_membership(labels: Any, n_vertices: int) -> np.ndarray:
    """Class labels (one per vertex, at least 2 classes) as community ids 0..C-1."""
    classes, membership = np.unique(as_labels(labels, n_vertices), return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"modularity against classes needs at least 2 classes, got {classes.size} "
                         f"({classes.tolist()}); sample more classes.")
    return membership


def edge_list(graph: igraph.Graph) -> np.ndarray:
    """The graph's edges as an (E, 2) int64 array, in igraph's edge order."""
    return np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)


def edge_weights(graph: igraph.Graph) -> np.ndarray:
    """The ``"weight"`` of every edge as a float64 array, in edge order (all 1 when the graph has none)."""
    if "weight" in graph.edge_attributes():
        return np.asarray(graph.es["weight"], dtype=np.float64)
    return np.ones(graph.ecount())


def partition_modularity(edges: np.ndarray, weights: np.ndarray, membership: np.ndarray) -> float:
    """Q = Σ_c [W_c / W − (S_c / 2W)²], the weighted modularity at resolution 1 (Lu et al. 2022's Q).

    W is the total edge weight, W_c the weight inside community c and S_c the summed strength of its
    nodes. Written out because igraph refuses negative weights; it equals networkx's definition.
    """
    total = weights.sum()
    n_groups = int(membership.max()) + 1
    src, dst = membership[edges[:, 0]], membership[edges[:, 1]]
    inside = np.bincount(src[src == dst], weights=weights[src == dst], minlength=n_groups)
    strength = (np.bincount(src, weights=weights, minlength=n_groups)
                + np.bincount(dst, weights=weights, minlength=n_groups))
    return float(np.sum(inside / total - (strength / (2 * total)) ** 2))


def modularity(graph: igraph.Graph, labels: Any) -> float:
    """Weighted modularity (resolution 1) of ``graph`` with the given classes as communities.

    Equal to ``networkx.community.modularity(G, communities, weight="weight")``, also for graphs
    with negative edge weights (pre-BN conv outputs produce them), which are kept as they are.

    Args:
        graph: undirected ``igraph.Graph``; edge attribute ``"weight"`` (all 1 when absent).
        labels: one class label per vertex (any hashable values), at least 2 distinct.

    Returns:
        Q as a float.

    Raises:
        ValueError: wrong number of labels, fewer than 2 classes, or a graph whose total edge
            weight is not positive (for example built from all-zero features): Q is undefined.

    Example:
        >>> import igraph
        >>> two_triangles = igraph.Graph([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
        >>> round(modularity(two_triangles, [0, 0, 0, 1, 1, 1]), 6)
        0.5
    """
    membership = class_membership(labels, graph.vcount())
    weights = edge_weights(graph)
    if weights.sum() <= 0:
        raise ValueError(f"modularity is undefined for a graph with total edge weight {weights.sum():g} "
                         f"({graph.ecount()} edges); all-zero features give no edges.")
    if weights.min() >= 0:
        return float(graph.modularity(membership.tolist(), weights=weights.tolist(), resolution=1, directed=False))
    return partition_modularity(edge_list(graph), weights, membership)


def leiden(graph: igraph.Graph, *, resolution: float = 1.0, seed: int = 0, n_iterations: int = -1) -> np.ndarray:
    """Label-free communities of ``graph`` with the Leiden algorithm (leidenalg, RB-configuration).

    Community detection needs non-negative weights, so the rare negative edges (pre-BN conv
    outputs) are left out for the detection only; score the result with :func:`modularity` on the
    full graph.

    Args:
        graph: weighted undirected graph from :func:`knn_graph`.
        resolution: resolution parameter (1 = plain modularity).
        seed: leidenalg's random seed: the same seed gives the same partition.
        n_iterations: Leiden iterations; negative runs until the partition is stable.

    Returns:
        (N,) int array of community ids.
    """
    try:
        import leidenalg
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Leiden communities need leidenalg: `pip install leidenalg` "
                          "or `conda install -c conda-forge leidenalg`.") from err
    weights = np.clip(edge_weights(graph), 0, None)
    partition = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition,
                                         weights=weights.tolist(), resolution_parameter=resolution,
                                         n_iterations=n_iterations, seed=int(seed) % 2**31)
    return np.asarray(partition.membership, dtype=np.int64)


def partition_agreement(found: Any, labels: Any) -> dict[str, float]:
    """NMI and adjusted Rand index between a found partition and the true classes (igraph's)."""
    igraph = import_igraph()
    found = np.unique(np.asarray(found), return_inverse=True)[1].tolist()
    labels = np.unique(np.asarray(labels), return_inverse=True)[1].tolist()
    return {"nmi": float(igraph.compare_communities(found, labels, method="nmi")),
            "ari": float(igraph.compare_communities(found, labels, method="adjusted_rand"))}
