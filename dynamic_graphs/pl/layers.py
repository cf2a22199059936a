"""Layer × layer matrices: D_ij = |Q_i − Q_j| and linear CKA (arXiv 2111.12485, Fig. 7)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._axes import new_axes

__all__ = [
    "plot_layer_matrix",
]

if TYPE_CHECKING:
    import matplotlib.axes


def plot_layer_matrix(matrix: Any, *, ax: matplotlib.axes.Axes | None = None, title: str | None = None,
                      cmap: str = "Blues", vmin: float | None = None, vmax: float | None = None,
                      tick_step: int | None = None, colorbar_label: str | None = None) -> matplotlib.axes.Axes:
    """A layer × layer matrix (``D_ij = |Q_i − Q_j|`` or linear CKA) as a seaborn heatmap, layers numbered from 1.

    Args:
        matrix: (L, L) array, e.g. from :func:`modularity_difference` or :func:`cka_matrix`.
        ax: axes to draw on.
        title: panel title.
        cmap: colormap (the paper's D maps use Blues).
        vmin: lower end of the colour scale (None: the data's minimum).
        vmax: upper end of the colour scale (None: the data's maximum).
        tick_step: label every ``tick_step``-th layer; None picks about 6 labels.
        colorbar_label: label of the colour bar.

    Returns:
        The axes.
    """
    import seaborn as sns

    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (layers × layers), got shape {matrix.shape}.")
    size = matrix.shape[0]
    _, ax = new_axes(ax, (4.6, 4))
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
