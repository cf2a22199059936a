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
from ._axes import fit_outside, layer_axis, new_axes, outside_legend, require_columns

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
    """Mean ``value`` per layer as a line, with a ±1 std band over repeats (the paper's style) or the
    95 % interval of the mean.

    A frame that stacks several curves (told apart by its label columns, see
    :func:`~dynamic_graphs.frames.curve_labels`), say ``dg.stack_curves({"a": c1, "b": c2},
    name="run")``, gets one line per curve, named by the label values that differ between them
    (``run=a``); curves are never averaged together. The x-axis has a tick at every layer, named
    by the frame's ``layer`` column (rotated, thinned to at most 16 names for deep models;
    integer depths where curves drawn on ``ax`` disagree on the layer at a depth). The legend lies
    right of the axes, where it hides no point.

    Args:
        curve: frame from :func:`~dynamic_graphs.modularity_curve`, :func:`~dynamic_graphs.stack_curves`
            or a figure function (columns ``layer``, ``depth``, ``repeat`` and ``value``).
        ax: axes to draw on; a new figure when None (widened for the legend). On axes of your own
            the legend sits right of them, outside the figure: save with ``bbox_inches="tight"``.
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

    Example:
        >>> a = pd.DataFrame({"layer": ["conv", "fc"], "depth": [1, 2], "repeat": [0, 0], "modularity": [0.1, 0.3]})
        >>> from dynamic_graphs import stack_curves
        >>> ax = plot_curve(stack_curves({"a": a, "b": a.assign(modularity=[0.2, 0.5])}, name="run"))
        >>> [line.get_label() for line in ax.get_lines()], [t.get_text() for t in ax.get_xticklabels()]
        (['run=a', 'run=b'], ['conv', 'fc'])
    """
    import seaborn as sns

    band = lookup(band, BANDS, what="band")
    errorbar = "sd" if band == "sd" else _t_band
    new_figure = ax is None
    figure, ax = new_axes(ax, (5, 3.5))
    curves = list(iter_curves(curve, value=value, caller="plot_curve"))
    names = _curve_names([key for key, _ in curves], label)
    for (_, frame), name in zip(curves, names):
        sns.lineplot(data=frame, x="depth", y=value, errorbar=errorbar, marker="o", markersize=4,
                     label=name, color=color, ax=ax)
    layer_axis(ax, curve)
    ax.set_xlabel("layer")
    ax.set_ylabel("Q" if value == "modularity" else value)
    ax.grid(alpha=0.3)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if any(name is not None for name in names):
        legend = outside_legend(ax)
        if new_figure:
            fit_outside(figure, [legend])
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


AUTO = "auto"
# model_curves' labels take these roles by default: Lu et al. 2022, Fig. 3's layout
_PREFERRED = {"row": "dataset", "col": "model", "hue": "trained"}
_SELF_NAMED = ("dataset", "model")  # labels whose values name themselves in titles: "resnet20", not "model=resnet20"


