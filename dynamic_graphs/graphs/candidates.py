"""The low-precision path of the k-NN search: candidates from a bfloat16 (or TF32) product, rescored in float32.

A row's exact top k lies among the entries whose low-precision similarity is within twice the
proven bound :func:`candidate_bound` of its k-th best; those candidates are rescored exactly by
today's float32 formula (:func:`similarity_rows`), and a row with too many of them
(:func:`max_candidates`) takes its float32 row instead (docs/method.md, "Exact graphs from
low-precision candidates"). :func:`cosine_top_k` chooses the path for each block of rows.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ..utils import bfloat16_kernels, check_int, lookup
from .similarity import NORM_FLOOR, block_rows, similarity_of_rows, top_k_neighbours

__all__ = [
    "AUTO_MIN_FEATURES",
    "AUTO_MIN_SAMPLES",
    "GRAPH_PRECISIONS",
    "LOW_BLOCK_BYTES",
    "GROUP",
    "NEAR_TIE",
    "best_columns",
    "bfloat16_rows",
    "candidate_bound",
    "candidate_pairs",
    "candidate_thresholds",
    "candidate_top_k",
    "exact_top_k",
    "group_maxima",
    "low_block_rows",
    "low_precision_rows",
    "max_candidates",
    "rescored",
    "resolve_precision",
    "row_counts",
]

# The products that can find the neighbours (docs/method.md, "Exact graphs from low-precision candidates").
GRAPH_PRECISIONS = ("float32", "bfloat16", "tf32", "auto")
# A row with more low-precision candidates than this is not rescored: its float32 row is computed as
# today's path does. Rescoring reads one candidate's feature row per pair (a sampled dense-dense product,
# torch.sparse.sampled_addmm: about 1.3 µs a pair at D = 4,096, one thread of the 2-core AMX CPU) where
# a float32 row costs 2·N·D flops in a GEMM (about 0.57 ms at N = 10,000 there): both grow with D, and
# rescoring pays below about N / 23 candidates a row. N / 32 keeps a margin.
def max_candidates(n_samples: int) -> int:
    """Candidates above which a row falls back to its float32 similarity row: ``max(16, N // 32)``."""
    return max(16, n_samples // 32)


# Exact ties (duplicate samples, constant rows) come out of two summation orders a few units in the last
# place apart: a row whose rescored k-th and (k+1)-th values (any two of its top k + 1 for neighbour lists)
# are this close is taken as tied, and takes its float32 row, so the tie rule sees the float32 path's values.
# Wider float32 near-ties (up to 2·γ_D apart) may still be ordered either way, as docs/method.md says.
NEAR_TIE = 2.0 ** -16
_U32 = 2.0 ** -24  # float32 unit roundoff
# The absolute-error floor: products and partial sums below float32's normal range (flushed to zero by
# bfloat16 kernels), at most 2^-126 each, D of them per entry in each product, times the largest
# inverse norms (1e8 each, the norm floor).
_UNDERFLOW = 2.0 ** -126 * (1 / NORM_FLOOR) ** 2


def _gamma(n: int, unit: float) -> float:
    """Higham's γ_n = n·u / (1 − n·u): the relative error bound of a length-n dot product or sum."""
    if n * unit >= 1:
        raise ValueError(f"γ_{n} is unbounded for unit roundoff {unit:g}; the rows are too wide "
                         "for a float32 error bound.")
    return n * unit / (1 - n * unit)


def candidate_bound(dim: int, precision: str = "bfloat16", device_type: str = "cpu",
                    row_errors: torch.Tensor | None = None) -> float | torch.Tensor:
    """The proven bound E_i on ``|p_ij − s_ij|``: today's float32 similarity s against the low-precision product p.

    Derived in docs/method.md, "Exact graphs from low-precision candidates". Both are compared
    with c_ij = z_i · z_j, z_i = x_i a_i the rows scaled by their float32 inverse norms a (exact
    arithmetic). The low-precision operands are z_i + w_i with ‖w_i‖ <= r_i (the rounding to
    bfloat16, measured per row by :func:`bfloat16_rows`; for ``"tf32"`` the worst case), so by
    Cauchy-Schwarz

        E_i = R (r_i + r) + r_i r + γ_D(u_acc) (R + r_i)(R + r) + R² [(1 + u)²(1 + γ_D) − 1] + 2·D·2^-126·10^16,

    with r = max_j r_j, u = 2^-24, γ_D = D·u / (1 − D·u), R = (1 + u)² / ((1 − u) √(1 − γ_D)) the
    largest ‖z_i‖ (the norm's own rounding), the fourth term today's float32 error and the last
    the underflow floor. p is the product before its output is rounded: torch's CPU bfloat16
    product returns bfloat16, whose rounding is monotone and enters the candidate threshold
    instead (:func:`candidate_top_k`). On CUDA the tensor cores' float32 accumulation is taken as
    truncating, u_acc = 2^-23 (Fasi et al. 2021); on the CPU it rounds to nearest, u_acc = 2^-24.
    ``"tf32"`` scales the TF32 product by a_i and a_j as today, two more roundings.

    Args:
        dim: D, the number of features (columns).
        precision: ``"bfloat16"`` or ``"tf32"``.
        device_type: ``"cpu"`` or ``"cuda"``.
        row_errors: (N,) bounds r_i on each row's rounding error (:func:`bfloat16_rows`); None:
            the worst case of the format, r_i = R [(1 + u)(1 + u_op) − 1] (u_op = 2^-8 for
            bfloat16, 2^-10 for TF32's truncated operands).

    Returns:
        E as a float (``row_errors`` None: every row's worst case), else an (N,) float64 tensor.
        A row's exact top k lies among its entries with p_ij >= p_(k) − 2·E_i.

    Example:
        >>> [round(candidate_bound(dim), 5) for dim in (512, 4096, 16384)]
        [0.00789, 0.00832, 0.0098]
    """
    dim = check_int("dim", dim, minimum=1)
    precision = lookup(precision, ("bfloat16", "tf32"), what="low precision")
    u_op = 2.0 ** -10 if precision == "tf32" else 2.0 ** -8
    gamma_acc = _gamma(dim, _U32 if device_type == "cpu" else 2 * _U32)
    gamma = _gamma(dim, _U32)
    ratio = (1 + _U32) ** 2 / ((1 - _U32) * (1 - gamma) ** 0.5)
    worst = ratio * ((1 + _U32) * (1 + u_op) - 1)
    own = worst if row_errors is None else row_errors.detach().double().cpu()
    largest = worst if row_errors is None else float(own.max()) if own.numel() else 0.0
    bound = (ratio * (own + largest) + own * largest + gamma_acc * (ratio + own) * (ratio + largest)
             + ratio ** 2 * ((1 + _U32) ** 2 * (1 + gamma) - 1) + 2 * dim * _UNDERFLOW)
    if precision == "tf32":  # fl(fl(p a_i) a_j): two roundings of a value of at most (R + r_i)(R + r)
        bound = bound + (ratio + own) * (ratio + largest) * (1 + gamma_acc) * ((1 + _U32) ** 2 - 1)
    return bound


# "auto" takes the bfloat16 path from this many samples and features: below them the candidates' passes over
# each block (a few ns an entry) outweigh the cheaper product (about 1.9e-3 ns an entry per feature against
# float32's 6.6e-3). The 2-core AMX CPU, quiet, trained ResNet56 layers (D = 4,096 to 16,384): single graphs
# took 0.77-1.26x the float32 path's time at N = 1,000, 0.46-0.70x at 2,000 and 0.32-0.44x at 5,000, the
# 28-layer curve at the paper's n = 500 1.05x; random projections of its last layer at N = 5,000-10,000:
# 1.02-1.03x at D = 256, 0.81-0.87x at 512, 0.61-0.65x at 1,024 (docs/benchmarks.md). Those were measured
# with the earlier candidate search (a full top k and mask per block, two margins): today's costs less,
# so the limits are conservative.
AUTO_MIN_SAMPLES = 5_000
AUTO_MIN_FEATURES = 512


def resolve_precision(precision: str, matrix: torch.Tensor) -> str:
    """The product ``precision`` means for these features: ``"float32"`` (today's path) or a low format.

    ``"auto"``: bfloat16 where the device has native bfloat16 matrix kernels
    (:func:`~dynamic_graphs.utils.bfloat16_kernels`, the detection training uses) and there are at
    least :data:`AUTO_MIN_SAMPLES` samples of at least :data:`AUTO_MIN_FEATURES` features; float32
    elsewhere. float64 features always keep the
    float64 product.
    """
    precision = lookup(precision, GRAPH_PRECISIONS, what="graph precision")
    if matrix.dtype != torch.float32 or precision == "float32":
        return "float32"
    if precision == "auto":
        n_samples, n_features = matrix.shape
        pays = n_samples >= AUTO_MIN_SAMPLES and n_features >= AUTO_MIN_FEATURES and bfloat16_kernels(matrix.device)
        return "bfloat16" if pays else "float32"
    if precision == "tf32" and matrix.device.type != "cuda":
        raise ValueError(f"precision='tf32' needs CUDA features, got features on {matrix.device}; "
                         "use 'bfloat16' on a CPU (or 'auto').")
    return precision


# The low-precision blocks on a CPU: small enough that the passes after the product (its top k, the
# shortlist) read the block from the cache it was written to. The 2-core AMX CPU, N = 10,000, D = 4,096:
# product and passes took 0.82 s in 256 MiB blocks (the float32 path's), 0.73 s in 20-40 MiB ones.
LOW_BLOCK_BYTES = 32 * 2**20


def low_block_rows(n_samples: int, device: torch.device) -> int:
    """Rows per block of the low-precision path: :data:`LOW_BLOCK_BYTES` of bfloat16 on a CPU, the float32
    path's :data:`~dynamic_graphs.graphs.BLOCK_BYTES` on CUDA (large products keep the GPU busy)."""
    if device.type == "cpu":
        return block_rows(n_samples, 2, budget=LOW_BLOCK_BYTES)
    return block_rows(n_samples, 4)


def bfloat16_rows(matrix: torch.Tensor, inverse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows scaled to unit norm in float32 (fl(x · a)) and rounded to bfloat16, and each row's error.

    Returns ``(low, row_errors)``: ``low`` (N, D) bfloat16, half the features' size, converted a
    block at a time so no float32 copy of the features is made; ``row_errors`` (N,) float64, a
    proven bound r_i on ‖low_i − x_i a_i‖ (exact arithmetic), for :func:`candidate_bound`. The
    difference of a float32 value and its bfloat16 rounding is exact in float32 (Sterbenz); its
    computed norm is inflated by 2·γ_(D+2) for the norm's own rounding, and u·R added for the
    float32 rounding of x_i a_i.
    """
    n_samples, dim = matrix.shape
    low = torch.empty(matrix.shape, dtype=torch.bfloat16, device=matrix.device)
    measured = torch.empty(n_samples, dtype=torch.float32, device=matrix.device)
    # 1 MiB chunks through two buffers: the passes stay in cache, and no fresh memory is touched per chunk
    step = max(1, 2**20 // (4 * dim))
    unit = torch.empty((min(step, n_samples), dim), dtype=torch.float32, device=matrix.device)
    rounded = torch.empty_like(unit)
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        chunk, back = unit[:stop - start], rounded[:stop - start]
        torch.mul(matrix[start:stop], inverse[start:stop, None], out=chunk)
        low[start:stop] = chunk
        back.copy_(low[start:stop])
        measured[start:stop] = torch.linalg.vector_norm(chunk.sub_(back), dim=1)
    ratio = (1 + _U32) ** 2 / ((1 - _U32) * (1 - _gamma(dim, _U32)) ** 0.5)
    row_errors = measured.double().cpu() * (1 + 2 * _gamma(dim + 2, _U32)) + _U32 * ratio
    return low, row_errors


def low_precision_rows(matrix: torch.Tensor, low: torch.Tensor | None, inverse: torch.Tensor, start: int,
                       stop: int, diagonal: float, precision: str) -> torch.Tensor:
    """Rows ``start:stop`` of the similarity in ``precision``, t of :func:`candidate_bound`: the
    bfloat16 product of the unit rows ``low`` (bfloat16 out), or the TF32 product of the features
    scaled by the inverse norms as :func:`similarity_rows` does (float32 out)."""
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


def rescored(matrix: torch.Tensor, inverse: torch.Tensor, start: int, n_rows: int, row_of: torch.Tensor,
             column: torch.Tensor, diagonal: float) -> torch.Tensor:
    """The float32 similarities of pairs (``row_of`` local to rows ``start:start + n_rows``, row-major,
    columns ascending) by today's formula (:func:`similarity_rows`: the product, then the two inverse
    norms, ``diagonal`` on a row's own entry). Only these pairs are multiplied: a sampled product over
    their CSR pattern."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the sampled product is all it is used for
        warnings.simplefilter("ignore", UserWarning)
        pattern = torch.sparse_csr_tensor(_offsets(row_of, n_rows), column, torch.zeros_like(column, dtype=matrix.dtype),
                                          (n_rows, matrix.shape[0]), check_invariants=False)
        scores = torch.sparse.sampled_addmm(pattern, matrix[start:start + n_rows], matrix.T, beta=0.0).values()
    scores = scores.mul_(inverse[start + row_of]).mul_(inverse[column])
    return scores.masked_fill_(column == start + row_of, diagonal)


def _top_k_of_pairs(row_of: torch.Tensor, column: torch.Tensor, scores: torch.Tensor, n_rows: int, k: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's top k among its scored pairs (row-major, columns ascending), ties to the lower index;
    a row short of k pairs gets -inf scores."""
    offsets = _offsets(row_of, n_rows)
    width = max(k, int((offsets[1:] - offsets[:-1]).max()) if n_rows else k)
    place = torch.arange(column.numel(), device=column.device) - offsets[row_of]
    padded = torch.full((n_rows, width), -float("inf"), dtype=scores.dtype, device=scores.device)
    padded[row_of, place] = scores
    index = torch.zeros((n_rows, width), dtype=torch.int64, device=column.device)
    index[row_of, place] = column
    values, order = torch.sort(padded, dim=1, descending=True, stable=True)  # equal values: lower index first
    return index.gather(1, order[:, :k]), values[:, :k]


def row_counts(mask: torch.Tensor) -> torch.Tensor:
    """The number of True entries of each row of a 2-D mask (int64; numpy's count on the CPU, several times
    faster there than torch's reduction)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.count_nonzero(mask.numpy(), axis=1).astype(np.int64))
    return mask.sum(dim=1)


# The candidates are found from the maxima of each row's groups of GROUP consecutive columns: one reduction
# over the block (about 0.4 ns an entry on the 2-core AMX CPU at GROUP = 64), then only the few groups that
# can hold a candidate are read again. A top k, a threshold pass, a count and a scan of the mask, each over
# every entry, took about 2.8 ns an entry there.
GROUP = 64


def group_maxima(block: torch.Tensor) -> torch.Tensor:
    """(rows, ⌈N / GROUP⌉): the maximum of each row's groups of :data:`GROUP` consecutive columns (the last
    group holds what is left)."""
    full = block.shape[1] - block.shape[1] % GROUP
    maxima = block[:, :full].unflatten(1, (full // GROUP, GROUP)).amax(2)
    if full < block.shape[1]:
        maxima = torch.cat([maxima, block[:, full:].amax(1, keepdim=True)], 1)
    return maxima


def best_columns(block: torch.Tensor, maxima: torch.Tensor, k: int) -> torch.Tensor:
    """(rows, k), ascending: the columns of each row's k best entries (ties in any order), read from its
    k groups with the largest maxima (:func:`group_maxima`): a group left out has k chosen ones whose
    maxima are at least as large, so it holds none of them."""
    if maxima.shape[1] < k:  # fewer groups than neighbours: the whole row
        return torch.topk(block, k, dim=1).indices.sort(dim=1).values
    columns = (torch.topk(maxima, k, dim=1).indices[:, :, None] * GROUP
               + torch.arange(GROUP, device=block.device)).flatten(1)
    entries = block.gather(1, columns.clamp(max=block.shape[1] - 1))
    entries.masked_fill_(columns >= block.shape[1], -float("inf"))  # past the last column
    return columns.gather(1, torch.topk(entries, k, dim=1).indices).sort(dim=1).values


def candidate_thresholds(matrix: torch.Tensor, inverse: torch.Tensor, start: int, block: torch.Tensor,
                         maxima: torch.Tensor, k: int, margins: torch.Tensor, diagonal: float) -> torch.Tensor:
    """θ_i of each row of a low-precision block (rows ``start:start + rows`` of the similarity), a (rows, 1)
    column in the block's dtype: the row's candidates are its entries t_ij >= θ_i (docs/method.md, "The
    candidates").

    L_i, the smallest float32 similarity (:func:`rescored`) of the row's k best low-precision entries,
    is at most r_(k), the row's k-th best float32 similarity. An entry in the row's top k, or within
    :data:`NEAR_TIE` of its k-th (a near-tie to detect), has r_ij >= L_i − NEAR_TIE, and so a
    low-precision value p_ij >= L_i − NEAR_TIE − E_i (E_i, ``margins``, bounds ``|p − r|`` for any
    summation order: :func:`candidate_bound`). 2^-21 covers the float32 rounding of θ_i; rounded to
    nearest in the block's format, θ_i still admits every such entry (the block is p rounded to
    nearest, a monotone rounding: p >= θ gives t >= θ rounded).
    """
    n_rows = block.shape[0]
    columns = best_columns(block, maxima, k)
    row_of = torch.arange(n_rows, device=block.device).repeat_interleave(k)
    lowest = rescored(matrix, inverse, start, n_rows, row_of, columns.flatten(), diagonal).view(n_rows, k).amin(1)
    return (lowest - margins - (NEAR_TIE + 2.0 ** -21))[:, None].to(block.dtype)


def candidate_pairs(block: torch.Tensor, maxima: torch.Tensor, threshold: torch.Tensor, limit: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The entries ``block >= threshold`` as pairs, without a pass over the block's entries: a group whose
    maximum (:func:`group_maxima`) is below a row's threshold holds none of them, a group whose
    maximum passes holds one at least (so a row with more passing groups than ``limit`` falls back
    unread), and only the passing groups are read again.

    Returns:
        ``(row_of, column, fallback)``: the entries of each row with at most ``limit`` of them,
        row-major with columns ascending (int64, rows local to the block), and the (rows,) mask of
        the rows with more, whose pairs are left out.
    """
    n_rows, n_samples = block.shape
    full = n_samples - n_samples % GROUP
    grouped, tail = block[:, :full].unflatten(1, (full // GROUP, GROUP)), block[:, full:]
    passing = maxima >= threshold
    fallback = row_counts(passing).to(block.device) > limit
    picked, group = torch.nonzero(passing[:, :grouped.shape[1]] & ~fallback[:, None], as_tuple=True)
    pair, slot = torch.nonzero(grouped[picked, group] >= threshold[picked], as_tuple=True)
    row_of, column = picked[pair], group[pair] * GROUP + slot
    if tail.shape[1]:  # merged into row-major order, columns ascending
        tail_rows, tail_columns = torch.nonzero(tail >= threshold, as_tuple=True)
        key = torch.sort(torch.cat([row_of * n_samples + column, tail_rows * n_samples + full + tail_columns])).values
        row_of, column = key // n_samples, key % n_samples
    fallback |= torch.bincount(row_of, minlength=n_rows) > limit
    keep = ~fallback[row_of]
    return row_of[keep], column[keep], fallback


def _offsets(row_of: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Where each row's pairs start in row-major pairs (n_rows + 1 entries, the last their number)."""
    offsets = torch.zeros(n_rows + 1, dtype=torch.int64, device=row_of.device)
    torch.cumsum(torch.bincount(row_of, minlength=n_rows), 0, out=offsets[1:])
    return offsets


def candidate_top_k(matrix: torch.Tensor, low: torch.Tensor | None, inverse: torch.Tensor, start: int, stop: int,
                    k: int, diagonal: float, margins: torch.Tensor, precision: str, every_tie: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`top_k_neighbours` of rows ``start:stop`` of today's similarity, from low-precision candidates.

    Returns:
        ``(indices, values, exact)``: each row's top k, and the rows (local to the block) that need
        their float32 row instead (too many candidates, or a near-tie), whose entries are left for
        :func:`exact_top_k` to fill: the caller reads the float32 rows of every block together.
    """
    n_samples, n_rows = matrix.shape[0], stop - start
    block = low_precision_rows(matrix, low, inverse, start, stop, diagonal, precision)
    maxima = group_maxima(block)
    threshold = candidate_thresholds(matrix, inverse, start, block, maxima, k, margins[start:stop], diagonal)
    row_of, column, fallback = candidate_pairs(block, maxima, threshold, max_candidates(n_samples))
    del block
    scores = rescored(matrix, inverse, start, n_rows, row_of, column, diagonal)
    found, scores = _top_k_of_pairs(row_of, column, scores, n_rows, k + 1)
    # A near-tie among the rescored top k + 1 (where the float32 path's own rounding decides) takes the float32
    # row too, so that exact ties (duplicates, constant rows) are ordered as that path orders them.
    gaps = scores[:, :k] - scores[:, 1:] if every_tie else scores[:, k - 1:k] - scores[:, k:]
    exact = torch.nonzero(fallback | (gaps <= NEAR_TIE).any(dim=1)).squeeze(1).cpu().numpy()
    return found[:, :k].cpu().numpy(), scores[:, :k].cpu().numpy(), exact


def exact_top_k(matrix: torch.Tensor, inverse: torch.Tensor, rows: np.ndarray, k: int, diagonal: float,
                every_tie: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k_neighbours` of the float32 similarity rows ``rows`` (global indices), as today's path
    computes them: a few rows cost a pass over every feature, so they are read
    :data:`~dynamic_graphs.graphs.BLOCK_BYTES` at a time, not a block of the low-precision path at a time."""
    step = block_rows(matrix.shape[0], matrix.element_size())
    found = [top_k_neighbours(similarity_of_rows(matrix, inverse, torch.as_tensor(rows[first:first + step],
                                                                                  device=matrix.device), diagonal),
                              k, every_tie=every_tie) for first in range(0, len(rows), step)]
    if not found:
        return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
    return np.concatenate([i for i, _ in found]), np.concatenate([v for _, v in found])
