"""Layer similarity (arXiv 2111.12485, Fig. 7): the modularity difference D_ij = |Q_i − Q_j| against linear CKA.

:func:`modularity_difference` D from a curve, :func:`linear_cka` and :func:`cka_matrix` (biased
HSIC on centred Gram matrices), and :func:`matrix_rank_correlation` between two such matrices.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..features import DEFAULT_FEATURE_BYTES, iter_layer_features, resolve_layers
from ..curve import summarize_curve
from ..frames import single_curve
from ..graphs import as_feature_matrix

__all__ = ["centred_gram", "cka_matrix", "cka_of_grams", "linear_cka", "matrix_rank_correlation",
           "modularity_difference", "unit_gram"]

_GRAM_CHUNK = 2**24  # feature entries centred at once while a Gram matrix is accumulated (64 MiB of float32)


# --------------------------------------------------------------------------- layer similarity (Fig. 7)


def centred_gram(features: Any, *, name: str | None = None) -> torch.Tensor:
    """The centred linear Gram matrix H X Xᵀ H of flattened features, returned in float64, on their device.

    H = I − 11ᵀ/N. Computed as (HX)(HX)ᵀ, centring a block of feature columns at a time, so
    only the (N, N) result and one block are held beside the features; subtracting the means
    before the product keeps the precision that centring K afterwards would lose. The means and
    each block's product are computed in the features' own precision (float32 for a curve's
    features; integer, float16 and bfloat16 input become float32, float64 stays float64); only
    the sum over blocks is float64.

    Args:
        features: (N, ...) tensor or array, one row per sample.
        name: what the features are (a layer name), for error messages.

    Returns:
        (N, N) float64 tensor.

    Example:
        >>> gram = centred_gram(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        >>> bool(torch.allclose(gram.sum(dim=0), torch.zeros(3, dtype=torch.float64)))
        True
    """
    matrix = as_feature_matrix(features, name=name)
    n_samples, width = matrix.shape
    mean = matrix.mean(dim=0)
    gram = torch.zeros(n_samples, n_samples, dtype=torch.float64, device=matrix.device)
    step = max(1, _GRAM_CHUNK // n_samples)
    for start in range(0, width, step):
        block = matrix[:, start:start + step] - mean[start:start + step]
        gram += (block @ block.T).double()
    return gram


def unit_gram(features: Any, name: str | None) -> torch.Tensor:
    """:func:`centred_gram` divided by its Frobenius norm (float64): linear CKA is the inner product of two.

    Raises:
        ValueError: features with zero variance (every sample the same), naming the layer ``name``.
    """
    gram = centred_gram(features, name=name)
    norm = torch.linalg.matrix_norm(gram)
    if not norm > 0:
        what = f"layer {name!r}" if name else "the features"
        raise ValueError(f"CKA is undefined for {what}: every sample has the same representation "
                         "(zero variance, e.g. a dead ReLU layer); leave this layer out.")
    return gram / norm


def linear_cka(x: Any, y: Any) -> float:
    """Linear centred kernel alignment between two representations of the same samples.

    The biased-HSIC form that the paper's layer comparison (arXiv 2111.12485, Fig. 7) sets beside
    D: K = XXᵀ, L = YYᵀ, H = I − 11ᵀ/N, HSIC(X, Y) = tr(KHLH)/(N − 1)², and
    CKA = HSIC(X, Y) / sqrt(HSIC(X, X) · HSIC(Y, Y)). As tr(KHLH) = <HKH, HLH>_F, this is the
    cosine between the centred Gram matrices (:func:`centred_gram`). CKA is a *similarity*: 1 for
    representations equal up to rotation and isotropic scaling; compare ``1 − CKA`` with a
    difference such as :func:`modularity_difference`.

    The features are used as they are (rows not L2-normalised, unlike platonic-rep's pipeline),
    and there is no debiased (unbiased-HSIC) variant: the biased estimator is well above 0 for
    unrelated representations unless N is much larger than their width. The Gram products run in
    the features' precision (float32 for a curve's features), summed and normalised in float64.

    Args:
        x: (N, ...) tensor or array; each row flattened.
        y: (N, ...) tensor or array with the same N (any width).

    Returns:
        CKA in [0, 1].

    Raises:
        ValueError: different numbers of samples, or a representation with zero variance.

    Example:
        >>> x = np.random.default_rng(0).standard_normal((20, 5))
        >>> round(linear_cka(x, 3 * x), 6)
        1.0
    """
    n_x, n_y = len(x), len(y)
    if n_x != n_y:
        raise ValueError(f"x and y must describe the same samples, got {n_x} and {n_y} rows.")
    return float((unit_gram(x, "x") * unit_gram(y, "y")).sum())


def cka_matrix(model: nn.Module, images: torch.Tensor, *, layers: Sequence[str] | None = None,
               device: str | torch.device = "auto", batch_size: int = 250,
               max_bytes: int = DEFAULT_FEATURE_BYTES) -> np.ndarray:
    """Linear CKA between every pair of layers, on one set of images (arXiv 2111.12485, Fig. 7).

    Layers are streamed with :func:`iter_layer_features`; of each only its unit-norm centred Gram
    matrix (N × N) is kept, so memory is O(L · N²) and independent of the layers' widths.

    Args:
        model: the network.
        images: (N, C, H, W) tensor, e.g. from :func:`draw_samples`.
        layers: module names; ``None`` uses the model's registered probe layers.
        device: where the forward passes and Gram matrices run.
        batch_size: images per forward pass.
        max_bytes: memory budget for the features held at once.

    Returns:
        (L, L) symmetric float64 array, ones on the diagonal, rows and columns in ``layers`` order.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU())
        >>> cka_matrix(net, torch.rand(8, 1, 2, 2), layers=["1", "2"], device="cpu").shape
        (2, 2)
    """
    layers = resolve_layers(model, layers, "cka_matrix")
    position = {name: index for index, name in enumerate(layers)}
    units = torch.empty(len(layers), len(images) ** 2, dtype=torch.float64)
    for name, features in iter_layer_features(model, images, layers=layers, batch_size=batch_size, device=device,
                                              max_bytes=max_bytes):
        units[position[name]] = unit_gram(features, name).reshape(-1).cpu()
        del features  # only the Gram matrix is needed from here on
    return cka_of_grams(units)


def cka_of_grams(units: torch.Tensor) -> np.ndarray:
    """Linear CKA of every pair of layers from their flattened unit Gram matrices, one row per layer
    (:func:`unit_gram`): their inner products, made exactly symmetric, with ones on the diagonal."""
    matrix = (units @ units.T).numpy()
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _mean_curve(frame: pd.DataFrame) -> np.ndarray:
    if "mean" in frame.columns and "depth" in frame.columns:
        summary = frame
    elif "modularity" in frame.columns:
        summary = summarize_curve(frame)
    else:
        raise KeyError(f"The frame has columns {list(frame.columns)}; pass a summarize_curve() frame "
                       "(depth, mean) or a modularity_curve() frame (depth, modularity).")
    summary = single_curve(summary, value="mean", caller="modularity_difference")
    if summary["depth"].duplicated().any():
        raise ValueError("The frame has several rows per depth; pass the per-layer means of a single curve.")
    return summary.sort_values("depth")["mean"].to_numpy(dtype=np.float64)


def modularity_difference(q: Sequence[float] | np.ndarray | pd.DataFrame) -> np.ndarray:
    """The layer-difference matrix ``D_ij = |Q_i − Q_j|`` (arXiv 2111.12485, Fig. 7).

    D is a *difference* (0 on the diagonal); CKA is a *similarity* (1 on the diagonal), so compare
    D with ``1 − cka_matrix(...)``. A frame must hold one curve (see :mod:`dynamic_graphs.frames`):
    one that stacks several is refused with the label columns to select on.

    Args:
        q: per-layer mean modularity Q_1..Q_L, or a :func:`summarize_curve` frame (``depth``,
            ``mean``), or a :func:`modularity_curve` frame (averaged over repeats here), of one curve.

    Returns:
        (L, L) symmetric float64 array, layers in depth order.

    Example:
        >>> modularity_difference([0.1, 0.4, 0.8]).round(2).tolist()
        [[0.0, 0.3, 0.7], [0.3, 0.0, 0.4], [0.7, 0.4, 0.0]]
    """
    values = _mean_curve(q) if isinstance(q, pd.DataFrame) else np.asarray(q, dtype=np.float64)
    if values.ndim != 1 or values.size < 1:
        raise ValueError(f"q must be a 1-D sequence of per-layer values, got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise ValueError(f"q has non-finite values at layers {np.flatnonzero(~np.isfinite(values)) + 1}.")
    return np.abs(values[:, None] - values[None, :])


def matrix_rank_correlation(a: Any, b: Any) -> float:
    """Spearman correlation between two layer × layer matrices, over their upper triangles.

    Only the pairs i < j enter (the diagonals are 0 or 1 by construction). Put both matrices on
    the same footing: a difference such as D against ``1 − CKA``; correlating D with CKA itself
    gives the same magnitude with the opposite sign.

    Args:
        a: (L, L) array.
        b: (L, L) array of the same shape, L >= 3.

    Returns:
        Spearman's rho; NaN when either triangle is constant.

    Example:
        >>> d = modularity_difference([0.1, 0.3, 0.2, 0.9])
        >>> matrix_rank_correlation(d, d)
        1.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ValueError(f"a and b must be square matrices of the same shape, got {a.shape} and {b.shape}.")
    if a.shape[0] < 3:
        raise ValueError(f"A rank correlation needs at least 3 layers (3 pairs), got {a.shape[0]}.")
    from scipy.stats import spearmanr

    upper = np.triu_indices(a.shape[0], k=1)
    return float(spearmanr(a[upper], b[upper])[0])
