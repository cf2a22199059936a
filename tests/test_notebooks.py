"""Every figure notebook has a tagged parameters cell, holds no logic, and runs at the CI preset.

The notebooks run in kernels (subprocesses) that read ``$DG_DATA_DIR``: conftest.py points it at a
temporary directory for the session, so a model of the CI preset is trained once per session and
a stale checkpoint in the repository's ``data/`` can never make a notebook pass.
``$DG_TEST_DEVICE`` (default cpu) is the notebooks' ``device``.
"""
from __future__ import annotations

import ast
import os
import re
import warnings
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


def ci_parameters(name: str) -> dict:
    """The CI preset's parameters that notebook ``name`` declares (the preset is shared by all of them)."""
    known = set(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))
    return {key: value for key, value in CI_PARAMETERS.items() if key in known}


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_declares_the_shared_names(path):
    parameters = papermill.inspect_notebook(str(path))
    required = REQUIRED - {"model", "dataset"} if path.stem == "asymptotics" else REQUIRED  # it has no network
    assert required <= set(parameters), f"{path.name} lacks parameters {required - set(parameters)}"
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_in_normal_form(path):
    """Opening and saving in JupyterLab changes nothing: ids on every cell, nbformat's own layout."""
    text = path.read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning and friends fail the test
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    assert all(cell.get("id") for cell in notebook.cells)
    assert nbformat.writes(notebook) + "\n" == text, f"{path.name} is not in nbformat's normal form"
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in notebook.cells if cell.cell_type == "code"), f"{path.name} stores outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_are_listed_once_and_read_by_start(path):
    """The cell after the parameters cell is ``run = dg.reports.start(...)``; no cell repeats the list."""
    cells = nbformat.read(path, as_version=4).cells
    index = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert re.match(r"run = dg\.reports\.start\(", cells[index + 1].source), (
        f"{path.name}: the cell after the parameters cell must call dg.reports.start")
    declared = set(papermill.inspect_notebook(str(path)))
    for cell in cells[index + 1:]:
        assert "check_parameters" not in cell.source and "run_info" not in cell.source, path.name
        if cell.cell_type == "code":
            calls = [node for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Call)]
            for call in calls:  # no call passes most of the parameters by their own names (a repeated list)
                echoed = [kw.arg for kw in call.keywords if isinstance(kw.value, ast.Name) and kw.arg == kw.value.id]
                assert len(echoed) < max(8, len(declared) - 2), f"{path.name} repeats its parameter list"


@pytest.fixture
def kernel_data_dir(session_data_dir):
    """The session's temporary data directory, which notebook kernels inherit as ``$DG_DATA_DIR``."""
    assert os.environ.get("DG_DATA_DIR") == str(session_data_dir)
    assert Path(session_data_dir).resolve() != (NOTEBOOK_DIR.parent / "data").resolve()
    return Path(session_data_dir)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_at_the_ci_preset_and_renders_a_report(path, tmp_path, kernel_data_dir):
    parameters = ci_parameters(path.stem)
    html = render(path.stem, parameters, out_dir=tmp_path)
    assert list((tmp_path / "figures").glob("*.png")), f"{path.name} saved no figure"
    text = html.read_text()
    assert "import dynamic_graphs" not in text  # code cells are left out of the report
    assert "commit" in text and "<img" in text
    # read like a paper's figure: a specific title, the figure first, its verdict, alt text on every image
    title = re.search(r"<title>(.*?)</title>", text).group(1)
    assert title != "Notebook" and (path.stem == "asymptotics" or parameters["model"] in title), title
    assert text.index("<img") < text.find("<table") or "<table" not in text
    assert re.search(r"<strong>(Holds|Partly holds|Does not hold|Not measurable)\.</strong>", text), "no verdict"
    assert not re.search(r"<img(?![^>]*\balt=)", text), "an image without alternative text"
    assert "No description has been provided" not in text
    assert "Empty DataFrame" not in text and "…" not in text.split("Parameters and provenance")[-1]
    if path.stem == "fig3":  # it trains its model: the checkpoint lands in the temporary data directory
        assert list((kernel_data_dir / "checkpoints").rglob("*.pt"))


@pytest.mark.slow
def test_an_unknown_model_fails_early_with_a_clear_message(tmp_path, kernel_data_dir):
    with pytest.raises(papermill.PapermillExecutionError, match="Unknown model 'resnet65'.*resnet56"):
        papermill.execute_notebook(str(NOTEBOOK_DIR / "fig3.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={**ci_parameters("fig3"), "model": "resnet65"}, kernel_name="python3",
                                   progress_bar=False)


@pytest.mark.slow
def test_a_misspelt_parameter_is_refused_naming_the_close_one(tmp_path, kernel_data_dir):
    """papermill only warns about a name the notebook does not declare; the notebook itself refuses it."""
    with pytest.raises(papermill.PapermillExecutionError, match=r"Unknown parameter 'repeat'\. Did you mean 'repeats'"):
        papermill.execute_notebook(str(NOTEBOOK_DIR / "fig3.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"repeat": 1}, kernel_name="python3", progress_bar=False)
    assert not list(kernel_data_dir.rglob("fig3_*.png"))


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
    parameters = {**ci_parameters("fig3"), "model": "resnet32", name: value}  # papermill -p passes "abc" as a string
    with pytest.raises(papermill.PapermillExecutionError, match=message) as caught:
        papermill.execute_notebook(str(NOTEBOOK_DIR / "fig3.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=parameters, kernel_name="python3", progress_bar=False)
    assert "dg.reports.start(" in caught.value.source  # the cell that failed: the check, not a later one
    assert not list(data.rglob("*.pt")), "the notebook trained or cached something before checking its parameters"


DOCS = NOTEBOOK_DIR.parent / "docs"
# the tracked ones: docs/reports/ is written from reports/ when the site builds, docs/_build/ is the site
DOCS_NOTEBOOKS = sorted(p for p in DOCS.rglob("*.ipynb") if p.relative_to(DOCS).parts[0] not in ("reports", "_build")
                        and ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", DOCS_NOTEBOOKS, ids=lambda p: p.name)
def test_docs_notebook_is_stored_executed_in_normal_form(path):
    """The site shows a docs notebook's stored outputs (it never executes it): every code cell ran, in order."""
    text = path.read_text(encoding="utf-8")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    assert nbformat.writes(notebook) + "\n" == text, f"{path.name} is not in nbformat's normal form"
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: run it top to bottom (make first-curve)"
    images = [cell for cell in notebook.cells for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert images and all(cell.metadata.get("mystnb", {}).get("image", {}).get("alt") for cell in images)


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS_NOTEBOOKS, ids=lambda p: p.name)
def test_docs_notebook_still_runs(path, tmp_path, kernel_data_dir):
    # executed into tmp_path: the stored outputs are refreshed only by `make first-curve`
    papermill.execute_notebook(str(path), str(tmp_path / path.name), cwd=str(path.parent), progress_bar=False)
