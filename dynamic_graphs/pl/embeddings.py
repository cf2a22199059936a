"""t-SNE panels of layer representations, the paper's Fig. 1 (arXiv 2111.12485)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from ..curve import summarize_curve
from ..frames import single_curve
from ..utils import check_positive_int
from ._axes import new_axes, require_columns
from .curves import plot_curve
from .graphs import class_colors, class_name

__all__ = [
    "plot_embedding",
    "plot_embeddings",
]

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure


def plot_embedding(frame: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                   palette: dict[Any, Any] | None = None, class_names: Sequence[str] | None = None,
                   title: str | None = None, point_size: float = 6, legend: bool = False) -> matplotlib.axes.Axes:
    """One layer's 2-D embedding, points coloured by class.

    Args:
        frame: rows of one layer from :func:`layer_embeddings` (``x``, ``y``, ``label``).
        ax: axes to draw on.
        palette: ``{label: colour}``; None gives :func:`class_colors` (tab10, husl beyond 10 classes).
        class_names: names indexed by label, for the legend.
        title: panel title.
        point_size: marker area.
        legend: draw a class legend on this panel.

    Returns:
        The axes.
    """
    require_columns(frame, ["x", "y", "label"], source="layer_embeddings()", caller="plot_embedding")
    _, ax = new_axes(ax, (3, 3))
    palette = palette or class_colors(frame["label"])
    for label, group in frame.groupby("label", sort=True):
        ax.scatter(group["x"], group["y"], s=point_size, color=palette[label], label=class_name(label, class_names),
                   linewidths=0)
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
        curve: a :func:`modularity_curve` frame of one curve over the same layers; adds a curve
            panel and each layer's mean Q to its panel title. A frame stacking several curves is
            refused (select one first).
        panel_size: width and height of one panel in inches.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    require_columns(frame, ["layer", "depth", "x", "y", "label"], source="layer_embeddings()",
                    caller="plot_embeddings")
    ncols = check_positive_int("ncols", ncols)
    if curve is not None:
        curve = single_curve(curve, caller="plot_embeddings")
    layers = frame[["depth", "layer"]].drop_duplicates().sort_values("depth")
    means = summarize_curve(curve).set_index("depth")["mean"] if curve is not None else None
    panels = len(layers) + (curve is not None)
    rows = math.ceil(panels / ncols)
    figure, axes = plt.subplots(rows, min(ncols, panels), squeeze=False,
                                figsize=(panel_size * min(ncols, panels), panel_size * rows))
    axes = axes.ravel()
    palette = class_colors(frame["label"])
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
