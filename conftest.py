"""Shared by the tests in tests/ and the doctests in dynamic_graphs/ (pytest's testpaths)."""
from __future__ import annotations

import pytest

from dynamic_graphs import progress


@pytest.fixture(autouse=True)
def fresh_progress_lines(monkeypatch):
    """Each test starts as new work: a progress loop that follows another at once continues its lines
    (the first is due one interval after the last), so a test (a doctest's expected output) would
    otherwise see a line of the test before it when that one ended within the interval."""
    monkeypatch.setattr(progress, "_idle_since", float("-inf"))