def plot_curve_grid(curves: pd.DataFrame, *, row: str | None = AUTO, col: str | None = AUTO,
                    hue: str | None = AUTO, over: str | None = None, value: str = "modularity",
                    col_wrap: int | None = None, panel_size: tuple[float, float] = (3.6, 2.8)
                    ) -> matplotlib.figure.Figure:
    """A grid of curve panels, from any stacked curve frame: rows, columns and lines are its label columns.

    ``row``, ``col`` and ``hue`` name the label columns (:func:`~dynamic_graphs.frames.curve_labels`)
    whose values get a figure row, a column and a line each; None: not separated. By default
    (``"auto"``) they are model_curves' names where the frame has them (Lu et al. 2022, Fig. 3's
    layout: datasets as rows, models as columns, trained and untrained lines), then the other
    labels whose values still differ within a line, the innermost as lines, the outer ones as
    columns, then rows: ``plot_curve_grid(dg.stack_curves({"a": c1, "b": c2}, name="run"))`` draws
    one panel with a line per key; an ablation frame (labels ``sweep``, ``value``) a panel per
    sweep with a line per value. A label that is the same throughout a line (``n``, ``k`` of one
    curve) needs no role.

    Each line is one curve's mean per layer with a ±1 std band over repeats; a line of a trained
    model names its test accuracy when the frame has a ``test_acc`` column. With ``over`` (a label
    column such as ``"train_seed"``), the curves that differ only in it are drawn together: each
    one's mean over repeats as a thin line, and their mean with a ±1 std band *across* them (the
    spread between trained models, :func:`~dynamic_graphs.summarize_seeds`); a group with one value
    of ``over`` is drawn as without it. Lines of one ``hue`` value share a colour in every panel.

    Each panel's x-axis names its own curves' layers (:func:`~dynamic_graphs.pl.plot_curve`: integer
    ticks, names rotated and thinned for deep models). The legend lies right of the panels: once,
    beside the top-right panel, when its entries are the same everywhere, else beside each panel
    (a trained line's accuracy differs between models); the figure is widened for it, so that it
    covers no data and ``savefig(bbox_inches="tight")`` keeps it. With one ``row`` value,
    ``col_wrap`` wraps the columns into rows of that many panels (six models as two rows of three,
    the paper's VGGs above its ResNets).

    Args:
        curves: stacked curves (:func:`~dynamic_graphs.stack_curves`, a figure function).
        row, col, hue: label columns for rows, columns and lines; ``"auto"`` (see above) or None.
        over: a label column whose curves are pooled into one line with a band across them.
        value: the measure to plot.
        col_wrap: panels per figure row, with one ``row`` value.
        panel_size: inches per panel, without its legend and layer names.

    Returns:
        The matplotlib figure.

    Raises:
        KeyError: ``row``, ``col``, ``hue`` or ``over`` is not a label column (the message lists them).
        ValueError: one label in two roles; ``col_wrap`` is not a positive integer, or the frame has
            several ``row`` values; a line would still mix several curves (a label column other than
            ``row``, ``col``, ``hue`` and ``over`` varies within it: the message names it).

    Example:
        >>> a = pd.DataFrame({"layer": ["conv", "fc"], "depth": [1, 2], "repeat": [0, 0], "modularity": [0.1, 0.3]})
        >>> from dynamic_graphs import stack_curves
        >>> figure = plot_curve_grid(stack_curves({"a": a, "b": a.assign(modularity=[0.2, 0.5])}, name="run"))
        >>> [line.get_label() for line in figure.axes[0].get_lines()]
        ['run=a', 'run=b']
    """
    import matplotlib.pyplot as plt

    labels = check_curves(curves, value=value, caller="plot_curve_grid")
    roles = _grid_roles(curves, labels, row=row, col=col, hue=hue, over=over)
    row, col, hue = roles["row"], roles["col"], roles["hue"]
    by_row = _split(curves, row)
    rows, cols = list(by_row), list(_split(curves, col))
    panels = [(row_key, col_key) for row_key in rows for col_key in cols]
    width = _wrap_width(col_wrap, len(cols), rows, row)
    height = -(-len(panels) // width)
    figure, axes = plt.subplots(height, width, squeeze=False, sharey=True,
                                figsize=(panel_size[0] * width, panel_size[1] * height))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {key: palette[i % len(palette)] for i, key in enumerate(_split(curves, hue))}
    entries: dict[Any, set[str]] = {}  # each hue value's legend entries over the panels
    for ax, (row_key, col_key) in zip(axes.flat, panels):
        panel = _split(by_row[row_key], col).get(col_key)
        if panel is None:  # no curve of this row and column
            ax.set_visible(False)
            continue
        for key, group in _split(panel, hue).items():
            label = _hue_label(hue, key, group, over)
            entries.setdefault(key, set()).add(label)
            if over is not None and group[over].nunique(dropna=False) > 1:
                _plot_across(group, over, ax=ax, label=label, value=value, color=colours[key])
            else:
                plot_curve(_line(group, value, "plot_curve_grid"), ax=ax, label=label, value=value,
                           color=colours[key])
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        shown = [(col, col_key)] + ([(row, row_key)] if len(rows) > 1 else [])  # one row's value is in the y label
        ax.set_title(" · ".join(_named(name, key) for name, key in shown if name), fontsize=10)
        if ax is axes[ax.get_subplotspec().rowspan.start, 0]:
            ax.set_ylabel("Q" if value == "modularity" else value)
            if row is not None:
                ax.set_ylabel(f"{ax.get_ylabel()} ({_named(row, row_key)})")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    legends = _grid_legends(axes, entries) if hue is not None else []
    fit_outside(figure, legends, columns=len({legend.axes.get_subplotspec().colspan.start for legend in legends}),
                rows=height)
    return figure


def _split(frame: pd.DataFrame, column: str | None) -> dict[Any, pd.DataFrame]:
    """``{value: rows}`` of ``column``, in order of first appearance; ``{None: frame}`` without a column."""
    if column is None:
        return {None: frame}
    return dict(tuple(frame.groupby(column, sort=False, dropna=False)))


def _named(column: str, key) -> str:
    """A panel's value as its title shows it: ``resnet20``, or ``run=a`` for a label that does not name itself."""
    return str(key) if column in _SELF_NAMED else f"{column}={key}"


def _varies(frame: pd.DataFrame, column: str, within: list[str]) -> bool:
    """Whether ``column`` takes several values within some group of the ``within`` columns (the whole frame without)."""
    if not within:
        return frame[column].nunique(dropna=False) > 1
    return bool((frame.groupby(within, sort=False, dropna=False)[column].nunique(dropna=False) > 1).any())


def _grid_roles(curves: pd.DataFrame, labels: list[str], *, row, col, hue, over) -> dict[str, str | None]:
    """The label column of each of ``row``, ``col`` and ``hue``, checked; ``"auto"`` ones chosen as
    :func:`plot_curve_grid` documents; refused when a line would still mix several curves."""
    given = {"row": row, "col": col, "hue": hue, "over": over}
    for role, name in given.items():
        if name is None or (name == AUTO and role != "over"):
            continue
        if name not in labels:
            kind = "a coordinate or measure column" if name in curves.columns else "not a column"
            raise KeyError(f"plot_curve_grid: {role}={name!r} is {kind} of this frame; its label columns are "
                           f"{labels}: pass one of them, or None.")
    named = [name for name in given.values() if name not in (None, AUTO)]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise ValueError(f"plot_curve_grid: {twice[0]!r} is given two roles of row, col, hue and over; give it one.")
    roles = {role: given[role] for role in ("row", "col", "hue")}
    used = set(named)
    for role, name in _PREFERRED.items():
        if roles[role] == AUTO and name in labels and name not in used:
            roles[role] = name
            used.add(name)
    free = [role for role in roles if roles[role] == AUTO]
    needed: list[str] = []  # the labels that still tell the curves of a line apart, outermost first
    for label in labels:
        separated = [name for name in roles.values() if name not in (None, AUTO)] + needed
        if label not in used and _varies(curves, label, separated):
            needed.append(label)
    for role, label in zip(reversed(free), reversed(needed)):  # the innermost label gets the lines
        roles[role] = label
    roles = {role: None if name == AUTO else name for role, name in roles.items()}
    separated = [name for name in roles.values() if name is not None]
    mixed = [label for label in labels if label not in separated and label != over
             and _varies(curves, label, separated)]
    if mixed:
        shown = ", ".join(f"{role}={name!r}" for role, name in {**roles, "over": over}.items())
        raise ValueError(
            f"plot_curve_grid: each line reads one curve, but the curves of one line still differ in {mixed} "
            f"({shown}), and would be averaged together. Pass over={mixed[0]!r} to draw their mean with a band "
            f"across them, row=, col= or hue={mixed[0]!r} to separate them, or select one value first: "
            f"curves[curves[{mixed[0]!r}] == ...].")
    return roles


def _grid_legends(axes, entries: dict[Any, set[str]]) -> list:
    """The legends right of the panels: one beside the top-right panel when each line has one entry
    in every panel, else one beside each panel."""
    visible = [ax for ax in axes.flat if ax.get_visible()]
    if all(len(names) == 1 for names in entries.values()):
        handles = {}
        for ax in visible:
            for handle, name in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(name, handle)
        top = [ax for ax in axes[0] if ax.get_visible()] or visible
        return [outside_legend(top[-1], list(handles.values()), list(handles), fontsize=7)] if handles else []
    return [outside_legend(ax, fontsize=7) for ax in visible if ax.get_legend_handles_labels()[0]]


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


def _plot_across(group: pd.DataFrame, over: str, *, ax, label: str | None, value: str, color=None,
                 caller: str = "plot_curve_grid") -> None:
    """The curves of ``group`` that differ in ``over``: thin per-curve means, their mean ± 1 std across them
    (the caller draws the legend)."""
    from ..curve import summarize_seeds

    spread = summarize_seeds(group, column=over, value=value)
    mixed = [column for column in spread.attrs["labels"] if spread[column].nunique(dropna=False) > 1]
    if mixed:
        raise ValueError(f"{caller}: each line pools the curves that differ in {over!r} only, but {mixed} "
                         "also vary within it; select them first or choose other columns.")
    (line,) = ax.plot(spread["depth"], spread["mean"], marker="o", markersize=4, label=label, color=color)
    ax.fill_between(spread["depth"], spread["mean"] - spread["std"], spread["mean"] + spread["std"],
                    color=line.get_color(), alpha=0.2, linewidth=0)
    for _, curve in summarize_by_curve(group, value=value).groupby(over, sort=False):
        ax.plot(curve["depth"], curve["mean"], color=line.get_color(), alpha=0.35, linewidth=0.8)
    layer_axis(ax, group)
    ax.set_xlabel("layer")
    ax.grid(alpha=0.3)


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
    new_figure = ax is None
    figure, ax = new_axes(ax, (6.5, 4))
    for key, group in curves.groupby(by, sort=False):
        if over is not None and group[over].nunique(dropna=False) > 1:
            accuracy = group.groupby(over, sort=False)["top1"].first() if "top1" in group else None
            label = str(key) if accuracy is None else \
                f"{key} ({accuracy.mean():.2f} ± {accuracy.std():.2f} %, {len(accuracy)} seeds)"
            _plot_across(group, over, ax=ax, label=label, value="modularity", caller="plot_variant_curves")
            continue
        label = f"{key} ({group['top1'].iloc[0]:.2f} %)" if "top1" in group else str(key)
        plot_curve(_line(group, "modularity", "plot_variant_curves"), ax=ax, label=label)
    legend = outside_legend(ax, fontsize=8, title="top-1", title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    if new_figure:
        fit_outside(figure, [legend])
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
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    # one legend for both panels, right of the last: the true-classes panel has every attack's line
    legend = outside_legend(axes[0, -1], *axes[0, 0].get_legend_handles_labels(), fontsize=8)
    if title:
        figure.suptitle(title)
    fit_outside(figure, [legend])
    return figure
