"""Rendering reports: where the outputs go, the provenance they record, no machine paths in them.

Fast tests: papermill's execution is replaced by a stub that writes a notebook, and git runs in a
throw-away repository under ``tmp_path``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import nbformat.v4
import papermill
import pytest

import dynamic_graphs.reports.rendering as reports
from dynamic_graphs import settings
from dynamic_graphs.cli import main
from dynamic_graphs.reports import render
from dynamic_graphs.utils import git_commit, restored_environ, shown_path

REPO = Path(__file__).resolve().parent.parent
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A committed repository with code, a tracked report and a data directory inside it."""
    root = tmp_path / "checkout"
    for relative, text in {"pkg/code.py": "x = 1\n", "reports/fig3.html": "<p>old</p>\n",
                           "reports/figures/fig3.png": "png\n", "data/README.md": "caches\n"}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "initial")
    monkeypatch.setattr(settings, "data_dir", root / "data")
    return root


@needs_git
def test_git_commit_is_clean_on_a_clean_checkout(checkout):
    assert git_commit(checkout) == _git(checkout, "rev-parse", "--short", "HEAD")
    assert git_commit(checkout / "pkg") == git_commit(checkout)  # any folder of the checkout


@needs_git
def test_rewritten_reports_do_not_make_the_code_dirty(checkout):
    # What rendering does before the run_info cell asks: the tracked report and figures are rewritten.
    (checkout / "reports" / "fig3.html").write_text("<p>new</p>\n")
    (checkout / "reports" / "figures" / "fig3.png").write_text("new png\n")
    (checkout / "data" / "README.md").write_text("a data directory inside the checkout is output too\n")
    assert not git_commit(checkout).endswith("+dirty")


@needs_git
def test_a_changed_code_file_makes_it_dirty(checkout):
    (checkout / "pkg" / "code.py").write_text("x = 2\n")
    (checkout / "reports" / "fig3.html").write_text("<p>new</p>\n")
    assert git_commit(checkout) == _git(checkout, "rev-parse", "--short", "HEAD") + "+dirty"


@needs_git
def test_a_data_directory_outside_the_checkout_excludes_nothing_else(checkout, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path / "elsewhere")
    (checkout / "data" / "README.md").write_text("changed\n")  # now an ordinary tracked file
    assert git_commit(checkout).endswith("+dirty")


def test_git_commit_outside_a_repository_is_none(tmp_path):
    assert git_commit(tmp_path) is None


def test_shown_path_drops_the_machine_prefix(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path / "data")
    assert shown_path(REPO / "data" / "checkpoints" / "a.pt") == "data/checkpoints/a.pt"
    assert shown_path(tmp_path / "data" / "checkpoints" / "a.pt") == "<data_dir>/checkpoints/a.pt"
    assert shown_path("/somewhere/else.pt") == "/somewhere/else.pt"


@pytest.fixture
def fake_execute(monkeypatch):
    """papermill.execute_notebook replaced: records its arguments and writes a one-cell notebook."""
    calls = []

    def execute(source, output, parameters, **kwargs):
        calls.append({"source": source, "output": output, "parameters": dict(parameters), **kwargs})
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("executed")])
        notebook.metadata["papermill"] = {"input_path": source, "output_path": output, "parameters": parameters}
        nbformat.write(notebook, output)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return calls


def _absolute_paths(value):
    texts = value.values() if isinstance(value, dict) else [value]
    return [text for text in texts if isinstance(text, str) and Path(text).is_absolute()]


def test_render_passes_no_absolute_path(tmp_path, fake_execute):
    html = render("table1", {"model": "vgg11"}, out_dir=tmp_path)
    call, = fake_execute
    assert not _absolute_paths(call["parameters"]), call["parameters"]
    assert call["parameters"] == {"fig_dir": "figures", "report_dir": ".", "model": "vgg11"}
    assert Path(call["cwd"]) == tmp_path.resolve()  # the relative paths are the report's own folder
    recorded = nbformat.read(tmp_path / "table1.ipynb", as_version=4).metadata["papermill"]
    assert recorded["input_path"] == "notebooks/table1.ipynb" and recorded["output_path"] == "table1.ipynb"
    assert str(tmp_path) not in html.read_text() and str(REPO) not in (tmp_path / "table1.ipynb").read_text()


