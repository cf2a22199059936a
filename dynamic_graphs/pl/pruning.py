"""Plots of pruning experiments: Fig. 9's removal effects and Table 1's accuracy against size."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ._axes import new_axes, require_columns

if TYPE_CHECKING:
    import matplotlib.axes


def plot_removal_effects(table: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                         title: str | None = None) -> matplotlib.axes.Axes:
    """Fig. 9's bars: per variant, ΔQ of the last layer upwards and the accuracy lost (ΔAcc, points)
    downwards, each printed on its bar. ``table`` is :func:`dynamic_graphs.evaluate_variants`' (its
    ``unpruned`` row is left out)."""
    import numpy as np

    require_columns(table, ["variant", "removed", "delta_q", "delta_acc"], source="evaluate_variants()",
                    caller="plot_removal_effects")
    rows = table[table["variant"] != "unpruned"]
    _, ax = new_axes(ax, (1.3 * len(rows) + 2.5, 3.8))
    x = np.arange(len(rows))
    q_bars = ax.bar(x - 0.2, rows["delta_q"], 0.4, label="ΔQ (last layer)", color="tab:blue")
    acc_bars = ax.bar(x + 0.2, -rows["delta_acc"], 0.4, label="ΔAcc (points, drawn downwards)", color="tab:orange")
    ax.bar_label(q_bars, labels=[f"{v:.3f}" for v in rows["delta_q"]], fontsize=8)
    ax.bar_label(acc_bars, labels=[f"{v:.2f}" for v in rows["delta_acc"]], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [f"{v}\n({n} removed)" for v, n in zip(rows["variant"], rows["removed"])], fontsize=8)
    ax.set_ylabel("unpruned − pruned")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_pruning_comparison(table: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                            title: str | None = None) -> matplotlib.axes.Axes:
    """Table 1 as a scatter: top-1 against the fraction of parameters removed, one marker per run,
    coloured by method (from :func:`dynamic_graphs.compare_pruning`)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    require_columns(table, ["method", "params_reduction", "top1"], source="compare_pruning()",
                    caller="plot_pruning_comparison")
    _, ax = new_axes(ax, (6, 4))
    sns.scatterplot(data=table, x="params_reduction", y="top1", hue="method", style="method", s=70, ax=ax)
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("parameters removed")
    ax.set_ylabel("top-1 (%)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
