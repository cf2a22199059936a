"""The site's report pages: what a stored report says about itself, and the page made from it.

Fast: hand-made notebooks, plus a read of every committed report. The built site itself is walked
by tests/test_docs.py (``make docs``).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import nbformat.v4 as v4
import pytest

from dynamic_graphs.reports.summary import read_report
from dynamic_graphs.reports.verdicts import Verdict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "docs" / "_ext"))
import dg_reports  # noqa: E402

INFO = "<table><tr><th>commit</th>\n      <td>abc1234</td></tr><tr><th>date (UTC)</th>\n<td>2026-12-06 12:56</td></tr></table>"


def _display(data: dict, metadata: dict | None = None):
    return v4.new_output("display_data", data=data, metadata=metadata or {})


def report_notebook(tmp_path: Path, name: str = "fig6-k") -> Path:
    """A report in the current layout: title, progress, figure with alt text, verdict, a heading, provenance."""
    verdict = Verdict("fig6", "Q is robust | to k.", "k 3 → 11: 0.78 ± 0.02.", "holds")
    text, meta = verdict._repr_markdown_()
    cells = [
        v4.new_markdown_cell("# Fig. 6 (notebook)\n\nRun headless: ...", metadata={"tags": ["notebook-only"]}),
        v4.new_code_cell("import dynamic_graphs as dg"),
        v4.new_code_cell('model = "resnet20"', metadata={"tags": ["parameters"]}),
        v4.new_code_cell('run = dg.reports.start("Fig. 6")', outputs=[_display(
            {"text/markdown": "# Fig. 6 — resnet20", "text/plain": "Fig. 6"},
            {"text/markdown": {"dynamic_graphs": {"title": "Fig. 6 — resnet20 on fashion-mnist"}}})]),
        v4.new_code_cell("curves = ...", outputs=[
            v4.new_output("stream", name="stdout", text="curve · layer 3/10 — 0:05 elapsed\n"),
            v4.new_output("stream", name="stderr", text="UserWarning: a real warning\n")]),
        v4.new_code_cell("run.figure(...)", outputs=[
            v4.new_output("stream", name="stdout", text="figure: figures/a.png figures/a.pdf\n"),
            _display({"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                     {"image/png": {"dynamic_graphs": {"alt": "Q against layer"}}})]),
        v4.new_code_cell("dg.reports.verdicts.fig6(curves)", outputs=[
            v4.new_output("execute_result", data={"text/markdown": text, "text/plain": text}, metadata={
                "text/markdown": meta}, execution_count=1)]),
        v4.new_markdown_cell("### About this figure\n\nThe ablation."),
        v4.new_code_cell("run.info()", outputs=[_display({"text/markdown": "### Parameters and provenance"}),
                                                _display({"text/html": INFO, "text/plain": "..."})]),
    ]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(v4.new_notebook(cells=cells), path)
    return path


def test_read_report_finds_title_verdict_and_provenance(tmp_path):
    summary = read_report(report_notebook(tmp_path))
    assert (summary.name, summary.figure) == ("fig6-k", "fig6")
    assert summary.title == "Fig. 6 — resnet20 on fashion-mnist" and not summary.title_from_cell
    assert summary.verdict["status"] == "holds" and summary.verdict["claim"] == "Q is robust | to k."
    assert (summary.commit, summary.date) == ("abc1234", "2026-12-06 12:56")
    assert summary.tag == "k" and summary.page_title == "Fig. 6 — resnet20 on fashion-mnist (k)"
    assert "`abc1234`" in summary.source_line() and "dynamic-graphs report fig6 --all --tag k" in summary.source_line()


def test_read_report_of_the_earlier_layout_takes_its_heading_and_has_no_verdict(tmp_path):
    path = tmp_path / "table1-interval.ipynb"
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("# Table 1: pruning\n\nText."),
                                          v4.new_code_cell("x", outputs=[_display({"text/html": INFO})])]), path)
    summary = read_report(path)
    assert (summary.figure, summary.title, summary.verdict) == ("table1", "Table 1: pruning", None)
    assert summary.title_from_cell and summary.commit == "abc1234"
    assert summary.tag == "interval" and summary.page_title == "Table 1: pruning (interval)"


def test_read_report_refuses_a_notebook_without_title_or_heading(tmp_path):
    path = tmp_path / "fig1.ipynb"
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("x")]), path)
    with pytest.raises(ValueError, match="no title"):
        read_report(path)


def test_site_page_shows_outputs_without_progress_title_or_empty_code(tmp_path):
    path = report_notebook(tmp_path)
    page = dg_reports.site_notebook(path, read_report(path))
    nbformat.validate(page)
    first = page.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# Fig. 6 — resnet20 on fashion-mnist (k)\n")  # a tagged run
    sources = [cell.source for cell in page.cells]
    # the notebook-only cell, the imports and the parameters (no output) are left out
    assert not any("Run headless" in s or s.startswith("import") or s.startswith("model =") for s in sources)
    outputs = [out for cell in page.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "stream" and out.name == "stdout"]
    assert [out.text for out in outputs if out.output_type == "stream"] == ["UserWarning: a real warning\n"]
    assert not [out for out in outputs if "title" in out.get("metadata", {}).get("text/markdown", {}).get(
        "dynamic_graphs", {})]
    code = [cell for cell in page.cells if cell.cell_type == "code"]
    assert all("hide-input" in cell.metadata["tags"] for cell in code)
    figure, = [cell for cell in code if any("image/png" in out.get("data", {}) for out in cell.outputs)]
    assert figure.metadata["mystnb"]["image"]["alt"] == "Q against layer"
    # one H1 per page: the report's H3 headings become H2, in cells and in outputs
    assert "## About this figure\n\nThe ablation." in sources and not any(s.startswith("### ") for s in sources)
    assert any(out.get("data", {}).get("text/markdown") == "## Parameters and provenance" for out in outputs)


def test_site_page_of_the_earlier_layout_uses_its_heading_once(tmp_path):
    path = tmp_path / "fig3.ipynb"
    nbformat.write(v4.new_notebook(cells=[
        v4.new_markdown_cell("# Fig. 3: curves\n\nThe paper's Fig. 3."),
        v4.new_code_cell("fig", outputs=[_display({"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})])]), path)
    page = dg_reports.site_notebook(path, read_report(path))
    headings = [cell.source for cell in page.cells if cell.cell_type == "markdown" and cell.source.startswith("# ")]
    assert len(headings) == 1 and headings[0].startswith("# Fig. 3: curves")
    assert any(cell.source == "The paper's Fig. 3." for cell in page.cells)
    figure = page.cells[-1]
    assert figure.metadata["mystnb"]["image"]["alt"] == "The figure of Fig. 3: curves."


def test_findings_and_index_have_one_row_per_report_in_the_papers_order(tmp_path):
    summaries = [read_report(report_notebook(tmp_path, name)) for name in ("fig6-k", "fig6")]
    old = tmp_path / "fig1.ipynb"
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("# Fig. 1: t-SNE")]), old)
    summaries.append(read_report(old))
    table = dg_reports.findings_table(summaries).splitlines()
    assert len(table) == 2 + 3
    assert [row.split("](")[0] for row in table[2:]] == ["| [fig1", "| [fig6", "| [fig6-k"]
    assert "Q is robust \\| to k." in table[3] and "**Holds**" in table[3]  # a | in a claim does not split the row
    assert "no verdict" in table[2] and "dynamic-graphs report fig1 --all" in table[2]
    assert "*as above*" in table[4] and "**Holds**" in table[4]  # fig6-k states fig6's claim again
    # a report without a verdict borrows the claim of its notebook's other reports
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("# Fig. 6: old")]), tmp_path / "fig6-old.ipynb")
    rows = dg_reports.findings_table(summaries[:2] + [read_report(tmp_path / "fig6-old.ipynb")]).splitlines()
    assert "[fig6-old]" in rows[-1] and "*as above*" in rows[-1] and "no verdict" in rows[-1]
    index = dg_reports.index_page(summaries)
    assert index.index("fig1.ipynb") < index.index("fig6.ipynb") < index.index("fig6-k.ipynb")
    assert ":hidden:" in index


def test_every_committed_report_is_in_the_current_layout():
    """A title and a verdict (dg.reports.start), the first image before the first table, alt text on
    every image, and the clean commit it ran from."""
    reports = sorted((REPO / "reports").glob("*.ipynb"))
    assert reports
    for path in reports:
        summary = read_report(path)
        assert summary.title and summary.commit and "dirty" not in summary.commit, path.name
        assert not summary.title_from_cell and summary.verdict is not None, f"{path.name}: earlier layout"
        outputs = [output for cell in nbformat.read(path, as_version=4).cells for output in cell.get("outputs", [])]
        kinds = ["image" if "image/png" in output.get("data", {}) else
                 "table" if "text/html" in output.get("data", {}) else None for output in outputs]
        assert "image" in kinds and ("table" not in kinds or kinds.index("image") < kinds.index("table")), path.name
        for output, kind in zip(outputs, kinds):
            if kind == "image":
                assert output.get("metadata", {}).get("image/png", {}).get("dynamic_graphs", {}).get("alt"), path.name


def test_readme_is_a_short_front_door_whose_links_and_picture_exist():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 10_000, "README.md is a front door: move details into docs/"
    for command in ("make demo", "make test", "make docs"):
        assert command in text
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert any(t.endswith(".png") for t in local), "README shows no figure"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links to missing files: {missing}"
