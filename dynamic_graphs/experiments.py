"""Figure-level compositions of the stage functions, so that notebooks hold only parameters, calls and plots."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ._settings import settings
from .curve import modularity_curve
from .data import dataset_info, get_dataset
from .models import get_model, probe_layers
from .training import pretrained
from .utils import seed_everything


def as_list(value: str | Sequence[str]) -> list[str]:
    """A papermill parameter given as one name or as a list of names, as a list."""
    return [value] if isinstance(value, str) else list(value)


def model_curves(models: str | Sequence[str], datasets: str | Sequence[str], *, trained: bool = True,
                 untrained_baseline: bool = False, n: int = 500, repeats: int = 5, k: int = 3, seed: int = 0, device: str = "auto",
                 split: str = "test", with_leiden: bool = False, **train_overrides: Any) -> pd.DataFrame:
    """Modularity curves for every model × dataset, of trained (cached) or freshly initialised models.

    A trained model comes from :func:`pretrained` (trained on first use with the dataset's recipe
    and ``train_overrides``, then cached); an untrained one is the same architecture with its
    initial weights drawn with ``seed``, the baseline that shows what training adds
    (``untrained_baseline=True`` adds it beside the trained curves). Curves are measured on
    ``split`` images. Every name is checked before any work starts.

    Returns:
        The curves stacked, with extra columns ``model``, ``dataset``, ``trained`` and ``test_acc``
        (NaN for untrained models).
    """
    models, datasets = as_list(models), as_list(datasets)
    for name in models:
        probe_layers(name)  # an unknown model fails here, listing the registry
    infos = {name: dataset_info(name) for name in datasets}
    frames = []
    for dataset in datasets:
        images = get_dataset(dataset, split)
        for name, trained in [(name, state) for name in models
                              for state in ([trained, False] if untrained_baseline and trained else [trained])]:
            if trained:
                model = pretrained(name, dataset, seed=seed, device=device, **train_overrides)
                accuracy = model.checkpoint["test_acc"]
            else:
                seed_everything(seed)
                info = infos[dataset]
                model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                                  mean=info["mean"], std=info["std"])
                accuracy = float("nan")
            curve = modularity_curve(model, images, n=n, repeats=repeats, k=k, seed=seed, device=device,
                                     with_leiden=with_leiden)
            frames.append(curve.assign(model=name, dataset=dataset, trained=trained, test_acc=accuracy))
    return pd.concat(frames, ignore_index=True)


def run_info(**parameters: Any) -> pd.DataFrame:
    """A table of a run's parameters and provenance (commit, date, versions, device) for reports."""
    import datetime
    import platform

    import torch

    from . import __version__
    from .utils import git_commit, resolve_device

    device = parameters.get("device", "auto")
    provenance = {
        "commit": git_commit() or "unknown",
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "dynamic_graphs": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device used": str(resolve_device(device)),
        "CPU threads": torch.get_num_threads(),
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
    from .utils import atomic_path

    directory = Path(directory) if directory is not None else Path(settings.data_dir) / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.csv"
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
