"""A figure notebook's run: its parameters read once, checked, and what the report shows.

The parameters cell is the only place a notebook lists its parameters. The cell after it calls
:func:`start`, which reads the names that cell assigns and any that papermill injected (``-p``,
``-f`` or ``dynamic-graphs report``), refuses a name the notebook does not declare, checks the
values with :func:`~dynamic_graphs.reports.check_parameters` and shows the report's title::

    run = dg.reports.start("Fig. 3: modularity curves")       # title: "... — resnet56 on fashion-mnist"
    curves = dg.figures.model_curves(model, dataset, n=n, repeats=repeats, k=k, seed=seed)
    run.figure(dg.pl.plot_curve_grid(curves), "fig3", model, dataset)   # saved, named in the log, shown
    dg.reports.verdicts.fig3(curves)                                  # the paragraph under the figure
    run.table(dg.summarize_seeds(curves), caption="...", empty="One training seed: ...")
    run.info()                                                         # every parameter, whole; commit

The names come from the kernel's input history (IPython's ``In``), by the rule of
:func:`notebook_parameters`: under papermill the parameters cell is the one its injected cell (which
starts with ``# Parameters``) follows; in JupyterLab it is the cell of literal assignments with the
most of them, so that a cell that tweaks a value (``n = 100``) run before this call overrides the
parameters cell but does not replace it, and is refused, as ``-p`` is, if it sets an undeclared name.
"""
from __future__ import annotations

import ast
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .._settings import settings
from ..utils import as_list, refuse_unknown
from .outputs import figure_name, run_info, save_figure
from .parameters import check_parameters

__all__ = ["NotebookRun", "UnknownParameterError", "describe_figure", "start"]

logger = logging.getLogger(__name__)

PAPERMILL_CELL = "# Parameters"  # how papermill's Python translator opens the cell it injects
METADATA_KEY = "dynamic_graphs"  # display metadata the renderer reads back (the title, a figure's alt text)


class UnknownParameterError(TypeError):
    """A parameter passed to a notebook that its parameters cell does not declare (a typo, say)."""


_LITERAL = "a number, string, list, tuple, dict, set, True, False or None"
_UNLITERAL = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)  # what ast.literal_eval raises


@dataclass
class _Cell:
    """A cell of nothing but assignments: the names it sets, how many of them are literal, why it is no
    parameters cell (None when every assignment is ``name = literal`` or ``name: type = literal``)."""

    names: list[str]
    literals: int
    rejected: str | None


