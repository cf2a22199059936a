"""k-NN graphs of layer representations and their modularity against the true classes (arXiv 2111.12485)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

from .utils import as_labels, bfloat16_kernels, check_int, lookup

__all__ = [
    "import_igraph",
    "APPROX_DIM",
    "BLOCK_BYTES",
    "GRAPH_METHODS",
    "GRAPH_PRECISIONS",
    "RESCORE_BYTES",
    "RESCORE_ROWS",
    "as_feature_matrix",
    "block_rows",
    "candidate_bound",
    "class_membership",
    "cosine_similarity",
    "cosine_top_k",
    "edge_list",
    "edge_weights",
    "leiden",
    "max_candidates",
    "partition_agreement",
    "partition_modularity",
    "random_projection",
    "symmetrised_edges",
    "top_k_neighbours",
]

if TYPE_CHECKING:  # igraph is imported lazily: `import dynamic_graphs` stays light
    import igraph

_EPS = 1e-8  # the paper's floor on row norms: an all-zero row gets similarity 0 to everything
# The rows of the similarity matrix computed at once by knn_graph: the (rows × N) block is its only
# wide intermediate, so memory is the features + O(rows · N) + O(N · k) at any N, never N × N.
BLOCK_BYTES = 256 * 2**20


def import_igraph():
    try:
        import igraph
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("dynamic_graphs needs igraph: `pip install igraph` "
                          "or `conda install -c conda-forge python-igraph`.") from err
    return igraph


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


def _inverse_norms(matrix: torch.Tensor, name: str | None) -> torch.Tensor:
    """1 / max(‖row‖, 1e-8) for every row, refusing NaN/Inf features (an O(N) check of the norms)."""
    norms = torch.linalg.vector_norm(matrix, dim=1)
    if not bool(torch.isfinite(norms).all()):
        bad = int((~torch.isfinite(matrix)).sum())
        problem = (f"contain {bad} NaN or Inf values out of {matrix.numel()}" if bad
                   else "are so large that their norms overflow")
        raise ValueError(f"{_describe(name)} {problem}; check the model (diverged training? unnormalised "
                         "input?) before building a graph.")
    return 1.0 / norms.clamp_min(_EPS)


def _similarity_rows(matrix: torch.Tensor, inverse: torch.Tensor, start: int, stop: int,
                     diagonal: float = 0.0) -> torch.Tensor:
    """Rows ``start:stop`` of the cosine-similarity matrix, with ``diagonal`` on the diagonal: the paper's
    0 (a self entry can still be among the top k, and is no edge; see cosine_similarity), or -inf to
    leave each sample out of its own neighbours."""
    block = matrix[start:stop] @ matrix.T
    block.mul_(inverse[start:stop, None]).mul_(inverse[None, :])
    block.diagonal(start).fill_(diagonal)
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
    return _similarity_rows(matrix, _inverse_norms(matrix, name), 0, matrix.shape[0])


def _check_k(k: Any, n_samples: int) -> int:
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
    :func:`cosine_top_k`), where they would change a vote and could differ between CPU and CUDA.

    Returns:
        ``(indices, values)``, both (rows, k) numpy arrays.
    """
    k = _check_k(k, similarity.shape[1])
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


