"""Notebooks and their reports: parameter checks, what a notebook writes, rendering to HTML.

:mod:`.parameters` checks a notebook's parameters before any work, with the rules the functions
use; :mod:`.outputs` writes its parameter table, figures and tables; :mod:`.rendering` executes
notebooks with papermill and renders them as HTML reports (the ``dynamic-graphs report`` command).
"""
from .outputs import figure_name, run_info, save_figure, save_table
from .parameters import RULES, check_parameters
from .rendering import EXECUTORS, notebook_names, render, render_runs

__all__ = [
    "EXECUTORS",
    "RULES",
    "check_parameters",
    "figure_name",
    "notebook_names",
    "render",
    "render_runs",
    "run_info",
    "save_figure",
    "save_table",
]
