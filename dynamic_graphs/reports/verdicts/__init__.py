"""One verdict per report: the paper's claim, what this run measured (with intervals) and whether it holds.

Each function reads the objects its notebook already computes and returns a :class:`Verdict`. A
status comes from an interval or a test wherever the run gives one: an interval that lies beyond
the claim's threshold *holds* (or *does not hold*), one that contains it *partly holds*, and a run
without an interval (one repeat, one seed) is *not measurable* where the claim needs one. A claim
of no difference (the curves of Fig. 6 meet, untrained curves of Fig. 3 do not rise) holds only
when the whole interval lies within a stated tolerance, so a wide interval never makes it hold.
The exceptions, read from point values, are named where they are used: the asymptotics' largest
deviation from its identity (against ``tolerance``) and the narrowing of its spread over k.
Intervals are 95 % Student-t intervals (:func:`dynamic_graphs.frames.t_interval`) unless a
sentence says otherwise. The paper is Lu et al., ECCV 2022 (arXiv 2111.12485).

:mod:`.base` holds :class:`Verdict` and how numbers and statuses are written; :mod:`.curves` the
verdicts of Figs. 1-7 and of the asymptotics; :mod:`.data_axis` that of the data axis;
:mod:`.pruning` those of Figs. 8-9, Table 1 and the metrics report. :func:`verdict` finds a notebook's function by name.
"""
from __future__ import annotations

from typing import Any, Callable

from ...utils import lookup
from .base import STATUSES, Verdict
from .curves import asymptotics, fig1, fig2, fig3, fig4, fig5, fig6, fig7
from .data_axis import data_axis
from .pruning import fig8, fig9, metrics, table1, transfer

__all__ = [
    "STATUSES",
    "VERDICTS",
    "Verdict",
    "asymptotics",
    "data_axis",
    "fig1",
    "fig2",
    "fig3",
    "fig4",
    "fig5",
    "fig6",
    "fig7",
    "fig8",
    "fig9",
    "metrics",
    "table1",
    "transfer",
    "verdict",
]

VERDICTS: dict[str, Callable[..., Verdict]] = {
    "asymptotics": asymptotics, "data_axis": data_axis, "fig1": fig1, "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5,
    "fig6": fig6, "fig7": fig7, "fig8": fig8, "fig9": fig9, "metrics": metrics, "table1": table1,
    "transfer": transfer,
}


def verdict(figure: str, *objects: Any, **options: Any) -> Verdict:
    """The verdict of the notebook ``figure`` (a report name such as ``"fig3-seeds"`` uses ``"fig3"``'s).

    Args:
        figure: a key of :data:`VERDICTS`, any case, with or without a report tag after ``-``.
        *objects, **options: what that function takes (see each function).

    Raises:
        UnknownNameError: (a ``KeyError``) no such notebook; the message suggests close names.

    Example:
        >>> import pandas as pd
        >>> verdict("Fig7", pd.DataFrame({"spearman": [0.8, 0.9, 0.85]})).status
        'holds'
    """
    stem = figure.partition("-")[0] if isinstance(figure, str) else figure
    key = lookup(stem if isinstance(stem, str) and stem.strip().lower() in VERDICTS else figure, VERDICTS,
                 what="report verdict")
    return VERDICTS[key](*objects, **options)
