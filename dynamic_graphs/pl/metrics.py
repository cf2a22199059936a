"""Plots of the block-cost study: each measure's unit scores against the cost of removing the unit."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._axes import new_axes, require_columns

__all__ = [
    "plot_block_costs",
    "plot_cost_correlations",
    "plot_layer_measures",
]

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure


def plot_block_costs(scores: pd.DataFrame, costs: pd.DataFrame, *, ncols: int = 3,
                     correlations: pd.DataFrame | None = None) -> matplotlib.figure.Figure:
    """One panel per measure: each removable unit's score (x) against its removal cost (y), coloured by stage.

    ``scores`` is :func:`dynamic_graphs.figures.metrics.block_scores`' frame, ``costs``
    :func:`~dynamic_graphs.figures.metrics.block_removal_costs`' of the same model; with
    ``correlations`` (:func:`~dynamic_graphs.figures.metrics.cost_correlations`) each panel's title
    gives its Spearman ρ and interval.
    """
    import matplotlib.pyplot as plt

    require_columns(scores, ["metric", "layer", "score", "stage"], source="block_scores()", caller="plot_block_costs")
    require_columns(costs, ["layer", "acc_drop"], source="block_removal_costs()", caller="plot_block_costs")
    metrics = list(dict.fromkeys(scores["metric"]))
    rows = -(-len(metrics) // ncols)
    figure, axes = plt.subplots(rows, ncols, figsize=(3.3 * ncols, 2.9 * rows), squeeze=False)
    drop = costs.set_index("layer")["acc_drop"]
    stages = sorted(scores["stage"].unique())
    colours = dict(zip(stages, plt.get_cmap("viridis")(np.linspace(0, 0.85, len(stages)))))
    rho = correlations.set_index("metric") if correlations is not None else None
    for ax, metric in zip(axes.flat, metrics):
        panel = scores[scores["metric"] == metric]
        for stage, group in panel.groupby("stage"):
            ax.scatter(group["score"], drop.loc[group["layer"]], s=18, color=colours[stage], label=f"stage {stage}")
        title = metric
        if rho is not None and metric in rho.index:
            row = rho.loc[metric]
            title += f"\nρ = {row['spearman']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("unit score", fontsize=8)
        ax.set_ylabel("accuracy drop (points)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def plot_cost_correlations(correlations: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                           title: str | None = None) -> matplotlib.axes.Axes:
    """Each measure's Spearman ρ with the removal cost, with its bootstrap interval, strongest on top.

    ``correlations`` is :func:`dynamic_graphs.figures.metrics.cost_correlations`' frame.
    """
    require_columns(correlations, ["metric", "spearman", "ci_low", "ci_high"], source="cost_correlations()",
                    caller="plot_cost_correlations")
    rows = correlations.sort_values("spearman")
    _, ax = new_axes(ax, (5.5, 0.45 * len(rows) + 1.2))
    y = np.arange(len(rows))
    ax.errorbar(rows["spearman"], y, xerr=[rows["spearman"] - rows["ci_low"], rows["ci_high"] - rows["spearman"]],
                fmt="o", color="tab:blue", capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, rows["metric"], fontsize=8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman ρ of the unit score with the accuracy drop", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


MEASURE_NAMES = {"modularity": "Q", "knn_accuracy": "k-NN accuracy", "linear_probe": "linear probe accuracy",
                 "separation_fuzziness": "separation fuzziness", "linear_cka_next": "CKA with the next layer",
                 "mutual_knn_next": "mutual k-NN with the next layer"}


def plot_layer_measures(frame: pd.DataFrame, measures: list[str] | None = None, *, col: str = "network",
                        panel_size: tuple[float, float] = (4.6, 2.6)) -> matplotlib.figure.Figure:
    """A row per measure and a column per network: each measure along the layers, mean ± 1 std over repeats.

    Args:
        frame: stacked layer measures with the label column ``col``, e.g.
            :func:`dynamic_graphs.figures.transfer_metrics`' (or :func:`dynamic_graphs.metrics.layer_metrics`'
            frames stacked with :func:`~dynamic_graphs.stack_curves`).
        measures: the columns to draw, one row each; None: those of :data:`MEASURE_NAMES` the frame has.
        col: the label column whose values get a column of panels, each with its own layer names.
        panel_size: inches per panel.

    Returns:
        The figure (:func:`~dynamic_graphs.pl.plot_curve_grid` of the measures stacked as ``measure``).
    """
    from ..frames import stack_curves
    from .curves import plot_curve_grid

    measures = measures or [name for name in MEASURE_NAMES if name in frame.columns]
    require_columns(frame, [col, *measures], source="stacked layer measures", caller="plot_layer_measures")
    by_measure = {MEASURE_NAMES.get(name, name): frame.drop(columns=[m for m in measures if m != name])
                  .rename(columns={name: "value"}) for name in measures}
    for part in by_measure.values():
        part.attrs = frame.attrs
    figure = plot_curve_grid(stack_curves(by_measure, name="measure"), row="measure", col=col, hue=None,
                             value="value", panel_size=panel_size)
    for ax in figure.axes:  # "value (measure=Q)" -> "Q"
        label = ax.get_ylabel()
        if label.startswith("value (measure="):
            ax.set_ylabel(label[len("value (measure="):-1])
        ax.set_title(ax.get_title().replace(f"{col}=", "").replace("measure=", ""), fontsize=10)
    return figure