def _assignments(source: str) -> _Cell | None:
    """The assignments of a cell that holds nothing else (a parameters cell, or one that tries to be); else None."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    if not body or not all(isinstance(node, (ast.Assign, ast.AnnAssign)) for node in body):
        return None
    names, literals, rejected = [], 0, None
    for node in body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        shown = ast.unparse(node)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        why = None
        if not all(isinstance(target, ast.Name) for target in targets):
            why = "assigns to something other than a plain name"
        elif node.value is None:  # `n: int`, an annotation without a value
            why = "declares a name without a value"
        else:
            try:
                ast.literal_eval(node.value)
            except _UNLITERAL as err:
                why = f"its value is not a literal ({_LITERAL})" if isinstance(err, ValueError) else (
                    f"its value cannot be evaluated as a literal ({type(err).__name__}: {err})")
        names += [target.id for target in targets if isinstance(target, ast.Name)]
        if why is None:
            literals += 1
        elif rejected is None:
            rejected = f"line {node.lineno}, `{shown}`: {why}"
    return _Cell(names, literals, rejected)


def notebook_parameters(history: Sequence[str]) -> tuple[list[str], list[str]]:
    """The names the parameters cell declares, and those set after it, from a kernel's input history.

    The rule: a candidate is a cell of nothing but assignments (``name = value`` or ``name: type =
    value``). If papermill injected a cell (it starts with ``# Parameters`` and follows the cell tagged
    ``parameters``), the parameters cell is the nearest candidate with a literal value before the
    last injected cell. Otherwise (JupyterLab, or papermill without parameters), it is the candidate
    with the most literal assignments (then the most assignments, then the latest run): a cell that
    tweaks a few values does not replace it. The names set after it are those of the injected cells
    and of every cell of literal assignments run after it (a tweak such as ``n = 100``); each must be
    declared.

    Args:
        history: the cells executed so far, oldest first (IPython's ``In``); the last is the caller's.

    Returns:
        The declared names, in order, and the names set after the parameters cell.

    Raises:
        RuntimeError: no parameters cell ran before the caller's, or the cell taken for it assigns a
            value that is not a literal (the message names the cell, the line and why).
    """
    cells = list(history)[:-1]
    parsed = [_assignments(source) for source in cells]
    injected = [i for i, source in enumerate(cells) if source.lstrip().startswith(PAPERMILL_CELL) and parsed[i]]
    candidates = [i for i, cell in enumerate(parsed) if cell is not None and cell.literals and i not in injected]
    if injected:
        before = [i for i in candidates if i < injected[-1]]
        chosen = before[-1] if before else None
    else:
        chosen = max(candidates, key=lambda i: (parsed[i].literals, len(parsed[i].names), i), default=None)
    if chosen is None:
        raise RuntimeError("dg.reports.start reads the notebook's parameters cell (the cell tagged 'parameters', "
                           f"literal assignments only: {_LITERAL}), but no such cell ran before it: run the "
                           "parameters cell, then this one.")
    if parsed[chosen].rejected:
        raise RuntimeError(f"dg.reports.start reads the notebook's parameters cell, taken to be the cell run as "
                           f"In[{chosen}], but it is not one: {parsed[chosen].rejected}. A parameters cell holds "
                           f"only assignments of literal values; compute other values in a later cell.")
    overrides = [name for i in range(chosen + 1, len(cells)) if parsed[i] is not None
                 and (i in injected or not parsed[i].rejected) for name in parsed[i].names]
    return list(dict.fromkeys(parsed[chosen].names)), list(dict.fromkeys(overrides))


def _check_declared(declared: Sequence[str], injected: Sequence[str]) -> None:
    """Refuse every name set after the parameters cell that it does not declare, with the close declared names."""
    refuse_unknown(injected, declared, what="parameter", error=UnknownParameterError, context=(
        f"This notebook's parameters: {', '.join(declared)}. A name the notebook does not declare would be "
        "ignored, so the run stops here; fix the name passed with -p (or in the -f file, or set in a cell run "
        "after the parameters cell)."))


def _subject(parameters: dict[str, Any]) -> str:
    """``"resnet56 on fashion-mnist"`` from the ``model`` and ``dataset`` parameters, where declared."""
    model, dataset = parameters.get("model"), parameters.get("dataset")
    parts = [", ".join(map(str, as_list(model))) if model is not None else "",
             ", ".join(map(str, as_list(dataset))) if dataset is not None else ""]
    return " on ".join(part for part in parts if part)


def start(title: str, *, subject: str | None = None) -> NotebookRun:
    """Read, check and record the parameters of the notebook calling it; show the report's title.

    Call it in the cell right after the parameters cell. Every name injected by papermill, or set
    by a cell of literal assignments run after it, must be one the parameters cell declares, exactly
    as written (``Repeats`` is not ``repeats``); every value is checked with the rules the package's functions
    use (:func:`~dynamic_graphs.reports.check_parameters`), before any download, training or forward
    pass; then ``verbosity`` (if declared) sets ``dg.settings.verbosity``.

    Args:
        title: the figure and what it shows, e.g. ``"Fig. 3: modularity curves"``.
        subject: what the figure is about, appended to the title; default: the ``model`` and
            ``dataset`` parameters (``"resnet56 on fashion-mnist"``).

    Returns:
        The run: :meth:`NotebookRun.figure`, :meth:`NotebookRun.table` and :meth:`NotebookRun.info` show
        what the report holds.

    Raises:
        UnknownParameterError: a name passed to the notebook that it does not declare (``repeat`` or
            ``Repeats`` for ``repeats``); the message names it and the close declared names.
        RuntimeError: not called in a notebook kernel, or before the parameters cell ran
            (:func:`notebook_parameters` says how it is found).
        TypeError, ValueError, KeyError: a bad value, as :func:`~dynamic_graphs.reports.check_parameters`.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or "In" not in shell.user_ns:
        raise RuntimeError("dg.reports.start reads a notebook's parameters cell, so it runs in a notebook kernel; "
                           "in a script, check values with dg.reports.check_parameters(name=value, ...).")
    declared, injected = notebook_parameters(shell.user_ns["In"])
    _check_declared(declared, injected)
    parameters = {name: shell.user_ns[name] for name in declared}
    check_parameters(**parameters)
    if "verbosity" in parameters:
        settings.verbosity = parameters["verbosity"]
    subject = _subject(parameters) if subject is None else subject
    run = NotebookRun(f"{title} — {subject}" if subject else title, parameters)
    _display_markdown(f"# {run.title}", {"title": run.title})
    return run


def _display_markdown(text: str, metadata: dict[str, Any] | None = None) -> None:
    """Show Markdown in the notebook; its plain text is what ``papermill --log-output`` prints."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text}, raw=True,
            metadata={"text/markdown": {METADATA_KEY: metadata}} if metadata else None)


@dataclass
class NotebookRun:
    """What :func:`start` returns: the notebook's title and checked parameters, and how it shows results."""

    title: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def figure(self, figure, name: str, *parts: str | Sequence[str], alt: str | None = None) -> None:
        """Save ``figure`` (a matplotlib Figure or Axes) as PNG and PDF, print where, show it with alt text
        and links to its files.

        The files are ``<fig_dir>/<name>_<parts>.png`` and ``.pdf`` (:func:`figure_name`), ``fig_dir``
        being the notebook's parameter of that name, else ``dg.settings.fig_dir``. The printed line
        names them, so ``papermill --log-output`` tells where the figure went.

        Args:
            figure: what a ``dg.pl`` function returned.
            name, parts: the file's name, e.g. ``run.figure(fig, "fig3", model, dataset)``.
            alt: the image's alternative text; default: :func:`describe_figure`'s.
        """
        import base64

        import matplotlib.pyplot as plt
        from IPython.display import display

        figure = getattr(figure, "figure", figure)  # an Axes' figure
        paths = save_figure(figure, figure_name(name, *parts), self.parameters.get("fig_dir"))
        print("figure:", *(_shown(path) for path in paths), flush=True)
        png = paths[0].read_bytes()
        alt = alt or describe_figure(figure)
        plt.close(figure)  # shown once, here, not again by the inline backend
        display({"image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<figure: {alt}>"},
                raw=True, metadata={"image/png": {METADATA_KEY: {"alt": alt}}})
        _display_markdown("Files: " + ", ".join(f"[{path.suffix[1:].upper()}]({_shown(path)})" for path in paths))

    def table(self, table: pd.DataFrame, *, caption: str = "", empty: str = "Nothing to show.",
              needs: str | None = None) -> None:
        """Show ``table`` under its caption, or the sentence ``empty`` when it has nothing to say.

        A table has nothing to say when it has no rows, every value is missing, or its column
        ``needs`` is all missing (``needs="std"``: the spread across seeds of a one-seed run).
        """
        from IPython.display import display

        silent = table.empty or table.isna().all().all() or (needs is not None and table[needs].isna().all())
        if silent:
            _display_markdown(empty)
            return
        if caption:
            _display_markdown(caption)
        with pd.option_context("display.max_colwidth", None):  # a value is read whole (a command, a layer list)
            display(table)

    def info(self) -> None:
        """Show every parameter whole (no truncated list) and the run's provenance: commit, versions, CPU."""
        from IPython.display import display

        _display_markdown("### Parameters and provenance")
        table = run_info(**self.parameters)
        with pd.option_context("display.max_colwidth", None):
            display({"text/html": table.to_html(), "text/plain": table.to_string()}, raw=True)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it (what the user can open), else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def describe_figure(figure) -> str:
    """Alternative text for a figure, from its own texts: title, panels, axis labels and legend entries."""
    texts = []
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        texts.append(suptitle.get_text())
    axes = [ax for ax in figure.get_axes() if ax.get_label() != "<colorbar>"]
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    if titles:
        texts.append(f"{len(axes)} panel{'s' if len(axes) > 1 else ''}: {'; '.join(dict.fromkeys(titles))}")
    labels = dict.fromkeys(f"{ax.get_xlabel()} against {ax.get_ylabel()}" if ax.get_ylabel() else ax.get_xlabel()
                           for ax in axes if ax.get_xlabel())
    if labels:
        texts.append("; ".join(labels))
    legends = [legend for legend in [*figure.legends, *(ax.get_legend() for ax in axes)] if legend is not None]
    entries = list(dict.fromkeys(text.get_text() for legend in legends for text in legend.get_texts()))
    if entries:
        texts.append(f"lines: {', '.join(entries[:12])}{', …' if len(entries) > 12 else ''}")
    return html.unescape(". ".join(texts)) or "A figure of this report."
