"""Plots of modularity curves: one curve or several, grids of them, training dynamics, the adversarial figure.

Every function keeps the curves of a stacked frame apart by its label columns
(:mod:`dynamic_graphs.frames`): a line is drawn for one curve only, never for an average of several,
and a frame whose curves no column tells apart is refused.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ..attacks import CLEAN, attack_label
from ..frames import check_curves, iter_curves, single_curve, summarize_by_curve, t_interval
from ..utils import lookup
from ._axes import new_axes, require_columns

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

__all__ = ["plot_adversarial_curves", "plot_curve", "plot_curve_grid", "plot_training_dynamics",
           "plot_variant_curves"]


def _curve_names(keys: list[dict[str, Any]], label: str | None) -> list[str | None]:
    """Legend entries for curves with label values ``keys``: ``label`` for one curve; for several, the
    values that differ between them (``attack=fgsm, communities=true``), after ``label`` when given."""
    if len(keys) == 1:
        return [label]
    varying = [column for column in keys[0] if len({repr(key[column]) for key in keys}) > 1]
    names = [", ".join(f"{column}={key[column]}" for column in varying) for key in keys]
    return [f"{label}: {name}" if label else name for name in names]


def plot_curve(curve: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None, label: str | None = None,
               value: str = "modularity", color=None, band: str = "sd") -> matplotlib.axes.Axes:
    """Mean ``value`` per layer depth as a line, with a ±1 std band over repeats (the paper's style)
    or the 95 % interval of the mean.

    A frame that stacks several curves (told apart by its label columns, see
    :func:`~dynamic_graphs.frames.curve_labels`) gets one line per curve, named by the label values
    that differ between them; curves are never averaged together.

    Args:
        curve: frame from :func:`~dynamic_graphs.modularity_curve` or a figure function (columns
            ``layer``, ``depth``, ``repeat`` and ``value``).
        ax: axes to draw on; a new figure when None.
        label: legend entry for this line (with several curves, a prefix to theirs).
        value: column to plot.
        color: line colour (matplotlib spec); by default each line takes the axes' next colour.
        band: ``"sd"``, mean ± 1 std over repeats (the paper's style), or ``"ci"``, the 95 %
            t-interval over repeats, ``ci_low``..``ci_high`` of :func:`~dynamic_graphs.summarize_curve`
            (docs/method.md, "Intervals"; no band with one repeat).

    Returns:
        The axes.

    Raises:
        ValueError: the frame stacks curves that no column tells apart.
        UnknownNameError: (a ``KeyError``) an unknown ``band``.
    """
    import seaborn as sns

    band = lookup(band, BANDS, what="band")
    errorbar = "sd" if band == "sd" else _t_band
    _, ax = new_axes(ax, (5, 3.5))
    curves = list(iter_curves(curve, value=value, caller="plot_curve"))
    names = _curve_names([key for key, _ in curves], label)
    for (_, frame), name in zip(curves, names):
        sns.lineplot(data=frame, x="depth", y=value, errorbar=errorbar, marker="o", markersize=4,
                     label=name, color=color, ax=ax)
    ax.set_xlabel("layer")
    ax.set_ylabel("Q" if value == "modularity" else value)
    ax.grid(alpha=0.3)
    if all(name is None for name in names) and ax.get_legend() is not None:
        ax.get_legend().remove()
    return ax


BANDS = ("sd", "ci")


def _t_band(values: pd.Series) -> tuple[float, float]:
    """The 95 % t-interval of the mean of one layer's values over repeats (as in summarize_curve)."""
    values = pd.Series(values).dropna()
    low, high = t_interval(values.mean(), values.std(), len(values))
    return float(low), float(high)


def _line(group: pd.DataFrame, value: str, caller: str) -> pd.DataFrame:
    """``group`` when it is one curve; else the frames error, naming the label columns still mixed in it."""
    return single_curve(group, value=value, caller=f"{caller}: each line")


def plot_curve_grid(curves: pd.DataFrame, *, row: str = "dataset", col: str = "model", hue: str | None = "trained",
                    over: str | None = None, value: str = "modularity", col_wrap: int | None = None,
                    panel_size: tuple[float, float] = (3.6, 2.8)) -> matplotlib.figure.Figure:
    """A grid of curve panels (Lu et al. 2022, Fig. 3's layout: datasets as rows, models as columns).

    Each panel shows the mean line with a ±1 std band per ``hue`` group; panel titles give the
    model's test accuracy when the frame has a ``test_acc`` column. With ``over`` (a label column
    such as ``"train_seed"``), the curves that differ only in it are drawn together: each one's
    mean over repeats as a thin line, and their mean with a ±1 std band *across* them (the spread
    between trained models, :func:`~dynamic_graphs.summarize_seeds`); a group with one value of
    ``over`` is drawn as without it. With one ``row`` value, ``col_wrap`` wraps the columns into
    rows of that many panels (six models as two rows of three, the paper's VGGs above its ResNets).

    Raises:
        KeyError: ``row``, ``col``, ``hue`` or ``over`` is not a column.
        ValueError: ``col_wrap`` is not a positive integer, or the frame has several ``row`` values.
        ValueError: a line would still mix several curves (a label column other than ``row``,
            ``col``, ``hue`` and ``over`` varies within it); select them first or choose other columns.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    check_curves(curves, value=value, caller="plot_curve_grid")
    require_columns(curves, [c for c in (row, col, hue, over) if c], source="model_curves()",
                    caller="plot_curve_grid")
    rows, cols = list(dict.fromkeys(curves[row])), list(dict.fromkeys(curves[col]))
    panels = [(row_key, col_key) for row_key in rows for col_key in cols]
    width = _wrap_width(col_wrap, len(cols), rows, row)
    height = -(-len(panels) // width)
    figure, axes = plt.subplots(height, width, squeeze=False, sharey=True,
                                figsize=(panel_size[0] * width, panel_size[1] * height))
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for index, (row_key, col_key) in enumerate(panels):
        j = index % width
        ax = axes.flat[index]
        panel = curves[(curves[row] == row_key) & (curves[col] == col_key)]
        groups = panel.groupby(hue, sort=False) if hue else [(None, panel)]
        for key, group in groups:
            label = _hue_label(hue, key, group, over)
            if over is not None and group[over].nunique(dropna=False) > 1:
                _plot_across(group, over, ax=ax, label=label, value=value)
            else:
                plot_curve(_line(group, value, "plot_curve_grid"), ax=ax, label=label, value=value)
        if ax.get_legend() is not None:  # small, and placed where it hides the fewest points
            ax.legend(fontsize=7, loc="best")
        ax.set_title(f"{col_key}" if len(rows) == 1 else f"{col_key} · {row_key}", fontsize=10)
        if j == 0:
            ax.set_ylabel(f"Q ({row_key})" if value == "modularity" else value)
    figure.tight_layout()
    return figure


def _wrap_width(col_wrap: int | None, n_cols: int, rows: list, row: str) -> int:
    """Panels per figure row: every column without ``col_wrap``; at most ``col_wrap`` with one ``row`` value."""
    if col_wrap is None:
        return n_cols
    if isinstance(col_wrap, bool) or not isinstance(col_wrap, int) or col_wrap < 1:
        raise ValueError(f"plot_curve_grid: col_wrap must be a positive integer or None, not {col_wrap!r}.")
    if len(rows) > 1:
        raise ValueError(f"plot_curve_grid: col_wrap wraps the panels of one {row!r} value, but the frame has "
                         f"{len(rows)} ({rows}); select one, or pass col_wrap=None for a row each.")
    return min(col_wrap, n_cols)


def _plot_across(group: pd.DataFrame, over: str, *, ax, label: str | None, value: str,
                 caller: str = "plot_curve_grid") -> None:
    """The curves of ``group`` that differ in ``over``: thin per-curve means, their mean ± 1 std across them."""
    from ..curve import summarize_seeds

    spread = summarize_seeds(group, column=over, value=value)
    mixed = [column for column in spread.attrs["labels"] if spread[column].nunique(dropna=False) > 1]
    if mixed:
        raise ValueError(f"{caller}: each line pools the curves that differ in {over!r} only, but {mixed} "
                         "also vary within it; select them first or choose other columns.")
    (line,) = ax.plot(spread["depth"], spread["mean"], marker="o", markersize=4, label=label)
    ax.fill_between(spread["depth"], spread["mean"] - spread["std"], spread["mean"] + spread["std"],
                    color=line.get_color(), alpha=0.2, linewidth=0)
    for _, curve in summarize_by_curve(group, value=value).groupby(over, sort=False):
        ax.plot(curve["depth"], curve["mean"], color=line.get_color(), alpha=0.35, linewidth=0.8)
    ax.set_xlabel("layer")
    ax.grid(alpha=0.3)
    if label is not None:
        ax.legend()


def _hue_label(hue: str | None, key, group: pd.DataFrame, over: str | None = None) -> str | None:
    if hue is None:
        return None
    if hue != "trained":
        return f"{hue}={key}"
    if not key:
        return "untrained"
    if "test_acc" not in group:
        return "trained"
    # One accuracy per trained model: per value of ``over`` when the line pools several.
    accuracy = group.groupby(over, sort=False)["test_acc"].first() if over in group else group["test_acc"].iloc[:1]
    if len(accuracy) > 1:
        return f"trained ({accuracy.mean():.1%} ± {accuracy.std():.1%}, {len(accuracy)} seeds)"
    return f"trained ({accuracy.iloc[0]:.1%} test acc.)"


def plot_variant_curves(curves: pd.DataFrame, *, by: str = "variant", over: str | None = "recovery_seed",
                        ax: matplotlib.axes.Axes | None = None, title: str | None = None) -> matplotlib.axes.Axes:
    """One curve per ``by`` group on shared axes, labelled with its top-1 accuracy (Lu et al. 2022, Fig. 8's layout).

    Args:
        curves: stacked curves with a ``by`` column and, optionally, ``top1`` (%), as from
            :func:`~dynamic_graphs.figures.evaluate_variants`.
        over: where the frame has this column (``evaluate_variants(..., recovery_seeds=[...])``'s
            ``recovery_seed``), a group's curves that differ in it only are drawn together: each
            run's mean as a thin line, their mean with a ±1 std band across runs, and the label
            gives the mean ± std of their top-1. None: such a group is refused.

    Raises:
        KeyError: ``by`` is not a column.
        ValueError: a ``by`` group still holds several curves (another label column varies within it).
    """
    check_curves(curves, caller="plot_variant_curves")
    require_columns(curves, [by], source="evaluate_variants()", caller="plot_variant_curves")
    over = over if over is not None and over in curves.columns else None
    _, ax = new_axes(ax, (6.5, 4))
    for key, group in curves.groupby(by, sort=False):
        if over is not None and group[over].nunique(dropna=False) > 1:
            accuracy = group.groupby(over, sort=False)["top1"].first() if "top1" in group else None
            label = str(key) if accuracy is None else \
                f"{key} ({accuracy.mean():.2f} ± {accuracy.std():.2f} %, {len(accuracy)} seeds)"
            _plot_across(group, over, ax=ax, label=label, value="modularity", caller="plot_variant_curves")
            continue
        label = f"{key} ({group['top1'].iloc[0]:.2f} %)" if "top1" in group else str(key)
        plot_curve(_line(group, "modularity", "plot_variant_curves"), ax=ax, label=label)
    ax.legend(fontsize=8, title="top-1", title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_training_dynamics(frame: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None,
                           accuracy: bool = True, title: str | None = None) -> matplotlib.axes.Axes:
    """One line of Q per probe layer ("L1", "L2", ...) against the epoch, and the test accuracy.

    The paper's layout (Lu et al. 2022, Fig. 4): y is "Q / accuracy" on one scale, accuracy as a
    fraction. With several repeats the lines are means with a ±1 std band.

    Args:
        frame: from :func:`~dynamic_graphs.figures.training_dynamics` (one run: a frame stacking several
            runs is refused).
        ax: axes to draw on; a new figure when None.
        accuracy: draw the test-accuracy line.
        title: axes title.

    Returns:
        The axes.

    Raises:
        KeyError: columns of a training_dynamics frame missing.
        ValueError: an epoch holds several curves (several runs stacked); select one first.
    """
    from matplotlib.ticker import MaxNLocator

    require_columns(frame, ["epoch", "depth", "modularity", "test_acc"], source="training_dynamics()",
                    caller="plot_training_dynamics")
    for _, epoch in frame.groupby("epoch", sort=False):
        single_curve(epoch, caller="plot_training_dynamics: each epoch")
    _, ax = new_axes(ax, (6, 3.8))
    lowest = 0.0
    for depth, group in frame.groupby("depth", sort=True):
        stats = group.groupby("epoch")["modularity"].agg(["mean", "std"])
        line, = ax.plot(stats.index, stats["mean"], marker="o", markersize=4, label=f"L{depth}")
        if stats["std"].notna().any():  # several repeats
            ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        lowest = min(lowest, float(stats["mean"].min()))
    if accuracy:
        acc = frame.groupby("epoch")["test_acc"].first()
        ax.plot(acc.index, acc.values, color="black", linestyle="--", marker="s", markersize=4, label="Acc")
    ax.set_ylim(lowest - 0.02 if lowest < 0 else 0.0, 1.0)
    epochs = frame["epoch"]
    ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("Q / accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=9)
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax


def plot_adversarial_curves(curves: pd.DataFrame, *, title: str | None = None,
                            panel_size: tuple[float, float] = (4.8, 3.4)) -> matplotlib.figure.Figure:
    """The adversarial figure (Lu et al. 2022, Fig. 5): a line per attack and one for the clean
    images, mean ± std over repeats.

    Panels: true classes as communities (the paper) and, when the frame has them, the predicted
    classes. An attack whose predicted-classes curve was left out by
    :func:`~dynamic_graphs.figures.adversarial_curves` has no line in that panel.

    Raises:
        KeyError: not an adversarial_curves frame.
        ValueError: a line would mix several curves (several runs stacked); select one first.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    check_curves(curves, caller="plot_adversarial_curves")
    require_columns(curves, ["attack", "communities"], source="adversarial_curves()",
                    caller="plot_adversarial_curves")
    views = [c for c in ("true", "predicted") if c in set(curves.communities)]
    figure, axes = plt.subplots(1, len(views), squeeze=False, sharey=True,
                                figsize=(panel_size[0] * len(views), panel_size[1]))
    attacks = list(dict.fromkeys(curves.attack))
    colours = dict(zip([a for a in attacks if a != CLEAN], plt.get_cmap("tab10").colors))
    colours[CLEAN] = "black"
    for ax, view in zip(axes[0], views):
        for name in attacks:
            lines = curves[(curves.attack == name) & (curves.communities == view)]
            if lines.empty:  # this attack's predicted-classes curve was left out
                continue
            lines = _line(lines, "modularity", "plot_adversarial_curves")
            if name == CLEAN:
                label = "Normal (clean)"
            else:
                label = f"{attack_label(name)} ({lines.success_rate.iloc[0]:.0%} success)"
            plot_curve(lines, ax=ax, label=label, color=colours[name])
        ax.set_title(f"communities: {view} classes", fontsize=10)
        if ax is not axes[0, 0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[0, 0].legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
