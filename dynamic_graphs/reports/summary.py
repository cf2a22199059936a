"""What an executed report says about itself: its title, its verdict and the commit it ran from.

The documentation site's report pages and findings page are built from these, so that the site
shows exactly what the stored notebooks hold.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ReportSummary", "read_report"]

_COMMIT = re.compile(r"<th>commit</th>\s*<td>([^<]+)</td>")
_DATE = re.compile(r"<th>date \(UTC\)</th>\s*<td>([^<]+)</td>")


@dataclass
class ReportSummary:
    """One executed report: ``reports/<name>.ipynb``.

    Attributes:
        name: the report's file name without ``.ipynb`` (``"fig3-vgg11"``).
        figure: the notebook it was rendered from (``"fig3"``).
        title: the title the report showed (``dg.reports.start``), else its first heading.
        verdict: the verdict's fields (``figure``, ``claim``, ``measured``, ``status``), or None for a
            report rendered before verdicts existed.
        commit: the commit it ran from (its provenance table), or None.
        date: when it ran (UTC), or None.
        title_from_cell: True when the title came from a markdown cell (the earlier layout).
    """

    name: str
    figure: str
    title: str
    verdict: dict[str, str] | None = None
    commit: str | None = None
    date: str | None = None
    title_from_cell: bool = False

    @property
    def tag(self) -> str | None:
        """The run's tag: ``"vgg11"`` for ``fig3-vgg11``, None for the notebook's main report."""
        return self.name[len(self.figure) + 1:] or None if self.name.startswith(f"{self.figure}-") else None

    @property
    def page_title(self) -> str:
        """The title, with the tag of a tagged run: two runs of one notebook can share a title."""
        return f"{self.title} ({self.tag})" if self.tag else self.title

    def source_line(self) -> str:
        """One line naming the stored notebook, the commit and date it ran from, and how to rerun it."""
        ran = f" from commit `{self.commit}`" if self.commit else ""
        ran += f" on {self.date} UTC" if self.date else ""
        rerun = f"dynamic-graphs report {self.figure} --all" + (f" --tag {self.tag}" if self.tag else "")
        return f"Stored run of `reports/{self.name}.ipynb`{ran}; rerun it with `{rerun}`."


def read_report(path: str | Path) -> ReportSummary:
    """The :class:`ReportSummary` of an executed report notebook.

    Raises:
        FileNotFoundError: no notebook at ``path``.
        ValueError: a notebook with neither a title nor a heading.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    name = path.stem
    title = verdict = commit = date = None
    heading = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if heading is None and "notebook-only" not in cell.get("metadata", {}).get("tags", []):
                match = re.match(r"#\s+(.+)", cell.source.strip())
                heading = match.group(1).strip() if match else None
            continue
        for output in cell.get("outputs", []):
            meta: dict[str, Any] = output.get("metadata", {}).get("text/markdown", {}).get("dynamic_graphs", {})
            title = title or meta.get("title")
            verdict = verdict or meta.get("verdict")
            html = output.get("data", {}).get("text/html", "")
            if isinstance(html, list):
                html = "".join(html)
            commit = commit or _first(_COMMIT, html)
            date = date or _first(_DATE, html)
    if title is None and heading is None:
        raise ValueError(f"{path}: the report shows no title (dg.reports.start) and has no heading.")
    figure = (verdict or {}).get("figure") or name.split("-", 1)[0]
    return ReportSummary(name=name, figure=figure, title=title or heading, verdict=verdict, commit=commit,
                         date=date, title_from_cell=title is None)


def _first(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1).strip() if match else None
