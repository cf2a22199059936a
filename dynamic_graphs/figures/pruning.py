"""The pruning experiments behind Figs. 8-9 and Table 1 of Lu et al. 2022, each returning tidy frames.

:func:`evaluate_variants` prunes, recovers and measures named variants (Figs. 8-9);
:func:`compare_pruning` sets the modularity criterion against the baselines under one recovery
budget (Table 1), and :func:`summarize_comparison` averages it per method. Their plots are
:func:`dynamic_graphs.pl.plot_variant_curves`, :func:`~dynamic_graphs.pl.plot_removal_effects` and
:func:`~dynamic_graphs.pl.plot_pruning_comparison`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn
from torch.utils.data import Dataset

from ..curve import CurveSpec, modularity_curve
from ..frames import require_columns, stack_curves, welch_interval
from ..pruning.recovery import TrainingData, recover
from ..pruning.baselines import (block_influence_layers, cka_layers, linear_probe_accuracy, probe_criterion_layers,
                                 random_layers, random_matched_layers, tail_layers)
from ..pruning.selection import DEFAULT_THRESHOLD, redundant_layers
from ..pruning.surgery import model_cost, prune
from ..rules import check_seed_pairs
from ..utils import check_int_list, lookup

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "PAPER_TABLE1",
    "RANDOM_METHODS",
    "check_methods",
    "compare_pruning",
    "evaluate_variants",
    "summarize_comparison",
]

# The baselines compare_pruning can set against the modularity rule; DEFAULT_METHODS is Table 1's list.
# "unpruned-finetuned" is the unpruned model given the same recovery as the pruned ones: the fair
# reference for "no loss" (the unpruned row as trained is always first).
METHODS = ("unpruned-finetuned", "tail", "linear-probe", "random", "random-matched", "cka", "block-influence")
DEFAULT_METHODS = ("tail", "linear-probe", "random")
RANDOM_METHODS = ("random", "random-matched")  # a selection drawn with a seed: one draw per run


def _reduction(before: int, after: int) -> float:
    return 1.0 - after / before


def evaluate_variants(parent: nn.Module, variants: dict[str, Sequence[str]], dataset: Any = "fashion-mnist",
                      spec: CurveSpec | None = None, *, test_set: Dataset | None = None, with_curves: bool = True,
                      recovery_seeds: Sequence[int] | None = None, from_scratch: bool = False,
                      recovery: Mapping[str, Any] | None = None, **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prune ``parent`` once per variant, recover each (:func:`dynamic_graphs.pruning.recover`), and measure it.

    Args:
        parent: the trained, unpruned model (``parent.checkpoint['test_acc']`` is its accuracy).
        variants: ``{variant name: layers to remove}``.
        dataset: recovery data and the test set the curves are measured on: a registry name (its
            train and test splits) or a Dataset of training images (see ``test_set``).
        test_set: with a Dataset, the images the curves and accuracies are measured on.
        spec, **options: the curves' settings (:class:`~dynamic_graphs.CurveSpec`); its ``seed``
            draws the curves' images (the same for every variant) and is the recovery seed without
            ``recovery_seeds`` (the same for every variant, so they meet the same budget); its
            ``device`` is where the variants recover.
        with_curves: also measure each variant's modularity curve (and the parent's).
        recovery_seeds: recover every variant once per seed (its training order and subset), so
            that a variant's accuracy is a mean over runs with a spread
            (:func:`summarize_comparison` with ``by="variant"``); the table and the curves then
            carry a ``recovery_seed`` column.
        from_scratch: re-initialise the pruned models instead of fine-tuning (:func:`~dynamic_graphs.pruning.recover`).
        recovery: :func:`~dynamic_graphs.pruning.recover`'s options (``epochs``, ``lr``,
            ``train_size``, ``test_size``...; ``None`` values keep its defaults).

    Returns:
        ``(table, curves)``. ``table`` has one row per variant (per recovery seed, with
        ``recovery_seeds``) plus ``unpruned``: ``variant``, [``recovery_seed``,] ``removed``
        (count), ``layers``, ``top1`` (%), ``params``, ``flops``, ``macs``, ``params_reduction``,
        ``flops_reduction``, ``q_last`` (mean Q of the last probe layer) and ``delta_acc``/``delta_q``
        (unpruned minus the run). ``curves`` stacks the curves (:func:`dynamic_graphs.stack_curves`)
        with the label column ``variant`` (and ``recovery_seed``) and each run's ``top1`` (empty
        without ``with_curves``).
    """
    spec = CurveSpec.build(spec, **options)
    recovery = dict(recovery or {})
    seeded = recovery_seeds is not None
    run_seeds = check_int_list("recovery_seeds", recovery_seeds, minimum=0) if seeded else [spec.seed]
    data = TrainingData(dataset, test_set)
    image_size = data.info()["image_size"]
    base_cost = model_cost(parent, image_size=image_size)
    models = {("unpruned", None): parent}
    for run_seed in run_seeds:
        for variant, layers in variants.items():
            models[(variant, run_seed)] = recover(prune(parent, layers), dataset, test_set=test_set,
                                                  from_scratch=from_scratch, seed=run_seed, device=spec.device,
                                                  **recovery)
    rows, curves = [], {}
    for (variant, run_seed), model in models.items():
        cost = model_cost(model, image_size=image_size)
        row = {"variant": variant, **({"recovery_seed": run_seed} if seeded else {}),
               "removed": len(getattr(model, "pruned_layers", [])),
               "layers": ", ".join(getattr(model, "pruned_layers", [])),
               # rounded far below one image's share, so that 0.8965 reads 89.65 and not 89.64999999999999
               "top1": round(100 * model.checkpoint["test_acc"], 6), **cost,
               "params_reduction": _reduction(base_cost["params"], cost["params"]),
               "flops_reduction": _reduction(base_cost["flops"], cost["flops"])}
        if with_curves:
            curve = modularity_curve(model, data.test, spec)
            row["q_last"] = float(curve[curve.depth == curve.depth.max()].modularity.mean())
            curves[(variant, run_seed) if seeded else variant] = curve.assign(top1=row["top1"])
        rows.append(row)
    table = pd.DataFrame(rows)
    if seeded:
        table["recovery_seed"] = table["recovery_seed"].astype("Int64")  # the unpruned row has none
    table["delta_acc"] = table.top1.iloc[0] - table.top1
    if with_curves:
        table["delta_q"] = table.q_last.iloc[0] - table.q_last
    if not curves:
        return table, pd.DataFrame()
    stacked = stack_curves(curves, name=["variant", "recovery_seed"] if seeded else "variant")
    if seeded:
        stacked["recovery_seed"] = stacked["recovery_seed"].astype("Int64")
    return table, stacked


