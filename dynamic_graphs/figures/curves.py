"""Figure-level compositions of the stage functions, so that notebooks hold only parameters, calls and plots."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .._settings import settings
from ..curve import modularity_curve
from ..data import dataset_info, get_dataset
from ..models import get_model, probe_layers
from ..training import pretrained
from ..utils import seed_everything


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
