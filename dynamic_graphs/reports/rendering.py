"""Execute figure notebooks with papermill and render them as HTML reports without input cells.

The command line is ``dynamic-graphs report`` (``python -m dynamic_graphs report``; its ``--help``
lists examples): one notebook with overrides, ``--all`` full runs, ``--tag``, ``--out-dir``, and
Dask sweeps.

Every run renders its own report; a failed run does not stop the others, and the command ends by
listing the runs that failed and why, with a non-zero exit status. ``--executor dask`` submits
each run as a Dask task: to a ``LocalCluster`` of ``--workers`` processes by default, or to the
scheduler at ``--scheduler`` (one started by dask-jobqueue on SLURM or PBS, or on Kubernetes).

In ``reports/parameters.yml`` a notebook maps to its parameters, or to a list of runs, each with an
optional ``tag`` naming its report.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..utils import lookup, refuse_unknown, restored_environ

__all__ = ["EXECUTORS", "FULL_RUN_PARAMETERS", "NOTEBOOK_DIR", "REPORT_DIR", "declared_parameters", "full_runs",
           "notebook_names", "read_parameters_file", "render", "render_runs", "report_html", "report_runs"]

_REPO = Path(__file__).resolve().parent.parent.parent
NOTEBOOK_DIR = _REPO / "notebooks"
REPORT_DIR = _REPO / "reports"
FULL_RUN_PARAMETERS = REPORT_DIR / "parameters.yml"  # per-notebook overrides for `--all`
logger = logging.getLogger(__name__)


def notebook_names() -> list[str]:
    """Names of the figure notebooks (``fig3`` for ``notebooks/fig3.ipynb``)."""
    return sorted(path.stem for path in NOTEBOOK_DIR.glob("*.ipynb"))


def render(name: str, parameters: dict[str, Any] | None = None, *, out_dir: str | Path = REPORT_DIR,
           tag: str | None = None) -> Path:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` and write ``<out_dir>/<name>.ipynb`` and ``.html``.

    With a ``tag`` the outputs are ``<name>-<tag>.ipynb`` and ``.html``, so that one notebook can
    have several reports (fig3 for two sets of models, say).

    The kernel runs in ``out_dir``. Figures are saved under ``figures/`` there (``figures/<name>-<tag>``
    for a tagged run) unless ``parameters`` sets ``fig_dir``; notebooks that write tables take
    ``report_dir`` (``.``, i.e. ``out_dir``). Both are passed relative to ``out_dir``, so the report
    holds no absolute path of this machine. The notebook executes into a temporary file and is moved
    into place when it succeeds: a failed run leaves the previous report alone (its partial notebook
    stays in the temporary folder, which the error message names). The HTML leaves out the code
    cells; the notebook's ``run_info`` table states parameters and commit.

    Returns:
        The HTML file.
    """
    import shutil
    import tempfile

    import nbformat
    import papermill

    from ..utils import atomic_path

    name = lookup(name, notebook_names(), what="notebook")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{tag}" if tag else name
    # A tagged run keeps its figure files apart: the same model's untagged run would overwrite them.
    fig_dir = Path("figures", stem) if tag else Path("figures")
    defaults = {"fig_dir": fig_dir.as_posix(), "report_dir": "."}
    source = NOTEBOOK_DIR / f"{name}.ipynb"
    declared = papermill.inspect_notebook(str(source))
    parameters = {**{key: value for key, value in defaults.items() if key in declared}, **(parameters or {})}
    scratch = Path(tempfile.mkdtemp(prefix=f"dg-render-{stem}-"))
    running = scratch / f"{stem}.ipynb"
    try:
        papermill.execute_notebook(str(source), str(running), parameters=parameters, cwd=str(out_dir),
                                   kernel_name="python3", log_output=True)
    except BaseException:
        logger.error("%s failed; the executed notebook, up to the failing cell, is %s", stem, running)
        raise
    notebook = nbformat.read(running, as_version=4)
    executed = out_dir / f"{stem}.ipynb"
    # papermill records where it read and wrote: the repository's names, not this machine's paths.
    notebook.metadata.get("papermill", {}).update(input_path=_shown(source), output_path=_shown(executed))
    with atomic_path(executed) as tmp:
        nbformat.write(notebook, tmp)
    shutil.rmtree(scratch, ignore_errors=True)
    path = out_dir / f"{stem}.html"
    with atomic_path(path) as tmp:
        tmp.write_text(report_html(notebook), encoding="utf-8")
    return path


