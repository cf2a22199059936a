"""The verdict of the data axis: does the curve stop rising sooner when the model outgrows its data?

Two numbers per curve are read (:mod:`dynamic_graphs.figures.data_axis`): the plateau share (the
share of its layer gains whose paired interval reaches 0) and the rise depth (the relative depth by
which it has made 90 % of its rise). The claim predicts a larger share and a smaller rise depth on
less data. The share also grows when every gain is smaller (a flatter curve whose gains the repeats
no longer resolve); the rise depth does not, so the two together tell a plateau from a flatter curve.
"""
from __future__ import annotations

import pandas as pd

from ...figures.data_axis import ALL_CLASSES, cell_name
from ...frames import require_columns
from .base import INTERVALS, Verdict, combine, interval, interval_status, number, welch_interval

__all__ = ["data_axis"]

# measure: its name in the text, and the sign of the change (less data − more data) that the claim predicts
_MEASURES = {"plateau_share": ("share", 1), "rise_depth": ("rise depth", -1)}


def _change(at_less: pd.Series, at_more: pd.Series, sign: int) -> tuple[str, str | None]:
    """How a measure moves from the cell with more data to the one with less: the text, and a status
    from Welch's interval across training seeds where both cells have two or more (else None)."""
    less, more = at_less.dropna().to_numpy(float), at_more.dropna().to_numpy(float)
    if not (less.size and more.size):
        return "not measured", None
    diff, low, high, _ = welch_interval(less, more)
    seeds = min(less.size, more.size)
    if seeds >= 2:
        status = interval_status(low, high) if sign > 0 else interval_status(-high, -low)
        text = f"{interval(diff, low, high, 2, signed=True)}, {seeds} seeds"
    else:
        text, status = f"{number(diff, 2, signed=True)}, one seed", None
    return f"{number(more.mean(), 2)} → {number(less.mean(), 2)} ({text})", status


def _compare(less: pd.DataFrame, more: pd.DataFrame) -> tuple[str, list[str]]:
    """Both measures from the cell with more data (``more``) to the one with less: text and statuses."""
    parts, statuses = [], []
    for measure, (name, sign) in _MEASURES.items():
        text, status = _change(less[measure], more[measure], sign)
        parts.append(f"{name} {text}")
        statuses += [status] if status is not None else []
    return ", ".join(parts), statuses


def data_axis(shares: pd.DataFrame, cells: pd.DataFrame | None = None) -> Verdict:
    """The data axis: does the curve stop rising sooner as the training set shrinks (and as the classes fall)?

    Args:
        shares: :func:`dynamic_graphs.figures.plateau_shares` of :func:`~dynamic_graphs.figures.data_axis_curves`
            (one row per curve: ``model``, ``train_size``, ``classes``, ``train_seed``,
            ``plateau_share``, ``rise_depth``, ``gains``).
        cells: :func:`dynamic_graphs.figures.data_axis_cells` of the same grid, to name the cells not
            trained yet (left out of ``shares``); None: ``shares`` is the whole grid.

    Per model, on every class, each measure from its largest training set to its smallest: the
    plateau share should rise and the rise depth fall. With a smaller class set, its cell at its
    largest training set is compared with every class's in the same way. A change has Welch's
    interval across training seeds where both cells have two seeds or more (and then counts
    towards the status), else it is a point value. The status combines the changes with an
    interval: holds when each supports the claim, does not hold when each contradicts it, partly
    otherwise, not measurable when no change has the seeds.
    """
    require_columns(shares, ["model", "train_size", "classes", "plateau_share", "rise_depth", "gains"],
                    source="plateau_shares()", caller="verdicts.data_axis")
    every = shares[shares["classes"] == ALL_CLASSES]
    if every["train_size"].nunique() < 2:
        raise ValueError("verdicts.data_axis compares training-set sizes on every class; the curves hold "
                         f"{sorted(every['train_size'].unique())}: give train_sizes at least two sizes.")
    largest = {model: group[group["train_size"] == group["train_size"].max()]
               for model, group in every.groupby("model", sort=False)}
    parts, statuses, counted, alone = [], [], [], []
    for model, group in every.groupby("model", sort=False):
        small, large = group["train_size"].min(), group["train_size"].max()
        if small == large:
            alone.append(f"{model} ({small:,} images only)")
            continue
        text, found = _compare(group[group["train_size"] == small], largest[model])
        parts.append(f"{model} from {large:,} to {small:,} images: {text}")
        statuses += found
        counted += [model] if found else []
    measured = ("each measure from a model's largest training set to its smallest (a change has Welch's "
                f"{INTERVALS[:-1]} across training seeds where both cells have two or more): " + "; ".join(parts))
    if alone:
        measured += f"; with one training-set size, not compared: {', '.join(alone)}"
    for classes, group in shares[shares["classes"] != ALL_CLASSES].groupby("classes", sort=False):
        compared = []
        for model, fewer in group.groupby("model", sort=False):
            if model in largest:
                text, found = _compare(fewer[fewer["train_size"] == fewer["train_size"].max()], largest[model])
                compared.append(f"{model} {text}")
                statuses += found
                counted += [f"{model} on classes {classes}"] if found else []
        if compared:
            measured += f". From every class to classes {classes} alone (each at its largest training set): " + \
                "; ".join(compared)
    if cells is not None and not cells["trained"].all():
        untrained = cells[~cells["trained"]]
        measured += (f". Not trained yet, so not read ({len(untrained)} of {len(cells)} cells): " + ", ".join(
            cell_name(row.model, row.train_seed, row.train_size, row.classes) for row in untrained.itertuples()))
    read = (f"The status reads the changes with an interval ({', '.join(dict.fromkeys(counted))}); a point value, "
            "from one seed, is not counted" if statuses else
            "No change has two seeds in both cells: the status is not measured")
    claim = ("the plateau arises when the model is large relative to its data: the same architecture's curve stops "
             "rising over more of its layers (a larger plateau share, a smaller rise depth) when it is trained on "
             "fewer images or fewer classes.")
    return Verdict("data_axis", claim, f"{measured}. {read}.", combine(statuses))

