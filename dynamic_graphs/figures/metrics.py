"""Which layer measure predicts a block's cost? Remove each block alone and correlate.

Lu et al. 2022 prune where the modularity curve is flat, which assumes that a unit's gain ΔQ
predicts what removing it costs. This experiment tests that assumption, and the same assumption
for the companion measures of :func:`dynamic_graphs.metrics.layer_metrics`:

1. :func:`block_removal_costs`: the test accuracy with each removable unit removed alone, no
   fine-tuning; its cost is the drop from the unpruned model's accuracy;
2. :func:`block_scores`: each measure's change across each unit, signed so that a larger score
   says "this unit does more" (:data:`BLOCK_SCORES`);
3. :func:`cost_correlations`: per measure, the Spearman correlation of the scores with the costs
   over the units, with a percentile bootstrap interval over units.

A measure that predicts the cost has a clearly positive correlation. The plots are
:func:`dynamic_graphs.pl.plot_block_costs` and :func:`~dynamic_graphs.pl.plot_cost_correlations`.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._settings import settings
from ..data import as_dataset
from ..frames import require_columns, single_curve
from ..models import probe_layers
from ..progress import progress
from ..pruning.baselines import unit_pairs
from ..pruning.surgery import prune
from ..training import evaluate, subset_indices
from ..utils import check_int, check_positive_int, lookup, model_name

__all__ = [
    "BLOCK_SCORES",
    "block_removal_costs",
    "block_scores",
    "cost_correlations",
    "score_rules",
]

logger = logging.getLogger(__name__)

# How each measure of dg.metrics.layer_metrics scores a unit, from its input layer (the previous probe
# layer) and its output layer: larger = the unit changes the representation more.
BLOCK_SCORES: dict[str, str] = {
    "modularity": "gain: Q(output) − Q(input), the paper's ΔQ",
    "knn_accuracy": "gain: accuracy(output) − accuracy(input)",
    "linear_probe": "gain: accuracy(output) − accuracy(input)",
    "separation_fuzziness": "log D(input) − log D(output): the fall of the fuzziness, which decays "
                            "geometrically with depth (He & Su 2023)",
    "linear_cka_next": "1 − CKA(input, output): how dissimilar the unit's output is to its input",
    "mutual_knn_next": "1 − mutual k-NN(input, output): how many neighbourhoods the unit changes",
}
_GAINS = ("modularity", "knn_accuracy", "linear_probe")


def _unit_table(model: nn.Module, layers: Sequence[str] | None) -> list[tuple[str, str, int]]:
    """``(input, unit, stage)`` of the removable units, all or those named in ``layers``."""
    pairs = unit_pairs(model)
    if layers is None:
        return pairs
    known = {unit for _, unit, _ in pairs}
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))}: not removable units of this {model_name(model)}; "
                         f"choose from dg.pruning.removable_layers(model): {', '.join(sorted(known))}.")
    return [pair for pair in pairs if pair[1] in set(layers)]


def block_removal_costs(model: nn.Module, dataset: Any = "fashion-mnist", *, layers: Sequence[str] | None = None,
                        test_size: int | None = None, seed: int = 0, batch_size: int = 500,
                        device: str | torch.device = "auto") -> pd.DataFrame:
    """Test accuracy of ``model`` with each removable unit removed alone (no fine-tuning).

    Each unit is cut out by :func:`dynamic_graphs.pruning.prune` (a residual block becomes its shortcut,
    a VGG conv is dropped) and the rest keeps its trained weights, BatchNorm statistics included:
    the cost is what the unit contributes as trained, before any recovery.

    Args:
        model: a trained registry model that declares its units.
        dataset: a Dataset of test images or a registry name (its test split).
        layers: the units to remove, one at a time; None: every removable unit.
        test_size: accuracy on a seeded subset of this many test images (``seed``); None: all.
        seed: the subset's seed.
        batch_size, device: of the evaluation passes.

    Returns:
        One row per unit in depth order: ``layer``, ``depth`` (its probe-layer position),
        ``stage``, ``input`` (the probe layer before it), ``top1`` (% with the unit removed),
        ``top1_unpruned`` (%) and ``acc_drop`` (``top1_unpruned − top1``, percentage points).
    """
    test = as_dataset(dataset, "test")
    indices = subset_indices(len(test), None if test_size is None else check_int("test_size", test_size,
                                                                                 maximum=len(test)), seed)
    pairs = _unit_table(model, layers)
    depth = {layer: position for position, layer in enumerate(probe_layers(model), start=1)}
    score = lambda net: 100 * evaluate(net, test, batch_size=batch_size, device=device, indices=indices)  # noqa: E731
    unpruned = score(model)
    rows = []
    for position, (source, unit, stage) in enumerate(progress(pairs, desc=f"removal costs {model_name(model)} · unit"),
                                                     start=1):
        top1 = score(prune(model, [unit]))
        rows.append({"layer": unit, "depth": depth[unit], "stage": stage, "input": source, "top1": top1,
                     "top1_unpruned": unpruned, "acc_drop": unpruned - top1})
        if settings.verbosity >= 1:
            logger.info("[%d/%d] without %s: top-1 %.2f %% (drop %.2f points)", position, len(pairs), unit, top1,
                        unpruned - top1)
    frame = pd.DataFrame(rows)
    frame.attrs["params"] = {"model": model_name(model), "test_images": len(indices), "seed": seed}
    return frame


def block_scores(metrics: pd.DataFrame, model: nn.Module, *,
                 unit_scores: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Each measure's score of every removable unit, from its values at the unit's input and output.

    ``metrics`` is one :func:`dynamic_graphs.metrics.layer_metrics` frame of ``model``. Per repeat (the
    same images feed every layer, so input and output are paired) each measure's value at the
    unit's input layer (the previous probe layer) and its output layer give the unit's score by
    the rule of :data:`BLOCK_SCORES`; the score is then averaged over repeats.

    Args:
        metrics: :func:`dynamic_graphs.metrics.layer_metrics`'s frame of ``model`` (one curve, any repeats).
        model: the model it was measured on.
        unit_scores: scores computed per unit elsewhere, by name, e.g.
            ``{"block_influence": dg.pruning.block_influence(model, data)}`` (frames with ``layer`` and
            ``score``, larger = the unit does more), added as they are.

    Returns:
        Long format, one row per (measure, unit) in depth order: ``metric``, ``layer``, ``depth``,
        ``stage``, ``score`` (mean over repeats), ``score_std`` (NaN with one repeat), ``repeats``.

    Raises:
        ValueError: a frame whose layers are not ``model``'s probe layers, stacked curves, or a
            ``unit_scores`` frame that misses a unit.
    """
    require_columns(metrics, ["repeat", "layer", "depth"], source="layer_metrics()", caller="block_scores")
    measured = [metric for metric in BLOCK_SCORES if metric in metrics.columns]
    if not measured:
        raise ValueError(f"block_scores found none of the measures {', '.join(BLOCK_SCORES)} in the frame; pass "
                         "dg.metrics.layer_metrics(...)'s frame.")
    single_curve(metrics, value=measured[0], caller="block_scores")
    layers = set(metrics["layer"])
    pairs = unit_pairs(model)
    missing = sorted({layer for source, unit, _ in pairs for layer in (source, unit)} - layers)
    if missing:
        raise ValueError(f"The frame has no values for {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}, "
                         f"layers of this {model_name(model)}'s units; measure dg.metrics.layer_metrics(model, ...) on this "
                         "model with its probe layers (layers=None).")
    depth = dict(zip(metrics["layer"], metrics["depth"]))
    table = metrics.pivot(index="repeat", columns="layer")
    rows = []
    for metric in measured:
        for source, unit, stage in pairs:
            before, after = table[(metric, source)].to_numpy(float), table[(metric, unit)].to_numpy(float)
            if metric in _GAINS:
                score = after - before
            elif metric == "separation_fuzziness":
                score = np.log(before) - np.log(after)
            else:  # a similarity of the unit's input with the next probe layer, its output
                score = 1.0 - before
            rows.append(_score_row(metric, unit, depth[unit], stage, score))
    for metric, frame in (unit_scores or {}).items():
        require_columns(frame, ["layer", "score"], source=f"unit_scores[{metric!r}]", caller="block_scores")
        given = dict(zip(frame["layer"], frame["score"]))
        absent = [unit for _, unit, _ in pairs if unit not in given]
        if absent:
            raise ValueError(f"unit_scores[{metric!r}] has no score for {', '.join(absent[:4])}; score every "
                             "removable unit of the model.")
        rows += [_score_row(metric, unit, depth[unit], stage, np.array([given[unit]], float))
                 for _, unit, stage in pairs]
    return pd.DataFrame(rows)


