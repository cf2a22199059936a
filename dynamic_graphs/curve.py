"""The modularity curve: Q of every probe layer's k-NN graph, over repeated disjoint samples."""
from __future__ import annotations

import warnings
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from .data import as_dataset, labels_of, load_images
from .features import DEFAULT_FEATURE_BYTES, check_input_channels, iter_layer_features, resolve_layers
from .graphs import APPROX_DIM, edge_weights, knn_graph, leiden, modularity, partition_agreement
from .frames import check_curves, summarize_by_curve, t_interval
from .utils import check_positive_int, model_name


def sample_indices(dataset_size: int, *, n: int, repeats: int, seed: int = 0,
                   sampling: Literal["random", "sequential"] = "random") -> np.ndarray:
    """Disjoint samples of ``n`` indices for each repeat, as a (repeats, n) array.

    ``"random"`` draws them with ``seed`` (the same seed gives the same samples); ``"sequential"``
    takes consecutive blocks 0..n-1, n..2n-1, ... as the paper's code does with an unshuffled loader.
    """
    n, repeats = check_positive_int("n", n), check_positive_int("repeats", repeats)
    if n * repeats > dataset_size:
        raise ValueError(f"The dataset has {dataset_size} samples but n × repeats = {n} × {repeats} = "
                         f"{n * repeats} disjoint samples were asked for; lower n or repeats.")
    if sampling == "random":
        order = np.random.default_rng(seed).permutation(dataset_size)
    elif sampling == "sequential":
        order = np.arange(dataset_size)
    else:
        raise ValueError(f"sampling must be 'random' or 'sequential', got {sampling!r}.")
    return order[: n * repeats].reshape(repeats, n)


def draw_samples(dataset: Dataset | str, *, n: int, seed: int = 0,
                 sampling: Literal["random", "sequential"] = "random") -> tuple[torch.Tensor, np.ndarray]:
    """One sample of ``n`` images and their labels: exactly the nodes of repeat 0 of
    :func:`modularity_curve` with the same ``n``, ``seed`` and ``sampling``, so that a t-SNE, CKA or
    graph drawing shows the samples behind the curve's first graphs.

    Returns:
        ``(images, labels)``: an (n, C, H, W) float tensor and an (n,) int64 array.

    Example:
        >>> from dynamic_graphs import get_dataset
        >>> images, labels = draw_samples(get_dataset("synthetic", n=20), n=5, seed=0)
        >>> tuple(images.shape), labels.shape
        ((5, 3, 8, 8), (5,))
    """
    dataset = as_dataset(dataset)
    indices = sample_indices(len(dataset), n=n, repeats=1, seed=seed, sampling=sampling)[0]
    return load_images(dataset, indices), labels_of(dataset)[indices]


class UndefinedModularityWarning(RuntimeWarning):
    """A probe layer whose k-NN graph has no modularity (all-zero or constant outputs): its Q is NaN."""


def _undefined_reason(features: torch.Tensor, graph) -> str | None:
    """Why Q of this layer's graph is undefined, or None when it is defined."""
    matrix = features.reshape(len(features), -1)
    if torch.equal(matrix, matrix[:1].expand_as(matrix)):
        zero = not bool(matrix[0].any())
        return ("every sample's output is all zero, so cosine similarity is 0 everywhere and its k-NN graph "
                "has no edges" if zero else "every sample has the same output, so its k-NN graph only reflects "
                "how ties are broken")
    total = float(edge_weights(graph).sum())
    if total <= 0:
        return f"its k-NN graph has total edge weight {total:g} ({graph.ecount()} edges)"
    return None


def layer_scores(features: torch.Tensor, labels: np.ndarray, *, k: int, layer: str,
                 with_leiden: bool = False, seed: int = 0, rows: int | None = None, method: str = "exact",
                 dim: int = APPROX_DIM) -> dict[str, float]:
    """Scores of one layer's graph: Q against the classes, and optionally the Leiden view.

    ``rows``, ``method`` and ``dim`` are :func:`knn_graph`'s (``seed`` also seeds an approximate
    graph's projection).

    Q is NaN, with an :class:`UndefinedModularityWarning` naming the layer, when it is undefined:
    all-zero or constant outputs (torchvision's ViT ``heads`` at initialisation), or a graph
    without positive total edge weight.
    """
    graph = knn_graph(features, k=k, name=layer, rows=rows, method=method, dim=dim, seed=seed)
    reason = _undefined_reason(features, graph)
    if reason is not None:
        warnings.warn(f"Layer {layer!r}: {reason}; its modularity is undefined and set to NaN "
                      "(the rest of the curve is kept).", UndefinedModularityWarning, stacklevel=3)
        scores = {"modularity": float("nan"), "edges": graph.ecount()}
        if with_leiden:
            scores.update({key: float("nan") for key in ("leiden_modularity", "leiden_communities",
                                                         "leiden_nmi", "leiden_ari")})
        return scores
    scores = {"modularity": modularity(graph, labels), "edges": graph.ecount()}
    if with_leiden:
        found = leiden(graph, seed=seed)
        scores.update(leiden_modularity=modularity(graph, found) if found.max() > 0 else 0.0,
                      leiden_communities=int(found.max()) + 1,
                      **{f"leiden_{key}": value for key, value in partition_agreement(found, labels).items()})
    return scores


