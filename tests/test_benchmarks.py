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


@pytest.mark.slow
def test_the_callback_benchmark_times_each_probe_after_each_epoch(tmp_path, session_data_dir):
    out = tmp_path / "callback.txt"
    script = SCRIPT.with_name("bench_callback.py")
    done = subprocess.run([sys.executable, str(script), "--train-size", "256", "--epochs", "2", "--probes", "40x1",
                           "40x2", "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(row["probe"], row["epoch"]) for row in rows] == [("40x1", 1), ("40x1", 2), ("40x2", 1), ("40x2", 2)]
    assert all(row["recorder_s"] > 0 and row["recorder/epoch"] > 0 for row in rows)
