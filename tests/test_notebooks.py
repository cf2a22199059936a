"""Every figure notebook has a tagged parameters cell, holds no logic, and runs at the CI preset.

The notebooks run in kernels (subprocesses) that read ``$DG_DATA_DIR``: conftest.py points it at a
temporary directory for the session, so a model of the CI preset is trained once per session and
a stale checkpoint in the repository's ``data/`` can never make a notebook pass.
``$DG_TEST_DEVICE`` (default cpu) is the notebooks' ``device``.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from dynamic_graphs.reports import render

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CI_PARAMETERS = {**yaml.safe_load((NOTEBOOK_DIR / "ci-parameters.yml").read_text()),
                 "device": os.environ.get("DG_TEST_DEVICE", "cpu")}
REQUIRED = {"model", "dataset", "seed", "device"}


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_declares_the_shared_names(path):
    parameters = papermill.inspect_notebook(str(path))
    assert REQUIRED <= set(parameters), f"{path.name} lacks parameters {REQUIRED - set(parameters)}"
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(cell.source).body:  # literals only
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell holds {ast.dump(node)[:60]}"
        ast.literal_eval(node.value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_hold_no_function_or_class_definitions(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)
            assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))], (
                f"{path.name} defines code; move it into the package")


@pytest.fixture
def kernel_data_dir(session_data_dir):
    """The session's temporary data directory, which notebook kernels inherit as ``$DG_DATA_DIR``."""
    assert os.environ.get("DG_DATA_DIR") == str(session_data_dir)
    assert Path(session_data_dir).resolve() != (NOTEBOOK_DIR.parent / "data").resolve()
    return Path(session_data_dir)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_at_the_ci_preset_and_renders_a_report(path, tmp_path, kernel_data_dir):
    known = set(papermill.inspect_notebook(str(path)))
    parameters = {key: value for key, value in CI_PARAMETERS.items() if key in known}
    html = render(path.stem, parameters, out_dir=tmp_path)
    assert list((tmp_path / "figures").glob("*.png")), f"{path.name} saved no figure"
    text = html.read_text()
    assert "import dynamic_graphs" not in text  # code cells are left out of the report
    assert "commit" in text and "<img" in text
    if path.stem == "fig3":  # it trains its model: the checkpoint lands in the temporary data directory
        assert list((kernel_data_dir / "checkpoints").rglob("*.pt"))


@pytest.mark.slow
def test_an_unknown_model_fails_early_with_a_clear_message(tmp_path, kernel_data_dir):
    with pytest.raises(papermill.PapermillExecutionError, match="Unknown model 'resnet65'.*resnet56"):
        papermill.execute_notebook(str(NOTEBOOK_DIR / "fig3.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={**CI_PARAMETERS, "model": "resnet65"}, kernel_name="python3",
                                   progress_bar=False)


def test_full_run_parameters_name_real_notebooks_and_parameters():
    from dynamic_graphs.reports import RULES
    from dynamic_graphs.reports.rendering import FULL_RUN_PARAMETERS, full_runs, notebook_names

    config = yaml.safe_load(FULL_RUN_PARAMETERS.read_text())
    assert set(config) <= set(notebook_names())
    for name in config:
        known = set(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))
        runs = full_runs(name, config)
        tags = [tag for tag, _ in runs]
        assert len(set(tags)) == len(tags), f"{name}: two full runs write the same report"
        for _, parameters in runs:
            assert set(parameters) <= known, f"{name}: unknown parameters {set(parameters) - known}"
            for key, value in parameters.items():  # each value passes the check its notebook runs first
                RULES[key](key, value)


@pytest.mark.slow
@pytest.mark.parametrize("name, value, message", [
    ("n", -5, r"ValueError: n must be an integer >= 1, got -5\."),
    ("k", "abc", r"TypeError: k must be an integer, got 'abc' \(str\)\."),
    ("repeats", 0, r"ValueError: repeats must be an integer >= 1, got 0\."),
])
def test_a_bad_parameter_fails_before_any_training(name, value, message, tmp_path, monkeypatch):
    data = tmp_path / "data"  # empty: nothing cached that could hide a training run
    monkeypatch.setenv("DG_DATA_DIR", str(data))
    parameters = {**CI_PARAMETERS, "model": "resnet32", name: value}  # papermill -p passes "abc" as a string
    with pytest.raises(papermill.PapermillExecutionError, match=message) as caught:
        papermill.execute_notebook(str(NOTEBOOK_DIR / "fig3.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=parameters, kernel_name="python3", progress_bar=False)
    assert "dg.reports.check_parameters(" in caught.value.source  # the cell that failed: the check, not a later one
    assert not list(data.rglob("*.pt")), "the notebook trained or cached something before checking its parameters"
