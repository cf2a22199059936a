"""The site's report pages, written from the committed, executed notebooks in ``reports/``.

When Sphinx starts, each ``reports/<name>.ipynb`` becomes ``docs/reports/<name>.ipynb`` (gitignored,
rewritten only when it changes), shown as run, never re-executed:

- the page title is the one the report gave itself (``dg.reports.start``), or its first heading;
- progress lines (stdout) and ``notebook-only`` cells are left out, as in the standalone HTML; code
  cells without output are left out, the others are folded under their output ("Show code");
- a figure keeps its alternative text; the figure files its "Files:" line links to are copied.

``docs/reports/index.md`` lists the reports grouped by figure of the paper, each with its verdict,
and ``docs/reports/_findings.md`` is the table that ``docs/findings.md`` includes: one row per
report, the paper's claim against this run's verdict. Both come from the verdicts stored in the
notebooks (:mod:`dynamic_graphs.reports.verdicts`), so the site cannot disagree with the reports.
"""
from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat

from dynamic_graphs.reports.summary import ReportSummary, read_report

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
NOTEBOOKS = ROOT / "notebooks"
# the order of the paper's figures, then the package's own reports
ORDER = ["fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig9", "table1", "metrics", "transfer", "data_axis", "asymptotics"]
_HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)


def _write_if_changed(path: Path, text: str) -> None:
    # an unchanged page keeps its time stamp, so Sphinx does not rebuild it
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def _shift_headings(text: str) -> str:
    # the page's only H1 is its title: a report's "### About this figure" becomes an H2
    return _HEADING.sub(lambda m: "#" * max(2, len(m.group(1)) - 1) + " ", text)


def site_notebook(path: Path, summary: ReportSummary) -> nbformat.NotebookNode:
    """The notebook of one report as the site shows it (see the module's docstring)."""
    nb = nbformat.read(path, as_version=4)
    cells = [nbformat.v4.new_markdown_cell(f"# {summary.page_title}\n\n{summary.source_line()}")]
    title_cell_left = summary.title_from_cell  # the earlier layout's title cell, now the page's heading
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "notebook-only" in tags:
            continue
        if cell.cell_type == "markdown":
            if title_cell_left and cell.source.lstrip().startswith("# "):
                title_cell_left = False
                body = cell.source.lstrip().split("\n", 1)
                if len(body) < 2 or not body[1].strip():
                    continue
                cell = copy.deepcopy(cell)
                cell.source = body[1].strip()
            cells.append(_markdown(cell))
            continue
        outputs = [_output(out) for out in cell.get("outputs", []) if _shown(out)]
        if not outputs:
            continue
        cell = copy.deepcopy(cell)
        cell.outputs = outputs
        cell.metadata["tags"] = sorted(tags - {"parameters", "injected-parameters"} | {"hide-input"})
        alt = [out.metadata["image/png"]["dynamic_graphs"]["alt"] for out in outputs
               if out.get("metadata", {}).get("image/png", {}).get("dynamic_graphs", {}).get("alt")]
        if alt or any("image/png" in out.get("data", {}) for out in outputs):
            # reports rendered before figures had alternative text get their title as one
            cell.metadata["mystnb"] = {"image": {"alt": alt[0] if alt else f"The figure of {summary.title}."}}
        cells.append(cell)
    nb.cells = cells
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def _markdown(cell):
    cell = copy.deepcopy(cell)
    cell.source = _shift_headings(cell.source)
    return cell


def _shown(output) -> bool:
    if output.output_type == "stream":
        return output.name != "stdout"  # progress and epoch lines; warnings (stderr) stay
    meta = output.get("metadata", {}).get("text/markdown", {})
    return "title" not in meta.get("dynamic_graphs", {})  # the title is the page's heading


def _output(output):
    output = copy.deepcopy(output)
    if output.output_type in ("display_data", "execute_result") and "text/markdown" in output.get("data", {}):
        output.data["text/markdown"] = _shift_headings(output.data["text/markdown"])
    return output


