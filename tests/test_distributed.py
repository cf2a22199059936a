"""Training under torchrun: DistributedDataParallel on two CPU processes (gloo), one checkpoint written by
rank 0 in the single-process format, the same weights in every process, and a resume after a kill."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import dynamic_graphs as dg
from dynamic_graphs.utils import state_digest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")]


def _torchrun(*args: str, data_dir) -> subprocess.Popen:
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    env = {**os.environ, "DG_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", "DG_VERBOSITY": "1"}
    return subprocess.Popen([torchrun, "--standalone", "--nproc_per_node=2", "-m", "dynamic_graphs", "train", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_two_processes_write_one_checkpoint_that_every_rank_holds(tmp_path, monkeypatch):
    run = _torchrun("resnet20", "synthetic", "--epochs", "2", data_dir=tmp_path)
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    path = next((tmp_path / "checkpoints" / "synthetic").glob("resnet20-*.pt"))
    saved = dg.training.load_checkpoint(path, device="cpu")
    assert saved.checkpoint["epoch"] == 2 and saved.checkpoint["complete"] and saved.checkpoint["processes"] == 2
    views = re.findall(r"rank (\d): weights (\w+), checkpoint (\w+)", output)
    assert sorted(rank for rank, _, _ in views) == ["0", "1"], output
    assert {digest for _, weights, checkpoint in views for digest in (weights, checkpoint)} == {state_digest(saved)}
    assert output.count("epoch   1 ") == 1  # rank 0 alone logs the epochs
    # the file is the cache entry pretrained() reads for these options: loaded, not trained again
    monkeypatch.setattr(dg.settings, "data_dir", tmp_path)
    again = dg.pretrained("resnet20", "synthetic", epochs=2, device="cpu")
    assert state_digest(again) == state_digest(saved)


@pytest.mark.skipif(shutil.which("pkill") is None, reason="needs pkill to kill torchrun's workers")
def test_a_run_killed_after_its_first_epoch_resumes_from_it(tmp_path):
    out = tmp_path / "run.pt"
    options = ("resnet56", "synthetic", "--epochs", "6", "--batch-size", "8", "--out", str(out))  # ~1 s an epoch
    run = _torchrun(*options, data_dir=tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for epoch 1's checkpoint, then kill every process of the run
        if out.exists() and torch.load(out, weights_only=True)["epoch"] >= 1:
            break
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    # torchrun's workers may sit in their own sessions: kill every process of this run by its --out path
    subprocess.run(["pkill", "-KILL", "-f", str(out)], check=False)
    run.communicate(timeout=60)
    time.sleep(0.5)
    epochs_done = torch.load(out, weights_only=True)["epoch"]
    assert 1 <= epochs_done < 6
    resumed = _torchrun(*options, data_dir=tmp_path)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert f"epochs 1-{epochs_done} done, continuing at epoch {epochs_done + 1} of 6" in output
    final = torch.load(out, weights_only=True)
    assert final["complete"] and [row["epoch"] for row in final["history"]] == [1, 2, 3, 4, 5, 6]