def report_html(notebook) -> str:
    """The HTML report of an executed notebook: what a reader of the figure needs, not how it was run.

    Left out: code cells' input, cells tagged ``notebook-only`` (the heading and the command line a
    JupyterLab user reads), and what the run printed to stdout (progress, epoch lines, saved paths:
    the executed notebook keeps them). Kept: warnings (stderr), every display. The page's title is
    the one :func:`dynamic_graphs.reports.start` showed, and each figure shown by
    :meth:`~dynamic_graphs.reports.NotebookRun.figure` gets its alternative text.
    """
    import copy
    import html

    from nbconvert import HTMLExporter

    from .notebook import METADATA_KEY

    notebook = copy.deepcopy(notebook)
    title = None
    cells = []
    for cell in notebook.cells:
        if "notebook-only" in cell.metadata.get("tags", []):
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stdout":
                continue
            ours = output.get("metadata", {})
            title = title or ours.get("text/markdown", {}).get(METADATA_KEY, {}).get("title")
            alt = ours.get("image/png", {}).get(METADATA_KEY, {}).get("alt")
            if alt is not None:  # nbconvert's template has no alt text: the image as HTML that carries it
                png = output.data.pop("image/png")
                output.data["text/html"] = f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt)}">'
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs
        cells.append(cell)
    notebook.cells = cells
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title or "Report"}})
    return body


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it, else its file name."""
    try:
        return path.resolve().relative_to(_REPO).as_posix()
    except ValueError:
        return path.name


def full_runs(name: str, config: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """The (tag, parameters) runs that ``parameters.yml``'s ``config`` asks of notebook ``name``."""
    entry = config.get(name) or {}
    runs = entry if isinstance(entry, list) else [entry]
    out = []
    for run in runs:
        if not isinstance(run, dict):
            raise ValueError(f"{FULL_RUN_PARAMETERS}: {name} must map to parameters or a list of them, got {run!r}")
        run = dict(run)
        out.append((run.pop("tag", None), run))
    return out


EXECUTORS = ("serial", "dask")


def declared_parameters(name: str) -> list[str]:
    """The parameters ``notebooks/<name>.ipynb`` declares in its parameters cell, in order."""
    import papermill

    return list(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))


def _refuse_undeclared(names: list[str], declared: list[str], where: str) -> None:
    """A ValueError naming each of ``names`` that is not exactly ``declared``, with the close declared names."""
    refuse_unknown(names, declared, what="parameter", context=f"({where}; its parameters: {', '.join(declared)})")