def _score_row(metric: str, unit: str, depth: int, stage: int, values: np.ndarray) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    return {"metric": metric, "layer": unit, "depth": depth, "stage": stage,
            "score": float(values.mean()) if values.size else np.nan,
            "score_std": float(values.std(ddof=1)) if values.size > 1 else np.nan, "repeats": int(values.size)}


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:  # a constant resample has no rank correlation
        return np.nan
    return float(spearmanr(x, y).statistic)


def cost_correlations(scores: pd.DataFrame, costs: pd.DataFrame, *, cost: str = "acc_drop",
                      n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per measure: Spearman's correlation of its unit scores with the units' removal costs.

    The interval is a percentile bootstrap over units: ``n_boot`` resamples of the units with
    replacement (a seeded generator of its own), the correlation of each, and the
    ``(1 − confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those (resamples in which the
    scores or the costs are all tied are left out). The p-value is scipy's for no correlation.

    Args:
        scores: :func:`block_scores`'s frame.
        costs: :func:`block_removal_costs`'s frame of the same model (the same units).
        cost: the cost column.
        n_boot, confidence, seed: the bootstrap.

    Returns:
        One row per measure, the strongest first: ``metric``, ``spearman``, ``ci_low``, ``ci_high``,
        ``p_value``, ``units``.

    Raises:
        ValueError: scores and costs of different units (another model, or a subset).
    """
    from scipy.stats import spearmanr

    require_columns(scores, ["metric", "layer", "score"], source="block_scores()", caller="cost_correlations")
    require_columns(costs, ["layer", cost], source="block_removal_costs()", caller="cost_correlations")
    n_boot = check_positive_int("n_boot", n_boot)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}.")
    drop = costs.set_index("layer")[cost]
    rng = np.random.default_rng(seed)
    rows = []
    for metric, group in scores.groupby("metric", sort=False):
        if set(group["layer"]) != set(drop.index):
            raise ValueError(f"The {metric!r} scores are of {group['layer'].nunique()} units and the costs of "
                             f"{len(drop)}, not the same ones; score and remove the same model's units.")
        x = group["score"].to_numpy(float)
        y = drop.loc[group["layer"]].to_numpy(float)
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        draws = rng.integers(0, len(x), size=(n_boot, len(x)))
        boot = np.array([_spearman(x[d], y[d]) for d in draws])
        boot = boot[np.isfinite(boot)]
        tail = (1 - confidence) / 2
        low, high = np.quantile(boot, [tail, 1 - tail]) if boot.size else (np.nan, np.nan)
        rows.append({"metric": metric, "spearman": _spearman(x, y), "ci_low": float(low), "ci_high": float(high),
                     "p_value": float(spearmanr(x, y).pvalue) if len(x) > 2 else np.nan, "units": len(x)})
    frame = pd.DataFrame(rows).sort_values("spearman", ascending=False, ignore_index=True)
    frame.attrs["params"] = {"n_boot": n_boot, "confidence": confidence, "seed": seed, "cost": cost}
    return frame


def score_rules(metrics: Sequence[str]) -> pd.DataFrame:
    """How :func:`block_scores` scores a unit for each of ``metrics`` (a table for reports)."""
    names = [lookup(metric, BLOCK_SCORES, what="layer metric") for metric in metrics]
    return pd.DataFrame({"metric": names, "unit score": [BLOCK_SCORES[name] for name in names]})
