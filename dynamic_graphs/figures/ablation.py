"""Sensitivity of the curve: the k and N ablation (arXiv 2111.12485, Fig. 6) and Q's asymptotics on mixtures.

:func:`ablation_curves` stacks one curve per swept value, told apart by ``sweep`` and ``value``
(see :mod:`dynamic_graphs.frames`); :func:`asymptotic_sweep` scores Gaussian mixtures of growing
size with the package's k-NN graph, the project's check of how Q behaves as N grows (docs/method.md,
"Asymptotics").
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from torch import nn
from torch.utils.data import Dataset

from ..curve import CurveSpec, iter_curve, layer_scores, modularity_curve
from ..data import as_dataset
from ..features import resolve_layers
from ..frames import stack_curves
from ..graphs import knn_graph
from ..metrics import edge_statistics, one_nn_error
from ..progress import progress
from ..rules import check_class_count, check_draws, check_neighbours, separations
from ..utils import check_int, check_int_list, check_positive_int

__all__ = ["ablation_curves", "asymptotic_sweep"]


# --------------------------------------------------------------------------- ablation over k and N (Fig. 6)


def _k_sweep(model: nn.Module, dataset: Dataset, spec: CurveSpec, *, layers: list[str],
             ks: list[int]) -> dict[int, pd.DataFrame]:
    """modularity_curve for several k on the same samples, each layer's features computed once: ``{k: curve}``."""
    rows = []
    for sample in iter_curve(model, dataset, spec, layers=layers, caller="ablation_curves"):
        for k in ks:
            scores = layer_scores(sample.features, sample.labels, k=k, layer=sample.layer, seed=spec.seed + sample.repeat,
                                  rows=spec.graph_rows, method=spec.graph_method, dim=spec.graph_dim,
                                  precision=spec.graph_precision)
            rows.append({"layer": sample.layer, "depth": sample.depth, "repeat": sample.repeat, **scores,
                         "n": spec.n, "k": k})
    frame = pd.DataFrame(rows).sort_values(["k", "repeat", "depth"], ignore_index=True)
    return {k: curve.reset_index(drop=True) for k, curve in frame.groupby("k", sort=True)}


def ablation_curves(model: nn.Module, dataset: Dataset | str, spec: CurveSpec | None = None, *,
                    ks: Sequence[int] = (3, 5, 7, 9, 11), ns: Sequence[int] = (200, 500, 1000, 2000, 5000),
                    layers: Sequence[str] | None = None, **options: Any) -> pd.DataFrame:
    """Modularity curves over a sweep of k (at the spec's N) and of N (at the spec's k) (arXiv 2111.12485, Fig. 6).

    The k sweep uses the same samples for every k (those of ``modularity_curve(model, dataset,
    spec)``) and computes each layer's features once per sample; the N sweep is
    :func:`~dynamic_graphs.modularity_curve` at each N with the spec's k. Every size is checked
    before any work starts.

    Args:
        model: the network.
        dataset: a torch Dataset of (image, label), or a dataset name.
        spec, **options: the curves' settings (:class:`~dynamic_graphs.CurveSpec`); ``n`` is the
            k sweep's N and ``k`` the N sweep's k (the paper: 500 and 3).
        ks: neighbour counts of the k sweep (the paper: 3, 5, 7, 9, 11).
        ns: graph sizes of the N sweep (the paper: 200 ... 5000).
        layers: module names; ``None`` uses the model's registered probe layers.

    Returns:
        The curves stacked with :func:`~dynamic_graphs.stack_curves` (columns of
        :func:`~dynamic_graphs.modularity_curve`), told apart by ``sweep`` (``"k"`` or ``"n"``) and
        ``value`` (the swept k or N) in front; ``attrs["params"]`` records the sweep.

    Raises:
        TypeError: a count that is not an integer.
        ValueError: a count below 1, the dataset has fewer than ``max(ns) × repeats`` (or
            ``n × repeats``) images, or a k is not below the graph size it is used with.

    Example:
        >>> from dynamic_graphs import get_dataset
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(192, 8))
        >>> frame = ablation_curves(net, get_dataset("synthetic", n=60), ks=[3, 5], ns=[10, 20], n=20,
        ...                         repeats=2, layers=["1"], device="cpu")
        >>> frame.groupby("sweep").value.unique().to_dict()
        {'k': array([3, 5]), 'n': array([10, 20])}
    """
    spec = CurveSpec.build(spec, **options)
    ks, ns = check_int_list("ks", ks), check_int_list("ns", ns)
    dataset = as_dataset(dataset, spec.split)
    check_draws(len(dataset), n=max(ns), repeats=spec.repeats, what="The n sweep's dataset", asked="max(ns) × repeats",
                fix="lower the largest n in ns or repeats")
    check_draws(len(dataset), n=spec.n, repeats=spec.repeats, what="The k sweep's dataset")
    check_neighbours(n=spec.n, ks=ks)
    check_neighbours(k=spec.k, ns=ns)
    layers = resolve_layers(model, layers, "ablation_curves")
    curves = {("k", k): curve for k, curve in _k_sweep(model, dataset, spec, layers=layers, ks=ks).items()}
    for n in progress(ns, desc="ablation · n sweep"):
        curves["n", n] = modularity_curve(model, dataset, spec.replace(n=n), layers=layers)
    frame = stack_curves(curves, name=["sweep", "value"])
    frame.attrs["params"] = {**spec.params(), "ks": ks, "ns": ns}
    return frame


