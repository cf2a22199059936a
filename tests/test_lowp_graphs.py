"""The low-precision candidate path of knn_graph (``precision="bfloat16"``) builds today's float32 graphs.

Each row's candidates come from a bfloat16 product within the proven bound
:func:`~dynamic_graphs.graphs.candidate_bound`, and are rescored in float32 by today's formula. The
edges must be today's exactly, and the weights today's up to float32 rounding: both are float32
evaluations of the same formula s = fl(fl(x_i · x_j) a_i) a_j whose dot products may be summed in a
different order (a sampled product over the candidate pairs instead of a GEMM over every column), so
a weight may differ in its last bits. The proven gap of two such evaluations is 2·[(1 + u)²(1 + γ_D) − 1] (u = 2^-24, about
5e-4 at D = 4096), far from what happens: the weights are checked to WEIGHT_TOLERANCE = 1e-6, a few
float32 ulps at the weights' magnitude (<= 1). The inputs are built so that no two similarities at
the k-th place are closer than float32 rounding unless they are exactly equal (duplicates): such a
row is a near-tie (NEAR_TIE) and takes its float32 row, so the tie rule (lower index) sees the same
values on both paths.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from dynamic_graphs import CurveSpec, knn_graph, modularity
from dynamic_graphs.graphs import (
    bfloat16_rows,
    candidate_bound,
    candidates,  # a module: patched where its names are looked up
    cosine_top_k,
    edge_list,
    edge_weights,
    inverse_norms,
    knn,  # a module, likewise
    low_precision_rows,
    max_candidates,
    resolve_precision,
    similarity_rows,
)
from dynamic_graphs.utils import UnknownNameError

WEIGHT_TOLERANCE = 1e-6


def gaussian(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def clustered(n: int, dim: int, classes: int = 5, spread: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.standard_normal((classes, dim))
    features = np.maximum(centres[labels] + spread * rng.standard_normal((n, dim)), 0)  # ReLU-like, non-negative
    return torch.from_numpy(features.astype(np.float32)), labels


@pytest.fixture(params=["default", "rescore-all"])
def rescoring(request, monkeypatch):
    """Run each equality test twice: with the package's fallback cut-off, and with every row rescored
    (no fallback) from groups of 7 columns (a part-group at the end of most rows), so the rescoring path
    is exercised on small graphs too."""
    if request.param == "rescore-all":
        monkeypatch.setattr(candidates, "max_candidates", lambda n_samples: n_samples)
        monkeypatch.setattr(candidates, "GROUP", 7)
    return request.param


def assert_same_graph(features, k: int = 3, labels=None, **options) -> None:
    """Edges identical, weights within WEIGHT_TOLERANCE, and the same Q, float32 path against bfloat16."""
    today = knn_graph(features, k=k, **options)
    fast = knn_graph(features, k=k, precision="bfloat16", **options)
    np.testing.assert_array_equal(edge_list(fast), edge_list(today))
    np.testing.assert_allclose(edge_weights(fast), edge_weights(today), rtol=0, atol=WEIGHT_TOLERANCE)
    if labels is not None:
        assert modularity(fast, labels) == pytest.approx(modularity(today, labels), abs=1e-9)


def assert_same_neighbours(features, k: int, **options) -> None:
    """Neighbour lists (``exclude_self``: every tie to the lower index) identical, values within tolerance."""
    today = cosine_top_k(features, k, exclude_self=True, **options)
    fast = cosine_top_k(features, k, exclude_self=True, precision="bfloat16", **options)
    np.testing.assert_array_equal(fast[0], today[0])
    np.testing.assert_allclose(fast[1], today[1], rtol=0, atol=WEIGHT_TOLERANCE)


# --------------------------------------------------------------------------- the bound


def test_candidate_bound_values():
    u = 2.0 ** -24
    for dim in (512, 4096, 16384):
        gamma = dim * u / (1 - dim * u)
        bound = candidate_bound(dim)
        # the worst case: two bfloat16 operand roundings (Cauchy-Schwarz), two float32 sums of D terms, to first order
        first_order = 2 * 2.0 ** -8 + 2 * gamma
        assert first_order < bound < first_order * 1.01
    assert candidate_bound(512) == pytest.approx(0.007890, abs=1e-6)
    assert candidate_bound(16384) == pytest.approx(0.009800, abs=1e-6)
    assert candidate_bound(4096, "tf32", "cuda") < candidate_bound(4096)  # 10-bit operands
    assert candidate_bound(4096, "bfloat16", "cuda") > candidate_bound(4096)  # truncating accumulation
    measured = candidate_bound(4096, row_errors=torch.tensor([0.001, 0.002]))
    assert measured.shape == (2,) and measured[0] < measured[1] < candidate_bound(4096)
    with pytest.raises(ValueError, match="too wide"):
        candidate_bound(2 ** 24)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e6])
def test_candidate_bound_holds(scale):
    """The low-precision block t never differs from today's float32 block s by more than each row's E_i plus
    the bfloat16 output rounding, also for near-parallel rows (cosines near 1) and any scale; the
    measured row errors are a true bound and well below the format's worst case."""
    base = gaussian(1, 256)
    features = torch.cat([base + 0.05 * gaussian(150, 256, seed=1), gaussian(150, 256, seed=2)]) * scale
    inverse = inverse_norms(features)
    low, row_errors = bfloat16_rows(features, inverse)
    exact = features.double() * inverse.double()[:, None]
    assert bool(((low.double() - exact).norm(dim=1) <= row_errors).all())
    assert float(row_errors.max()) < 0.7 * 2.0 ** -8  # rounding errors are not all at their worst
    t = low_precision_rows(features, low, inverse, 0, 300, 0.0, "bfloat16").double()
    s = similarity_rows(features, inverse, 0, 300).double()
    allowed = candidate_bound(256, row_errors=row_errors)[:, None] + 2.0 ** -8 * t.abs()
    excess = (t - s).abs() / allowed
    assert 0.05 < float(excess.max()) <= 1


