"""Plots of modularity curves; each function draws on ``ax`` (a new one when None) and returns it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import matplotlib.axes


def plot_curve(curve: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None, label: str | None = None,
               value: str = "modularity", color=None) -> matplotlib.axes.Axes:
    """Mean ``value`` per layer depth as a line, with a ±1 std band over repeats (the paper's style).

    Args:
        curve: frame from :func:`modularity_curve` (columns ``depth``, ``repeat`` and ``value``).
        ax: axes to draw on.
        label: legend entry for this line.
        value: column to plot.
        color: line colour (matplotlib spec).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    sns.lineplot(data=curve, x="depth", y=value, errorbar="sd", marker="o", markersize=4,
                 label=label, color=color, ax=ax)
    ax.set_xlabel("layer")
    ax.set_ylabel("Q" if value == "modularity" else value)
    ax.grid(alpha=0.3)
    if label is None and ax.get_legend() is not None:
        ax.get_legend().remove()
    return ax