def _status_cell(summary: ReportSummary) -> str:
    if summary.verdict is None:
        return "*no verdict: rendered before verdicts existed*"
    return f"**{summary.verdict['status'].capitalize()}**"


def index_page(summaries: list[ReportSummary]) -> str:
    lines = ["# Reports", "",
             "Every report of `reports/`, as it was run: the figure, the verdict computed from its own",
             "numbers, the tables, and the parameters with the commit they ran from. The pages show the",
             "stored notebooks and never re-run them (some take an hour); regenerate one with",
             "`dynamic-graphs report NAME --all`. All were measured on Fashion-MNIST with networks trained by",
             "this package, where the paper used CIFAR and ImageNet: compare trends, not values. The",
             "[findings](../findings.md) put every claim against its verdict on one page.", ""]
    toctree = []
    for figure, group in _grouped(summaries):
        lines += [f"## {_figure_heading(figure)}", ""]
        for summary in group:
            toctree.append(summary.name)
            lines.append(f"- [{summary.page_title}]({summary.name}.ipynb): {_status_cell(summary)}"
                         + (f". {summary.verdict['measured']}" if summary.verdict else "."))
        lines.append("")
    lines += ["```{toctree}", ":hidden:", "", *toctree, "```", ""]
    return "\n".join(lines)


def findings_table(summaries: list[ReportSummary]) -> str:
    rows = ["| report | the claim | verdict | this run |", "|---|---|---|---|"]
    for _, group in _grouped(summaries):
        # a report rendered before verdicts takes the claim its notebook's other reports state
        known = next((s.verdict["claim"] for s in group if s.verdict), None)
        previous = None
        for summary in group:
            claim = summary.verdict["claim"] if summary.verdict else known or summary.title
            claim, previous = ("*as above*" if claim == previous else claim), claim
            measured = summary.verdict["measured"] if summary.verdict else (
                f"see the report; re-render it with `dynamic-graphs report {summary.figure} --all`")
            rows.append(f"| [{summary.name}](reports/{summary.name}.ipynb) | {_cell(claim)} | "
                        f"{_status_cell(summary)} | {_cell(measured)} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _grouped(summaries):
    by_figure: dict[str, list[ReportSummary]] = {}
    for summary in summaries:
        by_figure.setdefault(summary.figure, []).append(summary)
    known = [f for f in ORDER if f in by_figure] + sorted(set(by_figure) - set(ORDER))
    return [(figure, sorted(by_figure[figure], key=lambda s: (s.name != figure, s.name))) for figure in known]


def _figure_heading(figure: str) -> str:
    """The source notebook's own first heading, e.g. "Fig. 6: the modularity curve is robust to k and N"."""
    path = NOTEBOOKS / f"{figure}.ipynb"
    if path.exists():
        for cell in nbformat.read(path, as_version=4).cells:
            match = re.match(r"#\s+(.+)", cell.source.strip()) if cell.cell_type == "markdown" else None
            if match:
                return match.group(1).strip()
    return figure


def write_pages(out: Path) -> list[ReportSummary]:
    """Write the report pages, the index and the findings table into ``out``; return the reports' summaries."""
    summaries = [read_report(path) for path in sorted(REPORTS.glob("*.ipynb"))]
    for summary in summaries:
        nb = site_notebook(REPORTS / f"{summary.name}.ipynb", summary)
        _write_if_changed(out / f"{summary.name}.ipynb", nbformat.writes(nb) + "\n")
    _write_if_changed(out / "index.md", index_page(summaries))
    _write_if_changed(out / "_findings.md", findings_table(summaries))
    # the figure files the reports' "Files:" lines link to
    for source in (REPORTS / "figures").rglob("*"):
        target = out / "figures" / source.relative_to(REPORTS / "figures")
        if source.is_file() and (not target.exists() or target.stat().st_mtime < source.stat().st_mtime):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    stale = {p.stem for p in out.glob("*.ipynb")} - {s.name for s in summaries}
    for name in stale:
        (out / f"{name}.ipynb").unlink()
    return summaries


def _builder_inited(app) -> None:
    write_pages(Path(app.srcdir) / "reports")


def setup(app):
    app.connect("builder-inited", _builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