# --------------------------------------------------------------------------- equality on adversarial inputs


def test_clustered_features_same_graph_and_q(rescoring):
    features, labels = clustered(400, 256)
    assert_same_graph(features, k=3, labels=labels)
    assert_same_graph(features, k=10, labels=labels)
    assert_same_neighbours(features, 5)


def test_wide_features_same_graph(rescoring):
    features, labels = clustered(200, 4096, spread=2.0)
    assert_same_graph(features, k=3, labels=labels)
    assert_same_graph(gaussian(200, 4096), k=3)


def test_blocks_same_graph(rescoring):
    features, labels = clustered(300, 64)
    assert_same_graph(features, k=4, labels=labels, rows=37)
    assert_same_neighbours(features, 4, rows=37)


def test_exact_duplicates_ties_to_the_lower_index(rescoring):
    features, _ = clustered(120, 32)
    features = torch.cat([features, features[:40], features[10:20]])  # rows 120.. repeat earlier rows exactly
    assert_same_graph(features, k=3)
    assert_same_graph(features, k=1)
    assert_same_neighbours(features, 3)
    indices, _ = cosine_top_k(features, 2, exclude_self=True, precision="bfloat16")
    # row 15 is repeated as rows 135 and 165: each copy's neighbours are the others, in index order
    np.testing.assert_array_equal(indices[[15, 135, 165]], [[135, 165], [15, 165], [15, 135]])


def test_near_duplicates(rescoring):
    features, labels = clustered(150, 128)
    near = features[:60] + 1e-4 * gaussian(60, 128, seed=3)
    assert_same_graph(torch.cat([features, near]), k=3, labels=np.concatenate([labels, labels[:60]]))


