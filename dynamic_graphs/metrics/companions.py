"""Companion measures of the curve, per layer, on the curve's own images: k-NN accuracy, the next
layer's CKA and mutual k-NN, separation fuzziness, a linear probe; :func:`layer_metrics` computes
them all from one feature pass.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..curve import CurveSpec, iter_curve, layer_scores
from ..graphs import as_feature_matrix, class_membership, cosine_top_k
from ..utils import as_labels, lookup
from .similarity import unit_gram

__all__ = ["DEFAULT_LAYER_METRICS", "LAYER_METRICS", "check_metrics", "knn_accuracy", "layer_metrics", "mutual_knn",
           "probe_score", "separation_fuzziness"]


def knn_accuracy(neighbours: np.ndarray, labels: Any) -> float:
    """Leave-one-out k-NN accuracy: each sample gets the majority label of its k neighbours.

    ``neighbours`` are the (N, k) indices of each sample's nearest *other* samples, nearest first
    (:func:`~dynamic_graphs.graphs.cosine_top_k` with ``exclude_self=True``). Votes are uniform. A
    tie in the vote goes to the tied label of the nearest neighbour; scikit-learn's
    ``KNeighborsClassifier`` gives it to the lowest tied class label instead.

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
    Platonic Representation Hypothesis"): the mean over samples of ``|N_a(i) ∩ N_b(i)| / k``.

    Both are (N, k) indices of each sample's k nearest other samples; :func:`layer_metrics`
    (``mutual_knn_next``) takes them by cosine similarity with the sample itself left out
    (:func:`~dynamic_graphs.graphs.cosine_top_k` with ``exclude_self=True``). platonic-rep's
    ``mutual_knn`` ranks by the inner product of the features it is given, which equals this on
    L2-normalised rows only.

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

    ``StandardScaler`` is fitted on the training features; ``LogisticRegression`` keeps
    scikit-learn's defaults (L2 penalty, C = 1) but ``max_iter``.

    With more features than training samples (flattened convolutional layers: 32 x 112 x 112
    values per image), the probe is fitted in the span of the standardised training rows
    (:func:`row_space`): an L2-penalised linear model's weights lie in that span, so the problem
    and its solution are the same, with at most as many coordinates as samples instead of every
    feature (minutes become seconds).

    An unconverged fit still ranks layers; its warnings are silenced rather than flooding logs.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_features)
    train, test = scaler.transform(train_features), scaler.transform(test_features)
    if train.shape[1] > train.shape[0]:
        train, test = row_space(train, test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(max_iter=max_iter).fit(train, train_labels)
    return float(probe.score(test, test_labels))


def row_space(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets of rows in an orthonormal basis of the training rows' span.

    With ``train = U S Vᵀ`` (directions whose singular value is at rounding level dropped), returns
    ``(train V, test V) = (U S, test trainᵀ U S⁻¹)``, from the eigendecomposition of the small Gram
    matrix ``train trainᵀ = U S² Uᵀ`` (a few matrix products where an SVD of the wide matrix takes
    many times longer). Any weights ``w`` of a model fitted on ``train`` split into ``V β`` and a
    part orthogonal to every training row, which changes no training prediction and only adds to
    an L2 penalty, so the penalised optimum is ``w = V β`` with ``‖w‖ = ‖β‖``: fitting ``β`` on
    ``train V`` solves the same problem, and ``test V β`` are its test predictions. Gradient
    methods started at zero (lbfgs) even take the same steps, since ``V`` preserves lengths.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> train, test = rng.normal(size=(5, 40)), rng.normal(size=(3, 40))
        >>> small_train, small_test = row_space(train, test)
        >>> small_train.shape, small_test.shape
        ((5, 5), (3, 5))
        >>> bool(np.allclose(small_train @ small_train.T, train @ train.T))  # the same geometry
        True
        >>> bool(np.allclose(small_test @ small_train.T, test @ train.T))
        True
    """
    from threadpoolctl import threadpool_limits

    train, test = np.asarray(train, dtype=np.float64), np.asarray(test, dtype=np.float64)
    gram = train @ train.T
    with threadpool_limits(1, user_api="blas"):  # a small matrix: BLAS threads only wait on each other (100x here)
        eigenvalues, vectors = np.linalg.eigh(gram)
    kept = eigenvalues > eigenvalues.max(initial=0.0) * max(train.shape) * np.finfo(np.float64).eps
    vectors, singular = vectors[:, kept], np.sqrt(eigenvalues[kept])
    return vectors * singular, (test @ train.T) @ (vectors / singular)


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
    - ``mutual_knn_next``: :func:`mutual_knn` with the next probe layer, both on the k nearest
      other samples by cosine similarity (NaN for the last);
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
        TypeError: ``metrics`` is a single string or not a list.
        ValueError: ``metrics`` is empty or names a measure twice; otherwise as
            :func:`~dynamic_graphs.modularity_curve`.
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
                                             dim=spec.graph_dim, precision=spec.graph_precision)["modularity"]
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
    if metrics is None or not hasattr(metrics, "__iter__"):
        raise TypeError(f"{name} must be a list of measure names of {', '.join(LAYER_METRICS)}, got {metrics!r}.")
    metrics = [lookup(metric, LAYER_METRICS, what="layer metric") for metric in metrics]
    if not metrics:  # an empty frame would look like a result
        raise ValueError(f"{name} is empty; pass at least one measure of {', '.join(LAYER_METRICS)} (or leave it out "
                         f"for the default, {', '.join(DEFAULT_LAYER_METRICS)}).")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"{name} must list each measure once; {metrics} repeats one (measures: "
                         f"{', '.join(LAYER_METRICS)}).")
    return metrics