def curve_samples(model: nn.Module, dataset: Dataset | str, *, layers: Sequence[str] | None, n: int, repeats: int,
                  seed: int, sampling: str = "random", caller: str = "modularity_curve"
                  ) -> tuple[list[str], dict[str, int], Dataset, list[tuple[int, np.ndarray, np.ndarray]]]:
    """What a curve is measured on, checked before any forward pass: ``(layers, depth, dataset, draws)``.

    ``depth`` maps each layer to its 1-based position; ``draws`` holds ``(repeat, indices, labels)``
    for the ``repeats`` disjoint samples of :func:`sample_indices`. :func:`modularity_curve` and
    :func:`~dynamic_graphs.layer_metrics` share it, so that they read exactly the same images.

    Raises:
        ValueError: images whose channels the model does not take, too few images, a sample with
            one class.
    """
    layers = resolve_layers(model, layers, caller)
    depth = {name: position for position, name in enumerate(layers, start=1)}
    dataset = as_dataset(dataset)
    samples = sample_indices(len(dataset), n=n, repeats=repeats, seed=seed, sampling=sampling)
    all_labels = labels_of(dataset)
    check_input_channels(model, load_images(dataset, samples[0][:1]), what="the dataset's images")
    draws = []
    for repeat, indices in enumerate(samples):
        labels = all_labels[indices]
        if np.unique(labels).size < 2:
            raise ValueError(f"Repeat {repeat} drew only one class; modularity needs at least 2 (use a larger n).")
        draws.append((repeat, indices, labels))
    return layers, depth, dataset, draws


def modularity_curve(model: nn.Module, dataset: Dataset | str, *, layers: Sequence[str] | None = None,
                     n: int = 500, repeats: int = 5, k: int = 3, seed: int = 0,
                     device: str | torch.device = "auto", batch_size: int = 250,
                     sampling: Literal["random", "sequential"] = "random", with_leiden: bool = False,
                     max_bytes: int = DEFAULT_FEATURE_BYTES, output: Any = None, pool: Any = "flatten",
                     graph_rows: int | None = None, graph_method: str = "exact",
                     graph_dim: int = APPROX_DIM) -> pd.DataFrame:
    """Modularity of every probe layer's k-NN graph, for ``repeats`` disjoint samples of ``n`` images.

    This is the paper's measure (Lu et al. 2022, Sec. 3; docs/method.md, "The measure"): for each sample, each layer's flattened outputs
    give a cosine k-NN graph (:func:`knn_graph`), scored by :func:`modularity` with the true
    classes as communities.

    Args:
        model: a trained classifier taking the dataset's images.
        dataset: any torch Dataset of (image, label), or a dataset name (its test split).
        layers: module names to probe, in order; ``None`` uses the model's registered probe layers.
        n: images per graph (the paper: 500).
        repeats: disjoint samples, one graph per layer each (the paper: 5).
        k: neighbours per node (the paper: 3).
        seed: which images are drawn; the same seed gives an identical frame.
        device: where the forward passes and similarities run.
        batch_size: images per forward pass.
        sampling: ``"random"`` (seeded) or ``"sequential"`` (the paper's consecutive test batches).
        with_leiden: also find Leiden communities per graph and add their modularity
            (``leiden_modularity``), count and agreement with the classes (``leiden_nmi``, ``leiden_ari``).
        max_bytes: memory budget for the features held at once.
        output: which tensor of a layer's output to use when a module returns a tuple, dict or
            ``ModelOutput`` (None: the first tensor); see :func:`~dynamic_graphs.select_output`.
        pool: ``"flatten"`` (the paper's semantics), ``"mean"`` or ``"cls"`` for token outputs
            (N, T, D), or a callable; see :func:`~dynamic_graphs.pool_features`.
        graph_rows: similarity rows per block in :func:`knn_graph` (None: its memory budget).
        graph_method, graph_dim: ``"exact"`` (the paper's graphs) or ``"approx"``, graphs of a seeded
            random projection to ``graph_dim`` columns (:func:`~dynamic_graphs.graphs.random_projection`).

    A layer whose Q is undefined does not stop the curve: when every sample's output is the same
    (all zero, as torchvision's ViT ``heads`` at initialisation, or constant), cosine similarity
    is 0 (or 1) everywhere and the k-NN graph has no edges (or only ties), so that layer's
    ``modularity`` is NaN, with an :class:`UndefinedModularityWarning` naming it, and
    :func:`summarize_curve` shows NaN for it.

    Returns:
        Tidy DataFrame, one row per (repeat, layer): ``layer``, ``depth`` (1-based position in
        ``layers``), ``repeat``, ``modularity``, ``edges``, ``n``, ``k`` (+ Leiden columns).

    Raises:
        ValueError: images with another number of channels than the model takes (naming both),
            too few images for ``n`` × ``repeats``, a sample with one class, or labels that are not
            class indices (:func:`~dynamic_graphs.data.labels_of`).

    Example:
        >>> from dynamic_graphs import get_dataset
        >>> data = get_dataset("synthetic", n=40, num_classes=2, shape=(1, 2, 2))
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.ReLU())
        >>> modularity_curve(net, data, layers=["1", "2"], n=20, repeats=2, device="cpu").shape
        (4, 7)
    """
    layers, depth, dataset, draws = curve_samples(model, dataset, layers=layers, n=n, repeats=repeats, seed=seed,
                                                  sampling=sampling)
    rows = []
    for repeat, indices, labels in draws:
        images = load_images(dataset, indices)
        for layer, features in iter_layer_features(model, images, layers=layers, batch_size=batch_size,
                                                   device=device, max_bytes=max_bytes, output=output, pool=pool):
            scores = layer_scores(features, labels, k=k, layer=layer, with_leiden=with_leiden, seed=seed + repeat,
                                  rows=graph_rows, method=graph_method, dim=graph_dim)
            del features  # free this layer before the next one is taken
            rows.append({"layer": layer, "depth": depth[layer], "repeat": repeat, **scores, "n": n, "k": k})
    frame = pd.DataFrame(rows).sort_values(["repeat", "depth"], ignore_index=True)
    frame.attrs["params"] = {"n": n, "repeats": repeats, "k": k, "seed": seed, "sampling": sampling,
                             "model": model_name(model)}
    return frame


