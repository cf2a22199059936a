"""Three fixes to what autodoc shows on the API pages (docs/api/), which docs/api/*.md list.

- A constant (``.. autodata::``) has no docstring of its own, so autodoc shows its *type's*
  (``dict``'s, ``tuple``'s, ``DataFrame``'s). The API documents constants where the namespace
  exports them (``dynamic_graphs.training.RECIPES``), but their comments sit above the assignment
  in the module that defines them (``training/recipes.py``), where autodoc does not look. This
  shows that comment block (``#`` or ``#:``) instead; an instance of one of the package's classes
  (``settings``) shows that class's docstring; otherwise nothing.
- napoleon escapes the star of ``*args`` only when it is the first of several names on one line
  (``spec, **options: ...``), so the others are read as unclosed emphasis; they are escaped here.
- Docstrings name objects where the code defines them (:func:`knn_graph` inside ``graphs/knn.py``,
  ``dynamic_graphs.figures.metrics.cost_correlations``), but each is documented once, where the
  public API exports it (``dynamic_graphs.knn_graph``, ``dynamic_graphs.figures.cost_correlations``).
  A reference that does not resolve is tried there: the same name in a parent namespace of the
  target or of the current module, else the one documented object of that name; a submodule
  (:mod:`.registry`) links to the namespace page that lists its public names.
"""
from __future__ import annotations

import ast
import inspect
import re
import sys
from functools import lru_cache
from pathlib import Path

from sphinx.ext.napoleon.docstring import GoogleDocstring
from sphinx.util.nodes import make_refnode

_STARRED = re.compile(r"^(\s*:(?:param|type)\s+)(\*{1,2})(\w+:)")


@lru_cache(maxsize=None)
def _statements(path: str) -> tuple[list[ast.stmt], list[str]]:
    text = Path(path).read_text(encoding="utf-8")
    return ast.parse(text).body, text.splitlines()


def _assigns(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _comment_above(path: str, name: str) -> list[str] | None:
    """The docstring or comment block of ``name``'s top-level assignment in ``path`` (None: not assigned there)."""
    body, lines = _statements(path)
    for i, node in enumerate(body):
        if name not in _assigns(node):
            continue
        # a string literal right after the assignment is a docstring (Sphinx's convention)
        if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr) and isinstance(getattr(body[i + 1], "value", None), ast.Constant) \
                and isinstance(body[i + 1].value.value, str):
            return inspect.cleandoc(body[i + 1].value.value).splitlines()
        start = node.lineno - 2  # 0-based index of the line above: only a comment right above counts
        block = []
        while start >= 0 and lines[start].lstrip().startswith("#"):
            block.insert(0, re.sub(r"^\s*#:? ?", "", lines[start]))
            start -= 1
        return block
    return None


def _defining_comment(fullname: str, obj) -> list[str]:
    modname, _, short = fullname.rpartition(".")
    for name, module in sorted(sys.modules.items()):
        if not (name == modname or name.startswith(modname + ".")) or getattr(module, short, None) is not obj:
            continue
        path = getattr(module, "__file__", None)
        if path and path.endswith(".py"):
            block = _comment_above(path, short)
            if block is not None:
                return block
    return []


_TYPE_DOCSTRING: set[str] = set()  # constants whose docstring is their type's


def _drop_type_docstring(app, what, name, obj, options, lines):
    if what != "data" or not lines:
        return
    type_doc = type(obj).__doc__
    if type_doc and [line.strip() for line in lines if line.strip()] == \
            [line.strip() for line in inspect.cleandoc(type_doc).splitlines() if line.strip()]:
        lines[:] = []
        _TYPE_DOCSTRING.add(name)


def _insert_comment(app, what, name, obj, options, lines):
    # after napoleon, which would read a comment's "text: more text" as "type: description"
    if what == "data" and name in _TYPE_DOCSTRING and not lines:
        lines[:] = _defining_comment(name, obj)
        if not lines and type(obj).__module__.startswith("dynamic_graphs"):
            # an instance of the package's own class (``settings``): that class's docstring, read as one
            # (its attributes are the instance's, not objects of the module: no index entries)
            doc = GoogleDocstring(inspect.cleandoc(type(obj).__doc__), app.config, app, what="class").lines()
            lines[:] = [new for line in doc
                        for new in ([line, "   :no-index:"] if line.startswith(".. attribute::") else [line])]
        if lines and lines[-1]:
            lines.append("")


def _escape_starred(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        lines[i] = _STARRED.sub(lambda m: m.group(1) + "\\*" * len(m.group(2)) + m.group(3), line)


def _parents(dotted: str) -> list[str]:
    parts = dotted.split(".") if dotted else []
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"].lstrip(".~")
    module = node.get("py:module") or ""
    here = node.get("refdoc")
    if node["reftype"] == "mod":
        for name in _parents(target) + [p + "." + target for p in _parents(module)]:
            for parent in _parents(name):
                if parent in domain.modules and parent != "dynamic_graphs" and name.startswith(parent + "."):
                    entry = domain.modules[parent]
                    return make_refnode(app.builder, here, entry.docname, entry.node_id, contnode, parent)
        return None
    prefix, _, short = target.rpartition(".")
    candidates = [p + "." + short for p in _parents(prefix) + _parents(module)]
    found = next((name for name in candidates if name in domain.objects), None)
    if found is None:
        matches = [name for name, entry in domain.objects.items()
                   if name.endswith("." + target) and name.startswith("dynamic_graphs.") and not entry.aliased]
        found = matches[0] if len(matches) == 1 else None
    if found is None:
        return None
    entry = domain.objects[found]
    return make_refnode(app.builder, here, entry.docname, entry.node_id, contnode, found)


def setup(app):
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)  # before napoleon (500)
    app.connect("autodoc-process-docstring", _insert_comment, priority=900)  # after napoleon
    app.connect("autodoc-process-docstring", _escape_starred, priority=900)
    app.connect("missing-reference", _resolve)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
