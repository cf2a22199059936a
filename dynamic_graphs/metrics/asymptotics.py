"""The terms of Q's asymptotics: Q = W_in/W − Σ_c (S_c/2W)², and the 1-NN error Q approaches.

:func:`edge_statistics` and :func:`one_nn_error`, the project's own derivation behind the
``asymptotics`` notebook (docs/method.md, "Asymptotics"): Q → 1 − R_1NN − Σ_c π_c² as N grows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..graphs import as_feature_matrix, class_membership, cosine_top_k, edge_list, edge_weights, modularity
from ..utils import as_labels

__all__ = ["edge_statistics", "one_nn_error"]


def edge_statistics(graph: Any, labels: Any) -> dict[str, float]:
    """The terms of the decomposition Q = W_in/W − Σ_c (S_c/2W)² for one graph, the classes as communities.

    With W the total edge weight, W_in the weight of intra-class edges and S_c the summed
    strength of class c, the decomposition is exact; for a symmetrised k-NN graph, strengths are
    nearly uniform and Q ≈ p_in − Σ_c π_c² (the project's derivation, docs/method.md
    "Asymptotics", D1).

    Args:
        graph: undirected weighted ``igraph.Graph`` without self-loops, e.g. from :func:`knn_graph`.
        labels: one class label per vertex, at least 2 classes.

    Returns:
        ``modularity`` (Q), ``p_in`` (W_in/W), ``sum_pi2`` (Σ_c π_c² of the class proportions of
        the vertices), ``sum_strength2`` (Σ_c (S_c/2W)²) and ``weight`` (W).

    Example:
        >>> import igraph
        >>> stats = edge_statistics(igraph.Graph([(0, 1), (2, 3), (1, 2)]), [0, 0, 1, 1])
        >>> stats["p_in"], stats["sum_pi2"], round(stats["modularity"], 4)
        (0.6666666666666666, 0.5, 0.1667)
    """
    q = modularity(graph, labels)  # validates the labels and the total weight
    membership = class_membership(labels, graph.vcount())
    edges = edge_list(graph)
    if (edges[:, 0] == edges[:, 1]).any():
        raise ValueError("edge_statistics expects a graph without self-loops (as knn_graph builds); "
                         "remove them with graph.simplify(loops=True, multiple=False).")
    weights = edge_weights(graph)
    total = weights.sum()
    source, target = membership[edges[:, 0]], membership[edges[:, 1]]
    n_classes = int(membership.max()) + 1
    strength = (np.bincount(source, weights=weights, minlength=n_classes)
                + np.bincount(target, weights=weights, minlength=n_classes))
    proportions = np.bincount(membership, minlength=n_classes) / membership.size
    return {"modularity": q,
            "p_in": float(weights[source == target].sum() / total),
            "sum_pi2": float(np.sum(proportions ** 2)),
            "sum_strength2": float(np.sum((strength / (2 * total)) ** 2)),
            "weight": float(total)}


def one_nn_error(features: Any, labels: Any, *, chunk_size: int = 2048) -> float:
    """Leave-one-out 1-nearest-neighbour error with cosine similarity (R_1NN of the asymptotic limit).

    Each sample is classified by its most cosine-similar other sample (ties: the lower index);
    rows are L2-normalised with the same 1e-8 floor as :func:`knn_graph`.

    Args:
        features: (N, ...) tensor or array; each row flattened.
        labels: N class labels.
        chunk_size: rows compared at once (memory is chunk_size × N).

    Returns:
        The fraction of samples whose nearest neighbour has another label.

    Example:
        >>> one_nn_error(np.array([[1.0, 0.1], [1.0, 0.2], [0.1, 1.0], [0.2, 1.0]]), [0, 0, 1, 1])
        0.0
    """
    matrix = as_feature_matrix(features)
    labels = as_labels(labels, matrix.shape[0])
    rows = max(1, min(chunk_size, matrix.shape[0]))
    nearest = cosine_top_k(matrix, 1, rows=rows, exclude_self=True)[0][:, 0]
    return float(np.mean(labels[nearest] != labels))
