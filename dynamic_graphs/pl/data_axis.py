"""The data-axis figure: how much of each curve stops rising (or where it has risen), against the training-set size."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..utils import lookup
from ._axes import outside_legend, require_columns

__all__ = ["plot_plateau_shares"]

if TYPE_CHECKING:
    import matplotlib.figure


MEASURES = {  # value: its interval's columns and the axis label
    "plateau_share": ("share_low", "share_high", "share of gains that stop rising"),
    "rise_depth": ("rise_low", "rise_high", "relative depth of 90 % of the rise"),
}


def plot_plateau_shares(summary: pd.DataFrame, *, value: str = "plateau_share", accuracy: bool = True,
                        panel_size: tuple[float, float] = (4.2, 3.0)) -> matplotlib.figure.Figure:
    """A data-axis measure against the training images (log scale): a line per model, a panel per class set.

    Each point is a cell's mean over its training seeds with its 95 % t-interval as an error bar
    (none with one seed), from :func:`dynamic_graphs.figures.plateau_summary`; with ``accuracy``, its
    test accuracy is written beside it, in its line's colour. The models sit side by side around each size.

    Args:
        summary: :func:`dynamic_graphs.figures.plateau_summary`'s frame.
        value: ``"plateau_share"`` or ``"rise_depth"`` (:func:`dynamic_graphs.figures.rise_depth`).
        accuracy: write each cell's test accuracy beside its point (once is enough where a report
            draws both measures).
        panel_size: inches per panel.
    """
    import matplotlib.pyplot as plt

    value = lookup(value, MEASURES, what="value")
    low_column, high_column, label = MEASURES[value]
    require_columns(summary, ["model", "train_size", "classes", value, low_column, high_column, "test_acc"],
                    source="plateau_summary()", caller="plot_plateau_shares")
    class_sets = list(dict.fromkeys(summary["classes"]))
    figure, axes = plt.subplots(1, len(class_sets), squeeze=False, sharey=True,
                                figsize=(panel_size[0] * len(class_sets), panel_size[1]))
    models = list(dict.fromkeys(summary["model"]))
    handles = {}  # every model's line, for one legend: a class set may hold fewer models than the grid
    for ax, classes in zip(axes.flat, class_sets):
        panel = summary[summary["classes"] == classes]
        for model, line in panel.groupby("model", sort=False):
            line = line.sort_values("train_size")
            # models side by side at each size (a few % on the log axis), so that their bars and labels do not overlap
            dodge = 10 ** (0.04 * (models.index(model) - (len(models) - 1) / 2))
            below = (line[value] - line[low_column]).to_numpy()
            above = (line[high_column] - line[value]).to_numpy()
            drawn = ax.errorbar(line["train_size"] * dodge, line[value],
                                yerr=np.nan_to_num(np.vstack([below, above])), marker="o", capsize=3,
                                color=f"C{models.index(model)}", label=model)
            handles.setdefault(model, drawn)
            labels = zip(line["train_size"] * dodge, line[value], line["test_acc"]) if accuracy else ()
            # a label on the side its model is dodged to (the middle one above), so that neighbours' do not overlap
            side = np.sign(models.index(model) - (len(models) - 1) / 2)
            for size, share, top1 in labels:
                ax.annotate(f"{100 * top1:.0f} %", (size, share), textcoords="offset points", xytext=(5 * side, 5),
                            ha={-1: "right", 0: "center", 1: "left"}[side], fontsize=7,
                            color=drawn.lines[0].get_color())
        ax.set_xscale("log")
        sizes = sorted(panel["train_size"].unique())
        ax.set_xticks(sizes, [f"{size:,}" for size in sizes])  # the grid's sizes, not powers of ten
        ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)  # one size alone would otherwise zoom into the dodge
        ax.minorticks_off()
        ax.set_xlabel("training images")
        ax.set_title("every class" if classes == "all" else f"classes {classes}", fontsize=10)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel(label)
    outside_legend(axes.flat[-1], list(handles.values()), list(handles))
    figure.tight_layout()
    return figure
