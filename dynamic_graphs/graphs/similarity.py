"""Cosine similarity of flattened layer features, computed in blocks of rows, and each row's top k.

The pieces every k-NN search of :mod:`dynamic_graphs.graphs` shares: the feature matrix, its
inverse row norms (floored as in Lu et al. 2022's code), rows of today's float32 similarity and
the paper's tie rule for the top k.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..utils import check_int

__all__ = [
    "BLOCK_BYTES",
    "NORM_FLOOR",
    "as_feature_matrix",
    "block_rows",
    "check_k",
    "cosine_similarity",
    "inverse_norms",
    "similarity_of_rows",
    "similarity_rows",
    "top_k_neighbours",
]

# The paper's floor on row norms: an all-zero row gets similarity 0 to everything.
NORM_FLOOR = 1e-8
# The rows of the similarity matrix computed at once by knn_graph: the (rows × N) block is its only
# wide intermediate, so memory is the features + O(rows · N) + O(N · k) at any N, never N × N.
BLOCK_BYTES = 256 * 2**20


def as_feature_matrix(features: Any, *, name: str | None = None) -> torch.Tensor:
    """Flatten an (N, ...) tensor or array into an (N, M) float tensor, on its own device.

    Args:
        features: torch tensor or numpy array with one row per sample.
        name: what the features are (a layer name), used in error messages.

    Raises:
        TypeError: not a tensor or array.
        ValueError: fewer than 2 samples.
    """
    what = _describe(name)
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(features)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor or numpy.ndarray of shape (N, ...), "
                        f"got {type(features).__name__}.")
    if features.ndim < 2 or features.shape[0] < 2:
        raise ValueError(f"{what} must have shape (N, ...) with N >= 2 samples, got {tuple(features.shape)}.")
    matrix = features.reshape(features.shape[0], -1)
    if not matrix.is_floating_point() or matrix.dtype in (torch.float16, torch.bfloat16):
        matrix = matrix.float()
    return matrix


def _describe(name: str | None) -> str:
    return f"features of layer {name!r}" if name else "features"


def inverse_norms(matrix: torch.Tensor, name: str | None = None) -> torch.Tensor:
    """1 / max(‖row‖, 1e-8) for every row, refusing NaN/Inf features (an O(N) check of the norms).

    Raises:
        ValueError: NaN or Inf features, or norms that overflow (naming the layer ``name``).
    """
    norms = torch.linalg.vector_norm(matrix, dim=1)
    if not bool(torch.isfinite(norms).all()):
        bad = int((~torch.isfinite(matrix)).sum())
        problem = (f"contain {bad} NaN or Inf values out of {matrix.numel()}" if bad
                   else "are so large that their norms overflow")
        raise ValueError(f"{_describe(name)} {problem}; check the model (diverged training? unnormalised "
                         "input?) before building a graph.")
    return 1.0 / norms.clamp_min(NORM_FLOOR)


def similarity_rows(matrix: torch.Tensor, inverse: torch.Tensor, start: int, stop: int,
                    diagonal: float = 0.0) -> torch.Tensor:
    """Rows ``start:stop`` of the cosine-similarity matrix, with ``diagonal`` on the diagonal: the paper's
    0 (a self entry can still be among the top k, and is no edge; see cosine_similarity), or -inf to
    leave each sample out of its own neighbours. ``inverse`` is :func:`inverse_norms` of ``matrix``."""
    return similarity_of_rows(matrix, inverse, slice(start, stop), diagonal)


def similarity_of_rows(matrix: torch.Tensor, inverse: torch.Tensor, rows: slice | torch.Tensor,
                       diagonal: float = 0.0) -> torch.Tensor:
    """The rows ``rows`` (a slice, which reads the features in place, or an index tensor) of the
    cosine-similarity matrix: the product, then the two inverse norms, then ``diagonal`` on each
    row's own entry, as :func:`similarity_rows`."""
    block = matrix[rows] @ matrix.T
    block.mul_(inverse[rows, None]).mul_(inverse[None, :])
    own = torch.arange(matrix.shape[0], device=block.device)[rows]
    block[torch.arange(block.shape[0], device=block.device), own] = diagonal
    return block


def cosine_similarity(features: Any, *, name: str | None = None) -> torch.Tensor:
    """Cosine similarity between the flattened rows, with a zero diagonal, as in Lu et al. 2022's graphs.

    Rows are L2-normalised with the norm floored at 1e-8, as in the paper's code, so an all-zero row
    has similarity 0 to every sample. The norms scale the Gram product instead of a normalised copy
    of the (N, M) features, so the Gram product is nearly all the work and memory.

    Raises:
        ValueError: NaN or Inf features (naming the layer ``name``).

    Returns:
        (N, N) tensor on the features' device.
    """
    matrix = as_feature_matrix(features, name=name)
    return similarity_rows(matrix, inverse_norms(matrix, name), 0, matrix.shape[0])


def check_k(k: Any, n_samples: int) -> int:
    """``k`` as an int with 1 <= k < N, else a ValueError that says how to choose it."""
    try:
        return check_int("k", k, minimum=1, maximum=n_samples - 1)
    except ValueError:
        raise ValueError(f"k must satisfy 1 <= k < N (number of samples = {n_samples}), got k={k}; "
                         "choose a smaller k or more samples.") from None


def top_k_neighbours(similarity: torch.Tensor, k: int, *, every_tie: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Indices and similarities of each row's k largest entries; ties go to the lower index.

    That tie rule is the one of the paper's ``heapq.nlargest``. It matters only for exact ties at
    the k-th place (duplicate samples), which are rare, so they are resolved row by row afterwards.
    ``similarity`` may be a block of rows of the full matrix (columns are sample indices).
    By default ``torch.topk``'s own order is kept for equal values within the top k and for ties at
    value 0: neither changes the graph (zero entries are not edges). ``every_tie=True`` resolves
    those too, towards the lower index, for neighbour lists (``exclude_self=True`` in
    :func:`cosine_top_k`), where they would change a vote and could differ
    between CPU and CUDA.

    Returns:
        ``(indices, values)``, both (rows, k) numpy arrays.
    """
    k = check_k(k, similarity.shape[1])
    values, indices = torch.topk(similarity, k + 1, dim=1)  # one extra column reveals ties at the k-th place
    values, indices = values.cpu().numpy(), indices.cpu().numpy()
    if every_tie:  # any two equal values among the k + 1 candidates
        tied_rows = np.flatnonzero((values[:, 1:] == values[:, :-1]).any(axis=1))
    else:  # only a tie at the k-th place matters, and one at value 0 cannot change the graph
        tied_rows = np.flatnonzero((values[:, k] == values[:, k - 1]) & (values[:, k - 1] != 0))
    if tied_rows.size:
        rows = similarity[torch.as_tensor(tied_rows, device=similarity.device)].cpu().numpy()
        stable = np.argsort(-rows, axis=1, kind="stable")[:, :k]
        indices[tied_rows, :k] = stable
        values[tied_rows, :k] = np.take_along_axis(rows, stable, axis=1)
    return indices[:, :k], values[:, :k]


def block_rows(n_samples: int, itemsize: int = 4, *, budget: int = BLOCK_BYTES) -> int:
    """Rows of the similarity matrix per block so that a (rows × N) block fits ``budget`` bytes."""
    return max(1, min(n_samples, budget // (itemsize * n_samples)))
