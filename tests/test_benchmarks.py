"""The low-precision graph benchmark runs end to end and diagnoses its own comparison (slow tier: child processes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_lowp_graph.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_quick_run_compares_the_two_graphs(tmp_path):
    out = tmp_path / "lowp.txt"
    done = run("--quick", "--contenders", "float32", "bfloat16", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.with_suffix(".json").read_text())["results"]
    assert (row["n"], row["dim"]) == (2000, 512)
    comparison = row["comparison"]
    assert comparison["unexplained"] == []  # any differing row is a diagnosed float32 near-tie
    assert comparison["rows_differing"] == comparison["float32_near_ties"]
    assert comparison["abs_dq"] < 1e-6
    assert row["bfloat16"]["candidates"]["median"] >= 3  # at least the k = 3 chosen ones
    assert "bfloat16" in out.read_text() and "unexplained" not in out.read_text()


def test_tf32_and_cuda_are_refused_on_a_cpu_with_the_fix():
    done = run("--quick", "--contenders", "float32", "tf32")
    assert done.returncode != 0 and "add --device cuda" in done.stderr
    import torch

    if not torch.cuda.is_available():
        done = run("--quick", "--device", "cuda")
        assert done.returncode != 0 and "no CUDA device" in done.stderr