def test_kth_and_next_closer_than_the_bound(rescoring):
    """Row 0's similarities to rows 1..30 are 0.9 + 1e-4·j: all 30 lie within eps of its k-th best, so
    the low-precision product cannot order them, and only the rescoring picks the right k."""
    dim, n_close = 64, 30
    features = torch.zeros(n_close + 1, dim, dtype=torch.float64)
    features[0, 0] = 1
    for j in range(1, n_close + 1):
        cosine = 0.9 + 1e-4 * j
        features[j, 0], features[j, j] = cosine, (1 - cosine ** 2) ** 0.5
    features = features.float()
    gaps = 1e-4 * np.ones(n_close)
    assert gaps.max() < 2 * candidate_bound(dim)
    for k in (1, 3, 7):
        indices, _ = cosine_top_k(features, k, precision="bfloat16")
        np.testing.assert_array_equal(indices[0], np.arange(n_close, n_close - k, -1))
        assert_same_graph(features, k=k)
        assert_same_neighbours(features, k)


def test_negative_similarities(rescoring):
    """Few samples in many dimensions: every row has negative similarities, many a negative k-th best,
    so the zero diagonal is among its top k (a zero-weight self entry, fewer edges)."""
    features = gaussian(12, 512)
    indices, values = cosine_top_k(features, 8)
    assert (values[:, -1] < 0).any() and (indices == np.arange(12)[:, None]).any(axis=1).all()
    assert_same_graph(features, k=8)
    assert_same_neighbours(features, 8)
    assert_same_graph(-clustered(100, 32)[0], k=3)  # all-non-positive features


def test_zero_and_constant_rows(rescoring):
    features, _ = clustered(100, 48)
    constant = torch.ones(6, 48) * torch.tensor([1.0, 2.0, 0.5, 3.0, 1e-3, 7.0])[:, None]  # cosine 1 among them
    zeros = torch.zeros(5, 48)
    mixed = torch.cat([features[:50], zeros, constant, features[50:]])
    assert_same_graph(mixed, k=3)
    assert_same_neighbours(mixed, 3)
    assert_same_graph(torch.cat([zeros, constant]), k=2)


@pytest.mark.parametrize("n_samples, k", [(2, 1), (3, 2), (5, 4), (17, 16)])
def test_tiny_graphs_and_k_near_n(n_samples, k, rescoring):
    features = gaussian(n_samples, 8)
    assert_same_graph(features, k=k)
    assert_same_neighbours(features, k)


def test_float64_keeps_the_float64_path():
    features = gaussian(60, 16).double()
    today, fast = cosine_top_k(features, 3), cosine_top_k(features, 3, precision="bfloat16")
    np.testing.assert_array_equal(fast[0], today[0])
    np.testing.assert_array_equal(fast[1], today[1])  # bit-identical: the same float64 code path


# --------------------------------------------------------------------------- fallback and selection


def test_fallback_rows_and_blocks(monkeypatch):
    """Rows with too many candidates take their float32 row; once most rows of a block fall back, the
    later blocks skip the low-precision product."""
    features, labels = clustered(200, 64)
    calls = []
    original = knn.candidate_top_k

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(len(result[2]))
        return result

    monkeypatch.setattr(knn, "candidate_top_k", spy)
    monkeypatch.setattr(candidates, "max_candidates", lambda n_samples: 0)  # every row has more than 0
    assert_same_graph(features, k=3, labels=labels, rows=50)
    assert calls == [50]  # the first block fell back whole, the other three took today's path
    calls.clear()
    monkeypatch.setattr(candidates, "max_candidates", lambda n_samples: n_samples)
    assert_same_graph(features, k=3, labels=labels, rows=50)
    assert calls == [0, 0, 0, 0]


def test_near_ties_take_the_float32_row(monkeypatch):
    """Rows whose rescored k-th and (k+1)-th values are within NEAR_TIE take their float32 row: here the
    rows whose best two are equal in exact arithmetic (a sample with two exact copies, or whose nearest
    sample has copies)."""
    base, _ = clustered(120, 32)
    features = torch.cat([base, base[:10], base[:10]])  # rows i, 120 + i and 130 + i are equal for i < 10
    inverse = inverse_norms(features)
    low, errors = bfloat16_rows(features, inverse)
    margins = candidate_bound(32, row_errors=errors).float()
    monkeypatch.setattr(candidates, "max_candidates", lambda n_samples: n_samples)  # none falls back by count

    def exact_rows() -> int:
        return len(candidates.candidate_top_k(features, low, inverse, 0, 140, 1, 0.0, margins, "bfloat16", False)[2])

    unit = features.double().numpy() / np.linalg.norm(features.double().numpy(), axis=1, keepdims=True)
    exact = unit @ unit.T
    np.fill_diagonal(exact, 0.0)
    best_two = -np.sort(-exact, axis=1)[:, :2]
    tied = int((best_two[:, 0] - best_two[:, 1] < 1e-12).sum())
    assert tied >= 30  # the copies themselves, and the rows nearest to one of them
    assert exact_rows() == tied
    monkeypatch.setattr(candidates, "NEAR_TIE", -1.0)  # no near-tie rule: every row rescored
    assert exact_rows() == 0


