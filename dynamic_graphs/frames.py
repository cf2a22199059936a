"""The stacked-curve contract: which columns of a curve frame tell its curves apart.

A curve frame has one row per (repeat, layer) of each curve it holds. Its columns are of three kinds:

- **coordinates**: ``layer``, ``depth`` and ``repeat``, where a row sits within its curve;
- **measures**: the numbers measured there (``modularity``, ``edges``, the Leiden view, a
  per-curve ``test_acc``...): every float column, plus the integer ones in :data:`MEASURES`;
- **labels**: everything else (``model``, ``dataset``, ``trained``, ``attack``, ``epoch``,
  ``variant``, ``k``, ``n``...), plus any column named in ``frame.attrs["labels"]``.

Every reader (summaries, gains, redundancy, differences, plots) groups by the labels, or refuses
when it needs one curve and gets several. A frame in which two rows share their labels, layer and
repeat holds curves that no column tells apart (two curves concatenated without a label); every
reader refuses it with an error that says so, rather than averaging them together.
:func:`stack_curves` is the one way the package stacks curves, and the way to stack your own.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COORDINATES",
    "INTERVAL_LEVEL",
    "MEASURES",
    "check_curves",
    "iter_curves",
    "require_columns",
    "single_curve",
    "summarize_by_curve",
    "t_interval",
    "welch_interval",
]

COORDINATES = ("layer", "depth", "repeat")
# Integer-valued measures; every float column is a measure too. Extend per frame with attrs["measures"].
# ``repeats`` is the count of values behind a summary row (summarize_by_curve), not a label.
MEASURES = frozenset({"modularity", "edges", "leiden_modularity", "leiden_communities", "leiden_nmi",
                      "leiden_ari", "test_acc", "repeats"})


def _declared(frame: pd.DataFrame, key: str) -> list[str]:
    return [column for column in frame.attrs.get(key, ()) if column in frame.columns]


def curve_labels(frame: pd.DataFrame) -> list[str]:
    """The columns that tell the curves of ``frame`` apart, declared ones first.

    Example:
        >>> frame = pd.DataFrame({"layer": ["a"], "depth": [1], "repeat": [0], "modularity": [0.5],
        ...                       "model": ["resnet20"], "k": [3]})
        >>> curve_labels(frame)
        ['model', 'k']
    """
    declared = _declared(frame, "labels")
    measures = MEASURES | set(_declared(frame, "measures"))
    inferred = [column for column in frame.columns
                if column not in COORDINATES and column not in measures and column not in declared
                and not pd.api.types.is_float_dtype(frame[column])]
    return declared + inferred


def stack_curves(curves: Mapping[Any, pd.DataFrame], name: str | Sequence[str]) -> pd.DataFrame:
    """Curves stacked into one frame, each tagged with its key in the column(s) ``name``.

    Args:
        curves: ``{label: curve frame}``; with several names, each label is a tuple of values.
        name: the label column, or one column per element of the keys' tuples.

    Returns:
        The rows of every curve, with the new label column(s) first; ``attrs["labels"]`` records
        the new and the inner frames' label columns, so readers keep the curves apart.

    Raises:
        ValueError: no curves, a label column the frames already have, or a key of the wrong length.

    Example:
        >>> a = pd.DataFrame({"layer": ["x", "y"], "depth": [1, 2], "repeat": [0, 0], "modularity": [0.1, 0.2]})
        >>> stack_curves({"base": a, "pruned": a}, name="variant")[["variant", "layer"]].values.tolist()
        [['base', 'x'], ['base', 'y'], ['pruned', 'x'], ['pruned', 'y']]
    """
    names = [name] if isinstance(name, str) else list(name)
    if not curves:
        raise ValueError("stack_curves needs at least one curve; got an empty mapping.")
    frames, inner_labels, inner_measures = [], [], []
    for key, frame in curves.items():
        values = key if len(names) > 1 else (key,)
        if not isinstance(values, tuple) or len(values) != len(names):
            raise ValueError(f"stack_curves: key {key!r} does not give one value per label column {names}.")
        clash = [column for column in names if column in frame.columns]
        if clash:
            raise ValueError(f"stack_curves: the curve for {key!r} already has the column(s) {clash}; "
                             "choose another name.")
        inner_labels += [c for c in curve_labels(frame) if c not in inner_labels]
        inner_measures += [c for c in _declared(frame, "measures") if c not in inner_measures]
        frames.append(frame.assign(**dict(zip(names, values))))
    stacked = pd.concat(frames, ignore_index=True)
    stacked = stacked[names + [column for column in stacked.columns if column not in names]]
    stacked.attrs = {"labels": names + inner_labels, "measures": inner_measures}
    return stacked


def check_curves(frame: Any, *, value: str = "modularity", caller: str = "this function") -> list[str]:
    """Refuse a frame that is not a curve frame, or that stacks curves no column tells apart.

    Returns:
        The frame's label columns (:func:`curve_labels`).

    Raises:
        TypeError: not a DataFrame.
        KeyError: ``layer``, ``depth`` or ``value`` missing.
        ValueError: two rows with the same labels, layer and repeat.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{caller} needs a curve DataFrame (from modularity_curve), got {type(frame).__name__}.")
    missing = [column for column in ("layer", "depth", value) if column not in frame.columns]
    if missing:
        raise KeyError(f"{caller}: the frame lacks the column(s) {missing}; pass a frame from "
                       f"modularity_curve() or a figure function (its columns: {list(frame.columns)}).")
    labels = curve_labels(frame)
    position = ["layer"] + (["repeat"] if "repeat" in frame.columns else [])
    repeated = frame.duplicated(labels + position, keep=False)
    if repeated.any():
        first = frame.loc[repeated, labels + position].iloc[0].to_dict()
        told = f"the label columns {labels}" if labels else "no label column"
        raise ValueError(
            f"{caller}: {int(repeated.sum())} rows share their {' and '.join(position)} with another row of "
            f"the same curve (first: {first}); the frame stacks curves that {told} can tell apart, and they "
            "would be averaged together. Stack curves with dg.stack_curves({label: curve, ...}, name=...) "
            "or add a column that tells them apart.")
    return labels


