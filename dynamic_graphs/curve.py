"""The modularity curve: Q of every probe layer's k-NN graph, over repeated disjoint samples.

One :class:`CurveSpec` holds the settings a curve is computed under, validated once where it is
built; :func:`iter_curve` is the one sample → extract loop that :func:`modularity_curve`,
:func:`~dynamic_graphs.metrics.layer_metrics` and the ablation and similarity figures score.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Iterator, Literal, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from . import rules
from .data import as_dataset, labels_of, load_images
from .features import BACKENDS, DEFAULT_FEATURE_BYTES, POOLS, check_input_channels, iter_layer_features, resolve_layers
from .graphs import (APPROX_DIM, GRAPH_METHODS, GRAPH_PRECISIONS, edge_weights, knn_graph, leiden, modularity,
                     partition_agreement)
from .frames import check_curves, summarize_by_curve, t_interval
from .progress import progress
from .utils import lookup, model_name

__all__ = [
    "LayerSample",
    "UndefinedModularityWarning",
    "curve_samples",
    "iter_curve",
    "layer_scores",
    "sample_indices",
]

SAMPLINGS = ("random", "sequential")


def _pool(name: str, value: Any) -> Any:
    """A pooling name of :data:`~dynamic_graphs.features.POOLS`, a callable, or a dict of them per layer."""
    if callable(value) or isinstance(value, dict):
        return value
    return rules.one_of(POOLS, "pooling")(name, value)


# The rule of each field; the notebook parameter check (dynamic_graphs.reports.RULES) reads the same.
SPEC_RULES: dict[str, rules.Rule] = {
    "n": rules.count(),
    "repeats": rules.count(),
    "k": rules.count(),
    "seed": rules.count(minimum=0),
    "split": rules.split,
    "sampling": rules.one_of(SAMPLINGS, "sampling"),
    "graph_method": rules.one_of(GRAPH_METHODS, "graph method"),
    "graph_dim": rules.count(),
    "graph_precision": rules.one_of(GRAPH_PRECISIONS, "graph precision"),
    "graph_rows": rules.count(optional=True),
    "pool": _pool,
    "backend": rules.one_of(BACKENDS, "feature backend"),
    "device": rules.device,
    "batch_size": rules.count(),
    "max_bytes": rules.count(),
    "with_leiden": rules.flag,
}


@dataclasses.dataclass(frozen=True)
class CurveSpec:
    """The settings one modularity curve is computed under, checked once, where it is built.

    The defaults are the paper's (Lu et al. 2022, Sec. 3): 5 disjoint samples of 500 test
    images, k = 3, exact cosine graphs of the flattened outputs. Every function that measures
    curves (:func:`modularity_curve`, :func:`~dynamic_graphs.figures.model_curves`,
    :func:`~dynamic_graphs.metrics.layer_metrics`, the ablation, similarity and pruning figures)
    takes one as ``spec=`` or builds it from the same keywords, so ``modularity_curve(net, data,
    n=200)`` and ``modularity_curve(net, data, spec=CurveSpec(n=200))`` are the same call.

    Attributes:
        n: images per graph (the paper: 500).
        repeats: disjoint samples, one graph per layer each (the paper: 5).
        k: neighbours per node (the paper: 3); below ``n``.
        seed: which images are drawn (the same seed, the same images); also seeds an approximate
            graph's projection and Leiden.
        split: the split of a dataset given by name (``"test"``; a Dataset object is used as it is).
        sampling: ``"random"`` (seeded) or ``"sequential"`` (consecutive blocks, as the paper's
            code reads an unshuffled loader).
        graph_method: ``"exact"`` (the paper's graphs) or ``"approx"`` (a seeded random projection
            to ``graph_dim`` columns first; :func:`~dynamic_graphs.graphs.random_projection`).
        graph_dim: columns of the approximate graph's projection.
        graph_precision: the product that finds each row's neighbours (:func:`~dynamic_graphs.knn_graph`'s
            ``precision``): ``"auto"`` (default): bfloat16 where the device has native bfloat16
            kernels and a graph has at least :data:`~dynamic_graphs.graphs.AUTO_MIN_SAMPLES` nodes of
            :data:`~dynamic_graphs.graphs.AUTO_MIN_FEATURES` features, else float32 (so the paper's
            n = 500 always takes float32); ``"float32"`` (the float32 similarity rows),
            ``"bfloat16"`` or ``"tf32"`` (CUDA) force a path: low-precision candidates rescored
            exactly in float32 give the same graphs up to float32 rounding (docs/method.md, "Exact
            graphs from low-precision candidates").
        graph_rows: similarity rows per block of :func:`~dynamic_graphs.knn_graph` (None: its
            memory budget).
        output: which tensor of a layer's output when a module returns a tuple, dict or
            ``ModelOutput`` (None: the first); see :func:`~dynamic_graphs.features.select_output`.
        pool: ``"flatten"`` (the paper's semantics), ``"mean"`` or ``"cls"`` for token outputs,
            a callable, or a dict of them per layer (:func:`~dynamic_graphs.features.pool_features`).
        backend: ``"hooks"`` or ``"fx"`` feature extraction (identical tensors).
        device: where the forward passes and similarities run (``"auto"``: CUDA when present).
        batch_size: images per forward pass.
        max_bytes: memory budget for the features held at once.
        with_leiden: also find Leiden communities per graph and score them against the classes.

    Raises:
        TypeError, ValueError: a field of the wrong type or out of range (``k >= n`` included),
            naming the field; an unknown field name (:meth:`build`) with the close names.

    Example:
        >>> spec = CurveSpec(n=200, repeats=3)
        >>> spec.k, spec.replace(k=5).k
        (3, 5)
        >>> CurveSpec(n=3, k=3)
        Traceback (most recent call last):
        ...
        ValueError: k must satisfy 1 <= k < n (n = 3 images per graph), got k = 3; choose a smaller k or a larger n.
    """

    n: int = 500
    repeats: int = 5
    k: int = 3
    seed: int = 0
    split: str = "test"
    sampling: Literal["random", "sequential"] = "random"
    graph_method: str = "exact"
    graph_dim: int = APPROX_DIM
    graph_precision: str = "auto"
    graph_rows: int | None = None
    output: Any = None
    pool: Any = "flatten"
    backend: Literal["hooks", "fx"] = "hooks"
    device: str | torch.device = "auto"
    batch_size: int = 250
    max_bytes: int = DEFAULT_FEATURE_BYTES
    with_leiden: bool = False

    def __post_init__(self) -> None:
        for name, rule in SPEC_RULES.items():
            object.__setattr__(self, name, rule(name, getattr(self, name)))
        rules.check_neighbours(n=self.n, k=self.k)

    @classmethod
    def build(cls, spec: CurveSpec | None = None, **options: Any) -> CurveSpec:
        """``spec`` (or the defaults) with ``options`` changed; an unknown option is refused by name.

        Example:
            >>> CurveSpec.build(None, n=100).n
            100
        """
        if spec is not None and not isinstance(spec, CurveSpec):
            raise TypeError(f"spec must be a CurveSpec or None, got {type(spec).__name__}.")
        fields = [field.name for field in dataclasses.fields(cls)]
        for name in options:
            if name not in fields:
                # the KeyError-based lookup would suggest close names; a wrong keyword is a TypeError in Python
                try:
                    lookup(name, fields, what="curve setting")
                except KeyError as err:
                    raise TypeError(str(err.args[0])) from None
        return dataclasses.replace(spec, **options) if spec is not None else cls(**options)

    def replace(self, **changes: Any) -> CurveSpec:
        """A copy with ``changes``, validated again."""
        return self.build(self, **changes)

    def params(self) -> dict[str, Any]:
        """The settings that decide a curve's values, for ``frame.attrs["params"]`` (callables by name)."""
        values = dataclasses.asdict(self)
        for name in ("pool", "output", "device"):
            if callable(values[name]) or not isinstance(values[name], (str, int, type(None), dict)):
                values[name] = getattr(values[name], "__name__", str(values[name]))
        return values


def sample_indices(dataset_size: int, *, n: int, repeats: int, seed: int = 0,
                   sampling: Literal["random", "sequential"] = "random") -> np.ndarray:
    """Disjoint samples of ``n`` indices for each repeat, as a (repeats, n) array.

    ``"random"`` draws them with ``seed`` (the same seed gives the same samples); ``"sequential"``
    takes consecutive blocks 0..n-1, n..2n-1, ... as the paper's code does with an unshuffled loader.
    """
    n, repeats = rules.count()("n", n), rules.count()("repeats", repeats)
    rules.check_draws(dataset_size, n=n, repeats=repeats)
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
                 dim: int = APPROX_DIM, precision: str = "auto") -> dict[str, float]:
    """Scores of one layer's graph: Q against the classes, and optionally the Leiden view.

    ``rows``, ``method``, ``dim`` and ``precision`` are :func:`knn_graph`'s (``seed`` also seeds an approximate
    graph's projection).

    Q is NaN, with an :class:`UndefinedModularityWarning` naming the layer, when it is undefined:
    all-zero or constant outputs (torchvision's ViT ``heads`` at initialisation), or a graph
    without positive total edge weight.
    """
    graph = knn_graph(features, k=k, name=layer, rows=rows, method=method, dim=dim, seed=seed, precision=precision)
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


class LayerSample(NamedTuple):
    """One layer's features on one repeat's images, as :func:`iter_curve` yields them."""

    repeat: int
    layer: str
    depth: int  # 1-based position among the probed layers
    features: torch.Tensor  # (n, M) float32, flattened or pooled
    labels: np.ndarray  # (n,) class of each image
    indices: np.ndarray  # (n,) the images' positions in the dataset


def curve_samples(model: nn.Module, dataset: Dataset | str, spec: CurveSpec, *, layers: Sequence[str] | None = None,
                  caller: str = "modularity_curve"
                  ) -> tuple[list[str], Dataset, list[tuple[int, np.ndarray, np.ndarray]]]:
    """What a curve is measured on, checked before any forward pass: ``(layers, dataset, draws)``.

    ``draws`` holds ``(repeat, indices, labels)`` for the ``spec.repeats`` disjoint samples of
    :func:`sample_indices`: every function built on :func:`iter_curve` reads exactly these images.

    Raises:
        ValueError: images whose channels the model does not take, too few images, a sample with
            one class.
    """
    layers = resolve_layers(model, layers, caller)
    dataset = as_dataset(dataset, spec.split)
    samples = sample_indices(len(dataset), n=spec.n, repeats=spec.repeats, seed=spec.seed, sampling=spec.sampling)
    all_labels = labels_of(dataset)
    check_input_channels(model, load_images(dataset, samples[0][:1]), what="the dataset's images")
    draws = []
    for repeat, indices in enumerate(samples):
        labels = all_labels[indices]
        if np.unique(labels).size < 2:
            raise ValueError(f"Repeat {repeat} drew only one class; modularity needs at least 2 (use a larger n).")
        draws.append((repeat, indices, labels))
    return layers, dataset, draws


def iter_curve(model: nn.Module, dataset: Dataset | str, spec: CurveSpec, *, layers: Sequence[str] | None = None,
               caller: str = "modularity_curve") -> Iterator[LayerSample]:
    """The curve's loop: for each repeat's images, each layer's features, as :class:`LayerSample`.

    Repeats come in order, and within one the layers in depth order; every sample is checked
    (:func:`curve_samples`) before the first forward pass. The features come from one forward
    pass per group of layers that fits ``spec.max_bytes`` (:func:`~dynamic_graphs.features.iter_layer_features`),
    so at most one group is held at a time. Progress is reported per repeat and layer
    (:func:`~dynamic_graphs.progress.progress`), named after ``caller`` and the model.
    """
    layers, dataset, draws = curve_samples(model, dataset, spec, layers=layers, caller=caller)
    depth = {name: position for position, name in enumerate(layers, start=1)}
    task = "curve" if caller == "modularity_curve" else caller
    for repeat, indices, labels in progress(draws, desc=f"{task} {model_name(model)} · repeat"):
        images = load_images(dataset, indices)
        features_by_layer = iter_layer_features(model, images, layers=layers, batch_size=spec.batch_size,
                                                device=spec.device, max_bytes=spec.max_bytes, backend=spec.backend,
                                                output=spec.output, pool=spec.pool)
        for layer, features in progress(features_by_layer, desc="layer", total=len(layers)):
            yield LayerSample(repeat, layer, depth[layer], features, labels, indices)


def modularity_curve(model: nn.Module, dataset: Dataset | str, spec: CurveSpec | None = None, *,
                     layers: Sequence[str] | None = None, **options: Any) -> pd.DataFrame:
    """Modularity of every probe layer's k-NN graph, for ``repeats`` disjoint samples of ``n`` images.

    This is the paper's measure (Lu et al. 2022, Sec. 3; docs/method.md, "The measure"): for each
    sample, each layer's flattened outputs give a cosine k-NN graph (:func:`~dynamic_graphs.knn_graph`),
    scored by :func:`~dynamic_graphs.modularity` with the true classes as communities.

    Args:
        model: a trained classifier taking the dataset's images.
        dataset: any torch Dataset of (image, label), or a dataset name (its ``spec.split``).
        spec: the settings (:class:`CurveSpec`: ``n``, ``repeats``, ``k``, ``seed``, ``device``,
            graph method, pooling...); None: the paper's defaults.
        layers: module names to probe, in order; ``None`` uses the model's registered probe layers.
        **options: any field of :class:`CurveSpec`, changing ``spec``: ``modularity_curve(net,
            data, n=200, k=5)``.

    A layer whose Q is undefined does not stop the curve: when every sample's output is the same
    (all zero, as torchvision's ViT ``heads`` at initialisation, or constant), cosine similarity
    is 0 (or 1) everywhere and the k-NN graph has no edges (or only ties), so that layer's
    ``modularity`` is NaN, with an :class:`UndefinedModularityWarning` naming it, and
    :func:`summarize_curve` shows NaN for it.

    Returns:
        Tidy DataFrame, one row per (repeat, layer): ``layer``, ``depth`` (1-based position in
        ``layers``), ``repeat``, ``modularity``, ``edges``, ``n``, ``k`` (+ Leiden columns with
        ``with_leiden``); ``attrs["params"]`` holds the spec and the model's name.

    Raises:
        TypeError: an unknown option (naming the close fields of :class:`CurveSpec`).
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
    spec = CurveSpec.build(spec, **options)
    rows = []
    for sample in iter_curve(model, dataset, spec, layers=layers):
        scores = layer_scores(sample.features, sample.labels, k=spec.k, layer=sample.layer,
                              with_leiden=spec.with_leiden, seed=spec.seed + sample.repeat, rows=spec.graph_rows,
                              method=spec.graph_method, dim=spec.graph_dim, precision=spec.graph_precision)
        rows.append({"layer": sample.layer, "depth": sample.depth, "repeat": sample.repeat, **scores, "n": spec.n,
                     "k": spec.k})
    frame = pd.DataFrame(rows).sort_values(["repeat", "depth"], ignore_index=True)
    frame.attrs["params"] = {**spec.params(), "model": model_name(model)}
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