def compare_pruning(parent: nn.Module, curve: pd.DataFrame, dataset: Any = "fashion-mnist",
                    spec: CurveSpec | None = None, *, test_set: Dataset | None = None,
                    threshold: float = DEFAULT_THRESHOLD, rule: str = "mean", max_layers: int | None = None,
                    methods: Sequence[str] = DEFAULT_METHODS, random_seeds: Sequence[int] | None = None,
                    recovery_seeds: Sequence[int] | None = None, probe_train: int = 2000, probe_test: int = 1000,
                    from_scratch: bool = False, recovery: Mapping[str, Any] | None = None,
                    **options: Any) -> pd.DataFrame:
    """Table 1: modularity-guided pruning against the baselines, under one recovery budget.

    The modularity criterion picks :func:`dynamic_graphs.pruning.redundant_layers` (``threshold``, ``rule``,
    ``max_layers``) on ``curve``, the parent's curve; each baseline removes as many units:
    ``tail`` (:func:`~dynamic_graphs.pruning.tail_layers`), ``random`` (:func:`~dynamic_graphs.pruning.random_layers`)
    and ``linear-probe`` (:func:`~dynamic_graphs.pruning.probe_criterion_layers` on
    :func:`~dynamic_graphs.pruning.linear_probe_accuracy` measured on training images). On request
    (``methods``) also ``random-matched`` (:func:`~dynamic_graphs.pruning.random_matched_layers`: as many
    random units per stage as the modularity rule, so equal parameters and FLOPs), ``cka``
    (:func:`~dynamic_graphs.pruning.cka_layers`, Pons et al., ICPR 2024) and ``block-influence``
    (:func:`~dynamic_graphs.pruning.block_influence_layers`, ShortGPT, Men et al. 2024), both scored on
    ``spec.n`` training images drawn with ``spec.seed``, and ``unpruned-finetuned``: the unpruned
    model recovered like the pruned ones, the reference at an equal training budget. Every model
    is recovered with the same options (``from_scratch``, ``recovery``, as for :func:`evaluate_variants`).

    Seeds: without ``recovery_seeds`` (Table 1 as first reproduced), every recovery uses ``spec.seed``
    and the random methods get one run per seed of ``random_seeds`` (default ``[0, 1, 2]``). With
    ``recovery_seeds``, every method gets one run per recovery seed, so that each row of the
    summary is a mean over as many runs; a random method's run ``i`` draws its units with
    ``random_seeds[i]`` (default: the recovery seed itself), so its spread covers both the draw
    and the recovery.

    Args:
        dataset: a registry name or a Dataset of training images, as for :func:`evaluate_variants`.
        rule: the redundancy rule of :func:`dynamic_graphs.pruning.redundant_layers`: ``"mean"`` (the mean
            gain below ``threshold``, the paper's reading) or ``"interval"`` (the whole 95 % interval
            of the paired gain below it; ``curve`` needs at least two repeats).
        methods: the baselines, in the table's order after ``modularity`` (any of :data:`METHODS`);
            the default is Table 1's ``tail``, ``linear-probe``, ``random``.
        random_seeds: the random methods' draws (see above).
        recovery_seeds: the recovery seeds, one run of every method each (see above).
        spec, **options: the settings of the sampled scores (:class:`~dynamic_graphs.CurveSpec`):
            ``n`` images for the ``cka`` and ``block-influence`` scores, ``seed``, ``device``.

    Returns:
        One row per model: ``method``, ``seed`` (the recovery seed; a random method's draw seed
        without ``recovery_seeds``), ``draw`` (a random method's draw seed, else missing),
        ``removed``, ``layers``, ``top1`` (%), ``params``, ``flops``, ``macs``, ``params_reduction``,
        ``flops_reduction``; the first row is the unpruned parent as trained.

    Raises:
        UnknownNameError: (a ``KeyError``) a method that is not in :data:`METHODS`.
        ValueError: no layer to prune, a method or seed listed twice, or ``random_seeds`` and
            ``recovery_seeds`` of different lengths.
    """
    spec = CurveSpec.build(spec, **options)
    seed, device = spec.seed, spec.device
    methods = check_methods("methods", methods)
    if recovery_seeds is None:
        run_seeds = [seed]
        draws = check_int_list("random_seeds", [0, 1, 2] if random_seeds is None else random_seeds, minimum=0)
        draw_runs = [(draw, seed) for draw in draws]  # (draw seed, recovery seed)
    else:
        run_seeds = check_int_list("recovery_seeds", recovery_seeds, minimum=0)
        draws = run_seeds if random_seeds is None else check_int_list("random_seeds", random_seeds, minimum=0)
        check_seed_pairs(draws, run_seeds)
        draw_runs = list(zip(draws, run_seeds))
    layers = redundant_layers(curve, parent, threshold=threshold, rule=rule, max_layers=max_layers)
    if not layers:
        raise ValueError(f"No removable layer is redundant by rule={rule!r} at threshold = {threshold} ('mean': ΔQ "
                         "below it; 'interval': the gain's whole 95 % interval below it); raise threshold to prune.")
    count = len(layers)
    train = TrainingData(dataset, test_set).train
    # (method, draw seed or None, units to remove), in the table's order
    selections: list[tuple[str, int | None, list[str]]] = [("modularity", None, layers)]
    for method in methods:
        if method == "unpruned-finetuned":
            selections.append((method, None, []))
        elif method == "tail":
            selections.append((method, None, tail_layers(parent, count)))
        elif method == "linear-probe":
            probe = linear_probe_accuracy(parent, train, n_train=probe_train, n_test=probe_test, seed=seed,
                                          device=device)
            selections.append((method, None, probe_criterion_layers(probe, parent, count)))
        elif method == "random":
            selections += [(method, draw, random_layers(parent, count, seed=draw)) for draw in draws]
        elif method == "random-matched":
            selections += [(method, draw, random_matched_layers(parent, layers, seed=draw)) for draw in draws]
        elif method == "cka":
            selections.append((method, None, cka_layers(parent, train, count, n=spec.n, seed=seed,
                                                        device=device)))
        else:
            selections.append((method, None, block_influence_layers(parent, train, count, n=spec.n, seed=seed,
                                                                    device=device)))
    # Each run: (method, seed column, draw, recovery seed, units); a random draw is paired with its recovery seed.
    runs = []
    for method, draw, chosen in selections:
        if draw is None:
            runs += [(method, run_seed, None, run_seed, chosen) for run_seed in run_seeds]
        else:
            recovery_seed = dict(draw_runs)[draw]
            runs.append((method, draw if recovery_seeds is None else recovery_seed, draw, recovery_seed, chosen))
    tables = []
    for index, run_seed in enumerate(run_seeds):
        variants = {f"{method}/{column}": chosen for method, column, _, recovery_seed, chosen in runs
                    if recovery_seed == run_seed}
        table, _ = evaluate_variants(parent, variants, dataset, spec.replace(seed=run_seed), test_set=test_set,
                                     with_curves=False, from_scratch=from_scratch, recovery=recovery)
        tables.append(table if index == 0 else table.iloc[1:])  # the unpruned row once
    table = pd.concat(tables, ignore_index=True).set_index("variant")
    order = ["unpruned"] + [f"{method}/{column}" for method, column, *_ in runs]
    table = table.loc[order].reset_index(drop=True)
    table.insert(0, "method", ["unpruned"] + [method for method, *_ in runs])
    table.insert(1, "seed", [seed] + [column for _, column, *_ in runs])
    table.insert(2, "draw", pd.array([None] + [draw for _, _, draw, *_ in runs], dtype="Int64"))
    return table.drop(columns=["delta_acc"])


