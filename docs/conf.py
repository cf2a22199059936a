"""Sphinx configuration of the dynamic_graphs site: ``make docs`` builds it into docs/_build/html.

Markdown and notebooks are pages through MyST-NB. No notebook is executed here: the getting-started
notebook and the reports are shown with the outputs they were stored with (the reports take hours).
"""
from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's package, also without an installed one

import dynamic_graphs  # noqa: E402

project = "dynamic_graphs"
author = "the dynamic_graphs developers"
copyright = "2026, the dynamic_graphs developers"
release = version = dynamic_graphs.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "dg_reports",  # docs/_ext/dg_reports.py: the report pages and the findings page, from reports/*.ipynb
    "dg_api",  # docs/_ext/dg_api.py: constants documented by their comments, escaped **options
]

exclude_patterns = ["reports/_findings.md", "_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# MyST: $...$ maths, ::: fences, definition lists; headings get anchors for links between pages.
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_merge_streams = True
# markdown outputs (the verdicts, "Files:" lines) are MyST, so links to figure files become downloads
nb_render_markdown_format = "myst"

# The API reference: autosummary writes one page per public name from the docstrings (Google style).
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"  # types merged into the documented parameters and returns, once
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
add_module_names = False

# pydata-sphinx-theme: a top bar for the five parts (getting started, guide, reports, definitions,
# API), the page's own contents on the right, a light and a dark mode; numpy, pandas and xarray use it.
html_theme = "pydata_sphinx_theme"
html_title = "dynamic_graphs"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "findings": [], "benchmarks": [], "definitions": []}
html_show_sourcelink = False
