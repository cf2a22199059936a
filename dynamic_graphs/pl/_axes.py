"""Small helpers every plot shares: a new figure when no axes are given, required-column checks
(:func:`dynamic_graphs.frames.require_columns`, shared with the figure functions), an x-axis that
names the layers, and legends outside the data."""
from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Iterable

from ..frames import require_columns  # noqa: F401  (re-exported for the plots)

__all__ = [
    "MAX_LAYER_LABELS",
    "fit_outside",
    "layer_axis",
    "layer_ticks",
    "new_axes",
    "outside_legend",
]

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure
    import matplotlib.legend
    import pandas as pd

# Named ticks per panel before they are thinned: 7 pt names, rotated, stay 0.2 in apart on a 3.6 in panel.
MAX_LAYER_LABELS = 16
_DISAGREE = object()  # two curves on one axes put different layers at one depth
# depth -> layer name of every curve drawn on an axes so far, so that lines drawn one by one name the axis together
_LAYER_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def new_axes(ax: matplotlib.axes.Axes | None, figsize: tuple[float, float]
             ) -> tuple[matplotlib.figure.Figure, matplotlib.axes.Axes]:
    """``(figure, ax)``: ``ax`` and its figure when given, else a new figure of ``figsize`` with one axes."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def layer_ticks(depths: Iterable[int], max_labels: int = MAX_LAYER_LABELS) -> list[int]:
    """The depths that get a named tick: all of them up to ``max_labels``, else evenly spaced ones
    from the first, always with the last (a deep model's output layer).

    Example:
        >>> layer_ticks(range(1, 11))
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        >>> layer_ticks(range(1, 56))  # ResNet110's 55 probe layers
        [1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 55]
    """
    depths = sorted(set(depths))
    if len(depths) <= max_labels:
        return depths
    step = math.ceil((len(depths) - 1) / (max_labels - 1))
    positions = list(range(0, len(depths), step))
    if positions[-1] != len(depths) - 1:  # the last layer is always named, in place of a neighbour too close to it
        positions = positions[:-1] if len(depths) - 1 - positions[-1] <= step / 2 else positions
        positions.append(len(depths) - 1)
    shown = [depths[position] for position in positions]
    return shown


def layer_axis(ax: matplotlib.axes.Axes, curves: pd.DataFrame, *, max_labels: int = MAX_LAYER_LABELS) -> None:
    """Integer ticks at the curves' depths, named by their layers (the ``layer`` column) where they agree.

    Each call adds the ``depth``/``layer`` pairs of ``curves`` to those of the curves drawn on ``ax``
    before, so that lines drawn one by one name the axis together. Every layer gets a minor tick;
    at most ``max_labels`` of them (:func:`layer_ticks`) get a name, rotated 90°. Where two
    curves on ``ax`` put different layers at one depth (a pruned variant beside its parent), the
    axis shows integer depths instead, which every curve shares.
    """
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator, ScalarFormatter

    names = _LAYER_NAMES.setdefault(ax, {})
    for depth, layer in curves[["depth", "layer"]].drop_duplicates().itertuples(index=False):
        whole = float(depth).is_integer()
        key = int(depth) if whole else depth
        names[key] = layer if whole and names.get(key, layer) == layer else _DISAGREE
    if names and all(name is not _DISAGREE for name in names.values()):
        shown = layer_ticks(names, max_labels)
        ax.set_xticks(shown, labels=[str(names[depth]) for depth in shown], rotation=90, fontsize=7)
        ax.xaxis.set_minor_locator(FixedLocator(sorted(names)))
        return
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelrotation=0)


def outside_legend(ax: matplotlib.axes.Axes, handles: list | None = None, labels: list[str] | None = None, *,
                   fontsize: float = 8, **options) -> matplotlib.legend.Legend:
    """A frameless legend just right of ``ax``, outside its data area, so that it hides no point;
    ``savefig(bbox_inches="tight")`` keeps it, and :func:`fit_outside` makes room for it in the figure."""
    entries = [] if handles is None else [handles, labels]
    return ax.legend(*entries, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
                     fontsize=fontsize, **options)


_TICK_ROOM = 0.45  # inches under an axes that numbered ticks and an x label take, which the panel sizes assume


def fit_outside(figure: matplotlib.figure.Figure, legends: list[matplotlib.legend.Legend], *,
                columns: int = 1, rows: int = 1) -> None:
    """Enlarge ``figure`` for what lies outside its axes, then lay it out tightly, so that the panels
    keep their size: the widest of ``legends`` (right of their axes) once per figure column that
    holds one (``columns``), and named layer ticks taller than numbers, once per figure row (``rows``).
    """
    visible = [ax for ax in figure.axes if ax.get_visible()]
    dpi = figure.dpi
    wide = max((legend.get_window_extent().width / dpi for legend in legends), default=0.0)
    below = max((ax.get_window_extent().y0 - ax.xaxis.get_tightbbox().y0) / dpi for ax in visible) if visible else 0
    width, height = figure.get_size_inches()
    figure.set_size_inches(width + columns * (wide + 0.15 if legends else 0.0),
                           height + rows * max(0.0, below - _TICK_ROOM))
    figure.tight_layout()