def summarize_curve(curve: pd.DataFrame, value: str = "modularity") -> pd.DataFrame:
    """Per-layer mean, standard deviation and 95 % interval over repeats, for each curve the frame holds.

    Curves stacked by a figure function or :func:`stack_curves` stay apart: the summary has one
    row per (label columns..., layer), in the sense of :func:`dynamic_graphs.frames.curve_labels`.
    A frame that stacks curves no column tells apart is refused rather than averaged.

    The interval is over repeats: they are disjoint samples of images, so each layer's ``r``
    values of Q are independent draws and the interval of their mean is the Student-t one,
    ``mean ± t_{0.975, r-1} · std / sqrt(r)`` (:func:`dynamic_graphs.frames.t_interval`;
    docs/method.md, "Intervals"). With one repeat there is no spread to estimate and the
    interval is NaN. A layer's NaN values (undefined Q) are left out of ``repeats``.

    Returns:
        The label columns, then ``depth``, ``layer``, ``mean``, ``std`` (ddof=1), ``repeats``
        (values behind the mean), ``ci_low``, ``ci_high``.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"layer": ["a", "a"], "depth": [1, 1], "repeat": [0, 1], "modularity": [0.2, 0.4]})
        >>> summarize_curve(frame)[["layer", "mean"]].values.tolist()
        [['a', 0.30000000000000004]]
    """
    return summarize_by_curve(curve, value=value, caller="summarize_curve")


def summarize_seeds(curves: pd.DataFrame, column: str = "train_seed", value: str = "modularity") -> pd.DataFrame:
    """The spread of the curves across training seeds: per layer, over the curves that differ only in ``column``.

    Each curve is first reduced to its per-layer mean over repeats (:func:`summarize_curve`); the
    summary is then over those means, one per seed, so that ``std`` is the spread between trained
    models, not between image samples. The interval is the Student-t one over seeds (as
    :func:`summarize_curve`'s is over repeats; NaN with one seed). The other label columns keep
    their curves apart as everywhere else; only ``column``, named explicitly, is pooled.

    Returns:
        The other label columns, then ``depth``, ``layer``, ``mean``, ``std`` (ddof=1), ``min``,
        ``max``, ``seeds`` (curves behind the row), ``ci_low``, ``ci_high``; with a ``test_acc``
        column in ``curves``, also ``test_acc`` (its mean over seeds) and ``test_acc_std``.

    Raises:
        ValueError: ``column`` is not one of the frame's label columns.
    """
    labels = check_curves(curves, value=value, caller="summarize_seeds")
    if column not in labels:
        raise ValueError(f"summarize_seeds pools the curves that differ in {column!r}, but it is not a label column "
                         f"of this frame (labels: {labels}); pass model_curves(..., train_seeds=[...]) curves or "
                         "name the column with column=.")
    per_curve = summarize_by_curve(curves, value=value, caller="summarize_seeds")
    if "test_acc" in curves.columns:
        accuracy = curves.groupby(labels, sort=False, dropna=False)["test_acc"].first().rename("test_acc")
        per_curve = per_curve.join(accuracy, on=labels)
    rest = [label for label in labels if label != column]
    grouped = per_curve.groupby(rest + ["depth", "layer"], sort=False, dropna=False)
    summary = grouped["mean"].agg(["mean", "std", "min", "max"]).reset_index()
    count = grouped["mean"].count().to_numpy()
    low, high = t_interval(summary["mean"], summary["std"], count)
    summary = summary.assign(seeds=count, ci_low=low, ci_high=high)
    if "test_acc" in per_curve.columns:
        summary = summary.assign(test_acc=grouped["test_acc"].mean().to_numpy(),
                                 test_acc_std=grouped["test_acc"].std().to_numpy())
    summary.attrs = {"labels": rest}
    return summary