def test_render_records_repository_names_for_a_report_in_the_checkout(tmp_path, fake_execute, monkeypatch):
    monkeypatch.setattr(reports, "_REPO", tmp_path)
    render("fig3", {}, out_dir=tmp_path / "reports")
    recorded = nbformat.read(tmp_path / "reports" / "fig3.ipynb", as_version=4).metadata["papermill"]
    assert recorded["output_path"] == "reports/fig3.ipynb"


def test_a_tagged_render_keeps_its_figures_apart(tmp_path, fake_execute):
    html = render("fig3", {"model": "vgg11"}, out_dir=tmp_path, tag="vgg11")
    assert html == tmp_path / "fig3-vgg11.html" and html.exists() and (tmp_path / "fig3-vgg11.ipynb").exists()
    assert fake_execute[-1]["parameters"] == {"fig_dir": "figures/fig3-vgg11", "model": "vgg11"}
    render("fig3", {}, out_dir=tmp_path)
    assert fake_execute[-1]["parameters"]["fig_dir"] == "figures"


def test_the_executed_notebook_is_written_only_when_the_run_succeeds(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))  # the failed run's notebook stays there
    (tmp_path / "scratch").mkdir()
    (tmp_path / "fig3.ipynb").write_text("the committed report\n")

    def failing(source, output, parameters, **kwargs):
        assert Path(output).parent != tmp_path  # papermill writes a temporary file, not the report
        nbformat.write(nbformat.v4.new_notebook(), output)
        raise RuntimeError("a cell failed")

    monkeypatch.setattr(papermill, "execute_notebook", failing)
    with pytest.raises(RuntimeError, match="a cell failed"):
        render("fig3", {}, out_dir=tmp_path)
    assert (tmp_path / "fig3.ipynb").read_text() == "the committed report\n"
    assert not (tmp_path / "fig3.html").exists()
    assert list((tmp_path / "scratch").glob("dg-render-fig3-*/fig3.ipynb"))  # kept for debugging


