"""dg.reports.start and the run it returns: parameters read once, undeclared names refused, what reports show."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest

import dynamic_graphs as dg
from dynamic_graphs.reports.notebook import notebook_parameters
from dynamic_graphs.reports.rendering import report_html, report_runs

PARAMETERS_CELL = 'model = "resnet20"  # a registry name\ndataset = "fashion-mnist"\nn = 60\nrepeats = 2\nk = 3\nseed = 0'


class FakeShell:
    def __init__(self, history, namespace):
        self.user_ns = {"In": ["", *history], **namespace}


@pytest.fixture
def shown(monkeypatch):
    """What the run displays, as (data, metadata) pairs, instead of a notebook's outputs."""
    import IPython.display

    outputs = []

    def display(obj, raw=False, metadata=None):
        outputs.append((obj if raw else {"text/plain": repr(obj)}, metadata or {}))

    monkeypatch.setattr(IPython.display, "display", display)
    return outputs


def started(monkeypatch, history, namespace):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: FakeShell(history, namespace))
    return dg.reports.start("Fig. 3: modularity curves")


NAMESPACE = {"model": "resnet20", "dataset": "fashion-mnist", "n": 60, "repeats": 2, "k": 3, "seed": 0}


def test_the_parameters_cell_is_found_with_and_without_papermill():
    imports, call = "import dynamic_graphs as dg", "run = dg.reports.start('x')"
    assert notebook_parameters([imports, PARAMETERS_CELL, call]) == (list(NAMESPACE), [])
    injected = "# Parameters\nrepeats = 1\nn = 100\n"
    assert notebook_parameters([imports, PARAMETERS_CELL, injected, call]) == (list(NAMESPACE), ["repeats", "n"])
    # in JupyterLab, cells that compute something may run in between
    assert notebook_parameters([PARAMETERS_CELL, "x = dg.get_dataset(dataset)", call])[0] == list(NAMESPACE)
    with pytest.raises(RuntimeError, match="run the parameters cell"):
        notebook_parameters([imports, call])


def test_a_cell_that_tweaks_a_value_does_not_replace_the_parameters_cell():
    tweak, call = "n = 100", "run = dg.reports.start('x')"
    # JupyterLab: the cell with the most literal assignments is the parameters cell; a tweak overrides it
    assert notebook_parameters([PARAMETERS_CELL, tweak, call]) == (list(NAMESPACE), ["n"])
    assert notebook_parameters([PARAMETERS_CELL, call, "x = 1", PARAMETERS_CELL, tweak, call]) == (
        list(NAMESPACE), ["n"])
    # papermill: the cell its injected cell follows, whatever ran before
    injected = "# Parameters\nrepeats = 1\n"
    assert notebook_parameters(["seed = 1\nk = 2\nn = 5\nrepeats = 3\ndevice = 'cpu'\nx = 0\ny = 1",
                                "n = 2", PARAMETERS_CELL, injected, tweak, call]) == (list(NAMESPACE), ["repeats", "n"])


def test_annotated_parameters_are_read():
    cell = 'model: str = "resnet20"\nn: int = 60\nrepeats = 2'
    assert notebook_parameters([cell, "run = ..."]) == (["model", "n", "repeats"], [])


@pytest.mark.parametrize("cell, why", [
    ("n = 60\nlookup = {[1]: 2}", r"line 2, `lookup = \{\[1\]: 2\}`: .*TypeError: unhashable type: 'list'"),
    ("n = 60\nk = 3\nrepeats = 2 * 3", r"line 3, `repeats = 2 \* 3`: its value is not a literal"),
    ("n = 60\nk: int", r"line 2, `k: int`: declares a name without a value"),
])
def test_a_parameters_cell_with_a_value_that_is_no_literal_is_named_with_why(cell, why):
    with pytest.raises(RuntimeError, match=r"In\[1\], but it is not one: " + why):
        notebook_parameters(["import dynamic_graphs as dg", cell, "n = 5", "run = ..."])


