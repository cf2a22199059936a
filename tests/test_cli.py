"""The one command, ``dynamic-graphs`` (= ``python -m dynamic_graphs``): its subcommands and their usage errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from dynamic_graphs.cli import main

SUBCOMMANDS = ("report", "train", "zoo")


def _listed(help_text: str) -> list[str]:
    """The subcommands the top-level help lists, one per line with its description."""
    return [name for name in SUBCOMMANDS if any(line.split()[:1] == [name] and len(line.split()) > 1
                                                for line in help_text.splitlines())]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_python_m_lists_the_subcommands():
    done = _run(sys.executable, "-m", "dynamic_graphs", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m dynamic_graphs ")
    assert _listed(done.stdout) == list(SUBCOMMANDS), done.stdout


def test_the_console_script_lists_the_subcommands():
    script = shutil.which("dynamic-graphs", path=os.path.dirname(sys.executable)) or shutil.which("dynamic-graphs")
    if script is None:
        pytest.skip("the console script is not installed: pip install -e . (make setup does)")
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dynamic-graphs ")
    assert _listed(done.stdout) == list(SUBCOMMANDS), done.stdout


@pytest.mark.parametrize("command, options", [
    ("report", ["--all", "--tag", "--parameter", "--parameters-file", "--out-dir", "--executor", "--scheduler",
                "--workers"]),
    ("train", ["--epochs", "--seed", "--recipe", "--train-size", "--batch-size", "--precision", "--out", "--device"]),
    ("zoo", ["--dataset", "--seeds", "--recipe", "--epochs", "--train-size", "--precision", "--missing", "--out",
             "--replace", "--ship", "--device", "--test-every"]),
])
def test_each_subcommand_has_help_with_its_options(command, options, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: dynamic-graphs {command} ")
    assert "examples:" in text
    for option in options:
        assert option in text, (command, option)


def test_an_unknown_or_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice" in error and "frobnicate" in error
    assert all(name in error.split("invalid choice")[1] for name in SUBCOMMANDS), error  # it lists the real ones
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_bad_names_are_usage_errors_before_any_work(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "resnet21", "synthetic"])
    assert exit_.value.code == 2 and "Unknown model 'resnet21'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # refused before any model is loaded or trained
        main(["zoo", "resnet20", "--test-every", "0"])
    assert exit_.value.code == 2 and "test_every must be an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["report", "fig99"])
    assert exit_.value.code == 2 and "notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["report"])
    assert exit_.value.code == 2 and "name a notebook or pass --all" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # a name the notebook does not declare: refused, not ignored
        main(["report", "fig3", "-p", "repeat", "1"])
    assert exit_.value.code == 2 and "Unknown parameter 'repeat'. Did you mean 'repeats'?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # Python's names are case-sensitive: Repeats would be ignored
        main(["report", "fig3", "-p", "Repeats", "1"])
    assert exit_.value.code == 2 and "Unknown parameter 'Repeats'. Did you mean 'repeats'?" in capsys.readouterr().err
