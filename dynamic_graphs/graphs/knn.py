"""Blocked k-NN search of the cosine similarity and the paper's symmetrised k-NN graph.

:func:`cosine_top_k` keeps each row's top k a block of rows at a time, from today's float32
similarity rows (:mod:`.similarity`) or from low-precision candidates rescored in float32
(:mod:`.candidates`); :func:`knn_graph` symmetrises the choices into the paper's weighted graph,
optionally of a seeded :func:`random_projection` of the features.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..utils import check_int, lookup
from .candidates import (
    bfloat16_rows,
    candidate_bound,
    candidate_top_k,
    exact_top_k,
    low_block_rows,
    resolve_precision,
)
from .community import import_igraph
from .similarity import (
    as_feature_matrix,
    block_rows,
    check_k,
    inverse_norms,
    similarity_rows,
    top_k_neighbours,
)

__all__ = [
    "APPROX_DIM",
    "GRAPH_METHODS",
    "cosine_top_k",
    "knn_graph",
    "random_projection",
    "symmetrised_edges",
]

if TYPE_CHECKING:  # igraph is imported lazily: `import dynamic_graphs` stays light
    import igraph


def cosine_top_k(features: Any, k: int, *, name: str | None = None, rows: int | None = None,
                 exclude_self: bool = False, precision: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Each sample's k most cosine-similar samples (zero self-similarity), without the N × N matrix.

    The similarity matrix is computed ``rows`` rows at a time (default: as many as fit
    :data:`BLOCK_BYTES`) and only each row's top k is kept, so the memory beyond the features is
    O(rows · N) + O(N · k); on CUDA the blocks are computed and reduced on the device. The result is
    the top k of :func:`cosine_similarity` (:func:`top_k_neighbours`: ties to the lower index).
    The Gram product runs in the features' dtype (:func:`as_feature_matrix`: float32, or float64
    kept); on the float32 path no TF32 or matmul-precision flag is set here, so on CUDA PyTorch's
    setting applies.

    Args:
        features: (N, ...) torch tensor (any device) or numpy array.
        k: neighbours per sample, 1 <= k < N.
        name: layer name for error messages.
        rows: rows per block; None: from :data:`BLOCK_BYTES` (the low-precision path on a CPU:
            :func:`low_block_rows`).
        exclude_self: leave each sample out of its own neighbours (its similarity -inf instead of
            the paper's 0): the k nearest *other* samples, for leave-one-out measures.
        precision: the product that finds the neighbours: ``"auto"`` (default): bfloat16 where the
            device has native bfloat16 kernels, N >= :data:`AUTO_MIN_SAMPLES` and D >=
            :data:`AUTO_MIN_FEATURES`, float32 elsewhere; ``"float32"`` (the float32 similarity
            rows), ``"bfloat16"`` or ``"tf32"`` (CUDA) force a path: each row's candidates from a
            low-precision product within the proven bound :func:`candidate_bound`, rescored exactly
            in float32, give the same neighbours and weights up to float32 rounding (docs/method.md, "Exact graphs from
            low-precision candidates"). float64 features always take the float64 path.

    Returns:
        ``(indices, values)``, both (N, k) numpy arrays, most similar first.
    """
    matrix = as_feature_matrix(features, name=name)
    n_samples = matrix.shape[0]
    k = check_k(k, n_samples)
    rows = check_int("rows", rows, minimum=1) if rows is not None else None
    inverse = inverse_norms(matrix, name)
    diagonal = -float("inf") if exclude_self else 0.0
    precision = resolve_precision(precision, matrix)
    low, row_errors = bfloat16_rows(matrix, inverse) if precision == "bfloat16" else (None, None)
    if precision != "float32":  # each row's proven margin, float32 on the device (2^-21 in the threshold covers its rounding)
        margins = torch.as_tensor(candidate_bound(matrix.shape[1], precision, matrix.device.type, row_errors))
        margins = margins.expand(n_samples).float().to(matrix.device)
    blocks, exact_rows, start = [], [], 0
    while start < n_samples:
        stop = min(start + (rows or path_rows(n_samples, precision, matrix)), n_samples)
        if precision == "float32":
            found, scores = top_k_neighbours(similarity_rows(matrix, inverse, start, stop, diagonal), k,
                                             every_tie=exclude_self)
        else:
            found, scores, exact = candidate_top_k(matrix, low, inverse, start, stop, k, diagonal, margins,
                                                   precision, exclude_self)
            exact_rows.append(exact + start)
            if len(exact) > (stop - start) // 2:  # most rows fell back: later blocks skip the candidates
                precision, low = "float32", None
        blocks.append((found, scores))
        start = stop
    indices, values = np.concatenate([i for i, _ in blocks]), np.concatenate([v for _, v in blocks])
    if exact_rows:  # the low-precision path's fallback and near-tie rows: their float32 rows, read together
        exact = np.concatenate(exact_rows)
        indices[exact], values[exact] = exact_top_k(matrix, inverse, exact, k, diagonal, exclude_self)
    return indices, values


