"""What a figure notebook writes: the table of its parameters and provenance, its figure files, its tables."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .._settings import settings
from ..utils import as_list

__all__ = [
    "figure_name",
    "run_info",
    "save_figure",
    "save_table",
]


def run_info(**parameters: Any) -> pd.DataFrame:
    """A table of a run's parameters and provenance (commit, date, versions, device) for reports."""
    import datetime
    import platform

    import torch

    from .. import __version__
    from ..utils import cpu_description, git_commit, resolve_device

    device = parameters.get("device", "auto")
    provenance = {
        "commit": git_commit() or "unknown",
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "dynamic_graphs": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device used": str(resolve_device(device)),
        "CPU threads": torch.get_num_threads(),
        "CPU": cpu_description(),
    }
    rows = [("parameter", key, repr(value)) for key, value in parameters.items()]
    rows += [("provenance", key, str(value)) for key, value in provenance.items()]
    return pd.DataFrame(rows, columns=["kind", "name", "value"]).set_index(["kind", "name"])


def figure_name(figure: str, *parts: str | Sequence[str]) -> str:
    """A file name from a figure number and its parameters: ``figure_name("fig3", ["a", "b"], "c")`` is
    ``"fig3_a-b_c"``."""
    return "_".join([figure, *("-".join(as_list(part)) for part in parts)]).replace("/", "-")


def save_figure(figure, name: str, fig_dir: str | Path | None = None, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``figure`` as ``<fig_dir>/<name>.<format>`` for each format (``fig_dir`` defaults to settings')."""
    directory = Path(fig_dir) if fig_dir is not None else settings.fig_dir
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.{fmt}" for fmt in formats]
    for path in paths:
        figure.savefig(path, bbox_inches="tight", dpi=150)
    return paths


def save_table(table: pd.DataFrame, name: str, directory: str | Path | None = None) -> Path:
    """Write ``table`` as ``<directory>/<name>.csv`` atomically (``directory`` defaults to
    ``settings.data_dir / "reports"``; ``make reports`` passes ``reports/``)."""
    from ..utils import atomic_path

    directory = Path(directory) if directory is not None else Path(settings.data_dir) / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.csv"
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
