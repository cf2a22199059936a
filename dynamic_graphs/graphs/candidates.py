"""The low-precision path of the k-NN search: candidates from a bfloat16 (or TF32) product, rescored in float32.

A row's exact top k lies among the entries whose low-precision similarity is within twice the
proven bound :func:`candidate_bound` of its k-th best; those candidates are rescored exactly by
today's float32 formula (:func:`similarity_rows`), and a row with too many of them
(:func:`max_candidates`) takes its float32 row instead (docs/method.md, "Exact graphs from
low-precision candidates"). :func:`cosine_top_k` chooses the path for each block of rows.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ..utils import bfloat16_kernels, check_int, lookup
from .similarity import NORM_FLOOR, top_k_neighbours

__all__ = [
    "GRAPH_PRECISIONS",
    "RESCORE_BYTES",
    "RESCORE_ROWS",
    "bfloat16_rows",
    "candidate_bound",
    "candidate_top_k",
    "low_precision_rows",
    "max_candidates",
    "resolve_precision",
]

# The products that can find the neighbours (docs/method.md, "Exact graphs from low-precision candidates").
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
_UNDERFLOW = 2.0 ** -126 * (1 / NORM_FLOOR) ** 2


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
    s = fl(fl(fl(x_i · x_j) a_i) a_j) (:func:`similarity_rows`): |s − c| <= R² [(1 + u)²(1 + γ_D) − 1],
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


def resolve_precision(precision: str, matrix: torch.Tensor) -> str:
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


def bfloat16_rows(matrix: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """The rows scaled to unit norm in float32 (fl(x · a)) and rounded to bfloat16: (N, D), half the
    features' size, converted a block at a time so no float32 copy of the features is made."""
    low = torch.empty(matrix.shape, dtype=torch.bfloat16, device=matrix.device)
    step = max(1, (16 * 2**20) // (4 * matrix.shape[1]))
    for start in range(0, matrix.shape[0], step):
        stop = min(start + step, matrix.shape[0])
        low[start:stop] = (matrix[start:stop] * inverse[start:stop, None]).to(torch.bfloat16)
    return low


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


def _rescored_top_k(matrix: torch.Tensor, inverse: torch.Tensor, rows: torch.Tensor, candidates: torch.Tensor,
                    k: int, diagonal: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each of ``rows``' top k among its ``candidates`` (a (rows, N) mask), scored in float32 by today's
    formula (:func:`similarity_rows`) against the union of the rows' candidates; ties to the lower index."""
    union = torch.nonzero(candidates.any(dim=0)).squeeze(1)  # ascending sample indices
    scores = matrix[rows] @ matrix[union].T
    scores.mul_(inverse[rows, None]).mul_(inverse[None, union])
    scores.masked_fill_(union[None, :] == rows[:, None], diagonal)
    scores.masked_fill_(~candidates[:, union], -float("inf"))
    values, order = torch.sort(scores, dim=1, descending=True, stable=True)  # equal values: lower index first
    return union[order[:, :k]], values[:, :k]


def candidate_top_k(matrix: torch.Tensor, low: torch.Tensor | None, inverse: torch.Tensor, start: int, stop: int,
                    k: int, diagonal: float, eps: float, precision: str, every_tie: bool
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`top_k_neighbours` of rows ``start:stop`` of today's similarity, from low-precision candidates,
    and how many rows fell back to their float32 row."""
    n_samples = matrix.shape[0]
    block = low_precision_rows(matrix, low, inverse, start, stop, diagonal, precision)
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
