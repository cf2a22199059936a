"""Verdicts of the curve figures (Figs. 1-7) and of the package's asymptotics.

Intervals are the 95 % Student-t ones over repeats (disjoint samples of images) or training seeds;
a gain or rise between two layers is paired within each repeat, since the same images feed every
layer (as :func:`dynamic_graphs.pruning.layer_gains`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...attacks import CLEAN, attack_label
from ...figures import summarize_agreement
from ...frames import check_curves, require_columns, single_curve
from ...pruning.selection import DEFAULT_THRESHOLD, paired_gains, classify_gains
from .base import (AGREEMENT, FAILS, HOLDS, INTERVALS, PARTLY, Q_TOLERANCE, SIGNIFICANCE, UNMEASURED, Verdict, combine,
                   equivalence_status, interval, interval_status, layer_range, mean_interval, number, p_text,
                   welch_interval)

__all__ = ["asymptotics", "fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7"]


def _matrix(curve: pd.DataFrame, over: str = "repeat") -> pd.DataFrame:
    """Q of one curve as units × depth: the repeats, or per training seed the mean over its repeats."""
    repeat = curve["repeat"] if "repeat" in curve.columns else pd.Series(0, index=curve.index)
    if over == "repeat":
        return curve.assign(_unit=repeat.to_numpy()).pivot(index="_unit", columns="depth", values="modularity")
    return curve.groupby([over, "depth"])["modularity"].mean().unstack("depth")


def _profile(matrix: pd.DataFrame) -> dict[str, Any]:
    """First and last layer's Q, the paired rise between them and the paired gain of every layer.

    Every unit (a repeat: the same images feed every layer; or a training seed) gives one value per
    layer, so differences are taken within units before their t-interval: the paired gains of
    :func:`dynamic_graphs.pruning.layer_gains`, from the same computation.
    """
    matrix = matrix.sort_index(axis=1)
    first, last = matrix.columns[0], matrix.columns[-1]
    steps = paired_gains(matrix).iloc[1:]
    return {"first": mean_interval(matrix[first]), "last": mean_interval(matrix[last]),
            "rise": mean_interval(matrix[last] - matrix[first]), "units": len(matrix), "layers": matrix.shape[1],
            "depths": [int(depth) for depth in matrix.columns],
            "gains": [(int(row.depth), float(row.gain), float(row.gain_low), float(row.gain_high))
                      for row in steps.itertuples()]}


FLAT_GAIN = DEFAULT_THRESHOLD
"""A layer is flat when its gain's 95 % interval contains 0 and lies below this, 0.01 (the default
threshold of :func:`dynamic_graphs.pruning.redundant_layers`): no measurable rise, and demonstrably
little (:func:`dynamic_graphs.pruning.classify_gains`). An interval above 0 but below this is a small,
steady rise, not a plateau; one that contains 0 but reaches this is unresolved: too wide to tell."""


def _shape(gains: list[tuple]) -> dict[str, Any]:
    """Gains counted by :func:`dynamic_graphs.pruning.classify_gains` as up, small (a measurable rise
    below :data:`FLAT_GAIN`), flat, down or unresolved, those without an interval as unknown, and the
    longest run of consecutive flat or falling gains (their depths, and whether one falls)."""
    lows, highs = np.array([g[2] for g in gains], dtype=float), np.array([g[3] for g in gains], dtype=float)
    kinds = list(classify_gains(lows, highs, FLAT_GAIN))
    kinds = [kind if np.isfinite(low) and np.isfinite(high) else "unknown"
             for kind, low, high in zip(kinds, lows, highs)]
    run, best = [], []
    for (depth, *_), kind in zip(gains, kinds):
        run = run + [(depth, kind)] if kind in ("flat", "down") else []
        best = run if len(run) > len(best) else best
    return {**{kind: kinds.count(kind) for kind in ("up", "small", "flat", "down", "unresolved", "unknown")},
            "run": [depth for depth, _ in best], "run_falls": any(kind == "down" for _, kind in best)}


def _gains_text(shape: dict[str, Any]) -> str:
    small = f"/{shape['small']} small" if shape["small"] else ""
    unresolved = f"/{shape['unresolved']} unresolved" if shape["unresolved"] else ""
    return f"gains {shape['up']} up{small}/{shape['flat']} flat/{shape['down']} down{unresolved}"


def _run_text(profile: dict[str, Any], shape: dict[str, Any]) -> str:
    """``Q flat over layers 3–5``: a gain is labelled by its later layer, so the run starts one layer earlier."""
    run = shape["run"]
    if not run:
        return ""
    depths = profile["depths"]
    start = depths[depths.index(run[0]) - 1]
    kind = "flat or falling" if shape["run_falls"] and len(run) > 1 else "falling" if shape["run_falls"] else "flat"
    return f"Q {kind} over {layer_range([start, run[-1]])}"


def _rise_text(profile: dict[str, Any]) -> str:
    (q0, *ci0), (q1, *ci1), rise = profile["first"], profile["last"], profile["rise"]
    return f"Q {interval(q0, *ci0)} → {interval(q1, *ci1)} (rise {interval(*rise, signed=True)})"


def fig1(curve: pd.DataFrame) -> Verdict:
    """Fig. 1: classes separate progressively with depth, read from the curve beside the t-SNE panels.

    Args:
        curve: :func:`dynamic_graphs.modularity_curve`'s frame of one model (the notebook's ``curve``).

    Holds when the paired rise from the first to the last layer is above 0 with no layer whose gain
    interval lies below 0; partly with such dips or a rise interval that contains 0.
    """
    profile = _profile(_matrix(single_curve(curve, caller="verdicts.fig1")))
    shape = _shape(profile["gains"])
    status = interval_status(*profile["rise"][1:])
    status = PARTLY if status == HOLDS and shape["down"] else status
    over = f"{INTERVALS} over {profile['units']} repeats" if profile["units"] > 1 else "one repeat: no interval"
    measured = (f"{_rise_text(profile)} over {profile['layers']} layers ({over}); of {len(profile['gains'])} "
                f"layer-to-layer gains, {shape['up'] + shape['small']} rise ({shape['small']} of them by less than "
                f"{FLAT_GAIN}), {shape['flat']} are flat, {shape['down']} fall and {shape['unresolved']} are "
                f"unresolved (flat: the interval contains 0 and lies below {FLAT_GAIN}; unresolved: containing 0 "
                f"and reaching {FLAT_GAIN}).")
    claim = ("classes, mixed in the first layers, separate progressively with depth (t-SNE panels), and Q rises "
             "with them (VGG11 on CIFAR-10: about 0.11 → 0.81).")
    return Verdict("fig1", claim, measured, status)


def fig2(graphs: Any, labels: Any = None) -> Verdict:
    """Fig. 2: communities emerge in the k-NN graphs as the layers deepen.

    Args:
        graphs: :func:`dynamic_graphs.figures.layer_graph_table`'s frame, or the list of
            :func:`dynamic_graphs.figures.layer_graphs` itself (then also the graph size).
        labels: with the list of graphs, the images' classes: adds the share of edge weight that
            joins images of the same class in the first and last graph.

    One sample of images gives no interval on each Q, so the trend is tested instead: Spearman's
    correlation of Q with depth over the layers. Holds when it is positive with p < 0.05, partly when
    positive without, does not hold otherwise; not measurable with fewer than three layers.
    """
    from scipy.stats import spearmanr

    table = graphs if isinstance(graphs, pd.DataFrame) else pd.DataFrame(
        [{"depth": depth, "layer": item.layer, "modularity": item.modularity}
         for depth, item in enumerate(graphs, start=1)])
    require_columns(table, ["depth", "modularity"], source="layer_graph_table()", caller="verdicts.fig2")
    table = table.sort_values("depth")
    q = table["modularity"].to_numpy(float)
    size = "" if isinstance(graphs, pd.DataFrame) else f" of {graphs[0].graph.vcount()} images"
    measured = (f"one sample{size} (no interval on each Q): Q {number(q[0])} at layer {table.depth.iloc[0]} → "
                f"{number(q[-1])} at layer {table.depth.iloc[-1]}")
    status = UNMEASURED
    if len(q) >= 3:
        rho, p_value = spearmanr(table["depth"], q)
        status = HOLDS if rho > 0 and p_value < SIGNIFICANCE else PARTLY if rho > 0 else FAILS
        measured += f"; Spearman ρ of Q with depth {number(rho, 2)} over {len(q)} layers ({p_text(p_value)})"
    if labels is not None and not isinstance(graphs, pd.DataFrame):
        from ...metrics import edge_statistics

        share = [edge_statistics(graphs[i].graph, labels)["p_in"] for i in (0, -1)]
        measured += f"; same-class edge share {number(share[0], 2)} → {number(share[1], 2)}"
    claim = "the k-NN graph of each layer forms class communities progressively with depth (Q rises layer by layer)."
    return Verdict("fig2", claim, measured + ".", status)


def fig3(curves: pd.DataFrame, *, tolerance: float = Q_TOLERANCE) -> Verdict:
    """Fig. 3: Q rises with depth; deep models on easy data plateau or dip; untrained networks do not rise.

    Per curve of :func:`dynamic_graphs.figures.model_curves` (per model, dataset and ``trained``):
    the first and last layer's Q and the paired rise between them, and every layer's paired gain
    classified by :func:`dynamic_graphs.pruning.classify_gains`, the rule of
    ``curve_gains(flat_only=True)`` too: rising (interval above 0 and reaching :data:`FLAT_GAIN`),
    small (above 0 and below :data:`FLAT_GAIN`, 0.01: a slow, steady rise), flat (containing 0 and
    below :data:`FLAT_GAIN`), falling (below 0) or unresolved (containing 0 and reaching
    :data:`FLAT_GAIN`: too wide to say). With several training
    seeds the intervals are over seeds (each seed's mean over repeats), otherwise over repeats.

    Args:
        curves: :func:`dynamic_graphs.figures.model_curves`' frame.
        tolerance: the largest rise of Q, first to last layer, that counts as "does not rise" for
            an untrained curve.

    Holds when every trained curve rises, at least one has a plateau or dip (two or more
    consecutive gains flat or falling, or one falling) and no untrained curve rises; partly when
    some but not all of this is seen (the paper finds plateaus in deep models only); does not hold
    when no trained curve rises. An untrained curve "does not rise" when the whole interval of its
    rise lies below ``tolerance`` (a fall counts as not rising); it rises when the whole interval
    lies above ``tolerance``, and is unsettled (partly) when the interval reaches past it, so a wide
    interval around 0 is not read as "does not rise".

    Raises:
        KeyError: the frame has no ``model`` column (pass model_curves' frame).
    """
    labels = check_curves(curves, caller="verdicts.fig3")
    if "model" not in curves.columns:
        raise KeyError("verdicts.fig3 names each curve by its 'model' column, and this frame has none; pass "
                       "dg.figures.model_curves(...)'s frame (or add a 'model' column).")
    keys = [label for label in labels if label != "train_seed"]
    several = "dataset" in curves.columns and curves["dataset"].nunique() > 1
    trained_items, untrained_items, rises, plateaus, flat_rises, over_seeds = [], [], [], {}, [], False
    for key, group in curves.groupby(keys, sort=False, dropna=False):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        name = f"{values['model']}/{values['dataset']}" if several else str(values["model"])
        seeded = "train_seed" in group.columns and group["train_seed"].nunique() > 1
        over_seeds |= seeded
        profile = _profile(_matrix(group, "train_seed" if seeded else "repeat"))
        rise = interval(*profile["rise"], signed=True)
        if not bool(values.get("trained", True)):
            untrained_items.append(f"{name} {rise}")
            low, high = profile["rise"][1:]
            flat_rises.append(interval_status(tolerance - high, tolerance - low))  # below the tolerance: holds
            continue
        shape = _shape(profile["gains"])
        rises.append(interval_status(*profile["rise"][1:]))
        plateaus[name] = (UNMEASURED if shape["unknown"] else
                          HOLDS if shape["down"] or len(shape["run"]) >= 2 else FAILS)
        run = f", {_run_text(profile, shape)}" if shape["run"] else ""
        trained_items.append(f"{name} {_rise_text(profile)}, {_gains_text(shape)}{run}")
    if not trained_items:
        raise ValueError("verdicts.fig3 found no trained curve (every row has trained=False); measure "
                         "dg.figures.model_curves(..., trained=True).")
    rise_status = combine(rises)
    if rise_status in (FAILS, UNMEASURED):
        status = rise_status
    else:
        found = [name for name, kind in plateaus.items() if kind == HOLDS]
        parts = [rise_status, HOLDS if found else FAILS if FAILS in plateaus.values() else UNMEASURED, *flat_rises]
        status = HOLDS if set(parts) == {HOLDS} else PARTLY
    spread = "across training seeds" if over_seeds else "over repeats"
    measured = f"trained ({INTERVALS} {spread}): " + "; ".join(trained_items) + "."
    if untrained_items:
        measured += (" Untrained, the rise from the first to the last layer: " + "; ".join(untrained_items)
                     + f" ('does not rise': the whole interval below {tolerance:g}).")
    if rise_status not in (FAILS, UNMEASURED):
        measured += (f" Plateau or dip in {', '.join(found)}." if found else
                     " No trained curve plateaus or dips (the paper sees them in deep models only).")
    claim = ("Q rises with depth in trained networks (CIFAR-10: ResNet18 0.15 → 0.83), and deep models on easy "
             "data plateau or dip (VGG16/19 at about 0.79 from layer 9). Untrained networks (our baseline) should "
             "not rise.")
    return Verdict("fig3", claim, measured, status)


def fig4(dynamics: pd.DataFrame) -> Verdict:
    """Fig. 4: over training, deep layers gain class separation with the accuracy while shallow ones stay flat.

    Args:
        dynamics: :func:`dynamic_graphs.figures.training_dynamics`' frame.

    Every epoch is measured on the same images, so the change of a layer from the first to the last
    epoch is paired by repeat. Holds when the deepest probe layer's change is above 0 and above the
    shallowest one's (the interval of the paired difference); partly when only the first is shown.

    Raises:
        ValueError: the frame stacks several training runs (a label column besides ``epoch``, such
            as ``model``, with several values): select one run first, as for fig1 and fig5.
    """
    from scipy.stats import spearmanr

    require_columns(dynamics, ["epoch", "depth", "modularity", "test_acc"], source="training_dynamics()",
                    caller="verdicts.fig4")
    runs = [label for label in check_curves(dynamics, caller="verdicts.fig4")
            if label != "epoch" and dynamics[label].nunique(dropna=False) > 1]
    if runs:
        shown = ", ".join(f"{label} ({dynamics[label].nunique(dropna=False)} values)" for label in runs)
        raise ValueError(f"verdicts.fig4 reads one training run, but this frame stacks several, told apart by "
                         f"{shown}; they would be averaged together. Select one run first, e.g. "
                         f"dynamics[dynamics[{runs[0]!r}] == ...].")
    repeat = dynamics["repeat"] if "repeat" in dynamics.columns else 0
    table = dynamics.assign(_unit=repeat).pivot_table(index="_unit", columns=["depth", "epoch"], values="modularity")
    epochs, depths = sorted(dynamics["epoch"].unique()), sorted(dynamics["depth"].unique())
    if len(epochs) < 2 or len(depths) < 2:
        raise ValueError(f"verdicts.fig4 compares two epochs and two probe layers at least; the frame has epochs "
                         f"{epochs} and probe layers {depths}.")
    shallow, deep = depths[0], depths[-1]
    change = {d: table[(d, epochs[-1])] - table[(d, epochs[0])] for d in (shallow, deep)}
    deep_change, contrast = mean_interval(change[deep]), mean_interval(change[deep] - change[shallow])
    status = interval_status(*deep_change[1:])
    status = PARTLY if status == HOLDS and interval_status(*contrast[1:]) != HOLDS else status
    accuracy = dynamics.groupby("epoch")["test_acc"].first()
    rho = spearmanr(table.xs(deep, axis=1, level="depth").mean().loc[epochs], accuracy.loc[epochs])[0]
    units = len(table)
    over = f"{INTERVALS} paired over {units} repeats" if units > 1 else "one repeat: no interval"
    q = {d: [mean_interval(table[(d, e)]) for e in (epochs[0], epochs[-1])] for d in (shallow, deep)}
    layer = {d: f"L{d} {interval(*q[d][0])} → {interval(*q[d][1])} "
                f"(change {interval(*mean_interval(change[d]), signed=True)})" for d in (shallow, deep)}
    measured = (f"over epochs {epochs[0]}–{epochs[-1]} (test accuracy {100 * accuracy.loc[epochs[0]]:.1f} → "
                f"{100 * accuracy.loc[epochs[-1]]:.1f} %; {over}): {layer[deep]}, {layer[shallow]}; deep minus "
                f"shallow change {interval(*contrast, signed=True)}. Spearman ρ of L{deep}'s Q with the accuracy over "
                f"epochs: {number(rho, 2)}.")
    claim = ("shallow layers extract general features and deep layers specific ones: during training Q of the "
             "first layers stays flat (about 0.1) while that of deep layers rises with the test accuracy.")
    return Verdict("fig4", claim, measured, status)


def fig5(curves: pd.DataFrame) -> Verdict:
    """Fig. 5: adversarial examples lower the last layer's modularity (true classes as communities).

    Args:
        curves: :func:`dynamic_graphs.figures.adversarial_curves`' frame of one run.

    Per attack, the drop of the last layer's mean Q below the clean curve's, with Welch's interval
    over the repeats. Welch's treats the two sets of repeats as independent samples; for the first
    attack they are not: the clean curve is measured on that attack's clean originals, image for
    image (:func:`~dynamic_graphs.figures.adversarial_curves`), and Welch's interval ignores that
    pairing: it is wider than a paired one when the two share their sample's variation (the usual
    case), never falsely narrow for that reason. Every later attack's examples are other images.
    Holds when every attack's drop is above 0.
    """
    check_curves(curves, caller="verdicts.fig5")
    require_columns(curves, ["attack", "communities"], source="adversarial_curves()", caller="verdicts.fig5")
    true = curves[curves["communities"] == "true"]
    last = true[true["depth"] == true.groupby("attack")["depth"].transform("max")]
    if last.duplicated(["attack", "repeat"] if "repeat" in last.columns else ["attack"]).any():
        raise ValueError("verdicts.fig5 reads one run, but this frame stacks several (an attack has two curves); "
                         "select one run first, e.g. curves[curves['model'] == ...].")
    values = {attack: group["modularity"].to_numpy(float) for attack, group in last.groupby("attack", sort=False)}
    if CLEAN not in values:
        raise KeyError(f"verdicts.fig5 compares with the clean curve (attack == {CLEAN!r}), which this frame lacks.")
    clean, items, statuses = values.pop(CLEAN), [], []
    for attack, q in values.items():
        drop = welch_interval(clean, q)[:3]
        statuses.append(interval_status(*drop[1:]))
        items.append(f"{attack_label(attack)} {interval(*mean_interval(q))} (drop {interval(*drop)})")
    units = len(clean)
    over = f"{INTERVALS} over {units} repeats, Welch's for the drops" if units > 1 else "one repeat: no interval"
    measured = (f"last-layer Q with the true classes ({over}): clean {interval(*mean_interval(clean))}; "
                + "; ".join(items) + ".")
    claim = ("adversarial attacks blur the classes: the attacked images' Q falls far below the clean one in the "
             "last layers (ResNet18 on CIFAR-10: clean 0.85, OnePixel 0.53, CW 0.30, PGD and FGSM 0.08).")
    return Verdict("fig5", claim, measured, combine(statuses) if statuses else UNMEASURED)


def fig6(curves: pd.DataFrame, *, tolerance: float = Q_TOLERANCE) -> Verdict:
    """Fig. 6: the curve is robust to k and N: the swept curves meet in the last layer.

    Args:
        curves: :func:`dynamic_graphs.figures.ablation_curves`' frame.
        tolerance: the largest difference of last-layer Q between swept values that counts as
            "meeting" (:data:`~dynamic_graphs.reports.verdicts.base.Q_TOLERANCE`, 0.05).

    Per sweep: the last layer's mean Q of every swept value with its interval over repeats, the
    spread (largest minus smallest mean) there with Welch's interval of that difference (the
    largest mean's repeats against the smallest's), and the spread at the layer where it is widest.
    An equivalence reading (:func:`~dynamic_graphs.reports.verdicts.base.equivalence_status`): a
    sweep holds when the spread's whole interval lies within ± ``tolerance``, does not hold when it
    lies entirely beyond ``tolerance``, and partly holds otherwise; so fewer repeats, whose
    interval is wider, never make it hold more easily. The spread is taken between the extreme
    means, which can only make it larger than a pre-chosen pair's: a conservative reading for a
    claim of no difference. Not measurable with one repeat.
    """
    require_columns(curves, ["sweep", "value", "depth", "modularity"], source="ablation_curves()",
                    caller="verdicts.fig6")
    check_curves(curves, caller="verdicts.fig6")
    items, statuses = [], []
    for sweep, frame in curves.groupby("sweep", sort=False):
        means = frame.groupby(["depth", "value"])["modularity"].mean().unstack("value")
        spread = means.max(axis=1) - means.min(axis=1)
        last = frame[frame["depth"] == frame["depth"].max()]
        values = {value: group["modularity"].to_numpy(float) for value, group in last.groupby("value")}
        cis = {value: mean_interval(q) for value, q in values.items()}
        highest, lowest = max(cis, key=lambda value: cis[value][0]), min(cis, key=lambda value: cis[value][0])
        gap = welch_interval(values[highest], values[lowest])[:3]
        statuses.append(equivalence_status(gap[1], gap[2], tolerance))
        ends = [min(cis), max(cis)]
        shown = ", ".join(f"{sweep} = {value}: {interval(*cis[value])}" for value in ends)
        items.append(f"{sweep} {ends[0]} → {ends[1]}: last-layer Q {shown} (spread {interval(*gap)}, Welch's; "
                     f"widest {number(spread.max())} at layer {spread.idxmax()})")
    units = curves.groupby(["sweep", "value"])["repeat"].nunique().min() if "repeat" in curves.columns else 1
    over = f"{INTERVALS} over {units} repeats" if units > 1 else "one repeat: no interval"
    measured = "; ".join(items) + f" ({over}; 'meet' = the spread's interval within ±{tolerance:g})."
    claim = ("the modularity curve is reliable across hyperparameters: for k from 3 to 11 and N from 200 to 5000 the "
             "curves keep their shape and converge in the last layers.")
    return Verdict("fig6", claim, measured, combine(statuses))


def fig7(agreement: pd.DataFrame) -> Verdict:
    """Fig. 7: the layer differences ``D_ij = |Q_i − Q_j|`` agree with linear CKA.

    Args:
        agreement: :func:`dynamic_graphs.figures.cka_agreement`'s per-repeat frame, or its
            :func:`~dynamic_graphs.figures.summarize_agreement`.

    Holds when the whole interval of the mean Spearman correlation of D with 1 − CKA lies above
    :data:`~dynamic_graphs.reports.verdicts.base.AGREEMENT` (0.5), does not hold when it lies
    entirely below 0.5, and partly holds when it contains 0.5 (a wide interval from few repeats
    gives "partly", not "does not hold"); not measurable with one repeat.
    """
    summary = summarize_agreement(agreement) if "spearman" in agreement.columns else agreement
    require_columns(summary, ["mean", "ci_low", "ci_high", "repeats"], source="summarize_agreement()",
                    caller="verdicts.fig7")
    row = summary.iloc[0]
    low, high = float(row.ci_low), float(row.ci_high)
    status = interval_status(low, high, AGREEMENT)
    pairs = f" over {int(agreement['pairs'].iloc[0])} layer pairs" if "pairs" in agreement.columns else ""
    size = f" of {int(agreement['n'].iloc[0])} images" if "n" in agreement.columns else ""
    over = f"95 % t-interval over {int(row.repeats)} repeats" if int(row.repeats) > 1 else "one repeat: no interval"
    measured = (f"Spearman ρ of D with 1 − CKA{pairs}, per disjoint sample{size}: "
                f"{interval(row['mean'], low, high)} ({over}; 'agrees' = the interval above {AGREEMENT:g}).")
    claim = ("the modularity difference D_ij = |Q_i − Q_j| shows the same layer blocks as linear CKA (ResNet152 "
             "and ResNet101 on CIFAR-10), from one number per layer.")
    return Verdict("fig7", claim, measured, status)


def asymptotics(frame: pd.DataFrame, *, tolerance: float = 0.01) -> Verdict:
    """The package's derivation: Q ≈ p_in − Σπ², and Q rises with N towards a k-independent limit.

    Args:
        frame: :func:`dynamic_graphs.figures.asymptotic_sweep`'s frame.
        tolerance: the largest abs(Q − (p_in − Σπ²)) that counts as "≈".

    Holds when every graph is within ``tolerance`` of p_in − Σπ² and, at every separation above 0,
    Q rises from the smallest to the largest N for every k (Welch's interval over repeats above 0)
    while the spread over k narrows; partly when only some of this holds. The rises are read from
    intervals; the deviation (the largest over all graphs, against ``tolerance``) and the narrowing
    of the spread over k (the range of the mean Q over k at the smallest and largest N) are read
    from point values.
    """
    require_columns(frame, ["separation", "n", "k", "modularity", "p_in", "sum_pi2", "limit"],
                    source="asymptotic_sweep()", caller="verdicts.asymptotics")
    deviation = float((frame["modularity"] - (frame["p_in"] - frame["sum_pi2"])).abs().max())
    small, large = frame["n"].min(), frame["n"].max()
    rise_parts, narrow_parts, rises = [], [], []
    for separation, group in frame[frame["separation"] > 0].groupby("separation"):
        q = {(n, k): g["modularity"].to_numpy(float) for (n, k), g in group.groupby(["n", "k"])}
        ks = sorted(group["k"].unique())
        rises = [welch_interval(q[large, k], q[small, k])[:3] for k in ks]
        rise_parts += [interval_status(*rise[1:]) for rise in rises]
        spread = {n: np.ptp([q[n, k].mean() for k in ks]) for n in (small, large)}
        narrow_parts.append(HOLDS if spread[large] < spread[small] else FAILS)
    status = combine([HOLDS if deviation <= tolerance else FAILS, *rise_parts, *narrow_parts])
    measured = f"max abs(Q − (p_in − Σπ²)) = {deviation:.4f} over {len(frame)} graphs (tolerance {tolerance:g})"
    if rises:  # the counts over every separation, then the largest in detail
        measured += (f"; from N = {small} to {large}, Q rises for {rise_parts.count(HOLDS)} of {len(rise_parts)} "
                     f"(separation, k) pairs and the spread over k narrows at {narrow_parts.count(HOLDS)} of "
                     f"{len(narrow_parts)} separations; at separation {separation:g} Q rises by "
                     f"{interval(*rises[0], signed=True)} (k = {ks[0]}) … {interval(*rises[-1], signed=True)} "
                     f"(k = {ks[-1]}), the spread over k falls {number(spread[small])} → {number(spread[large])}, "
                     f"and Q at N = {large} is {number(q[large, ks[0]].mean())} (k = {ks[0]}) against the limit "
                     f"estimate {number(float(group['limit'].iloc[0]))}")
    claim = ("Q = p_in − Σ(S_c/2W)² exactly, so Q ≈ p_in − Σπ² on k-NN graphs, and Q rises with N towards "
             "1 − R_1NN − Σπ² whatever k (docs/method.md, \"Asymptotics\"; the paper's own analysis is not "
             "reproduced).")
    return Verdict("asymptotics", claim, measured + f" ({INTERVALS}, Welch's, over repeats).", status)