def test_start_checks_the_values_and_shows_the_title(monkeypatch, shown):
    run = started(monkeypatch, [PARAMETERS_CELL, "# Parameters\nn = 60\n", "run = ..."], NAMESPACE)
    assert run.title == "Fig. 3: modularity curves — resnet20 on fashion-mnist"
    assert run.parameters == NAMESPACE
    (data, metadata), = shown
    assert data["text/markdown"] == f"# {run.title}"
    assert metadata["text/markdown"]["dynamic_graphs"]["title"] == run.title  # the renderer reads it back
    with pytest.raises(ValueError, match="n must be an integer >= 1, got -5"):
        started(monkeypatch, [PARAMETERS_CELL, "run = ..."], {**NAMESPACE, "n": -5})


def test_start_refuses_a_name_the_notebook_does_not_declare(monkeypatch, shown):
    history = [PARAMETERS_CELL, "# Parameters\nrepeat = 1\nseeds = 3\n", "run = ..."]
    with pytest.raises(dg.reports.UnknownParameterError) as caught:
        started(monkeypatch, history, {**NAMESPACE, "repeat": 1, "seeds": 3})
    message = str(caught.value)
    assert "Unknown parameter 'repeat'. Did you mean 'repeats'?" in message
    assert "Unknown parameter 'seeds'. Did you mean 'seed'?" in message
    assert "model, dataset, n, repeats, k, seed" in message
    assert isinstance(caught.value, TypeError) and not shown  # refused before anything is shown


@pytest.mark.parametrize("history", [
    [PARAMETERS_CELL, "# Parameters\nRepeats = 1\n", "run = ..."],  # papermill -p Repeats 1
    [PARAMETERS_CELL, "Repeats = 1", "run = ..."],  # a JupyterLab cell after the parameters cell
])
def test_start_refuses_a_case_variant_of_a_declared_name(monkeypatch, shown, history):
    with pytest.raises(dg.reports.UnknownParameterError,
                       match=r"^Unknown parameter 'Repeats'\. Did you mean 'repeats'\? This notebook's parameters"):
        started(monkeypatch, history, {**NAMESPACE, "Repeats": 1})
    assert not shown


def test_start_sets_the_verbosity_once_the_values_passed(monkeypatch, shown):
    from dynamic_graphs import settings

    monkeypatch.setattr(settings, "verbosity", 1)
    cell = PARAMETERS_CELL + "\nverbosity = 1"
    started(monkeypatch, [cell, "# Parameters\nverbosity = 0\n", "run = ..."], {**NAMESPACE, "verbosity": 0})
    assert settings.verbosity == 0
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        started(monkeypatch, [cell, "run = ..."], {**NAMESPACE, "verbosity": 2, "n": -1})
    assert settings.verbosity == 0  # a refused run changes nothing


def test_a_table_with_nothing_to_say_is_one_sentence(monkeypatch, shown):
    run = dg.reports.NotebookRun("t", {})
    run.table(pd.DataFrame(columns=["layer", "gain"]), caption="Plateaus:", empty="No plateau.")
    run.table(pd.DataFrame({"mean": [0.5, 0.6], "std": [float("nan")] * 2}), needs="std", empty="One seed.")
    run.table(pd.DataFrame({"mean": [0.5], "std": [0.1]}), needs="std", caption="Across seeds:", empty="One seed.")
    texts = [data.get("text/markdown") for data, _ in shown]
    assert texts == ["No plateau.", "One seed.", "Across seeds:", None]


def test_info_shows_every_parameter_whole(shown):
    models = ["vgg11", "vgg16", "vgg19", "resnet20", "resnet56", "resnet110"]
    dg.reports.NotebookRun("t", {"model": models}).info()
    html = shown[-1][0]["text/html"] if "text/html" in shown[-1][0] else shown[-1][0]["text/plain"]
    assert repr(models) in html and "…" not in html and "commit" in html


