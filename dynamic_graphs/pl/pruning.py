"""Plots of pruning experiments: Fig. 9's removal effects and Table 1's accuracy against size."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ._axes import new_axes, require_columns

__all__ = [
    "plot_pruning_comparison",
    "plot_removal_effects",
]

if TYPE_CHECKING:
    import matplotlib.axes


def plot_removal_effects(table: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                         title: str | None = None) -> matplotlib.axes.Axes:
    """Fig. 9's bars: per variant, ΔQ of the last layer upwards and the accuracy lost (ΔAcc, points)
    downwards, each printed on its bar. ``table`` is :func:`dynamic_graphs.figures.evaluate_variants`' (its
    ``unpruned`` row is left out). With several recovery seeds (a ``recovery_seed`` column), each
    bar is the mean over the variant's runs with a ±1 std error bar, its runs drawn as dots.

    Raises:
        ValueError: a variant has several rows that no ``recovery_seed`` column tells apart.
    """
    import numpy as np

    require_columns(table, ["variant", "removed", "delta_q", "delta_acc"], source="evaluate_variants()",
                    caller="plot_removal_effects")
    rows = table[table["variant"] != "unpruned"]
    runs = rows.groupby("variant", sort=False).size()
    if (runs > 1).any() and "recovery_seed" not in rows:
        raise ValueError(f"plot_removal_effects: the variants {runs[runs > 1].index.tolist()} have several rows and "
                         "no recovery_seed column tells their runs apart; pass one run per variant, or "
                         "evaluate_variants(..., recovery_seeds=[...])'s table.")
    grouped = rows.groupby("variant", sort=False)
    means, spreads = grouped[["delta_q", "delta_acc"]].mean(), grouped[["delta_q", "delta_acc"]].std()
    several = bool((runs > 1).any())
    _, ax = new_axes(ax, (1.3 * len(means) + 2.5, 3.8))
    x = np.arange(len(means))
    bars = {}
    for column, offset, sign, label, color in (("delta_q", -0.2, 1, "ΔQ (last layer)", "tab:blue"),
                                               ("delta_acc", 0.2, -1, "ΔAcc (points, drawn downwards)", "tab:orange")):
        error = spreads[column].to_numpy() if several else None
        bars[column] = ax.bar(x + offset, sign * means[column], 0.4, yerr=error, capsize=3 if several else 0,
                              label=label, color=color)
        if several:
            for position, (_, group) in zip(x, grouped):
                ax.plot(np.full(len(group), position + offset), sign * group[column], "k.", markersize=4)
        decimals = 3 if column == "delta_q" else 2
        texts = [f"{m:.{decimals}f}" + (f" ± {sd:.{decimals}f}" if several and np.isfinite(sd) else "")
                 for m, sd in zip(means[column], spreads[column])]
        ax.bar_label(bars[column], labels=texts, fontsize=7 if several else 8)
    ax.axhline(0, color="black", linewidth=0.8)
    removed = grouped["removed"].first()
    seeds = f", {runs.max()} seeds" if several else ""
    ax.set_xticks(x, [f"{v}\n({removed[v]} removed{seeds})" for v in means.index], fontsize=8)
    ax.set_ylabel("unpruned − pruned")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_pruning_comparison(table: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                            title: str | None = None) -> matplotlib.axes.Axes:
    """Table 1 as a scatter: top-1 against the fraction of parameters removed, one marker per run,
    coloured by method (from :func:`dynamic_graphs.figures.compare_pruning`)."""
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