def iter_curves(frame: pd.DataFrame, *, value: str = "modularity",
                caller: str = "this function") -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Yield ``(labels, curve)`` for each curve of ``frame``, in order of first appearance."""
    labels = check_curves(frame, value=value, caller=caller)
    if not labels:
        yield {}, frame
        return
    for key, curve in frame.groupby(labels, sort=False, dropna=False):
        yield dict(zip(labels, key if isinstance(key, tuple) else (key,))), curve


def single_curve(frame: pd.DataFrame, *, value: str = "modularity", caller: str = "this function") -> pd.DataFrame:
    """``frame`` itself when it holds one curve; otherwise an error naming the label columns to select on."""
    curves = list(iter_curves(frame, value=value, caller=caller))
    if len(curves) > 1:
        labels = list(curves[0][0])
        shown = "; ".join(", ".join(f"{k}={v!r}" for k, v in key.items()) for key, _ in curves[:4])
        more = f"; and {len(curves) - 4} more" if len(curves) > 4 else ""
        raise ValueError(f"{caller} reads one curve, but the frame holds {len(curves)}, told apart by {labels} "
                         f"({shown}{more}). Select one first, e.g. frame[frame[{labels[0]!r}] == ...].")
    return curves[0][1]


INTERVAL_LEVEL = 0.95  # coverage of the intervals in ci_low/ci_high and gain_low/gain_high


def t_interval(mean, std, count, *, level: float = INTERVAL_LEVEL):
    """Two-sided Student-t interval ``mean ± t_{(1+level)/2, count-1} · std / sqrt(count)``.

    The interval of a mean over ``count`` independent draws whose sample standard deviation
    (ddof=1) is ``std``; NaN where ``count`` < 2 (one draw has no spread to estimate). Works
    elementwise on arrays or Series.

    Returns:
        ``(low, high)``, as float arrays (or floats for scalar input).

    Example:
        >>> low, high = t_interval(0.5, 0.1, 5)
        >>> round(float(low), 4), round(float(high), 4)
        (0.3758, 0.6242)
    """
    from scipy import stats

    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    count = np.asarray(count, dtype=float)
    enough = count >= 2
    dof = np.where(enough, count - 1, 1.0)
    half = np.where(enough, stats.t.ppf(0.5 + level / 2, dof) * std / np.sqrt(np.where(enough, count, 1.0)), np.nan)
    return mean - half, mean + half


def summarize_by_curve(frame: pd.DataFrame, *, value: str = "modularity", caller: str = "summarize_curve",
                       stats: Sequence[str] = ("mean", "std")) -> pd.DataFrame:
    """Per-curve, per-layer statistics of ``value`` over repeats: one row per (labels..., layer).

    Besides ``stats``, every summary has ``repeats`` (the repeats with a defined ``value``) and
    the 95 % interval of the mean, ``ci_low`` and ``ci_high``: the repeats are disjoint samples
    of images, so the Student-t interval ``mean ± t_{0.975, r-1} · std / sqrt(r)``
    (:func:`t_interval`; docs/method.md, "Intervals"), NaN with one repeat. Every reader of a
    summary (curves, gains, plots) takes its interval from here.
    """
    labels = check_curves(frame, value=value, caller=caller)
    keys = labels + ["depth", "layer"]
    grouped = frame.groupby(keys, sort=False, dropna=False)[value]
    summary = grouped.agg(list(stats)).reset_index()
    mean, std, count = grouped.mean().to_numpy(), grouped.std().to_numpy(), grouped.count().to_numpy()
    low, high = t_interval(mean, std, count)
    summary = summary.assign(repeats=count, ci_low=low, ci_high=high)
    summary.attrs = {"labels": labels}
    return summary


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, source: str, caller: str = "this plot") -> None:
    """Refuse a frame that is not a DataFrame, or lacks some of ``columns`` (plots and summaries of tables).

    Args:
        frame: what the caller was given.
        columns: the columns it reads.
        source: where such a frame comes from, for the message (e.g. ``"training_dynamics()"``).
        caller: the reader's name, for the message.

    Raises:
        TypeError: not a DataFrame.
        KeyError: columns missing; the message names them and ``source``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{caller} needs a DataFrame (from {source}), got {type(frame).__name__}.")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KeyError(f"{caller}: the frame lacks the column(s) {missing}; pass the frame from {source} "
                       f"(its columns: {list(frame.columns)}).")