def test_row_counts():
    mask = torch.rand(50, 300, generator=torch.Generator().manual_seed(0)) < 0.1
    np.testing.assert_array_equal(candidates.row_counts(mask).numpy(), mask.sum(dim=1).numpy())


def test_fallback_cut_off():
    assert max_candidates(200) == 16 and max_candidates(10_000) == 312 and max_candidates(50_000) == 1562


def test_auto_uses_the_training_detection(monkeypatch):
    monkeypatch.setattr(candidates, "AUTO_MIN_FEATURES", 16)
    features = gaussian(40, 16)
    monkeypatch.setattr(candidates, "bfloat16_kernels", lambda device: False)
    assert resolve_precision("auto", features) == "float32"
    today = cosine_top_k(features, 3)
    auto = cosine_top_k(features, 3, precision="auto")
    np.testing.assert_array_equal(auto[0], today[0])
    np.testing.assert_array_equal(auto[1], today[1])
    monkeypatch.setattr(candidates, "bfloat16_kernels", lambda device: True)
    assert resolve_precision("auto", features) == "float32"  # too few samples to pay
    monkeypatch.setattr(candidates, "AUTO_MIN_SAMPLES", 40)
    assert resolve_precision("auto", features) == "bfloat16"
    assert resolve_precision("auto", features[:39]) == "float32"
    assert resolve_precision("auto", features[:, :15]) == "float32"  # too few features to pay
    assert resolve_precision("auto", features.double()) == "float32"


def test_precision_option_errors():
    features = gaussian(10, 4)
    with pytest.raises(UnknownNameError, match="bfloat16"):
        knn_graph(features, precision="bfloat")
    with pytest.raises(ValueError, match="needs CUDA"):
        knn_graph(features, precision="tf32")
    assert cosine_top_k(features, 2, precision="BFloat16")[0].shape == (10, 2)


def test_curve_spec_graph_precision():
    assert CurveSpec().graph_precision == "auto"
    assert CurveSpec(graph_precision="BFloat16").graph_precision == "bfloat16"
    with pytest.raises(UnknownNameError, match="bfloat16"):
        CurveSpec(graph_precision="bf16x")
    with pytest.raises(TypeError, match="graph_precision"):
        CurveSpec(graph_precision=16)
    with pytest.raises(TypeError, match="graph_precision"):
        CurveSpec.build(None, graph_precison="auto")  # misspelt field: the close name is suggested


def test_layer_scores_pass_the_precision(monkeypatch):
    from dynamic_graphs import curve

    seen = []
    monkeypatch.setattr(curve, "knn_graph", lambda *args, **kwargs: seen.append(kwargs["precision"])
                        or knn_graph(*args, **kwargs))
    features, labels = clustered(60, 16)
    curve.layer_scores(features, labels, k=3, layer="x", precision="bfloat16")
    assert seen == ["bfloat16"]


EMULATED = """
import numpy as np, torch
from dynamic_graphs.graphs import cosine_top_k
rng = np.random.default_rng(0)
labels = rng.integers(0, 4, 150)
features = torch.from_numpy(np.maximum(rng.standard_normal((4, 64))[labels] + rng.standard_normal((150, 64)), 0)
                            .astype(np.float32))
today, fast = cosine_top_k(features, 3), cosine_top_k(features, 3, precision="bfloat16")
assert (today[0] == fast[0]).all() and np.abs(today[1] - fast[1]).max() <= 1e-6
print("equal")
"""


