"""A plain re-implementation of the paper's own graph code path, as a reference for tests and benchmarks.

It follows the paper's released code (Lu et al. 2022, arXiv 2111.12485, Sec. 3) step by step, the slow way it does it: an
einsum Gram matrix, ``heapq.nlargest`` per row, (i, j, w) edge tuples, a dense adjacency matrix
symmetrised by averaging, and networkx's modularity. Use :func:`dynamic_graphs.knn_graph` and
:func:`dynamic_graphs.modularity` for real work; this module needs networkx.
"""
from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import torch

__all__ = [
    "paper_graph",
    "paper_modularity",
    "paper_similarity_edges",
]


def paper_similarity_edges(features: Any, k: int, eps: float = 1e-8) -> list[tuple[int, int, float]]:
    """Directed top-k edges (i, j, S_ij), 0-based, from cosine similarity with a zeroed diagonal.

    As the paper's ``calculate_cosine_similarity_matrix``: a normalised float32 copy of the
    features (norms floored at ``eps``), an einsum product in float32, the top k per row.
    """
    h = torch.as_tensor(features).reshape(len(features), -1).float()
    h = h / h.norm(dim=1, keepdim=True).clamp_min(eps)
    similarity = torch.einsum("ik,jk->ij", h, h)
    similarity.fill_diagonal_(0)
    rows = similarity.cpu().numpy()
    edges = []
    for i, row in enumerate(rows):
        for j in heapq.nlargest(k, range(len(row)), key=row.__getitem__):  # ties: lower index first
            edges.append((i, j, float(row[j])))
    return edges


def paper_graph(features: Any, k: int):
    """The paper's undirected weighted networkx graph: dense A, (A + Aᵀ)/2, zero entries dropped."""
    import networkx as nx

    n_samples = len(features)
    adjacency = np.zeros((n_samples, n_samples))
    for i, j, weight in paper_similarity_edges(features, k):
        adjacency[i, j] = weight
    adjacency = (adjacency + adjacency.T) / 2
    return nx.from_numpy_array(adjacency)


def paper_modularity(features: Any, labels: Any, k: int = 3) -> float:
    """Q of the paper's graph with the label groups as communities (networkx, resolution 1)."""
    import networkx as nx

    labels = np.asarray(labels)
    graph = paper_graph(features, k)
    communities = [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]
    return float(nx.community.modularity(graph, communities, weight="weight", resolution=1))