def welch_interval(a: Any, b: Any) -> tuple[float, float, float, float]:
    """mean(a) − mean(b) with Welch's interval and two-sided p-value (independent samples of unequal variance).

    The interval's coverage is :data:`INTERVAL_LEVEL` (95 %); the p-value is
    that of ``scipy.stats.ttest_ind(a, b, equal_var=False)``, from the same t statistic and
    Welch-Satterthwaite degrees of freedom.

    Returns:
        ``(difference, low, high, p_value)``; the interval and p-value are NaN when either sample
        has fewer than two finite values. Two samples without spread give a zero-width interval
        and p = 0 (NaN when their means are equal too).

    Example:
        >>> diff, low, high, p = welch_interval([1.0, 1.2, 1.1], [0.5, 0.7, 0.6])
        >>> round(diff, 3), round(low, 3), round(high, 3), round(p, 4)
        (0.5, 0.273, 0.727, 0.0036)
    """
    from scipy import stats

    a, b = (np.asarray(x, dtype=float) for x in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return diff, math.nan, math.nan, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        return diff, diff, diff, (0.0 if diff != 0 else math.nan)
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    scale = math.sqrt(va + vb)
    half = float(stats.t.ppf(0.5 + INTERVAL_LEVEL / 2, dof) * scale)
    p_value = float(2 * stats.t.sf(abs(diff) / scale, dof))
    return diff, diff - half, diff + half, p_value
