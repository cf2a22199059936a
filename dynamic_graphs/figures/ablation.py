"""Sensitivity of the curve: the k and N ablation (arXiv 2111.12485, Fig. 6) and Q's asymptotics on mixtures.

:func:`ablation_curves` stacks one curve per swept value, told apart by ``sweep`` and ``value``
(see :mod:`dynamic_graphs.frames`); :func:`asymptotic_sweep` scores Gaussian mixtures of growing
size with the package's k-NN graph, the project's check of how Q behaves as N grows (docs/method.md,
"Asymptotics").
"""
from __future__ import annotations

from numbers import Real
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..curve import layer_scores, modularity_curve, sample_indices
from ..data import as_dataset, labels_of, load_images
from ..features import iter_layer_features, resolve_layers
from ..frames import stack_curves
from ..graphs import knn_graph
from ..metrics import edge_statistics, one_nn_error
from ..utils import check_int, check_int_list, check_positive_int

__all__ = ["ablation_curves", "asymptotic_sweep"]


# --------------------------------------------------------------------------- ablation over k and N (Fig. 6)


def _k_sweep(model: nn.Module, dataset: Dataset, *, layers: list[str], ks: list[int], n: int, repeats: int,
             seed: int, device: str | torch.device, batch_size: int) -> dict[int, pd.DataFrame]:
    """modularity_curve for several k on the same samples, each layer's features computed once: ``{k: curve}``."""
    depth = {name: position for position, name in enumerate(layers, start=1)}
    all_labels = labels_of(dataset)
    rows = []
    for repeat, indices in enumerate(sample_indices(len(dataset), n=n, repeats=repeats, seed=seed)):
        labels = all_labels[indices]
        if np.unique(labels).size < 2:
            raise ValueError(f"Repeat {repeat} of the k sweep drew only one class; raise n_default.")
        for layer, features in iter_layer_features(model, load_images(dataset, indices), layers=layers,
                                                   batch_size=batch_size, device=device):
            for k in ks:
                scores = layer_scores(features, labels, k=k, layer=layer)
                rows.append({"layer": layer, "depth": depth[layer], "repeat": repeat, **scores, "n": n, "k": k})
            del features
    frame = pd.DataFrame(rows).sort_values(["k", "repeat", "depth"], ignore_index=True)
    return {k: curve.reset_index(drop=True) for k, curve in frame.groupby("k", sort=True)}


def ablation_curves(model: nn.Module, dataset: Dataset | str, *, ks: Sequence[int] = (3, 5, 7, 9, 11),
                    ns: Sequence[int] = (200, 500, 1000, 2000, 5000), k_default: int = 3, n_default: int = 500,
                    repeats: int = 5, seed: int = 0, device: str | torch.device = "auto",
                    layers: Sequence[str] | None = None, batch_size: int = 250) -> pd.DataFrame:
    """Modularity curves over a sweep of k (at ``n_default``) and of N (at ``k_default``) (arXiv 2111.12485, Fig. 6).

    The k sweep uses the same samples for every k (those of ``modularity_curve(..., n=n_default,
    seed=seed)``) and computes each layer's features once per sample; the N sweep is
    :func:`modularity_curve` at each N. Every size is checked before any work starts.

    Args:
        model: the network.
        dataset: a torch Dataset of (image, label), or a dataset name (its test split).
        ks: neighbour counts of the k sweep (the paper: 3, 5, 7, 9, 11).
        ns: graph sizes of the N sweep (the paper: 200 ... 5000).
        k_default: k of the N sweep.
        n_default: N of the k sweep.
        repeats: disjoint samples per graph size.
        seed: which images are drawn.
        device: where the forward passes run.
        layers: module names; ``None`` uses the model's registered probe layers.
        batch_size: images per forward pass.

    Returns:
        The curves stacked with :func:`stack_curves` (columns of :func:`modularity_curve`), told
        apart by ``sweep`` (``"k"`` or ``"n"``) and ``value`` (the swept k or N) in front;
        ``attrs["params"]`` records the sweep.

    Raises:
        TypeError: a count that is not an integer.
        ValueError: a count below 1, the dataset has fewer than ``max(ns) × repeats`` (or
            ``n_default × repeats``) images, or a k is not below the graph size it is used with.

    Example:
        >>> from dynamic_graphs import get_dataset
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(192, 8))
        >>> frame = ablation_curves(net, get_dataset("synthetic", n=60), ks=[3, 5], ns=[10, 20], n_default=20,
        ...                         repeats=2, layers=["1"], device="cpu")
        >>> frame.groupby("sweep").value.unique().to_dict()
        {'k': array([3, 5]), 'n': array([10, 20])}
    """
    ks, ns = check_int_list("ks", ks), check_int_list("ns", ns)
    k_default, n_default = check_positive_int("k_default", k_default), check_positive_int("n_default", n_default)
    repeats = check_positive_int("repeats", repeats)
    dataset = as_dataset(dataset)
    size = len(dataset)
    for sweep, largest, what in (("n", max(ns), "max(ns)"), ("k", n_default, "n_default")):
        if largest * repeats > size:
            raise ValueError(f"The {sweep} sweep needs {what} × repeats = {largest} × {repeats} = "
                             f"{largest * repeats} disjoint images, but the dataset has {size}; "
                             f"lower {what if sweep == 'k' else 'the largest n in ns'} or repeats.")
    if max(ks) >= n_default:
        raise ValueError(f"The k sweep needs every k < n_default = {n_default}, got k = {max(ks)}; "
                         "drop the largest ks or raise n_default.")
    if k_default >= min(ns):
        raise ValueError(f"The n sweep needs k_default = {k_default} < every n, got n = {min(ns)}; "
                         "drop the smallest ns or lower k_default.")
    layers = resolve_layers(model, layers, "ablation_curves")
    k_curves = _k_sweep(model, dataset, layers=layers, ks=ks, n=n_default, repeats=repeats, seed=seed,
                        device=device, batch_size=batch_size)
    curves = {("k", k): curve for k, curve in k_curves.items()}
    for n in ns:
        curves["n", n] = modularity_curve(model, dataset, layers=layers, n=n, repeats=repeats, k=k_default,
                                          seed=seed, device=device, batch_size=batch_size)
    frame = stack_curves(curves, name=["sweep", "value"])
    frame.attrs["params"] = {"ks": ks, "ns": ns, "k_default": k_default, "n_default": n_default,
                             "repeats": repeats, "seed": seed}
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
    separations = [float(s) for s in ([separation] if isinstance(separation, Real) else separation)]
    if not separations or any(not np.isfinite(s) or s < 0 for s in separations):
        raise ValueError(f"separation must be one or more finite values >= 0, got {separation!r}.")
    if max(ks) >= min(ns) or min(ns) < num_classes:
        raise ValueError(f"Every n must exceed every k and be at least num_classes = {num_classes}, "
                         f"got ns = {ns} and ks = {ks}; raise the smallest n or lower the ks.")
    means = np.random.default_rng([seed, 0]).standard_normal((num_classes, dim))
    rows = []
    for n in ns:
        for repeat in range(repeats):
            rng = np.random.default_rng([seed, 1, n, repeat])
            labels = rng.permutation(np.arange(n) % num_classes)
            noise = rng.standard_normal((n, dim)) + offset
            for separation_value in separations:
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
    frame.attrs["params"] = {"ns": ns, "ks": ks, "separation": separations, "num_classes": num_classes,
                             "dim": dim, "offset": offset, "repeats": repeats, "seed": seed}
    return frame