def test_a_tag_names_the_report(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(reports, "render", lambda name, parameters, out_dir, tag: calls.append((name, tag, parameters)))
    main(["report", "fig3", "--tag", "deep", "-p", "model", "[resnet110, vgg16]", "--out-dir", str(tmp_path)])
    assert calls == [("fig3", "deep", {"model": ["resnet110", "vgg16"]})]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_renders_outside_the_tracked_reports():
    commands = subprocess.run(["make", "-n", "demo"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
    demo = next(line for line in commands.splitlines() if "dynamic-graphs report " in line)
    out_dir = Path(demo.split("--out-dir")[1].split()[0])
    assert out_dir.parts[0] == "out", demo
    if shutil.which("git"):  # out/ is gitignored, so the demo leaves `git status` clean
        assert subprocess.run(["git", "check-ignore", "-q", str(out_dir / "fig3.html")], cwd=REPO).returncode == 0


def test_environment_yml_lists_what_pyproject_does():
    import yaml
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["notebooks"],
              *project["optional-dependencies"]["test"]]
    conda_names = {"pytorch": "torch", "python-igraph": "igraph"}
    listed = {}
    for entry in yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]:
        for line in entry["pip"] if isinstance(entry, dict) else [entry]:
            if line in ("pip", "-e ."):
                continue
            if line.startswith("python>="):
                assert line == "python" + project["requires-python"]
                continue
            requirement = Requirement(line)
            listed[conda_names.get(requirement.name, requirement.name)] = str(requirement.specifier)
    assert listed == {Requirement(line).name: str(Requirement(line).specifier) for line in wanted}
    # torchattacks goes in apart, without its requests pin, wherever the environment is made.
    attacks, = project["optional-dependencies"]["attacks"]
    for setup in ("environment.yml", "Makefile"):
        assert f"--no-deps {attacks}" in (REPO / setup).read_text().replace('"', ""), setup


@pytest.mark.slow
def test_a_rendered_report_holds_no_path_of_this_machine(tmp_path, session_data_dir):
    # The cheapest notebook (no model): its report names figures relative to itself.
    html = render("asymptotics", {"ns": [30, 60], "ks": [3], "separations": [0.6], "repeats": 1},
                  out_dir=tmp_path)
    for report in (html, tmp_path / "asymptotics.ipynb"):
        text = report.read_text()
        for prefix in {str(tmp_path), str(REPO), str(session_data_dir)}:
            assert prefix not in text, f"{report.name} contains {prefix}"
    assert "figures/asymptotics_C10_d64.png" in html.read_text()
    assert ">commit</th>" in html.read_text()
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside the report


def test_all_with_names_renders_those_notebooks_full_runs_and_a_tag_picks_one(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(reports, "render", lambda name, parameters, out_dir, tag: calls.append((name, tag, parameters)))
    config = tmp_path / "parameters.yml"
    config.write_text("fig3:\n  - model: resnet20\n  - tag: deep\n    model: [resnet110, vgg16]\n"
                      "table1:\n  max_layers: 16\n")
    monkeypatch.setattr(reports, "FULL_RUN_PARAMETERS", config)
    assert main(["report", "table1", "--all", "-p", "n", "60"]) == 0
    assert calls == [("table1", None, {"max_layers": 16, "n": 60})]
    calls.clear()
    assert main(["report", "fig3", "--all", "--tag", "deep"]) == 0
    assert calls == [("fig3", "deep", {"model": ["resnet110", "vgg16"]})]
    with pytest.raises(SystemExit):
        main(["report", "fig3", "--all", "--tag", "wide"])
    assert "has no run tagged 'wide' for fig3; its tags there: deep." in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the per-notebook file as -f would pass every notebook's runs as parameters
        main(["report", "table1", "-f", str(config)])
    assert "maps notebooks (fig3, table1) to their runs" in capsys.readouterr().err


def test_a_sweep_runs_every_report_lists_the_failures_and_exits_non_zero(tmp_path, monkeypatch, caplog):
    calls = []

    def fake_render(name, parameters, out_dir, tag):
        calls.append((name, parameters))
        if parameters.get("n") == -5 and name == "fig6":
            raise ValueError("n must be an integer >= 1, got -5.")
        return Path(out_dir) / f"{name}.html"

    monkeypatch.setattr(reports, "render", fake_render)
    shared = tmp_path / "params.yml"
    shared.write_text("n: 60\nk: 3\n")
    assert main(["report", "fig3", "fig6", "-f", str(shared), "-p", "k", "5", "--out-dir", str(tmp_path)]) == 0
    assert calls == [("fig3", {"n": 60, "k": 5}), ("fig6", {"n": 60, "k": 5})]  # -p over -f, for every run
    calls.clear()
    assert main(["report", "fig6", "fig3", "-f", str(shared), "-p", "n", "-5", "--out-dir", str(tmp_path)]) == 1
    assert [name for name, _ in calls] == ["fig6", "fig3"]  # the failure did not stop the next run
    assert "1 of 2 runs failed" in caplog.text and "fig6: ValueError: n must be an integer >= 1, got -5." in caplog.text
    with pytest.raises(SystemExit):
        main(["report", "fig3", "--scheduler", "tcp://localhost:8786"])  # a scheduler needs --executor dask
    (tmp_path / "list.yml").write_text("[1, 2]\n")
    with pytest.raises(SystemExit):
        main(["report", "fig3", "-f", str(tmp_path / "list.yml")])


def test_restored_environ_undoes_what_a_cluster_sets_even_on_error(monkeypatch):
    monkeypatch.setenv("DG_EXAMPLE_KEPT", "yes")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with pytest.raises(RuntimeError), restored_environ():
        os.environ["OMP_NUM_THREADS"] = "1"  # as dask's LocalCluster does in the process that starts it
        del os.environ["DG_EXAMPLE_KEPT"]
        raise RuntimeError("a run failed")
    assert "OMP_NUM_THREADS" not in os.environ and os.environ["DG_EXAMPLE_KEPT"] == "yes"


@pytest.mark.slow
def test_a_dask_sweep_renders_each_report_and_names_the_failed_run(tmp_path, session_data_dir, caplog):
    pytest.importorskip("distributed")
    preset = str(reports.NOTEBOOK_DIR / "ci-parameters.yml")
    options = ["-f", preset, "--executor", "dask", "--workers", "2", "--out-dir", str(tmp_path)]
    environ = dict(os.environ)
    assert main(["report", "asymptotics", "fig2", *options]) == 0
    assert dict(os.environ) == environ  # the LocalCluster's OMP_NUM_THREADS=1 does not stay behind
    assert (tmp_path / "asymptotics.html").exists() and (tmp_path / "fig2.html").exists()
    for report in ("asymptotics.html", "fig2.html"):
        (tmp_path / report).unlink()
    # ns = [2] is below k for asymptotics (its first cell refuses it); fig2 has no ns and renders
    assert main(["report", "asymptotics", "fig2", *options, "-p", "ns", "[2]"]) == 1
    assert (tmp_path / "fig2.html").exists() and not (tmp_path / "asymptotics.html").exists()
    assert "1 of 2 runs failed" in caplog.text and "asymptotics: ValueError" in caplog.text