def check_methods(name: str, methods: Any) -> list[str]:
    """Baselines of :func:`compare_pruning` (:data:`METHODS`), matched by name, each at most once (none is allowed).

    The rule of ``compare_pruning``'s ``methods`` and of the notebook parameter ``baselines``.
    """
    if isinstance(methods, str):
        raise TypeError(f"{name} must be a list of method names, got the string {methods!r}; use [{methods!r}].")
    methods = [lookup(method, METHODS, what="pruning method") for method in methods]
    repeated = sorted({method for method in methods if methods.count(method) > 1})
    if repeated:
        raise ValueError(f"{name} lists a method more than once ({repeated}); give each method once.")
    return methods


def summarize_comparison(table: pd.DataFrame, *, reference: str | None = "modularity",
                         by: str = "method") -> pd.DataFrame:
    """Table 1 per method: mean ± std of top-1 over its runs, mean reductions, and the difference to ``reference``.

    ``diff`` is the method's mean top-1 minus the reference's (percentage points); ``p_value`` is
    Welch's two-sided t-test of the two sets of runs (unequal variances: the seeds of one method
    are not paired with another's, their architectures differ), NaN unless both have at least two
    runs. ``spread`` says whether ``abs(diff)`` exceeds the larger of the two standard deviations,
    the seed spread.

    Args:
        table: :func:`compare_pruning`'s runs, or :func:`evaluate_variants`' with ``by="variant"``
            (with ``recovery_seeds``, so that each variant has several runs).
        reference: the ``by`` value the others are compared with; None: the first one that is
            not ``"unpruned"`` (Fig. 9's first variant).
        by: the column naming what each run tried.

    Returns:
        ``by``, ``runs``, ``removed``, ``top1``, ``top1_std``, ``params_reduction``,
        ``flops_reduction``, ``diff``, ``p_value``, ``beyond_spread``; one row per ``by`` value, in
        the table's order; with a ``q_last`` column in ``table``, also ``q_last`` and ``q_last_std``.

    Raises:
        KeyError: ``table`` lacks a column of :func:`compare_pruning`'s, or has no ``reference`` row.
    """
    require_columns(table, [by, "removed", "top1", "params_reduction", "flops_reduction"],
                    source="compare_pruning() or evaluate_variants()", caller="summarize_comparison")
    if reference is None:
        pruned = [value for value in dict.fromkeys(table[by]) if value != "unpruned"]
        if not pruned:
            raise KeyError(f"summarize_comparison: no pruned runs to compare ({by} values: {table[by].unique().tolist()}).")
        reference = pruned[0]
    grouped = table.groupby(by, sort=False)
    summary = pd.DataFrame({
        "runs": grouped.size(), "removed": grouped.removed.first(), "top1": grouped.top1.mean(),
        "top1_std": grouped.top1.std(), "params_reduction": grouped.params_reduction.mean(),
        "flops_reduction": grouped.flops_reduction.mean(),
        **({"q_last": grouped.q_last.mean(), "q_last_std": grouped.q_last.std()} if "q_last" in table else {}),
    }).reset_index()
    if reference not in summary[by].values:
        raise KeyError(f"summarize_comparison: no {reference!r} rows to compare against ({by} values: "
                       f"{summary[by].tolist()}); pass reference= one of them.")
    base = table.loc[table[by] == reference, "top1"].to_numpy(dtype=float)
    rows = []
    for method in summary[by]:
        runs = table.loc[table[by] == method, "top1"].to_numpy(dtype=float)
        rows.append(welch_interval(runs, base)[3] if method != reference else float("nan"))
    summary["diff"] = summary.top1 - base.mean()
    summary["p_value"] = rows
    spread = np.fmax(summary.top1_std.to_numpy(dtype=float), np.std(base, ddof=1) if len(base) > 1 else np.nan)
    summary["beyond_spread"] = np.abs(summary["diff"].to_numpy()) > spread
    summary.loc[summary[by] == reference, "beyond_spread"] = False
    return summary


# Table 1 of Lu et al. 2022 (ResNet56 on CIFAR-10), for display beside our rows.
PAPER_TABLE1 = pd.DataFrame({
    "method": ["ResNet56", "Chen et al. [5]", "DBP-0.5 [61]", "Ours (paper)"],
    "top1": [93.27, 93.29, 93.39, 93.38],
    "params_reduction": [0.0, 0.4230, np.nan, 0.4300],
    "flops_reduction": [0.0, 0.3480, 0.5341, 0.6030],
})
