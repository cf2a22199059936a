"""Cache entries stay whole, and are produced once, when several processes want them at once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from dynamic_graphs.utils import cache_lock

TRAIN = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    import torch
    torch.set_num_threads(1)
    import dynamic_graphs as dg
    from dynamic_graphs.utils import state_digest
    dg.settings.verbosity = 1  # the "Training ..." and "Waiting ..." lines, whatever the test session set
    model = dg.pretrained("resnet20", "synthetic", model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=3,
                          batch_size=16, train_size=192)
    print(state_digest(model))
""")


def _child(code: str, data_dir) -> subprocess.Popen:
    env = {**os.environ, "DG_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_two_processes_asking_for_one_model_train_it_once_and_get_the_same_weights(tmp_path):
    first, second = _child(TRAIN, tmp_path), _child(TRAIN, tmp_path)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    digests = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert digests[0] == digests[1]
    logs = "".join(out + err for out, err in outputs)  # the package logs where notebooks show it (stdout)
    assert logs.count("Training resnet20 on synthetic") == 1, logs
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints" / "synthetic").iterdir())
    assert len([name for name in checkpoints if name.endswith(".pt")]) == 1  # one entry, no temporary left


def test_a_killed_producer_leaves_no_lock_that_blocks(tmp_path):
    entry = tmp_path / "cache" / "entry.pt"
    holder = _child(textwrap.dedent(f"""
        import time
        from dynamic_graphs.utils import cache_lock
        with cache_lock({str(entry)!r}):
            print("holding", flush=True)
            time.sleep(60)
    """), tmp_path)
    assert holder.stdout.readline().strip() == "holding"
    from filelock import FileLock, Timeout

    with pytest.raises(Timeout):  # held: another process cannot take it
        FileLock(f"{entry}.lock").acquire(timeout=0.2)
    holder.send_signal(signal.SIGKILL)  # the producer crashes mid-way
    holder.wait(timeout=10)
    started = time.perf_counter()
    with cache_lock(entry):  # the system released the dead holder's lock: no waiting
        pass
    assert time.perf_counter() - started < 5 and not entry.exists()
    holder.stdout.close()
    holder.stderr.close()


def test_a_failed_producer_removes_its_lock_and_folders(tmp_path):
    entry = tmp_path / "new" / "deeper" / "entry.pt"
    with pytest.raises(RuntimeError, match="download failed"):
        with cache_lock(entry):
            raise RuntimeError("download failed")
    assert not (tmp_path / "new").exists()
    with cache_lock(entry):  # a success keeps its lock file beside the entry (harmless: an OS lock)
        entry.write_text("done")
    assert entry.read_text() == "done"
