"""The package surface: light import, a complete __all__."""
from __future__ import annotations

import subprocess
import sys

import dynamic_graphs


def test_import_does_not_load_igraph_or_leidenalg():
    code = "import sys, dynamic_graphs; print(sorted({'igraph', 'leidenalg'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_everything_in_all_exists():
    missing = [name for name in dynamic_graphs.__all__ if not hasattr(dynamic_graphs, name)]
    assert not missing