def test_forced_without_native_kernels():
    """With oneDNN held to AVX2 (bfloat16 emulated, as on an AVX2 CPU) the forced path is slow but equal."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    done = subprocess.run([sys.executable, "-c", EMULATED], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "equal" in done.stdout


@pytest.mark.parametrize("caller_tf32", ["ieee", "tf32"])
def test_cuda_flags_are_restored(caller_tf32):
    """The TF32 and bfloat16-reduction flags set around a CUDA product are the caller's again after it
    (settable without a GPU), also when the product raises."""
    matmul = torch.backends.cuda.matmul
    saved = matmul.fp32_precision, matmul.allow_bf16_reduced_precision_reduction
    try:
        matmul.fp32_precision = caller_tf32
        with candidates._cuda_matmul_flags(tf32=True, bf16_reduction=False):
            assert matmul.fp32_precision == "tf32" and not matmul.allow_bf16_reduced_precision_reduction
        assert (matmul.fp32_precision, matmul.allow_bf16_reduced_precision_reduction) == (caller_tf32, True)
        with pytest.raises(RuntimeError), candidates._cuda_matmul_flags(tf32=True):
            raise RuntimeError("product failed")
        assert matmul.fp32_precision == caller_tf32
    finally:
        matmul.fp32_precision, matmul.allow_bf16_reduced_precision_reduction = saved


@pytest.mark.parametrize("group", [1, 7, 64, 1000])
def test_candidate_pairs_are_the_thresholded_entries(monkeypatch, group):
    """Reading the groups whose maxima pass gives every entry at or above each row's threshold, and only
    those, with whole groups, a part-group at the end of the rows (300 = 42 · 7 + 6), a single part-group,
    or fewer groups than neighbours; rows over the limit are left out; the k best columns are the block's."""
    features, _ = clustered(300, 48, spread=3.0)
    inverse = inverse_norms(features)
    low, errors = bfloat16_rows(features, inverse)
    margins = candidate_bound(48, row_errors=errors).float()
    block = low_precision_rows(features, low, inverse, 0, 300, 0.0, "bfloat16")
    monkeypatch.setattr(candidates, "GROUP", group)
    k = 3
    maxima = candidates.group_maxima(block)
    expected = torch.topk(block.float(), k, dim=1).values[:, -1]
    best = candidates.best_columns(block, maxima, k)
    assert torch.equal(block.gather(1, best).float().amin(1), expected)  # the k-th best value (ties in any order)
    threshold = candidates.candidate_thresholds(features, inverse, 0, block, maxima, k, margins, 0.0)
    mask = block >= threshold
    counts = mask.sum(dim=1)
    limit = int(counts.float().median())  # about half the rows over it
    row_of, column, fallback = candidates.candidate_pairs(block, maxima, threshold, limit)
    assert torch.equal(fallback, counts > limit) and 0 < int(fallback.sum()) < 300
    expected_rows, expected_columns = torch.nonzero(mask & ~fallback[:, None], as_tuple=True)
    assert torch.equal(row_of, expected_rows) and torch.equal(column, expected_columns)


def test_threshold_admits_the_float32_top_k_and_its_near_ties():
    """θ_i admits every entry whose float32 similarity is within NEAR_TIE of the row's k-th (float64 check of
    the float32 path's values against the low-precision block)."""
    features, _ = clustered(400, 96, spread=2.0)
    inverse = inverse_norms(features)
    low, errors = bfloat16_rows(features, inverse)
    margins = candidate_bound(96, row_errors=errors).float()
    block = low_precision_rows(features, low, inverse, 0, 400, 0.0, "bfloat16")
    threshold = candidates.candidate_thresholds(features, inverse, 0, block, candidates.group_maxima(block), 5,
                                                margins, 0.0)
    exact = similarity_rows(features, inverse, 0, 400, 0.0)
    kth = torch.topk(exact, 5, dim=1).values[:, -1:]
    needed = exact >= kth - candidates.NEAR_TIE
    assert bool((block >= threshold)[needed].all())
    assert float((block >= threshold).sum(1).float().mean()) < 40  # and far fewer than every entry