# Low-precision candidates, exact rescoring (docs/method.md, "Exact graphs from low-precision candidates").
GRAPH_PRECISIONS = ("float32", "bfloat16", "tf32", "auto")
# A row with more low-precision candidates than this is not rescored: its float32 row is computed as
# today's path does. Rescoring a row reads its candidates' feature rows (4·D bytes each, a gather,
# measured at about 1.5 GB/s on the 2-core AVX512 CPU) where its float32 row costs 2·N·D flops in a
# GEMM (about 100 GFLOP/s there): rescoring pays while a row has fewer than about N / 128 candidates.
def max_candidates(n_samples: int) -> int:
    """Candidates above which a row falls back to its float32 similarity row: ``max(16, N // 128)``."""
    return max(16, n_samples // 128)


RESCORE_ROWS = 16  # rows rescored together against the union of their candidates
RESCORE_BYTES = 64 * 2**20  # the candidates' feature rows gathered at once (at least one row's)
_U32 = 2.0 ** -24  # float32 unit roundoff
# The absolute-error floor: products and partial sums below float32's normal range (flushed to zero by
# bfloat16 kernels), at most 2^-126 each, D of them per entry in each product, times the largest
# inverse norms (1e8 each, the norm floor).
_UNDERFLOW = 2.0 ** -126 * (1 / _EPS) ** 2


def _gamma(n: int, unit: float) -> float:
    """Higham's γ_n = n·u / (1 − n·u): the relative error bound of a length-n dot product or sum."""
    if n * unit >= 1:
        raise ValueError(f"γ_{n} is unbounded for unit roundoff {unit:g}; the rows are too wide "
                         "for a float32 error bound.")
    return n * unit / (1 - n * unit)


def candidate_bound(dim: int, precision: str = "bfloat16", device_type: str = "cpu") -> float:
    """The proven bound eps on |t_ij − s_ij|, today's float32 similarity s and its low-precision value t.

    Derived in docs/method.md, "Exact graphs from low-precision candidates". Both are compared
    with c_ij = (x_i · x_j) a_i a_j, the exact cosine under the float32 inverse norms a. Today's
    s = fl(fl(fl(x_i · x_j) a_i) a_j) (:func:`_similarity_rows`): |s − c| <= R² [(1 + u)²(1 + γ_D) − 1],
    with u = 2^-24, γ_D = D·u / (1 − D·u) and R = (1 + u)² / ((1 − u) √(1 − γ_D)) the largest
    ratio ‖x_i‖ a_i (the norm's own rounding). The low-precision t is, for ``"bfloat16"``, the
    product of the rows scaled to unit norm in float32 and rounded to bfloat16 (unit u_op = 2^-8),
    the products exact in float32, summed in float32 (γ_D at unit u_acc) and the result rounded to
    bfloat16 (u_out = 2^-8: torch's CPU product returns bfloat16); for ``"tf32"`` (CUDA), the
    product of the features with operands converted by the tensor cores (taken as truncated,
    u_op = 2^-10; float32 out, u_out = 0), then scaled by a_i and a_j as today. Both give
    |t − c| <= R² [(1 + u_out)(1 + u)²(1 + u_op)²(1 + γ_D(u_acc)) − 1], so

        eps = R² [(1 + u_out)(1 + u)²(1 + u_op)²(1 + γ_D(u_acc)) − 1 + (1 + u)²(1 + γ_D) − 1] + 2·D·2^-126·10^16,

    the last term the underflow floor (products and partial sums below float32's normal range,
    which bfloat16 kernels flush, times the largest inverse norms, 10^8 each). On CUDA the tensor
    cores' float32 accumulation is taken as truncating, u_acc = 2^-23 (Fasi et al. 2021); on the
    CPU it rounds to nearest, u_acc = 2^-24.

    Args:
        dim: D, the number of features (columns).
        precision: ``"bfloat16"`` or ``"tf32"``.
        device_type: ``"cpu"`` or ``"cuda"``.

    Returns:
        eps as a float: a row's exact top k lies among its entries with t_j >= t_(k) − 2·eps.

    Example:
        >>> [round(candidate_bound(dim), 5) for dim in (512, 4096, 16384)]
        [0.01183, 0.01226, 0.01374]
    """
    dim = check_int("dim", dim, minimum=1)
    precision = lookup(precision, ("bfloat16", "tf32"), what="low precision")
    if precision == "tf32":
        u_op, u_out = 2.0 ** -10, 0.0
    else:
        u_op, u_out = 2.0 ** -8, 2.0 ** -8
    u_acc = _U32 if device_type == "cpu" else 2 * _U32
    gamma = _gamma(dim, _U32)
    ratio = (1 + _U32) ** 2 / ((1 - _U32) * (1 - gamma) ** 0.5)
    low = (1 + u_out) * (1 + _U32) ** 2 * (1 + u_op) ** 2 * (1 + _gamma(dim, u_acc)) - 1
    reference = (1 + _U32) ** 2 * (1 + gamma) - 1
    return ratio ** 2 * (low + reference) + 2 * dim * _UNDERFLOW


def _resolve_precision(precision: str, matrix: torch.Tensor) -> str:
    """The product ``precision`` means for these features: ``"float32"`` (today's path) or a low format.

    ``"auto"``: bfloat16 where the device has native bfloat16 matrix kernels
    (:func:`~dynamic_graphs.utils.bfloat16_kernels`, the detection training uses), float32 elsewhere.
    float64 features always keep the float64 product.
    """
    precision = lookup(precision, GRAPH_PRECISIONS, what="graph precision")
    if matrix.dtype != torch.float32 or precision == "float32":
        return "float32"
    if precision == "auto":
        return "bfloat16" if bfloat16_kernels(matrix.device) else "float32"
    if precision == "tf32" and matrix.device.type != "cuda":
        raise ValueError(f"precision='tf32' needs CUDA features, got features on {matrix.device}; "
                         "use 'bfloat16' on a CPU (or 'auto').")
    return precision


def _bfloat16_rows(matrix: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """The rows scaled to unit norm in float32 (fl(x · a)) and rounded to bfloat16: (N, D), half the
    features' size, converted a block at a time so no float32 copy of the features is made."""
    low = torch.empty(matrix.shape, dtype=torch.bfloat16, device=matrix.device)
    step = max(1, (16 * 2**20) // (4 * matrix.shape[1]))
    for start in range(0, matrix.shape[0], step):
        stop = min(start + step, matrix.shape[0])
        low[start:stop] = (matrix[start:stop] * inverse[start:stop, None]).to(torch.bfloat16)
    return low


def _low_precision_rows(matrix: torch.Tensor, low: torch.Tensor | None, inverse: torch.Tensor, start: int,
                        stop: int, diagonal: float, precision: str) -> torch.Tensor:
    """Rows ``start:stop`` of the similarity in ``precision``, t of :func:`candidate_bound`: the
    bfloat16 product of the unit rows ``low`` (bfloat16 out), or the TF32 product of the features
    scaled by the inverse norms as :func:`_similarity_rows` does (float32 out)."""
    if precision == "tf32":
        with _cuda_matmul_flags(tf32=True):
            block = matrix[start:stop] @ matrix.T
        block.mul_(inverse[start:stop, None]).mul_(inverse[None, :])
    elif low.device.type == "cuda":  # the bound assumes float32 sums: no bfloat16 split-K reductions
        with _cuda_matmul_flags(bf16_reduction=False):
            block = low[start:stop] @ low.T
    else:
        block = low[start:stop] @ low.T
    block.diagonal(start).fill_(diagonal)
    return block


@contextmanager
def _cuda_matmul_flags(*, tf32: bool = False, bf16_reduction: bool = True) -> Iterator[None]:
    """TF32 float32 products and/or no bfloat16 split-K reductions on CUDA for a block, the caller's
    ``torch.backends.cuda.matmul`` settings restored after it."""
    matmul = torch.backends.cuda.matmul
    new_api = hasattr(matmul, "fp32_precision")  # torch >= 2.9; mixing it with allow_tf32 is an error
    saved_tf32 = matmul.fp32_precision if new_api else matmul.allow_tf32
    saved_reduction = matmul.allow_bf16_reduced_precision_reduction
    try:
        if tf32:
            if new_api:
                matmul.fp32_precision = "tf32"
            else:
                matmul.allow_tf32 = True
        matmul.allow_bf16_reduced_precision_reduction = bf16_reduction and saved_reduction
        yield
    finally:
        if new_api:
            matmul.fp32_precision = saved_tf32
        else:
            matmul.allow_tf32 = saved_tf32
        matmul.allow_bf16_reduced_precision_reduction = saved_reduction


def _rescored_top_k(matrix: torch.Tensor, inverse: torch.Tensor, rows: torch.Tensor, candidates: torch.Tensor,
                    k: int, diagonal: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each of ``rows``' top k among its ``candidates`` (a (rows, N) mask), scored in float32 by today's
    formula (:func:`_similarity_rows`) against the union of the rows' candidates; ties to the lower index."""
    union = torch.nonzero(candidates.any(dim=0)).squeeze(1)  # ascending sample indices
    scores = matrix[rows] @ matrix[union].T
    scores.mul_(inverse[rows, None]).mul_(inverse[None, union])
    scores.masked_fill_(union[None, :] == rows[:, None], diagonal)
    scores.masked_fill_(~candidates[:, union], -float("inf"))
    values, order = torch.sort(scores, dim=1, descending=True, stable=True)  # equal values: lower index first
    return union[order[:, :k]], values[:, :k]


def _candidate_top_k(matrix: torch.Tensor, low: torch.Tensor | None, inverse: torch.Tensor, start: int, stop: int,
                     k: int, diagonal: float, eps: float, precision: str, every_tie: bool
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`top_k_neighbours` of rows ``start:stop`` of today's similarity, from low-precision candidates,
    and how many rows fell back to their float32 row."""
    n_samples = matrix.shape[0]
    block = _low_precision_rows(matrix, low, inverse, start, stop, diagonal, precision)
    top = torch.topk(block, k, dim=1)
    kth = top.values[:, -1:].float()
    # 2^-22 covers the float32 rounding of the threshold itself (|kth| <= 1 + eps). Rounded to the
    # block's format the threshold only admits more: for bfloat16 entries t, t >= thr exactly when t >=
    # thr rounded up, and a threshold rounded down admits a superset.
    candidates = block >= (kth - (2 * eps + 2.0 ** -22)).to(block.dtype)
    del block
    counts = candidates.view(torch.uint8).sum(dim=1, dtype=torch.int32)  # twice as fast as a bool sum
    indices = np.empty((stop - start, k), dtype=np.int64)
    values = np.empty((stop - start, k), dtype=np.float32)
    fallback = counts > max_candidates(n_samples)
    if bool(fallback.any()):
        local = torch.nonzero(fallback).squeeze(1)
        exact = matrix[local + start] @ matrix.T
        exact.mul_(inverse[local + start, None]).mul_(inverse[None, :])
        exact[torch.arange(local.numel(), device=exact.device), local + start] = diagonal
        found, scores = top_k_neighbours(exact, k, every_tie=every_tie)
        indices[local.cpu().numpy()], values[local.cpu().numpy()] = found, scores
    rescore = torch.nonzero(~fallback).squeeze(1)
    if rescore.numel():
        # rows with the same best candidate share most of their candidates: together, the union is small
        rescore = rescore[torch.argsort(top.indices[rescore, 0], stable=True)]
        most = int(counts[rescore].max())
        chunk = max(1, min(RESCORE_ROWS, RESCORE_BYTES // (matrix.shape[1] * matrix.element_size() * most)))
        for at in range(0, rescore.numel(), chunk):
            local = rescore[at:at + chunk]
            found, scores = _rescored_top_k(matrix, inverse, local + start, candidates[local], k, diagonal)
            rows_np = local.cpu().numpy()
            indices[rows_np], values[rows_np] = found.cpu().numpy(), scores.cpu().numpy()
    return indices, values, int(fallback.sum())


def cosine_top_k(features: Any, k: int, *, name: str | None = None, rows: int | None = None,
                 exclude_self: bool = False, precision: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Each sample's k most cosine-similar samples (zero self-similarity), without the N × N matrix.

    The similarity matrix is computed ``rows`` rows at a time (default: as many as fit
    :data:`BLOCK_BYTES`) and only each row's top k is kept, so the memory beyond the features is
    O(rows · N) + O(N · k); on CUDA the blocks are computed and reduced on the device. The result is
    the top k of :func:`cosine_similarity` (:func:`top_k_neighbours`: ties to the lower index).
    The Gram product runs in the features' dtype (:func:`as_feature_matrix`: float32, or float64
    kept); with the default ``precision="float32"`` no TF32 or matmul-precision flag is set here, so
    on CUDA PyTorch's setting applies.

    Args:
        features: (N, ...) torch tensor (any device) or numpy array.
        k: neighbours per sample, 1 <= k < N.
        name: layer name for error messages.
        rows: rows per block; None: from :data:`BLOCK_BYTES`.
        exclude_self: leave each sample out of its own neighbours (its similarity -inf instead of
            the paper's 0): the k nearest *other* samples, for leave-one-out measures.
        precision: the product that finds the neighbours: ``"float32"`` (today's path: the float32
            similarity rows), ``"bfloat16"`` or ``"tf32"`` (CUDA): each row's candidates from a
            low-precision product within the proven bound :func:`candidate_bound`, rescored
            exactly in float32, the same neighbours and weights up to float32 rounding
            (docs/method.md, "Exact graphs from low-precision candidates"); ``"auto"``: bfloat16
            where the device has native bfloat16 kernels, float32 elsewhere. float64 features
            always take the float64 path.

    Returns:
        ``(indices, values)``, both (N, k) numpy arrays, most similar first.
    """
    matrix = as_feature_matrix(features, name=name)
    n_samples = matrix.shape[0]
    k = _check_k(k, n_samples)
    rows = block_rows(n_samples, matrix.element_size()) if rows is None else check_int("rows", rows, minimum=1)
    inverse = _inverse_norms(matrix, name)
    diagonal = -float("inf") if exclude_self else 0.0
    precision = _resolve_precision(precision, matrix)
    if precision != "float32":
        eps = candidate_bound(matrix.shape[1], precision, matrix.device.type)
        low = _bfloat16_rows(matrix, inverse) if precision == "bfloat16" else None
        blocks = []
        for start in range(0, n_samples, rows):
            stop = min(start + rows, n_samples)
            if precision == "float32":  # most rows fell back in an earlier block: the candidates do not pay
                blocks.append(top_k_neighbours(_similarity_rows(matrix, inverse, start, stop, diagonal), k,
                                               every_tie=exclude_self))
                continue
            found, scores, fell_back = _candidate_top_k(matrix, low, inverse, start, stop, k, diagonal, eps,
                                                        precision, exclude_self)
            blocks.append((found, scores))
            if fell_back > (stop - start) // 2:
                precision, low = "float32", None
        return np.concatenate([i for i, _ in blocks]), np.concatenate([v for _, v in blocks])
    blocks = [top_k_neighbours(_similarity_rows(matrix, inverse, start, min(start + rows, n_samples), diagonal), k,
                               every_tie=exclude_self)
              for start in range(0, n_samples, rows)]
    return np.concatenate([i for i, _ in blocks]), np.concatenate([v for _, v in blocks])


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
              precision: str = "float32") -> igraph.Graph:
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
        precision: ``"float32"`` (today's path), ``"bfloat16"``, ``"tf32"`` (CUDA) or ``"auto"``:
            the product that finds each row's neighbours (:func:`cosine_top_k`); every choice
            gives the same graph up to float32 rounding, the low-precision ones faster where the
            device has native kernels.

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
    return igraph.Graph(n=indices.shape[0], edges=edges, directed=False, edge_attrs={"weight": weights.tolist()})


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
