"""Verdicts of the pruning reports (Figs. 8-9, Table 1) and of the metrics report.

Accuracies are over recovery seeds (mean ± std, t-intervals of means, Welch's test between two
sets of runs, as :func:`dynamic_graphs.figures.summarize_comparison`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...figures import summarize_comparison
from ...frames import require_columns
from .base import (FAILS, HOLDS, PARTLY, SIGNIFICANCE, UNMEASURED, Verdict, combine, interval, interval_status,
                   mean_interval, number, p_text, welch_interval)

__all__ = ["fig8", "fig9", "metrics", "table1", "transfer"]


def _runs(table: pd.DataFrame) -> dict[str, np.ndarray]:
    require_columns(table, ["variant", "top1"], source="evaluate_variants()", caller="verdicts")
    return {variant: group["top1"].to_numpy(float) for variant, group in table.groupby("variant", sort=False)}


def _spread(values: np.ndarray) -> str:
    if values.size < 2:
        return f"{values.mean():.2f} %"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} %"


def _seeds(runs: dict[str, np.ndarray]) -> str:
    count = max(values.size for values in runs.values())
    return f"mean ± std over {count} recovery seeds" if count > 1 else "one recovery seed: no interval"


def fig8(table: pd.DataFrame, *, tolerance: float = 1.0) -> Verdict:
    """Fig. 8: removing plateau layers costs little accuracy.

    Args:
        table: :func:`dynamic_graphs.figures.evaluate_variants`' table (with ``recovery_seeds``
            for intervals), whose ``unpruned`` row is the reference.
        tolerance: the largest loss of top-1, in percentage points, that counts as "little".

    Per variant, the loss against the unpruned model with the t-interval of the variant's mean over
    recovery seeds: holds when the whole interval lies below ``tolerance``, does not hold when above
    it, partly when it straddles; not measurable with one recovery seed.

    Raises:
        KeyError: the table has no ``unpruned`` row.
        ValueError: the table has no pruned variant besides ``unpruned``.
    """
    runs = _runs(table)
    if "unpruned" not in runs:
        raise KeyError("verdicts.fig8 measures losses against the 'unpruned' row, which this table lacks.")
    base = float(runs.pop("unpruned")[0])
    if not runs:
        raise ValueError("verdicts.fig8 found no pruned variant in the table, only the 'unpruned' row: there is no "
                         "loss to measure. Pass evaluate_variants' table with at least one variant, e.g. "
                         "plateau_variants(curve, model, counts=[...]).")
    removed = table.groupby("variant", sort=False)["removed"].first() if "removed" in table.columns else {}
    items, statuses = [], []
    for variant, values in runs.items():
        mean, low, high = mean_interval(values)
        loss = (base - mean, base - high, base - low)
        statuses.append(interval_status(tolerance - loss[2], tolerance - loss[1]))
        count = f" ({removed[variant]} units)" if variant in removed else ""
        items.append(f"{variant}{count} {_spread(values)}, loss {interval(*loss, 2)} points")
    measured = (f"unpruned {base:.2f} %; " + "; ".join(items) + f" ({_seeds(runs)}; loss intervals 95 %; "
                f"'little' = under {tolerance:g} point).")
    claim = ("the layers on a plateau of the curve can be pruned with minimal impact on accuracy (VGG19 and "
             "ResNet152 variants on CIFAR-10 stay within 93.50-93.89 % and 95.63-96.02 %).")
    return Verdict("fig8", claim, measured, combine(statuses) if statuses else UNMEASURED)


def fig9(table: pd.DataFrame) -> Verdict:
    """Fig. 9: removing non-redundant (rising) layers costs more accuracy than removing plateau layers.

    Args:
        table: :func:`dynamic_graphs.figures.evaluate_variants`' table: ``plateau-m`` against
            ``rising-m`` variants (:func:`dynamic_graphs.pruning.contrast_variants`) and/or the
            paper's variants (VGG11_1/2/3) against ``unpruned``.

    A contrast holds when rising-m's top-1 is below plateau-m's by Welch's interval over recovery
    seeds; a paper variant holds when its loss against the unpruned model is above 0 by the
    t-interval of its mean. Not measurable with one recovery seed.
    """
    runs = _runs(table)
    base = float(runs["unpruned"][0]) if "unpruned" in runs else math.nan
    delta_q = table.groupby("variant", sort=False)["delta_q"].mean() if "delta_q" in table.columns else {}
    items, statuses = [], []
    for variant, values in runs.items():
        if variant.startswith("plateau-") and f"rising-{variant[8:]}" in runs:
            rising = runs[f"rising-{variant[8:]}"]
            *cost, p_value = welch_interval(values, rising)
            statuses.append(interval_status(*cost[1:]))
            items.append(f"{variant} {_spread(values)} against rising-{variant[8:]} {_spread(rising)}: the rising "
                         f"units cost {interval(*cost, 2)} points more (Welch's {p_text(p_value)})")
        elif variant != "unpruned" and not variant.startswith(("plateau-", "rising-")) and np.isfinite(base):
            mean, low, high = mean_interval(values)
            statuses.append(interval_status(base - high, base - low))
            dq = f", ΔQ {number(delta_q[variant])}" if variant in delta_q else ""
            items.append(f"{variant} {_spread(values)}, ΔAcc {interval(base - mean, base - high, base - low, 2)}{dq}")
    if not items:
        raise ValueError(f"verdicts.fig9 found neither plateau-m/rising-m pairs nor variants to compare with "
                         f"'unpruned' among {list(runs)}.")
    unpruned = f"unpruned {base:.2f} %; " if np.isfinite(base) else ""
    measured = unpruned + "; ".join(items) + f" ({_seeds(runs)})."
    claim = ("pruning layers where the curve still rises costs accuracy and last-layer Q (VGG11_1/2/3 on CIFAR-10: "
             "ΔAcc 0.01, 0.34, 0.57 points, ΔQ 0.01, 0.04, 0.16), unlike pruning plateau layers.")
    return Verdict("fig9", claim, measured, combine(statuses))


_RANDOM = ("random", "random-matched")
_REFERENCES = ("modularity", "unpruned", "unpruned-finetuned")


def table1(summary: pd.DataFrame) -> Verdict:
    """Table 1: at an equal budget, the modularity criterion keeps accuracy as well as or better than the baselines.

    Args:
        summary: :func:`dynamic_graphs.figures.summarize_comparison`'s frame (or
            :func:`~dynamic_graphs.figures.compare_pruning`'s runs, summarised here).

    With Welch's test of each baseline against ``modularity``: does not hold when a baseline is
    better with p < 0.05; holds when none is and the criterion beats the random baselines (when
    present) with p < 0.05; partly when it is indistinguishable from random units.
    """
    if "runs" not in summary.columns:
        summary = summarize_comparison(summary)
    require_columns(summary, ["method", "runs", "top1", "top1_std", "diff", "p_value"],
                    source="summarize_comparison()", caller="verdicts.table1")
    rows = summary.set_index("method")
    if "modularity" not in rows.index:
        raise KeyError("verdicts.table1 compares with the 'modularity' row, which this summary lacks; pass "
                       "dg.figures.summarize_comparison(table) with its default reference.")
    own = rows.loc["modularity"]
    baselines = rows.drop([name for name in _REFERENCES if name in rows.index])
    better = baselines[(baselines["diff"] > 0) & (baselines["p_value"] < SIGNIFICANCE)]
    random = baselines[baselines.index.isin(_RANDOM)]
    if baselines["p_value"].isna().all():
        status = UNMEASURED
    elif len(better):
        status = FAILS
    else:
        beaten = (random["diff"] < 0) & (random["p_value"] < SIGNIFICANCE)
        status = HOLDS if beaten.all() else PARTLY
    items = [f"{name} {number(row['diff'], 2, signed=True)} ({p_text(row.p_value)})"
             for name, row in baselines.iterrows()]
    removed = f" removes {int(own.removed)} units and" if "removed" in rows.columns else ""
    runs = int(own.runs)
    spread = f"{own.top1:.2f} ± {own.top1_std:.2f} % (mean ± std over {runs} runs)" if runs > 1 else \
        f"{own.top1:.2f} % (one run: no interval)"
    measured = f"modularity{removed} keeps {spread}; each baseline's difference in points, Welch's test: " + \
        ", ".join(items) + "."
    if "unpruned-finetuned" in rows.index:
        measured += f" The unpruned model fine-tuned alike: {rows.loc['unpruned-finetuned', 'top1']:.2f} %."
    claim = ("pruning the layers where the curve is flat keeps accuracy as well as or better than other layer-"
             "pruning methods (ResNet56 on CIFAR-10: 93.38 % at −60.3 % FLOPs).")
    return Verdict("table1", claim, measured, status)


def metrics(correlations: pd.DataFrame) -> Verdict:
    """Which measure predicts a unit's removal cost: does the paper's ΔQ?

    Args:
        correlations: :func:`dynamic_graphs.figures.cost_correlations`' frame, with a ``modularity`` row.

    Holds when the bootstrap interval of ΔQ's Spearman correlation with the cost lies above 0, does
    not hold when below, partly holds when it contains 0.
    """
    require_columns(correlations, ["metric", "spearman", "ci_low", "ci_high"], source="cost_correlations()",
                    caller="verdicts.metrics")
    rows = correlations.set_index("metric")
    if "modularity" not in rows.index:
        raise KeyError("verdicts.metrics reads the 'modularity' row, which this frame lacks; include 'modularity' "
                       "in the notebook's metrics.")
    own = rows.loc["modularity"]
    units = f" over {int(own.units)} units" if "units" in rows.columns else ""
    p_value = f", {p_text(own.p_value)}" if "p_value" in rows.columns else ""
    measured = (f"Spearman ρ of ΔQ with the accuracy drop{units}: "
                f"{interval(own.spearman, own.ci_low, own.ci_high, 2)} "
                f"(95 % bootstrap interval{p_value})")
    best = rows["spearman"].idxmax()
    if best != "modularity":
        top = rows.loc[best]
        measured += f"; the best of {len(rows)} measures, {best}: {interval(top.spearman, top.ci_low, top.ci_high, 2)}"
    claim = ("a unit's gain ΔQ predicts what removing it costs (the paper prunes where the curve is flat), so "
             "units with a larger ΔQ should cost more accuracy.")
    return Verdict("metrics", claim, measured + ".", interval_status(own.ci_low, own.ci_high))




def transfer(best: pd.DataFrame, *, network: str | None = None) -> Verdict:
    """Transfer: is the block where Q peaks the one a linear probe reads the new classes best from?

    Args:
        best: :func:`dynamic_graphs.figures.best_layers`' frame.
        network: the network trained elsewhere (a ``network`` value of ``best``); None: the first.

    Holds when modularity peaks at the probe's best layer; does not hold when the probe at Q's peak
    is measurably worse (the paired interval of the gap lies above 0); partly holds otherwise.
    """
    require_columns(best, ["network", "measure", "layer", "mean", "ci_low", "ci_high", "probe_there", "probe_gap",
                           "gap_low", "gap_high", "layers"], source="best_layers()", caller="verdicts.transfer")
    network = network if network is not None else best["network"].iloc[0]
    rows = best[best["network"] == network].set_index("measure")
    for needed in ("modularity", "linear_probe"):
        if needed not in rows.index:
            raise KeyError(f"verdicts.transfer reads the {needed!r} row of {network!r}, which best_layers() lacks; "
                           "measure both modularity and linear_probe.")
    probe, peak = rows.loc["linear_probe"], rows.loc["modularity"]
    measured = (f"{network}'s linear probe reads the classes best at {probe.layer} ({int(probe.depth)} of "
                f"{int(probe.layers)} layers; accuracy {interval(probe['mean'], probe.ci_low, probe.ci_high)}); "
                f"Q peaks at {peak.layer} (Q {interval(peak['mean'], peak.ci_low, peak.ci_high)})")
    if peak.layer == probe.layer:
        status = HOLDS
    else:
        measured += (f", where the probe reads {number(peak.probe_there)}, "
                     f"{interval(peak.probe_gap, peak.gap_low, peak.gap_high)} below its best (paired over repeats)")
        status = {HOLDS: FAILS, FAILS: PARTLY, PARTLY: PARTLY}.get(interval_status(peak.gap_low, peak.gap_high),
                                                                  UNMEASURED)
    if "knn_accuracy" in rows.index:
        measured += f"; k-NN accuracy peaks at {rows.loc['knn_accuracy', 'layer']}"
    others = best[(best["network"] != network) & (best["measure"] == "linear_probe")]
    for _, other in others.iterrows():
        measured += (f". For comparison, {other.network} reaches {interval(other['mean'], other.ci_low, other.ci_high)}"
                     f" with the probe at {other.layer}")
    claim = ("the block where a network's modularity curve peaks on a new dataset is the block a linear probe reads "
             "its classes best from, so the curve can choose where a transfer user takes features.")
    return Verdict("transfer", claim, measured + ".", status)