# --------------------------------------------------------------------------- asymptotics


def asymptotic_sweep(*, ns: Sequence[int], ks: Sequence[int], separation: float | Sequence[float],
                     num_classes: int = 10, dim: int = 64, offset: float = 1.0, repeats: int = 3,
                     seed: int = 0) -> pd.DataFrame:
    """Q, its decomposition's terms and its large-N limit on Gaussian mixtures of growing size.

    The paper proves by an asymptotic analysis that modularity is broadly usable (arXiv 2111.12485,
    abstract); this sweep checks the project's own derivation of it (docs/method.md,
    "Asymptotics"): Q = p_in − Σ_c (S_c/2W)² exactly, Q ≈ p_in − Σ_c π_c², and
    Q → 1 − R_1NN − Σ_c π_c² as N grows, whatever k.

    Class means m_c ~ N(0, I_dim) are drawn once from ``seed``. A sample of size n has balanced,
    shuffled labels and features ``separation · m_c + ε + offset · 1`` with ε ~ N(0, I): the
    constant offset moves the mixture away from the origin, so cosine similarity differs from a
    plain angle around the centre, as deep features (post-ReLU) do. Each (n, repeat) sample is
    drawn from its own seed, shared by all k and separations (paired comparisons), and scored with
    the package's k-NN graph for every k.

    Args:
        ns: sample sizes, each larger than every k.
        ks: neighbour counts.
        separation: scale of the class means (0 = no class structure); one value or several.
        num_classes: number of mixture components (C), at least 2.
        dim: feature dimension.
        offset: added to every coordinate.
        repeats: independent samples per n.
        seed: non-negative seed for the means and every sample.

    Returns:
        One row per (separation, n, k, repeat): ``modularity``, ``p_in``, ``sum_pi2``,
        ``sum_strength2``, ``one_nn_error`` (leave-one-out, cosine; independent of k), and
        ``limit`` = 1 − R_1NN − Σπ², estimated per separation from the mean over repeats at the
        largest n (the finite-n 1-NN error is biased upwards, so this estimate is slightly low).

    Raises:
        TypeError: a count or the seed is not an integer.
        ValueError: a count out of range, a negative seed or separation, or an n not above every k.

    Example:
        >>> frame = asymptotic_sweep(ns=[40, 80], ks=[3], separation=3.0, num_classes=2, dim=4, repeats=2)
        >>> frame.shape, bool((frame.modularity - (frame.p_in - frame.sum_strength2)).abs().max() < 1e-12)
        ((4, 10), True)
    """
    ns, ks = check_int_list("ns", ns), check_int_list("ks", ks)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    dim, repeats = check_positive_int("dim", dim), check_positive_int("repeats", repeats)
    seed = check_int("seed", seed, minimum=0)
    separation_values = separations("separation", separation)
    check_neighbours(ns=ns, ks=ks)
    check_class_count(ns=ns, num_classes=num_classes)
    means = np.random.default_rng([seed, 0]).standard_normal((num_classes, dim))
    rows = []
    for n in progress(ns, desc="asymptotic sweep · n"):
        for repeat in progress(range(repeats), desc="repeat"):
            rng = np.random.default_rng([seed, 1, n, repeat])
            labels = rng.permutation(np.arange(n) % num_classes)
            noise = rng.standard_normal((n, dim)) + offset
            for separation_value in separation_values:
                features = separation_value * means[labels] + noise
                error = one_nn_error(features, labels)
                for k in ks:
                    stats = edge_statistics(knn_graph(features, k=k), labels)
                    rows.append({"separation": separation_value, "n": n, "k": k, "repeat": repeat,
                                 **{key: stats[key] for key in ("modularity", "p_in", "sum_pi2", "sum_strength2")},
                                 "one_nn_error": error})
    frame = pd.DataFrame(rows).sort_values(["separation", "n", "k", "repeat"], ignore_index=True)
    largest = frame[frame.n == max(ns)].groupby("separation")[["one_nn_error", "sum_pi2"]].mean()
    frame["limit"] = frame.separation.map(1 - largest.one_nn_error - largest.sum_pi2)
    frame.attrs["params"] = {"ns": ns, "ks": ks, "separation": separation_values, "num_classes": num_classes,
                             "dim": dim, "offset": offset, "repeats": repeats, "seed": seed}
    return frame
