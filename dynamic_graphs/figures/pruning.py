"""The pruning experiments behind Figs. 8-9 and Table 1 of Lu et al. 2022, each returning tidy frames.

:func:`evaluate_variants` prunes, recovers and measures named variants (Figs. 8-9);
:func:`compare_pruning` sets the modularity criterion against the baselines under one recovery
budget (Table 1), and :func:`summarize_comparison` averages it per method. Their plots are
:func:`dynamic_graphs.pl.plot_variant_curves`, :func:`~dynamic_graphs.pl.plot_removal_effects` and
:func:`~dynamic_graphs.pl.plot_pruning_comparison`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..frames import stack_curves
from ..pruning.recovery import TrainingData, recover
from ..pruning.selection import (DEFAULT_THRESHOLD, block_influence_layers, cka_layers, linear_probe_accuracy,
                                 probe_criterion_layers, random_layers, random_matched_layers, redundant_layers,
                                 tail_layers)
from ..pruning.surgery import model_cost, prune
from ..utils import check_positive_int, lookup

# The baselines compare_pruning can set against the modularity rule; DEFAULT_METHODS is Table 1's list.
METHODS = ("tail", "linear-probe", "random", "random-matched", "cka", "block-influence")
DEFAULT_METHODS = ("tail", "linear-probe", "random")


def _reduction(before: int, after: int) -> float:
    return 1.0 - after / before


def evaluate_variants(parent: nn.Module, variants: dict[str, Sequence[str]], dataset: Any = "fashion-mnist", *,
                      test_set: Dataset | None = None, with_curves: bool = True, n: int = 500, repeats: int = 5,
                      k: int = 3, seed: int = 0, device: str | torch.device = "auto", from_scratch: bool = False,
                      **recovery: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prune ``parent`` once per variant, recover each (:func:`dynamic_graphs.recover`), and measure it.

    Args:
        parent: the trained, unpruned model (``parent.checkpoint['test_acc']`` is its accuracy).
        variants: ``{variant name: layers to remove}``.
        dataset: recovery data and the test set the curves are measured on: a registry name (its
            train and test splits) or a Dataset of training images (see ``test_set``).
        test_set: with a Dataset, the images the curves and accuracies are measured on.
        with_curves: also measure each variant's modularity curve (and the parent's).
        n, repeats, k: curve settings.
        seed: recovery and curve seed (the same for every variant, so they meet the same budget).
        from_scratch, **recovery: passed to :func:`dynamic_graphs.recover` (``epochs=``, ``lr=``,
            ``train_size=``...).

    Returns:
        ``(table, curves)``. ``table`` has one row per variant plus ``unpruned``: ``variant``,
        ``removed`` (count), ``layers``, ``top1`` (%), ``params``, ``flops``, ``macs``,
        ``params_reduction``, ``flops_reduction``, ``q_last`` (mean Q of the last probe layer) and
        ``delta_acc``/``delta_q`` (unpruned minus variant). ``curves`` stacks the curves
        (:func:`dynamic_graphs.stack_curves`) with the label column ``variant`` and each
        variant's ``top1`` (empty without ``with_curves``).
    """
    from ..curve import modularity_curve

    data = TrainingData(dataset, test_set)
    image_size = data.info()["image_size"]
    base_cost = model_cost(parent, image_size=image_size)
    models = {"unpruned": parent}
    for variant, layers in variants.items():
        models[variant] = recover(prune(parent, layers), dataset, test_set=test_set, from_scratch=from_scratch,
                                  seed=seed, device=device, **recovery)
    rows, curves = [], {}
    for variant, model in models.items():
        cost = model_cost(model, image_size=image_size)
        row = {"variant": variant, "removed": len(getattr(model, "pruned_layers", [])),
               "layers": ", ".join(getattr(model, "pruned_layers", [])),
               "top1": 100 * model.checkpoint["test_acc"], **cost,
               "params_reduction": _reduction(base_cost["params"], cost["params"]),
               "flops_reduction": _reduction(base_cost["flops"], cost["flops"])}
        if with_curves:
            curve = modularity_curve(model, data.test, n=n, repeats=repeats, k=k, seed=seed, device=device)
            row["q_last"] = float(curve[curve.depth == curve.depth.max()].modularity.mean())
            curves[variant] = curve.assign(top1=row["top1"])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["delta_acc"] = table.top1.iloc[0] - table.top1
    if with_curves:
        table["delta_q"] = table.q_last.iloc[0] - table.q_last
    return table, (stack_curves(curves, name="variant") if curves else pd.DataFrame())


