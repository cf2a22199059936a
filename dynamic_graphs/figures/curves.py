"""Fig. 1 and Fig. 3: modularity curves of trained (and untrained) models on one or more datasets."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from ..curve import CurveSpec, modularity_curve
from ..data import dataset_info
from ..data.registry import get_dataset
from ..frames import stack_curves
from ..models import get_model, probe_layers
from ..pruning import classify_gains, layer_gains
from ..training import check_model_options
from ..training.weights import pretrained
from ..utils import as_list, check_int_list, isolated_rng

__all__ = [
    "curve_gains",
    "model_curves",
]


def model_curves(models: str | Sequence[str], datasets: str | Sequence[str], spec: CurveSpec | None = None, *,
                 trained: bool = True, untrained_baseline: bool = False,
                 train_seeds: int | Sequence[int] | None = None, executor: Any = None,
                 training: Mapping[str, Any] | None = None,
                 train_options: Mapping[str, Mapping[str, Any]] | None = None, **options: Any) -> pd.DataFrame:
    """Modularity curves for every model × dataset × training seed, of trained (cached) or freshly
    initialised models.

    A trained model comes from :func:`~dynamic_graphs.pretrained` (trained on first use with the
    dataset's recipe and ``training``, then cached); an untrained one is the same architecture with
    its initial weights drawn with the training seed, the baseline that shows what training adds
    (``untrained_baseline=True`` adds it beside every trained curve). Curves are measured on the
    spec's split, on images drawn with its seed: the same images for every model and training
    seed, so that curves compare on equal terms. Every name is checked before any work starts.

    Args:
        models, datasets: registry names, one or several.
        spec, **options: the curves' settings (:class:`~dynamic_graphs.CurveSpec`), as for
            :func:`~dynamic_graphs.modularity_curve`; ``device`` is also where models train.
        train_seeds: the models' training seeds, one curve each (the spread across them is what
            :func:`~dynamic_graphs.summarize_seeds` and ``plot_curve_grid(..., over="train_seed")``
            show); None: ``[spec.seed]``, one model trained with the sample's seed.
        executor: None (one curve after another), or anything with ``submit(fn, *args,
            **kwargs)`` returning futures: a ``dask.distributed.Client`` (each curve a Dask task,
            on a LocalCluster or any cluster) or a ``concurrent.futures`` process pool (not a
            thread pool: weights are drawn in torch's global random stream, which threads share).
            The frame is the same either way: the curves are stacked in the order of the serial run.
        training: training options for every model (:func:`~dynamic_graphs.training.train`'s:
            ``epochs``, ``train_size``, ``test_size``, ...; ``None`` values keep the recipe's).
        train_options: per-model training options on top of ``training``, e.g.
            ``{"vgg16": {"precision": "bf16"}}`` (the others keep their cached or shipped weights).

    Returns:
        The curves stacked with :func:`~dynamic_graphs.stack_curves`: label columns ``dataset``,
        ``model``, ``trained``, ``train_seed``, then the curve's columns and ``test_acc`` (NaN for
        untrained models).
    """
    spec = CurveSpec.build(spec, **options)
    models, datasets = as_list(models), as_list(datasets)
    for name in models:
        probe_layers(name)  # an unknown model fails here, listing the registry
    train_seeds = check_int_list("train_seeds", [spec.seed] if train_seeds is None else train_seeds, minimum=0)
    for dataset in datasets:
        dataset_info(dataset)  # an unknown dataset fails here, before any work
    training = dict(training or {})
    per_model = check_model_options(train_options, models, datasets, training)
    states = [trained, False] if untrained_baseline and trained else [trained]
    jobs = [(dataset, name, is_trained, train_seed) for dataset in datasets for name in models
            for is_trained in states for train_seed in train_seeds]
    overrides = {name: {**training, **per_model.get(name, {})} for name in models}
    if executor is None:
        results = [_one_curve(*job, spec=spec, training=overrides[job[1]]) for job in jobs]
    else:  # one task per curve; Dask (or concurrent.futures) schedules them, the cache locks share the models
        futures = [executor.submit(_one_curve, *job, spec=spec, training=overrides[job[1]]) for job in jobs]
        results = [future.result() for future in futures]
    curves = dict(zip(jobs, results))
    return stack_curves(curves, name=["dataset", "model", "trained", "train_seed"])


def _one_curve(dataset: str, name: str, is_trained: bool, train_seed: int, *, spec: CurveSpec,
               training: dict) -> pd.DataFrame:
    """One curve of :func:`model_curves` (a module-level function, so that a Dask worker can run it)."""
    if is_trained:
        model = pretrained(name, dataset, seed=train_seed, device=spec.device, **training)
        accuracy = model.checkpoint["test_acc"]
    else:
        info = dataset_info(dataset)
        with isolated_rng(train_seed):  # the seed fixes the initial weights; the caller's RNG is untouched
            model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                              mean=info["mean"], std=info["std"])
        accuracy = float("nan")
    curve = modularity_curve(model, get_dataset(dataset, spec.split), spec)
    return curve.assign(test_acc=accuracy)


def curve_gains(curves: pd.DataFrame, *, flat_only: bool = False) -> pd.DataFrame:
    """Each curve's gain ΔQ per layer with its paired 95 % interval, for a :func:`model_curves` frame.

    :func:`~dynamic_graphs.pruning.layer_gains` of every curve, its model named by the ``model`` column (a
    registry name) and built for the ``dataset`` column's data: only the layout is read (probe
    layers, removable units), so an untrained copy serves. Every label column is kept, so the
    trained and untrained curves and each training seed keep rows of their own.

    Args:
        curves: :func:`model_curves`' frame (label columns ``dataset`` and ``model`` at least).
        flat_only: keep only the plateaus and dips: the layers whose gain interval lies below
            :data:`~dynamic_graphs.pruning.DEFAULT_THRESHOLD` (0.01) without lying above 0, where
            the curve stops rising (``"flat"`` or ``"down"`` for
            :func:`~dynamic_graphs.pruning.classify_gains`, the fig3 verdict's rule), or that have
            no interval at all (one repeat: every layer is kept, since none can be told apart).
            A slow but measurable rise (``"small"``), an unresolved gain (interval containing 0
            and reaching 0.01) and the first layer of each curve, which has no gain, are left out.

    Returns:
        The label columns, then ``layer``, ``depth``, ``modularity``, ``std``, ``delta``,
        ``gain_low``, ``gain_high``, ``removable``, as :func:`~dynamic_graphs.pruning.layer_gains`.

    Raises:
        ValueError: ``curves`` lacks a ``model`` or ``dataset`` column (measure it with
            :func:`model_curves`, or call :func:`~dynamic_graphs.pruning.layer_gains` with the model).
    """
    missing = [column for column in ("dataset", "model") if column not in curves.columns]
    if missing:
        raise ValueError(f"curve_gains reads each curve's model from the frame's 'dataset' and 'model' columns, "
                         f"and this frame has no {' or '.join(map(repr, missing))}: pass dg.figures.model_curves(...) "
                         "curves, or call dg.pruning.layer_gains(curve, model) with the model itself.")
    frames = []
    for (dataset, name), group in curves.groupby(["dataset", "model"], sort=False):
        info = dataset_info(dataset)
        with isolated_rng(0):  # its weights are never read; the caller's random state is untouched
            layout = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                               mean=info["mean"], std=info["std"])
        frames.append(layer_gains(group, layout))
    gains = pd.concat(frames, ignore_index=True)
    labels = frames[0].attrs["labels"]
    if flat_only:  # plateaus and dips; with one repeat there is no interval, and every gain is kept
        kinds = classify_gains(gains["gain_low"], gains["gain_high"])
        kept = pd.Series(kinds, index=gains.index).isin(["flat", "down"]) | gains["gain_high"].isna()
        gains = gains[gains["delta"].notna() & kept].reset_index(drop=True)
    gains.attrs = {"labels": labels}
    return gains
