"""Panels of the curve's sensitivity: the k and N ablation (arXiv 2111.12485, Fig. 6) and the asymptotics.

:func:`plot_ablation` reads the stacked curves of :func:`ablation_curves` and keeps them apart by
their label columns (see :mod:`dynamic_graphs.frames`); the other three read the frame of
:func:`asymptotic_sweep`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..frames import check_curves
from ._axes import fit_outside, new_axes, outside_legend, require_columns
from .curves import plot_curve

__all__ = [
    "plot_ablation",
    "plot_asymptotics",
    "plot_convergence",
    "plot_decomposition",
]

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

_SWEPT = ("sweep", "value", "n", "k")  # the ablation's own label columns: the legend names the others


def plot_ablation(frame: pd.DataFrame, *, sweep: str = "k", ax: matplotlib.axes.Axes | None = None,
                  cmap: str = "viridis") -> matplotlib.axes.Axes:
    """One ablation panel: the mean ± std curve for each swept value, coloured along ``cmap``.

    Curves are told apart by every label column of the frame (:func:`curve_labels`): when the
    frame stacks ablations that differ in another label (say ``model``), each gets its own line,
    named by that label; a frame stacking curves that no column tells apart is refused.

    Args:
        frame: from :func:`ablation_curves`.
        sweep: ``"k"`` or ``"n"``.
        ax: axes to draw on.
        cmap: sequential colormap from the smallest to the largest value.

    Returns:
        The axes.

    Raises:
        KeyError: a column of :func:`ablation_curves` is missing.
        ValueError: no ``sweep`` rows, or curves that no label column tells apart.
    """
    import matplotlib.pyplot as plt

    require_columns(frame, ["sweep", "value", "depth", "modularity"], source="ablation_curves()",
                    caller="plot_ablation")
    panel = frame[frame["sweep"] == sweep]
    if panel.empty:
        raise ValueError(f"The frame has no {sweep!r} sweep; sweeps present: {sorted(frame['sweep'].unique())}.")
    labels = check_curves(panel, caller="plot_ablation")
    others = [column for column in labels if column not in _SWEPT and panel[column].nunique(dropna=False) > 1]
    keys = ["value", *[column for column in labels if column != "value"]]
    curves = sorted(panel.groupby(keys, sort=False, dropna=False), key=lambda item: item[0][0])
    _, ax = new_axes(ax, (5, 3.5))
    values = sorted(panel["value"].unique())
    colours = dict(zip(values, plt.get_cmap(cmap)(np.linspace(0, 0.9, len(values)))))
    for key, curve in curves:
        named = dict(zip(keys, key))
        extra = ", ".join(f"{column}={named[column]}" for column in others)
        plot_curve(curve, ax=ax, label=f"{sweep} = {named['value']}" + (f" ({extra})" if extra else ""),
                   color=colours[named["value"]])
    other = "n" if sweep == "k" else "k"
    fixed = panel[other].unique() if other in panel.columns else []
    ax.set_title(f"{sweep} sweep ({other} = {fixed[0]})" if len(fixed) == 1 else f"{sweep} sweep", fontsize=10)
    outside_legend(ax)
    return ax


def plot_decomposition(frame: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                       hue: str = "k") -> matplotlib.axes.Axes:
    """Q against p_in − Σπ² for every graph, with the identity line (the decomposition Q ≈ p_in − Σ_c π_c²).

    Args:
        frame: with ``modularity``, ``p_in`` and ``sum_pi2``, e.g. from :func:`asymptotic_sweep`.
        ax: axes to draw on.
        hue: column that colours the points.

    Returns:
        The axes.
    """
    import seaborn as sns

    require_columns(frame, ["modularity", "p_in", "sum_pi2", hue], source="asymptotic_sweep()",
                    caller="plot_decomposition")
    _, ax = new_axes(ax, (4, 4))
    predicted = frame["p_in"] - frame["sum_pi2"]
    sns.scatterplot(x=predicted, y=frame["modularity"], hue=frame[hue], palette="viridis", s=18, ax=ax,
                    legend="full")
    low = float(min(predicted.min(), frame["modularity"].min()))
    high = float(max(predicted.max(), frame["modularity"].max()))
    ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="identity")
    gap = float((frame["modularity"] - predicted).abs().max())
    ax.set_xlabel("p_in − Σ π_c²")
    ax.set_ylabel("Q")
    ax.set_title(f"D1: max |Q − (p_in − Σπ²)| = {gap:.4f}", fontsize=10)
    ax.grid(alpha=0.3)
    outside_legend(ax, title=hue)
    return ax


def plot_convergence(frame: pd.DataFrame, *, separation: float | None = None,
                     ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
    """Q against n for each k (mean ± std over repeats), with the estimated limit 1 − R_1NN − Σπ².

    Args:
        frame: from :func:`asymptotic_sweep`.
        separation: which separation to draw; needed when the frame has several.
        ax: axes to draw on.

    Returns:
        The axes.
    """
    import seaborn as sns
    from matplotlib.ticker import NullLocator, ScalarFormatter

    require_columns(frame, ["separation", "n", "k", "modularity", "limit"], source="asymptotic_sweep()",
                    caller="plot_convergence")
    present = sorted(frame["separation"].unique())
    if separation is None:
        if len(present) > 1:
            raise ValueError(f"The frame has several separations {present}; pass separation=one of them.")
        separation = present[0]
    panel = frame[np.isclose(frame["separation"], separation)]
    if panel.empty:
        raise ValueError(f"No rows with separation {separation}; the frame has {present}.")
    _, ax = new_axes(ax, (4.5, 3.5))
    sns.lineplot(data=panel, x="n", y="modularity", hue="k", palette="viridis", errorbar="sd", marker="o",
                 markersize=4, ax=ax, legend="full")
    ax.axhline(panel["limit"].iloc[0], color="black", ls="--", lw=1, label="1 − R_1NN − Σπ² (largest n)")
    ax.set_xscale("log")
    ax.set_xticks(sorted(panel["n"].unique()))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylabel("Q")
    ax.set_title(f"separation {separation:g}", fontsize=10)
    ax.grid(alpha=0.3)
    outside_legend(ax, title="k")
    return ax


def plot_asymptotics(frame: pd.DataFrame, *, panel_size: float = 3.8) -> matplotlib.figure.Figure:
    """The asymptotics figure: the decomposition scatter, then Q against n for each separation in the frame.

    Args:
        frame: from :func:`asymptotic_sweep`.
        panel_size: width and height of one panel in inches.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    require_columns(frame, ["separation"], source="asymptotic_sweep()", caller="plot_asymptotics")
    separations = sorted(frame["separation"].unique())
    figure, axes = plt.subplots(1, 1 + len(separations), figsize=(panel_size * (1 + len(separations)), panel_size),
                                squeeze=False)
    plot_decomposition(frame, ax=axes[0, 0], hue="separation" if len(separations) > 1 else "k")
    for ax, separation in zip(axes[0, 1:], separations):
        plot_convergence(frame, separation=separation, ax=ax)
    for ax in axes[0, 1:-1]:  # the convergence panels share one k legend: the last panel's
        ax.get_legend().remove()
    legends = [axes[0, 0].get_legend(), axes[0, -1].get_legend()]
    figure.canvas.draw()  # legend sizes are known once drawn
    fit_outside(figure, legends, columns=2)
    return figure
