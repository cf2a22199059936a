"""The package surface: a light import, a small top level, namespaces that each export a name once."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import dynamic_graphs

PACKAGE = Path(dynamic_graphs.__file__).parent

# Growing the top level is a decision: change this list on purpose, never to make the test pass.
TOP_LEVEL = [
    "settings", "CurveSpec",
    "get_dataset", "get_model", "list_models", "probe_layers", "pretrained",
    "modularity_curve", "summarize_curve", "summarize_seeds", "draw_samples", "stack_curves", "curve_labels",
    "knn_graph", "modularity",
    "data", "models", "training", "features", "graphs", "curve", "frames", "metrics", "pruning", "attacks",
    "figures", "pl", "reports",
]


def test_import_does_not_load_igraph_or_leidenalg():
    code = "import sys, dynamic_graphs; print(sorted({'igraph', 'leidenalg'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_top_level_is_the_pinned_short_list():
    assert dynamic_graphs.__all__ == TOP_LEVEL
    assert len(dynamic_graphs.__all__) <= 30
    missing = [name for name in dynamic_graphs.__all__ if not hasattr(dynamic_graphs, name)]
    assert not missing


def _library_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _literal_all(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
            return ast.literal_eval(node.value)  # raises for anything but a literal list
    return None


@pytest.mark.parametrize("path", _library_modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_every_public_module_writes_its_all_by_hand(path):
    if path.name.startswith("_") and path.name != "__init__.py" or path.name == "__main__.py":
        return  # private modules and the entry point export nothing
    names = _literal_all(path)
    assert names is not None, f"{path.name} has no literal __all__"
    module = importlib.import_module(_module_name(path))
    assert [name for name in names if not hasattr(module, name)] == []


def test_no_function_is_exported_twice():
    top = {name for name in dynamic_graphs.__all__ if not isinstance(getattr(dynamic_graphs, name), types.ModuleType)}
    homes: dict[str, str] = {}
    for namespace in dynamic_graphs.__all__:
        module = getattr(dynamic_graphs, namespace)
        if not isinstance(module, types.ModuleType):
            continue
        for name in module.__all__:
            assert name not in top, f"{name} is exported both as dg.{name} and as dg.{namespace}.{name}"
            homes.setdefault(name, namespace)
    plot_functions = [name for name in homes if name.startswith("plot_")]
    assert all(homes[name] == "pl" for name in plot_functions)


def test_no_module_imports_another_modules_private_name():
    offenders = []
    for path in _library_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                offenders += [f"{path.relative_to(PACKAGE)}: {alias.name}" for alias in node.names
                              if alias.name.startswith("_") and alias.name != "__version__"]
    assert offenders == []


def test_no_library_module_is_over_500_lines():
    long = {str(path.relative_to(PACKAGE)): length for path in _library_modules()
            if (length := len(path.read_text().splitlines())) > 500}
    assert long == {}


def test_data_and_training_are_packages_of_one_job_each():
    for name in ("data", "training"):
        package = importlib.import_module(f"dynamic_graphs.{name}")
        assert hasattr(package, "__path__")
        assert len(list(pkgutil.iter_modules(package.__path__))) >= 3