def compare_pruning(parent: nn.Module, curve: pd.DataFrame, dataset: Any = "fashion-mnist", *,
                    test_set: Dataset | None = None, threshold: float = DEFAULT_THRESHOLD,
                    max_layers: int | None = None, random_seeds: Sequence[int] = (0, 1, 2), probe_train: int = 2000,
                    probe_test: int = 1000, seed: int = 0, device: str | torch.device = "auto",
                    methods: Sequence[str] = DEFAULT_METHODS, similarity_n: int = 500,
                    **recovery: Any) -> pd.DataFrame:
    """Table 1: modularity-guided pruning against the baselines, under one recovery budget.

    The modularity criterion picks :func:`dynamic_graphs.redundant_layers` (``threshold``,
    ``max_layers``) on ``curve``, the parent's curve; each baseline removes as many units:
    ``tail`` (:func:`~dynamic_graphs.tail_layers`), ``random`` (one row per seed in
    ``random_seeds``, :func:`~dynamic_graphs.random_layers`) and ``linear-probe``
    (:func:`~dynamic_graphs.probe_criterion_layers` on :func:`~dynamic_graphs.linear_probe_accuracy`
    measured on training images). On request (``methods``) also ``random-matched``
    (:func:`~dynamic_graphs.random_matched_layers`: as many random units per stage as the
    modularity rule, so equal parameters and FLOPs; one row per seed in ``random_seeds``), ``cka``
    (:func:`~dynamic_graphs.cka_layers`, Pons et al., ICPR 2024) and ``block-influence``
    (:func:`~dynamic_graphs.block_influence_layers`, ShortGPT, Men et al. 2024), both scored on
    ``similarity_n`` training images drawn with ``seed``. Every pruned model is recovered with the
    same options (``**recovery``, :func:`dynamic_graphs.recover`) and ``seed``.

    Args:
        dataset: a registry name or a Dataset of training images, as for :func:`evaluate_variants`.
        methods: the baselines, in the table's order after ``modularity`` (any of :data:`METHODS`);
            the default is Table 1's ``tail``, ``linear-probe``, ``random``.
        similarity_n: images the ``cka`` and ``block-influence`` scores are computed on.

    Returns:
        One row per model: ``method``, ``seed``, ``removed``, ``layers``, ``top1`` (%), ``params``,
        ``flops``, ``macs``, ``params_reduction``, ``flops_reduction``; the first row is the
        unpruned parent.

    Raises:
        UnknownNameError: (a ``KeyError``) a method that is not in :data:`METHODS`.
        ValueError: no layer to prune, or a method listed twice.
    """
    if isinstance(methods, str):
        raise TypeError(f"methods must be a list of method names, got the string {methods!r}; use [{methods!r}].")
    methods = [lookup(method, METHODS, what="pruning method") for method in methods]
    repeated = sorted({method for method in methods if methods.count(method) > 1})
    if repeated:
        raise ValueError(f"methods lists {repeated} more than once; give each method once.")
    similarity_n = check_positive_int("similarity_n", similarity_n)
    layers = redundant_layers(curve, parent, threshold=threshold, max_layers=max_layers)
    if not layers:
        raise ValueError(f"No removable layer has ΔQ < {threshold}; raise threshold to prune.")
    count = len(layers)
    train = TrainingData(dataset, test_set).train
    selections = [("modularity", seed, layers)]
    for method in methods:
        if method == "tail":
            selections.append(("tail", seed, tail_layers(parent, count)))
        elif method == "linear-probe":
            probe = linear_probe_accuracy(parent, train, n_train=probe_train, n_test=probe_test, seed=seed,
                                          device=device)
            selections.append(("linear-probe", seed, probe_criterion_layers(probe, parent, count)))
        elif method == "random":
            selections += [("random", s, random_layers(parent, count, seed=s)) for s in random_seeds]
        elif method == "random-matched":
            selections += [("random-matched", s, random_matched_layers(parent, layers, seed=s)) for s in random_seeds]
        elif method == "cka":
            selections.append(("cka", seed, cka_layers(parent, train, count, n=similarity_n, seed=seed, device=device)))
        else:
            selections.append(("block-influence", seed, block_influence_layers(parent, train, count, n=similarity_n,
                                                                               seed=seed, device=device)))
    variants = {f"{method}/{s}": chosen for method, s, chosen in selections}
    table, _ = evaluate_variants(parent, variants, dataset, test_set=test_set, with_curves=False, seed=seed,
                                 device=device, **recovery)
    methods = [("unpruned", seed)] + [(method, s) for method, s, _ in selections]
    table.insert(0, "method", [method for method, _ in methods])
    table.insert(1, "seed", [s for _, s in methods])
    return table.drop(columns=["variant", "delta_acc"])


def summarize_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 per method: mean top-1 (std over seeds where there are several) and mean reductions."""
    grouped = table.groupby("method", sort=False)
    return pd.DataFrame({
        "runs": grouped.size(), "removed": grouped.removed.first(), "top1": grouped.top1.mean(),
        "top1_std": grouped.top1.std(), "params_reduction": grouped.params_reduction.mean(),
        "flops_reduction": grouped.flops_reduction.mean(),
    }).reset_index()


# Table 1 of Lu et al. 2022 (ResNet56 on CIFAR-10), for display beside our rows.
PAPER_TABLE1 = pd.DataFrame({
    "method": ["ResNet56", "Chen et al. [5]", "DBP-0.5 [61]", "Ours (paper)"],
    "top1": [93.27, 93.29, 93.39, 93.38],
    "params_reduction": [0.0, 0.4230, np.nan, 0.4300],
    "flops_reduction": [0.0, 0.3480, 0.5341, 0.6030],
})
