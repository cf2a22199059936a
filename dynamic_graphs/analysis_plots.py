"""Plots for :mod:`dynamic_graphs.analysis`: layer × layer heatmaps, t-SNE panels, ablation and asymptotics panels.

Single-panel functions draw on ``ax`` (a new one when None) and return it; multi-panel ones
return the figure.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from .curve import summarize_curve
from .plotting import plot_curve

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

__all__ = ["plot_ablation", "plot_asymptotics", "plot_convergence", "plot_decomposition", "plot_embedding",
           "plot_embeddings", "plot_layer_matrix"]


def _new_ax(ax, figsize: tuple[float, float]):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _require(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise KeyError(f"The frame lacks columns {missing}; pass the frame from {source}.")


def plot_layer_matrix(matrix: Any, *, ax: matplotlib.axes.Axes | None = None, title: str | None = None,
                      cmap: str = "Blues", vmin: float | None = None, vmax: float | None = None,
                      tick_step: int | None = None, colorbar_label: str | None = None) -> matplotlib.axes.Axes:
    """A layer × layer matrix (D_ij = |Q_i − Q_j| or linear CKA) as a seaborn heatmap, layers numbered from 1.

    Args:
        matrix: (L, L) array, e.g. from :func:`modularity_difference` or :func:`cka_matrix`.
        ax: axes to draw on.
        title: panel title.
        cmap: colormap (the paper's D maps use Blues).
        vmin: lower end of the colour scale (None: the data's minimum).
        vmax: upper end of the colour scale (None: the data's maximum).
        tick_step: label every ``tick_step``-th layer; None picks about 6 labels.
        colorbar_label: label of the colour bar.
    """
    import seaborn as sns

    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (layers × layers), got shape {matrix.shape}.")
    size = matrix.shape[0]
    ax = _new_ax(ax, (4.6, 4))
    step = tick_step or max(1, math.ceil(size / 6))
    numbered = pd.DataFrame(matrix, index=range(1, size + 1), columns=range(1, size + 1))
    sns.heatmap(numbered, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, square=True, xticklabels=step,
                yticklabels=step, cbar_kws={"label": colorbar_label} if colorbar_label else None)
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    ax.tick_params(axis="y", rotation=0)
    if title:
        ax.set_title(title)
    return ax


def _class_palette(labels: Sequence[Any]) -> dict[Any, Any]:
    import seaborn as sns

    classes = sorted(pd.unique(np.asarray(labels)))
    colours = sns.color_palette("tab10" if len(classes) <= 10 else "husl", len(classes))
    return dict(zip(classes, colours))


def plot_embedding(frame: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                   palette: dict[Any, Any] | None = None, class_names: Sequence[str] | None = None,
                   title: str | None = None, point_size: float = 6, legend: bool = False) -> matplotlib.axes.Axes:
    """One layer's 2-D embedding, points coloured by class.

    Args:
        frame: rows of one layer from :func:`layer_embeddings` (``x``, ``y``, ``label``).
        ax: axes to draw on.
        palette: ``{label: colour}``; None gives tab10 (husl beyond 10 classes).
        class_names: names indexed by label, for the legend.
        title: panel title.
        point_size: marker area.
        legend: draw a class legend on this panel.
    """
    _require(frame, ["x", "y", "label"], "layer_embeddings()")
    ax = _new_ax(ax, (3, 3))
    palette = palette or _class_palette(frame["label"])
    for label, group in frame.groupby("label", sort=True):
        name = class_names[label] if class_names is not None else str(label)
        ax.scatter(group["x"], group["y"], s=point_size, color=palette[label], label=name, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        ax.legend(markerscale=2, fontsize=7, frameon=False)
    return ax


def plot_embeddings(frame: pd.DataFrame, *, class_names: Sequence[str] | None = None, ncols: int = 4,
                    curve: pd.DataFrame | None = None, panel_size: float = 2.6) -> matplotlib.figure.Figure:
    """The paper's Fig. 1: a t-SNE panel per layer and, given ``curve``, the modularity curve as a last panel.

    Args:
        frame: from :func:`layer_embeddings`.
        class_names: names indexed by label, for the shared legend.
        ncols: panels per row.
        curve: a :func:`modularity_curve` frame of the same layers; adds a curve panel and each
            layer's mean Q to its panel title.
        panel_size: width and height of one panel in inches.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    _require(frame, ["layer", "depth", "x", "y", "label"], "layer_embeddings()")
    if ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols}.")
    layers = frame[["depth", "layer"]].drop_duplicates().sort_values("depth")
    means = summarize_curve(curve).set_index("depth")["mean"] if curve is not None else None
    panels = len(layers) + (curve is not None)
    rows = math.ceil(panels / ncols)
    figure, axes = plt.subplots(rows, min(ncols, panels), squeeze=False,
                                figsize=(panel_size * min(ncols, panels), panel_size * rows))
    axes = axes.ravel()
    palette = _class_palette(frame["label"])
    for ax, (depth, layer) in zip(axes, layers.itertuples(index=False)):
        title = f"Layer {depth} ({layer})"
        if means is not None and depth in means.index:
            title += f"\nQ = {means[depth]:.2f}"
        plot_embedding(frame[frame["depth"] == depth], ax=ax, palette=palette, class_names=class_names, title=title)
    if curve is not None:
        plot_curve(curve, ax=axes[len(layers)])
        axes[len(layers)].set_title("modularity curve", fontsize=10)
    for ax in axes[panels:]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncol=min(len(names), 10), markerscale=2, frameon=False,
                  bbox_to_anchor=(0.5, 0.0), fontsize=8)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


def plot_ablation(frame: pd.DataFrame, *, sweep: str = "k", ax: matplotlib.axes.Axes | None = None,
                  cmap: str = "viridis") -> matplotlib.axes.Axes:
    """One ablation panel: the mean ± std curve for each swept value, coloured along ``cmap``.

    Args:
        frame: from :func:`ablation_curves`.
        sweep: ``"k"`` or ``"n"``.
        ax: axes to draw on.
        cmap: sequential colormap from the smallest to the largest value.
    """
    import matplotlib.pyplot as plt

    _require(frame, ["sweep", "value", "depth", "modularity"], "ablation_curves()")
    panel = frame[frame["sweep"] == sweep]
    if panel.empty:
        raise ValueError(f"The frame has no {sweep!r} sweep; sweeps present: {sorted(frame['sweep'].unique())}.")
    ax = _new_ax(ax, (5, 3.5))
    values = sorted(panel["value"].unique())
    colours = plt.get_cmap(cmap)(np.linspace(0, 0.9, len(values)))
    for value, colour in zip(values, colours):
        plot_curve(panel[panel["value"] == value], ax=ax, label=f"{sweep} = {value}", color=colour)
    other = "n" if sweep == "k" else "k"
    fixed = panel[other].unique()
    ax.set_title(f"{sweep} sweep ({other} = {fixed[0]})" if len(fixed) == 1 else f"{sweep} sweep", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_decomposition(frame: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                       hue: str = "k") -> matplotlib.axes.Axes:
    """Q against p_in − Σπ² for every graph, with the identity line (PAPER.md §4 D1).

    Args:
        frame: with ``modularity``, ``p_in`` and ``sum_pi2``, e.g. from :func:`asymptotic_sweep`.
        ax: axes to draw on.
        hue: column that colours the points.
    """
    import seaborn as sns

    _require(frame, ["modularity", "p_in", "sum_pi2", hue], "asymptotic_sweep()")
    ax = _new_ax(ax, (4, 4))
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
    ax.legend(title=hue, fontsize=8)
    return ax


def plot_convergence(frame: pd.DataFrame, *, separation: float | None = None,
                     ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
    """Q against n for each k (mean ± std over repeats), with the estimated limit 1 − R_1NN − Σπ² (D2).

    Args:
        frame: from :func:`asymptotic_sweep`.
        separation: which separation to draw; needed when the frame has several.
        ax: axes to draw on.
    """
    import seaborn as sns
    from matplotlib.ticker import NullLocator, ScalarFormatter

    _require(frame, ["separation", "n", "k", "modularity", "limit"], "asymptotic_sweep()")
    present = sorted(frame["separation"].unique())
    if separation is None:
        if len(present) > 1:
            raise ValueError(f"The frame has several separations {present}; pass separation=one of them.")
        separation = present[0]
    panel = frame[np.isclose(frame["separation"], separation)]
    if panel.empty:
        raise ValueError(f"No rows with separation {separation}; the frame has {present}.")
    ax = _new_ax(ax, (4.5, 3.5))
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
    ax.legend(title="k", fontsize=8)
    return ax


def plot_asymptotics(frame: pd.DataFrame, *, panel_size: float = 3.8) -> matplotlib.figure.Figure:
    """The asymptotics figure: the D1 scatter, then Q against n for each separation in the frame.

    Args:
        frame: from :func:`asymptotic_sweep`.
        panel_size: width and height of one panel in inches.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    _require(frame, ["separation"], "asymptotic_sweep()")
    separations = sorted(frame["separation"].unique())
    figure, axes = plt.subplots(1, 1 + len(separations), figsize=(panel_size * (1 + len(separations)), panel_size),
                                squeeze=False)
    plot_decomposition(frame, ax=axes[0, 0], hue="separation" if len(separations) > 1 else "k")
    for ax, separation in zip(axes[0, 1:], separations):
        plot_convergence(frame, separation=separation, ax=ax)
    figure.tight_layout()
    return figure
