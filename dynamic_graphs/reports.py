"""Execute figure notebooks with papermill and render them as HTML reports without input cells.

Command line::

    python -m dynamic_graphs.reports fig3 -p model resnet56      # one notebook, with overrides
    python -m dynamic_graphs.reports --all                          # every notebook, reports/parameters.yml
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = _REPO / "notebooks"
REPORT_DIR = _REPO / "reports"
FULL_RUN_PARAMETERS = REPORT_DIR / "parameters.yml"  # per-notebook overrides for `--all`


def notebook_names() -> list[str]:
    """Names of the figure notebooks (``fig3`` for ``notebooks/fig3.ipynb``)."""
    return sorted(path.stem for path in NOTEBOOK_DIR.glob("*.ipynb"))


def render(name: str, parameters: dict[str, Any] | None = None, *, out_dir: str | Path = REPORT_DIR) -> Path:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` and write ``<out_dir>/<name>.ipynb`` and ``.html``.

    Figures are saved under ``<out_dir>/figures`` unless ``parameters`` sets ``fig_dir``. The HTML
    leaves out the code cells; the notebook's ``run_info`` table states parameters and commit.

    Returns:
        The HTML file.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    if name not in notebook_names():
        raise KeyError(f"No notebook {name!r}; available: {', '.join(notebook_names())}.")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"fig_dir": str(out_dir / "figures"), **(parameters or {})}
    executed = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(executed), parameters=parameters,
                               cwd=str(NOTEBOOK_DIR), kernel_name="python3", log_output=True)
    html, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(
        nbformat.read(executed, as_version=4))
    path = out_dir / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    return path


def _parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"notebooks to render: {', '.join(notebook_names())}")
    parser.add_argument("--all", action="store_true", help="render every notebook with reports/parameters.yml")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a parameter (YAML value), for every notebook rendered")
    parser.add_argument("--out-dir", default=str(REPORT_DIR))
    args = parser.parse_args(argv)
    names = notebook_names() if args.all else args.names
    if not names:
        parser.error("name a notebook or pass --all")
    import yaml

    full_runs = yaml.safe_load(FULL_RUN_PARAMETERS.read_text()) if FULL_RUN_PARAMETERS.exists() else {}
    overrides = {key: _parse_value(value) for key, value in args.parameter}
    for name in names:
        parameters = {**(full_runs.get(name) or {}), **overrides} if args.all else overrides
        print(f"rendering {name} with {parameters}", flush=True)
        print(f"wrote {render(name, parameters, out_dir=args.out_dir)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