def test_a_figure_is_saved_named_and_shown_with_its_alt_text(tmp_path, shown, capsys):
    figure, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.2, 0.5, 0.7], label="trained")
    ax.set(title="resnet20", xlabel="layer", ylabel="Q")
    ax.legend()
    dg.reports.NotebookRun("t", {"fig_dir": str(tmp_path)}).figure(figure, "fig3", "resnet20", "fashion-mnist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3_resnet20_fashion-mnist.pdf",
                                                         "fig3_resnet20_fashion-mnist.png"]
    printed = capsys.readouterr().out  # what papermill --log-output shows: where the files went
    assert printed.startswith("figure: ") and str(tmp_path / "fig3_resnet20_fashion-mnist.png") in printed
    data, metadata = shown[-2]
    assert set(data) == {"image/png", "text/plain"}
    assert shown[-1][0]["text/markdown"].startswith("Files: [PNG](")  # links the report can follow
    alt = metadata["image/png"]["dynamic_graphs"]["alt"]
    assert alt == "1 panel: resnet20. layer against Q. lines: trained"
    assert not plt.fignum_exists(figure.number)  # not shown a second time by the inline backend


def test_the_report_page_has_the_title_alt_text_and_no_run_noise():
    cell = nbformat.v4.new_code_cell("run = dg.reports.start('x')")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "# Fig. 3 — resnet20", "text/plain": "t"},
                               metadata={"text/markdown": {"dynamic_graphs": {"title": "Fig. 3 — resnet20"}}}),
        nbformat.v4.new_output("stream", name="stdout", text="curve resnet20 · layer 3/10\n"),
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: few images\n"),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<figure>"},
                               metadata={"image/png": {"dynamic_graphs": {"alt": "Q <rises> with depth"}}}),
    ]
    heading = nbformat.v4.new_markdown_cell("# Fig. 3 (for JupyterLab)")
    heading.metadata["tags"] = ["notebook-only"]
    html = report_html(nbformat.v4.new_notebook(cells=[heading, cell]))
    assert "<title>Fig. 3 — resnet20</title>" in html
    assert 'alt="Q &lt;rises&gt; with depth"' in html and "No description" not in html
    assert "layer 3/10" not in html and "few images" in html and "for JupyterLab" not in html


def test_report_runs_refuse_undeclared_names_before_anything_runs():
    with pytest.raises(ValueError, match=r"Unknown parameter 'repeat'\. Did you mean 'repeats'\?.*-p to fig3"):
        report_runs(["fig3"], False, None, {}, {"repeat": 1})
    with pytest.raises(ValueError, match=r"Unknown parameter 'nn'.*-f file"):
        report_runs(["fig3"], False, None, {"nn": 1}, {})
    # a shared preset: each notebook gets the names it declares
    (_, _, fig3), (_, _, fig6) = report_runs(["fig3", "fig6"], False, None, {"ns": [30, 60], "n": 60}, {"k": 5})
    assert fig3 == {"n": 60, "k": 5} and fig6 == {"ns": [30, 60], "n": 60, "k": 5}


def test_report_runs_refuse_a_case_variant_instead_of_dropping_it():
    """``Repeats`` is not ``repeats``: the run would have the full settings, so it is refused."""
    with pytest.raises(ValueError, match=r"^Unknown parameter 'Repeats'\. Did you mean 'repeats'\? \(passed with -p"):
        report_runs(["fig3"], False, None, {}, {"Repeats": 1})
    with pytest.raises(ValueError, match=r"^Unknown parameter 'Repeats'\. Did you mean 'repeats'\? \(in the -f file"):
        report_runs(["fig3"], False, None, {"Repeats": 1}, {})
    assert report_runs(["fig3"], False, None, {}, {"repeats": 1}) == [("fig3", None, {"repeats": 1})]
