"""The built documentation site, walked page by page: links, images, report pages and the API reference.

It reads the HTML that ``make docs`` builds (``DG_DOCS_HTML``, which ``make docs`` sets after building);
without a built site the module is skipped, with the command that builds it and runs it.
"""
from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import dynamic_graphs as dg

REPO = Path(__file__).resolve().parent.parent
SITE = Path(os.environ["DG_DOCS_HTML"]).resolve() if os.environ.get("DG_DOCS_HTML") else None
pytestmark = pytest.mark.skipif(SITE is None, reason="needs the built site: `make docs` builds it and runs this test")


class Page(HTMLParser):
    """The links, images and element ids of one HTML page."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.links: list[str] = []
        self.images: list[tuple[str, str | None]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.images.append((attrs["src"], attrs.get("alt")))

    def handle_data(self, data):
        self.text.append(data)


_pages: dict[Path, Page] = {}


def page(path: Path) -> Page:
    if path not in _pages:
        _pages[path] = Page(path)
    return _pages[path]


def site_pages() -> list[Path]:
    # the theme's own search and index pages are built by Sphinx itself
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts and "_modules" not in p.parts)


def _local(target: str) -> bool:
    scheme = urlsplit(target).scheme
    return not scheme and not target.startswith("//")


def test_every_internal_link_and_anchor_resolves():
    broken = []
    for path in site_pages():
        for href in page(path).links:
            if not _local(href):
                continue
            parts = urlsplit(href)
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(SITE)} -> {href}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in page(target).ids:
                broken.append(f"{path.relative_to(SITE)} -> {href} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken[:40])


def test_every_image_resolves_and_has_alternative_text():
    missing, no_alt = [], []
    for path in site_pages():
        for src, alt in page(path).images:
            if src.startswith("data:") or not _local(src):
                continue
            if not (path.parent / unquote(urlsplit(src).path)).resolve().exists():
                missing.append(f"{path.relative_to(SITE)}: {src}")
            if not alt or alt == src:  # MyST-NB writes the file's path when a figure has no text
                no_alt.append(f"{path.relative_to(SITE)}: {src}")
    assert not missing, "missing images:\n" + "\n".join(missing)
    assert not no_alt, "images without alternative text:\n" + "\n".join(no_alt)


def test_every_committed_report_has_a_page_with_its_figure_and_verdict():
    from dynamic_graphs.reports.summary import read_report

    reports = sorted((REPO / "reports").glob("*.ipynb"))
    assert reports
    for notebook in reports:
        summary = read_report(notebook)
        built = SITE / "reports" / f"{notebook.stem}.html"
        assert built.exists(), f"no page for {notebook.name}"
        shown = page(built)
        assert shown.images, f"{built.name} shows no figure"
        # Sphinx's smart quotes turn ' and " into typographic ones
        text = " ".join(" ".join(shown.text).split()).translate(str.maketrans("‘’“”", "''\"\""))
        if summary.verdict is not None:
            assert summary.verdict["status"].capitalize() in text and summary.verdict["claim"][:60] in text
        # the findings page has a row for it
        assert f"reports/{notebook.stem}.html" in " ".join(page(SITE / "findings.html").links)


def _public_names() -> list[str]:
    namespaces = {"dynamic_graphs": dg}
    for name in dg.__all__:
        value = getattr(dg, name)
        if isinstance(value, type(dg)):
            namespaces[f"dynamic_graphs.{name}"] = value
    namespaces["dynamic_graphs.reports.verdicts"] = dg.reports.verdicts
    return [f"{module}.{name}" for module, namespace in namespaces.items()
            for name in getattr(namespace, "__all__", []) if not isinstance(getattr(namespace, name), type(dg))]


def test_every_public_name_has_its_api_page():
    documented = set()
    for path in (SITE / "api").rglob("*.html"):
        documented |= {i for i in page(path).ids if i.startswith("dynamic_graphs.")}
    missing = [name for name in _public_names() if name not in documented]
    assert not missing, f"{len(missing)} public names without an API entry: {missing[:30]}"


def test_the_landing_page_links_every_part_of_the_site():
    links = " ".join(page(SITE / "index.html").links)
    for part in ("getting-started/index.html", "guide/index.html", "reports/index.html", "findings.html",
                 "definitions.html", "benchmarks.html", "api/index.html"):
        assert part in links, f"the landing page does not link {part}"
    assert re.search(r"modularity", " ".join(page(SITE / "index.html").text), re.IGNORECASE)