def path_rows(n_samples: int, precision: str, matrix: torch.Tensor) -> int:
    """Rows per block of a path: :data:`BLOCK_BYTES` of float32 (or float64) rows, or :func:`low_block_rows`."""
    if precision == "float32":
        return block_rows(n_samples, matrix.element_size())
    return low_block_rows(n_samples, matrix.device)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a block that makes many short-lived objects (and no
    cycles), as it was before afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def symmetrised_edges(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges of A = (A_knn + A_knnᵀ) / 2, where A_knn[i, j] = S_ij for j in top-k(i).

    A mutual pair keeps (S_ij + S_ji) / 2, a one-way pair gets S_ij / 2; zero entries are not edges.

    Returns:
        ``(edges, weights)``: (E, 2) int array with i < j, and (E,) float64 array.
    """
    from scipy import sparse

    n_samples, k = indices.shape
    rows = np.repeat(np.arange(n_samples), k)
    directed = sparse.coo_matrix((values.ravel().astype(np.float64), (rows, indices.ravel())),
                                 shape=(n_samples, n_samples)).tocsr()
    upper = sparse.triu((directed + directed.T) * 0.5, k=1).tocoo()  # drops self entries too
    keep = upper.data != 0
    edges = np.column_stack([upper.row[keep], upper.col[keep]]).astype(np.int64)
    return edges, upper.data[keep]


GRAPH_METHODS = ("exact", "approx")
# The approximate graph's projected width: the smallest of 256, 512, 1024 with ``|ΔQ| <= 0.01`` on every layer of
# a trained ResNet56 at n = 10,000 (0.0052, 5.6x faster on its widest layer; reports/benchmark_approx.txt).
APPROX_DIM = 1024


def random_projection(features: Any, dim: int = APPROX_DIM, *, seed: int = 0, name: str | None = None) -> torch.Tensor:
    """The flattened features times a seeded Gaussian matrix (M, dim) / sqrt(dim): (N, dim), on their device.

    Johnson-Lindenstrauss: inner products and norms, hence cosine similarities, are kept up to
    errors of order 1 / sqrt(dim), so the k-NN graph of the projection approximates the paper's at
    dim / M of the Gram cost. The projection is float32 (float64 features are rounded to float32);
    features no wider than ``dim`` are returned as they are. The matrix
    is drawn from its own generator seeded by ``seed`` (the global random state is untouched), in
    blocks of its rows, and applied block by block, so no copy of the features is made.
    """
    matrix = as_feature_matrix(features, name=name)
    dim = check_int("dim", dim, minimum=1)
    width = matrix.shape[1]
    if width <= dim:
        return matrix
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    projected = torch.zeros(matrix.shape[0], dim, dtype=torch.float32, device=matrix.device)
    step = max(1, (16 * 2**20) // (4 * dim))  # 16 MiB of the random matrix at a time
    for start in range(0, width, step):
        stop = min(start + step, width)
        block = torch.randn(stop - start, dim, generator=generator).to(matrix.device)
        projected += matrix[:, start:stop].float() @ block
    return projected / dim ** 0.5


def knn_graph(features: Any, k: int = 3, *, name: str | None = None, rows: int | None = None,
              method: str = "exact", dim: int = APPROX_DIM, seed: int = 0,
              precision: str = "auto") -> igraph.Graph:
    """The paper's k-NN graph of one layer's representation (Lu et al. 2022; docs/method.md, "The measure").

    Each sample's features are flattened; cosine similarity; the diagonal set to 0 before the
    neighbours are chosen (a node whose k-th best similarity is negative keeps a zero-weight self
    entry, so it gets fewer edges); top-k per row with the similarity as the weight; symmetrised as
    (A + Aᵀ)/2, so the edges are the union of the directed choices (a mutual pair keeps S_ij, a
    one-way pair gets S_ij / 2); zero entries are not edges. The similarities are computed in the
    features' dtype (float32 for a curve's features, float64 kept) and the weights stored as
    float64. The similarity matrix is never held whole: its rows
    are computed in blocks and only each row's top k is kept (:func:`cosine_top_k`), so graphs of
    50,000 samples fit in memory.

    Args:
        features: (N, ...) torch tensor (any device) or numpy array.
        k: neighbours per sample, 1 <= k < N.
        name: layer name for error messages.
        rows: similarity rows per block; None: as many as fit :data:`BLOCK_BYTES` (all of them
            at the paper's N = 500).
        method: ``"exact"`` (the paper's graph) or ``"approx"``: the same construction on a seeded
            random projection of the features to ``dim`` columns (:func:`random_projection`), for
            wide layers at large N; an approximation, see docs/method.md.
        dim, seed: the approximate graph's projected width and projection seed.
        precision: ``"auto"`` (default), ``"float32"``, ``"bfloat16"`` or ``"tf32"`` (CUDA): the
            product that finds each row's neighbours (:func:`cosine_top_k`); every choice gives the
            same graph up to float32 rounding, the low-precision ones faster where the device has
            native kernels and N is large.

    Returns:
        Undirected ``igraph.Graph`` with N vertices and edge attribute ``"weight"``.

    Example:
        >>> g = knn_graph(np.eye(4) + 0.1, k=1)
        >>> g.vcount(), g.is_directed()
        (4, False)
    """
    igraph = import_igraph()
    method = lookup(method, GRAPH_METHODS, what="graph method")
    if method == "approx":
        features = random_projection(features, dim, seed=seed, name=name)
    indices, values = cosine_top_k(features, k, name=name, rows=rows, precision=precision)
    edges, weights = symmetrised_edges(indices, values)
    # python-igraph turns each edge into Python objects; a cyclic collection they trigger midway walks every
    # object alive (about 0.2 s with torch loaded) and frees none: they are freed by reference counting.
    with gc_paused():
        return igraph.Graph(n=indices.shape[0], edges=edges, directed=False, edge_attrs={"weight": weights.tolist()})
