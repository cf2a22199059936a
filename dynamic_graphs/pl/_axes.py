"""Small helpers every plot shares: a new figure when no axes are given, and required-column checks
(:func:`dynamic_graphs.frames.require_columns`, shared with the figure functions)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..frames import require_columns  # noqa: F401  (re-exported for the plots)

__all__ = [
    "new_axes",
]

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
