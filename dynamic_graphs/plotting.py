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


def plot_curve_grid(curves: pd.DataFrame, *, row: str = "dataset", col: str = "model", hue: str | None = "trained",
                    value: str = "modularity", panel_size: tuple[float, float] = (3.6, 2.8)):
    """A grid of curve panels (the paper's Fig. 3 layout: datasets as rows, models as columns).

    Each panel shows the mean line with a ±1 std band per ``hue`` group; panel titles give the
    model's test accuracy when the frame has a ``test_acc`` column.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    rows, cols = list(dict.fromkeys(curves[row])), list(dict.fromkeys(curves[col]))
    figure, axes = plt.subplots(len(rows), len(cols), squeeze=False, sharey=True,
                                figsize=(panel_size[0] * len(cols), panel_size[1] * len(rows)))
    for i, row_key in enumerate(rows):
        for j, col_key in enumerate(cols):
            ax = axes[i, j]
            panel = curves[(curves[row] == row_key) & (curves[col] == col_key)]
            groups = panel.groupby(hue, sort=False) if hue else [(None, panel)]
            for key, group in groups:
                label = _hue_label(hue, key, group)
                plot_curve(group, ax=ax, label=label, value=value)
            ax.set_title(f"{col_key}" if len(rows) == 1 else f"{col_key} · {row_key}", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"Q ({row_key})" if value == "modularity" else value)
    figure.tight_layout()
    return figure


def _hue_label(hue: str | None, key, group: pd.DataFrame) -> str | None:
    if hue is None:
        return None
    if hue == "trained":
        accuracy = group["test_acc"].iloc[0] if "test_acc" in group else float("nan")
        return f"trained ({accuracy:.1%} test acc.)" if key else "untrained"
    return f"{hue}={key}"


def plot_variant_curves(curves: pd.DataFrame, *, by: str = "variant", ax: matplotlib.axes.Axes | None = None,
                        title: str | None = None) -> matplotlib.axes.Axes:
    """One curve per ``by`` group on shared axes, labelled with its top-1 accuracy (Fig. 8's layout).

    Args:
        curves: stacked curves with a ``by`` column and, optionally, ``top1`` (%), as from
            :func:`evaluate_variants`.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for key, group in curves.groupby(by, sort=False):
        label = f"{key} ({group['top1'].iloc[0]:.2f} %)" if "top1" in group else str(key)
        plot_curve(group, ax=ax, label=label)
    ax.legend(fontsize=8, title="top-1", title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