def report_runs(names: list[str], use_all: bool, tag: str | None, shared: dict[str, Any],
                overrides: dict[str, Any]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The (notebook, tag, parameters) runs asked for: parameters.yml's runs with ``--all`` (only those
    tagged ``tag`` when given), else one per name; each with the ``-f`` file's parameters, then the
    ``-p`` ones, on top.

    Every name is checked before anything runs: a run of ``parameters.yml`` may set only what its
    notebook declares, a ``-p`` name must be declared by at least one of the notebooks asked for, and
    a name of the ``-f`` file by at least one notebook (a preset such as ``notebooks/ci-parameters.yml``
    serves them all). Each run gets the ``-f`` and ``-p`` names that its notebook declares.

    Raises:
        ValueError: ``--all`` with a ``tag`` that names no run of these notebooks, or a parameter name
            that is not declared where it must be (the message suggests close names).
    """
    import yaml

    config = yaml.safe_load(FULL_RUN_PARAMETERS.read_text()) if FULL_RUN_PARAMETERS.exists() else {}
    declared = {name: declared_parameters(name) for name in notebook_names()}
    asked = list(dict.fromkeys(key for name in names for key in declared[name]))
    _refuse_undeclared(list(overrides), asked, f"passed with -p to {', '.join(names)}")
    # a -f file may be a preset shared by every notebook (notebooks/ci-parameters.yml): a name of any notebook
    _refuse_undeclared(list(shared), list(dict.fromkeys(key for keys in declared.values() for key in keys)),
                       "in the -f file, declared by no notebook")
    runs = []
    for name in names:
        for run_tag, parameters in (full_runs(name, config) if use_all else [(tag, {})]):
            if use_all and tag is not None and run_tag != tag:
                continue
            _refuse_undeclared(list(parameters), declared[name],
                               f"{_shown(FULL_RUN_PARAMETERS)}, {_stem(name, run_tag)}")
            mine = {key: value for key, value in {**shared, **overrides}.items() if key in declared[name]}
            runs.append((name, run_tag, {**parameters, **mine}))
    if not runs:
        tags = sorted({run_tag for name in names for run_tag, _ in full_runs(name, config) if run_tag})
        raise ValueError(f"{_shown(FULL_RUN_PARAMETERS)} has no run tagged {tag!r} for {', '.join(names)}; "
                         f"its tags there: {', '.join(tags) or 'none'}.")
    return runs


def _stem(name: str, tag: str | None) -> str:
    return f"{name}-{tag}" if tag else name


def _reason(error: BaseException) -> str:
    """One line on why a run failed: the notebook's own exception for a failed cell."""
    if hasattr(error, "ename"):  # papermill's PapermillExecutionError
        return f"{error.ename}: {error.evalue}"
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def render_runs(runs: list[tuple[str, str | None, dict[str, Any]]], *, out_dir: str | Path = REPORT_DIR,
                executor: str = "serial", scheduler: str | None = None, workers: int | None = None
                ) -> dict[str, str]:
    """Render every run, serially or as Dask tasks; return ``{report: error}`` for those that failed.

    With ``executor="dask"`` each run is one task (``distributed.Client.submit``), on a
    ``LocalCluster`` of ``workers`` single-threaded processes, or on the scheduler at ``scheduler``;
    Dask schedules them, its dashboard shows them, and a failed run does not stop the others.
    Progress is logged as each run ends.
    """
    lookup(executor, EXECUTORS, what="executor")
    failures: dict[str, str] = {}
    if executor == "serial":
        for index, (name, tag, parameters) in enumerate(runs, start=1):
            logger.info("rendering %s (%d of %d) with %s", _stem(name, tag), index, len(runs), parameters)
            try:
                logger.info("wrote %s", render(name, parameters, out_dir=out_dir, tag=tag))
            except Exception as err:  # the others still run; the summary names this one
                failures[_stem(name, tag)] = _reason(err)
        return failures
    # A LocalCluster sets OMP_NUM_THREADS=1 in this process too: restore it for what runs after.
    with restored_environ():
        return _render_on_dask(runs, out_dir=out_dir, scheduler=scheduler, workers=workers)


def _render_on_dask(runs: list[tuple[str, str | None, dict[str, Any]]], *, out_dir: str | Path,
                    scheduler: str | None, workers: int | None) -> dict[str, str]:
    """:func:`render_runs` with ``executor="dask"``."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise ImportError("--executor dask needs Dask: pip install -e \".[cluster]\" (dask[distributed]).") from err
    failures: dict[str, str] = {}
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True)
    client = Client(scheduler or cluster)
    try:
        logger.info("Dask: %d runs on %s (dashboard: %s)", len(runs), scheduler or "a LocalCluster",
                    client.dashboard_link)
        futures = {client.submit(render, name, parameters, out_dir=str(Path(out_dir).resolve()), tag=tag,
                                 key=f"render-{_stem(name, tag)}", pure=False): _stem(name, tag)
                   for name, tag, parameters in runs}
        for done, future in enumerate(as_completed(futures), start=1):
            stem = futures[future]
            if future.status == "finished":
                logger.info("[%d/%d] %s: wrote %s", done, len(runs), stem, future.result())
            else:
                failures[stem] = _reason(future.exception())
                logger.info("[%d/%d] %s failed", done, len(runs), stem)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failures


def read_parameters_file(path: str | Path) -> dict[str, Any]:
    """The parameters a ``-f`` file gives every run: a YAML mapping of parameter names to values.

    Raises:
        ValueError: the file is unreadable, not a mapping, or shaped like ``reports/parameters.yml``
            (notebooks mapped to their runs, which are ``--all``'s).
    """
    import yaml

    try:
        shared = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read the parameters file {path}: {err}") from err
    if not isinstance(shared, dict):
        raise ValueError(f"{path} must map parameter names to values, got {type(shared).__name__}")
    per_notebook = sorted(set(shared) & set(notebook_names()))
    if per_notebook:  # reports/parameters.yml's shape: its runs are --all's, not one set of parameters
        raise ValueError(f"{path} maps notebooks ({', '.join(per_notebook)}) to their runs, as "
                         f"reports/parameters.yml does; -f takes parameters shared by every run (n: 500). For "
                         f"that file's runs, pass --all (with the notebook's name, and --tag for one run).")
    return shared
