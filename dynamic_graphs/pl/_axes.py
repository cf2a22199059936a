"""Small helpers every plot shares: a new figure when no axes are given, and required-column checks."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import pandas as pd

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure


def new_axes(ax: matplotlib.axes.Axes | None, figsize: tuple[float, float]
             ) -> tuple[matplotlib.figure.Figure, matplotlib.axes.Axes]:
    """``(figure, ax)``: ``ax`` and its figure when given, else a new figure of ``figsize`` with one axes."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, source: str, caller: str = "this plot") -> None:
    """Refuse a frame that is not a DataFrame, or lacks some of ``columns``.

    Args:
        frame: what the plot was given.
        columns: the columns it reads.
        source: where such a frame comes from, for the message (e.g. ``"training_dynamics()"``).
        caller: the plot's name, for the message.

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
