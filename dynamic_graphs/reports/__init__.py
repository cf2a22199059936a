"""Notebooks and their reports: parameter checks, what a notebook shows and writes, rendering to HTML.

:func:`start` (:mod:`.notebook`) reads a notebook's parameters once, refuses undeclared names and
checks the values with :mod:`.parameters`' rules; the run it returns shows the figure, the tables
and the parameters; :mod:`.verdicts` computes the paragraph under each figure; :mod:`.outputs`
writes figure and table files; :mod:`.rendering` executes notebooks with papermill and renders them
as HTML reports (the ``dynamic-graphs report`` command).
"""
from . import verdicts
from .notebook import NotebookRun, UnknownParameterError, describe_figure, start
from .outputs import figure_name, run_info, save_figure, save_table
from .parameters import RULES, check_parameters
from .rendering import EXECUTORS, notebook_names, render, render_runs

__all__ = [
    "EXECUTORS",
    "RULES",
    "NotebookRun",
    "UnknownParameterError",
    "check_parameters",
    "describe_figure",
    "figure_name",
    "notebook_names",
    "render",
    "render_runs",
    "run_info",
    "save_figure",
    "save_table",
    "start",
    "verdicts",
]
