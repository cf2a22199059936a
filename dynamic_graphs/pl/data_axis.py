"""The data-axis figure: how much of each curve stops rising, against the training-set size."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._axes import outside_legend, require_columns

__all__ = ["plot_plateau_shares"]

if TYPE_CHECKING:
    import matplotlib.figure


def plot_plateau_shares(summary: pd.DataFrame, *, panel_size: tuple[float, float] = (4.2, 3.0)
                        ) -> matplotlib.figure.Figure:
    """The plateau share against the training images (log scale), a line per model, a panel per class set.

    Each point is a cell's mean over its training seeds with its 95 % t-interval as an error bar
    (none with one seed), from :func:`dynamic_graphs.figures.plateau_summary`; its test accuracy is
    written beside it, in its line's colour. The models sit side by side around each size.
    """
    import matplotlib.pyplot as plt

    require_columns(summary, ["model", "train_size", "classes", "plateau_share", "share_low", "share_high",
                              "test_acc"], source="plateau_summary()", caller="plot_plateau_shares")
    class_sets = list(dict.fromkeys(summary["classes"]))
    figure, axes = plt.subplots(1, len(class_sets), squeeze=False, sharey=True,
                                figsize=(panel_size[0] * len(class_sets), panel_size[1]))
    models = list(dict.fromkeys(summary["model"]))
    for ax, classes in zip(axes.flat, class_sets):
        panel = summary[summary["classes"] == classes]
        for model, line in panel.groupby("model", sort=False):
            line = line.sort_values("train_size")
            # models side by side at each size (a few % on the log axis), so that their bars and labels do not overlap
            dodge = 10 ** (0.04 * (models.index(model) - (len(models) - 1) / 2))
            below = (line["plateau_share"] - line["share_low"]).to_numpy()
            above = (line["share_high"] - line["plateau_share"]).to_numpy()
            drawn = ax.errorbar(line["train_size"] * dodge, line["plateau_share"],
                                yerr=np.nan_to_num(np.vstack([below, above])), marker="o", capsize=3, label=model)
            for size, share, accuracy in zip(line["train_size"] * dodge, line["plateau_share"], line["test_acc"]):
                ax.annotate(f"{100 * accuracy:.0f} %", (size, share), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=drawn.lines[0].get_color())
        ax.set_xscale("log")
        sizes = sorted(panel["train_size"].unique())
        ax.set_xticks(sizes, [f"{size:,}" for size in sizes])  # the grid's sizes, not powers of ten
        ax.minorticks_off()
        ax.set_xlabel("training images")
        ax.set_title("every class" if classes == "all" else f"classes {classes}", fontsize=10)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("share of gains that stop rising")
    outside_legend(axes.flat[-1])
    figure.tight_layout()
    return figure
