"""Companion measures of the curve: layer similarity (D against linear CKA) and the terms of Q's asymptotics.

- layer comparison (arXiv 2111.12485, Fig. 7): :func:`modularity_difference` D_ij = |Q_i − Q_j|,
  :func:`linear_cka` and :func:`cka_matrix`, and :func:`matrix_rank_correlation` between the two;
- asymptotics: :func:`edge_statistics` (the terms of Q = W_in/W − Σ_c (S_c/2W)²) and
  :func:`one_nn_error` (the 1-NN error that Q approaches through 1 − R_1NN − Σ_c π_c²), the
  project's own derivation behind the ``asymptotics`` notebook (docs/method.md, "Asymptotics").
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .curve import CurveSpec, iter_curve, layer_scores, summarize_curve
from .features import DEFAULT_FEATURE_BYTES, iter_layer_features, resolve_layers
from .frames import single_curve
from .graphs import as_feature_matrix, class_membership, cosine_top_k, edge_list, edge_weights, modularity
from .utils import as_labels, lookup

__all__ = [
    "centred_gram",
    "cka_matrix",
    "cka_of_grams",
    "edge_statistics",
    "linear_cka",
    "matrix_rank_correlation",
    "modularity_difference",
    "one_nn_error",
    "knn_accuracy",
    "mutual_knn",
    "separation_fuzziness",
    "probe_score",
    "layer_metrics",
    "check_metrics",
    "unit_gram",
    "LAYER_METRICS",
]

_GRAM_CHUNK = 2**24  # feature entries centred at once while a Gram matrix is accumulated (64 MiB of float32)


# --------------------------------------------------------------------------- layer similarity (Fig. 7)


def centred_gram(features: Any, *, name: str | None = None) -> torch.Tensor:
    """The centred linear Gram matrix H X Xᵀ H of flattened features, in float64, on their device.

    H = I − 11ᵀ/N. Computed as (HX)(HX)ᵀ, centring a block of feature columns at a time, so
    only the (N, N) result and one block are held beside the features; subtracting the means
    before the product keeps the precision that centring K afterwards would lose.

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
    """The layer-difference matrix D_ij = |Q_i − Q_j| (arXiv 2111.12485, Fig. 7).

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


# --------------------------------------------------------------------------- asymptotics


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



# --------------------------------------------------------------------------- companion metrics of a layer


def knn_accuracy(neighbours: np.ndarray, labels: Any) -> float:
    """Leave-one-out k-NN accuracy: each sample gets the majority label of its k neighbours.

    ``neighbours`` are the (N, k) indices of each sample's nearest *other* samples, nearest first
    (:func:`~dynamic_graphs.graphs.cosine_top_k` with ``exclude_self=True``). A tie in the vote
    goes to the tied label of the nearest neighbour.

    Example:
        >>> knn_accuracy(np.array([[1, 2], [0, 3], [3, 0], [2, 1]]), [0, 0, 1, 1])  # rows 2, 3 tie: nearest wins
        1.0
    """
    _, membership = np.unique(as_labels(labels, len(neighbours)), return_inverse=True)
    voted = membership[neighbours]  # (N, k) labels of the neighbours, nearest first
    n_classes = int(membership.max()) + 1
    counts = np.zeros((len(voted), n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(voted))[:, None], voted), 1)
    best = counts.max(axis=1)
    is_best = counts[np.arange(len(voted))[:, None], voted] == best[:, None]  # which neighbours carry a top label
    predicted = voted[np.arange(len(voted)), is_best.argmax(axis=1)]  # the nearest of those
    return float(np.mean(predicted == membership))


def mutual_knn(neighbours_a: np.ndarray, neighbours_b: np.ndarray) -> float:
    """Mutual k-NN alignment of two representations of the same samples (Huh et al. 2024, "The
    Platonic Representation Hypothesis"): the mean over samples of |N_a(i) ∩ N_b(i)| / k.

    Both are (N, k) indices of each sample's k nearest other samples.

    Example:
        >>> mutual_knn(np.array([[1, 2], [0, 2], [0, 1]]), np.array([[2, 1], [2, 0], [1, 0]]))
        1.0
    """
    if neighbours_a.shape != neighbours_b.shape:
        raise ValueError(f"mutual_knn needs neighbour lists of one shape, got {neighbours_a.shape} and "
                         f"{neighbours_b.shape}.")
    k = neighbours_a.shape[1]
    shared = (neighbours_a[:, :, None] == neighbours_b[:, None, :]).any(axis=2).sum(axis=1)
    return float(np.mean(shared / k))


def separation_fuzziness(features: Any, labels: Any) -> float:
    """He & Su's separation fuzziness Tr(SS_w · SS_b⁺) (PNAS 2023, "A law of data separation").

    SS_w = (1/N) Σ_i (h_i − μ_c(i))(h_i − μ_c(i))ᵀ and SS_b = (1/C) Σ_c (μ_c − μ)(μ_c − μ)ᵀ, μ the
    mean of all samples. No D × D matrix is formed: SS_b = M Mᵀ / C for the (D, C) matrix M of
    centred class means, so with M = U S Vᵀ (thin SVD, the rank-r part) SS_b⁺ = C · U S⁻² Uᵀ and the
    trace is C · Σ_j s_j⁻² · (1/N) Σ_i ((h_i − μ_c(i)) · u_j)²: products with the C class means
    only, in float64, so it runs at D = 16,384. Smaller is better separated.

    Args:
        features: (N, ...) tensor or array, one row per sample.
        labels: N class labels, at least two classes.

    Raises:
        ValueError: fewer than two classes, or class means that coincide (SS_b = 0).
    """
    matrix = as_feature_matrix(features).double()
    membership = torch.as_tensor(class_membership(labels, matrix.shape[0]), device=matrix.device)
    n_classes = int(membership.max()) + 1
    means = torch.zeros(n_classes, matrix.shape[1], dtype=torch.float64, device=matrix.device)
    means.index_add_(0, membership, matrix)
    means /= torch.bincount(membership, minlength=n_classes)[:, None].double()
    centred_means = (means - matrix.mean(dim=0)).T  # M: (D, C)
    u, singular, _ = torch.linalg.svd(centred_means, full_matrices=False)
    keep = singular > singular.max() * max(centred_means.shape) * torch.finfo(torch.float64).eps
    if not bool(keep.any()):
        raise ValueError("separation_fuzziness is undefined: every class has the same mean (SS_b = 0).")
    u, singular = u[:, keep], singular[keep]
    within = (matrix - means[membership]) @ u  # (N, r): within-class deviations along SS_b's range
    return float(n_classes * torch.sum(within.pow(2).mean(dim=0) / singular.pow(2)))


def probe_score(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                test_labels: np.ndarray, *, max_iter: int = 300) -> float:
    """Held-out accuracy of a logistic-regression probe (standardised features, scikit-learn's lbfgs).

    An unconverged fit still ranks layers; its warnings are silenced rather than flooding logs.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(max_iter=max_iter).fit(scaler.transform(train_features), train_labels)
    return float(probe.score(scaler.transform(test_features), test_labels))


LAYER_METRICS = ("modularity", "knn_accuracy", "linear_cka_next", "mutual_knn_next", "separation_fuzziness",
                 "linear_probe")
DEFAULT_LAYER_METRICS = LAYER_METRICS[:-1]  # the linear probe fits a classifier per layer and repeat: on request
PROBE_FRACTION = 2 / 3  # of each sample's images fit the linear probe; the rest score it


def layer_metrics(model: nn.Module, dataset: Any, spec: CurveSpec | None = None, *,
                  layers: Sequence[str] | None = None, metrics: Sequence[str] = DEFAULT_LAYER_METRICS,
                  **options: Any) -> pd.DataFrame:
    """The modularity curve's companion measures, on exactly its images, from one feature pass.

    The samples are those of :func:`~dynamic_graphs.modularity_curve` with the same ``spec``
    (:func:`~dynamic_graphs.curve.iter_curve`); each repeat's features are extracted once and
    every metric reads them:

    - ``modularity``: the paper's Q (:func:`~dynamic_graphs.curve.layer_scores`, on the spec's graph);
    - ``knn_accuracy``: leave-one-out k-NN classification on the k nearest other samples by cosine
      similarity (:func:`knn_accuracy`);
    - ``linear_cka_next``: :func:`linear_cka` with the next probe layer (NaN for the last);
    - ``mutual_knn_next``: :func:`mutual_knn` with the next probe layer (NaN for the last);
    - ``separation_fuzziness``: :func:`separation_fuzziness`;
    - ``linear_probe``: :func:`probe_score` of a logistic regression fitted on a seeded
      two-thirds of the sample's images and scored on the rest.

    Args:
        model, dataset, spec, layers, **options: as for :func:`~dynamic_graphs.modularity_curve`.
        metrics: one or more of :data:`LAYER_METRICS` (default: all but ``linear_probe``).

    Returns:
        One row per (repeat, layer): ``repeat``, ``layer``, ``depth``, one column per metric,
        ``n``, ``k``; a curve frame, so ``summarize_curve(frame, value="knn_accuracy")`` works.

    Raises:
        UnknownNameError: an unknown metric.
        ValueError: no metric, or one named twice; otherwise as :func:`~dynamic_graphs.modularity_curve`.
    """
    spec = CurveSpec.build(spec, **options)
    metrics = check_metrics("metrics", metrics)
    rows: list[dict[str, Any]] = []
    previous: dict[str, Any] = {}
    repeat = None
    for sample in iter_curve(model, dataset, spec, layers=layers, caller="layer_metrics"):
        features, labels = sample.features, sample.labels
        if sample.repeat != repeat:  # a new repeat: its own probe split, and no previous layer
            repeat = sample.repeat
            split = np.random.default_rng([spec.seed, sample.repeat]).permutation(len(labels))
            fit, score = split[:int(len(split) * PROBE_FRACTION)], split[int(len(split) * PROBE_FRACTION):]
            previous = {}
        row = {"repeat": sample.repeat, "layer": sample.layer, "depth": sample.depth}
        current: dict[str, Any] = {}
        if "modularity" in metrics:
            row["modularity"] = layer_scores(features, labels, k=spec.k, layer=sample.layer, seed=spec.seed + sample.repeat,
                                             rows=spec.graph_rows, method=spec.graph_method,
                                             dim=spec.graph_dim)["modularity"]
        if {"knn_accuracy", "mutual_knn_next"} & set(metrics):
            current["neighbours"] = cosine_top_k(features, spec.k, name=sample.layer, exclude_self=True)[0]
        if "knn_accuracy" in metrics:
            row["knn_accuracy"] = knn_accuracy(current["neighbours"], labels)
        if "linear_cka_next" in metrics:
            current["gram"] = unit_gram(features, sample.layer)
        if "separation_fuzziness" in metrics:
            row["separation_fuzziness"] = separation_fuzziness(features, labels)
        if "linear_probe" in metrics:
            values = features.float().cpu().numpy()
            row["linear_probe"] = probe_score(values[fit], labels[fit], values[score], labels[score])
        del features, sample  # free this layer before the next one is taken
        if previous:  # the previous layer's "next" measures are this layer's
            if "linear_cka_next" in metrics:
                previous["row"]["linear_cka_next"] = float((previous["gram"] * current["gram"]).sum())
            if "mutual_knn_next" in metrics:
                previous["row"]["mutual_knn_next"] = mutual_knn(previous["neighbours"], current["neighbours"])
        rows.append(row)
        previous = {**current, "row": row}
    frame = pd.DataFrame(rows)
    for metric in metrics:  # the last layer has no next one
        if metric not in frame:
            frame[metric] = np.nan
    frame = frame[["repeat", "layer", "depth", *metrics]].assign(n=spec.n, k=spec.k)
    return frame.sort_values(["repeat", "depth"], ignore_index=True).astype({m: float for m in metrics})


def check_metrics(name: str, metrics: Any) -> list[str]:
    """Measures of :func:`layer_metrics`, matched by name; at least one, each once.

    The rule of :func:`layer_metrics`' ``metrics`` and of the notebook parameter of that name.
    """
    if isinstance(metrics, str):
        raise TypeError(f"{name} must be a list of names, got the string {metrics!r}; use [{metrics!r}] (on the "
                        f"command line, YAML: -y \"{name}: [modularity, knn_accuracy]\").")
    metrics = [lookup(metric, LAYER_METRICS, what="layer metric") for metric in metrics]
    if not metrics or len(set(metrics)) != len(metrics):
        raise ValueError(f"{name} must list each measure of {', '.join(LAYER_METRICS)} at most once, and at least "
                         f"one; got {metrics}.")
    return metrics
