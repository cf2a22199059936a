"""The adversarial figure: modularity curves of clean and attacked images (Lu et al. 2022, Fig. 5).

:func:`adversarial_curves` stacks, with :func:`~dynamic_graphs.frames.stack_curves`, one curve per
``(attack, communities)``: the clean originals (``attack == "clean"``) and every attack's successful
examples (:func:`~dynamic_graphs.attacks.attack`), scored with the true classes and the model's
predictions as communities. :func:`attack_summary` tabulates it, one row per attack.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..attacks import (ATTACK_DEFAULTS, CLEAN, AdversarialDataset, NoSuccessfulAttackError, attack, attack_label,
                       attack_params, resolve_attack)
from ..data import as_dataset
from ..curve import modularity_curve, sample_indices
from ..frames import check_curves, stack_curves, t_interval

__all__ = ["adversarial_curves", "attack_summary"]

LABELS = ["attack", "communities"]  # the label columns adversarial_curves declares
# Per-attack numbers repeated on every row of its curves: measures, not labels.
ATTACK_MEASURES = ["attempted", "correct", "successful", "kept", "success_rate", "mean_l2", "mean_linf"]


def _split_params(methods: list[str], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``**params`` of :func:`adversarial_curves` per method: ``pgd={...}`` for one, a plain name for all that take it."""
    per_method: dict[str, dict[str, Any]] = {method: {} for method in methods}
    for name, value in params.items():
        try:
            target = resolve_attack(name)
        except (KeyError, TypeError):
            target = None
        if target is not None:
            if target not in per_method:
                raise TypeError(f"Parameters given for {name!r}, which is not among the methods {methods}.")
            if not isinstance(value, dict):
                raise TypeError(f"{name}= must be a dict of {attack_label(target)} parameters, got {value!r}.")
            per_method[target].update(value)
            continue
        takers = [method for method in methods if name in ATTACK_DEFAULTS[method]]
        if not takers:
            valid = sorted({p for method in methods for p in ATTACK_DEFAULTS[method]})
            raise TypeError(f"No attack among {methods} takes the parameter {name!r}; valid: {', '.join(valid)}.")
        for method in takers:
            per_method[method].setdefault(name, value)
    return per_method


def _fit(available: int, n: int, repeats: int, what: str) -> tuple[int, int]:
    """(n, repeats) that fit ``available`` images: fewer repeats first, then a smaller n."""
    if available >= n * repeats:
        return n, repeats
    fitted = (n, available // n) if available >= n else (available, 1)
    warnings.warn(f"{what}: {available} images for n × repeats = {n} × {repeats}; using n = {fitted[0]}, "
                  f"repeats = {fitted[1]} (Q grows with n, so compare curves of equal n).", RuntimeWarning,
                  stacklevel=3)
    return fitted


def adversarial_curves(model: nn.Module, dataset: Dataset | str, methods: str | Sequence[str], *, n: int = 500,
                       repeats: int = 5, k: int = 3, seed: int = 0, device: str | torch.device = "auto",
                       paper_compat: bool = False, with_predicted: bool = True, batch_size: int = 250,
                       cache: bool = True, layers: Sequence[str] | None = None, **params: Any) -> pd.DataFrame:
    """Modularity curves of clean images and of each attack's adversarial images (Lu et al. 2022, Fig. 5).

    Each attack is asked for ``n * repeats`` successful examples (:func:`~dynamic_graphs.attacks.attack`, same
    ``seed`` for all), whose curve is measured over ``repeats`` disjoint samples of ``n``. The clean curve
    (``attack == "clean"``, the paper's "Normal") is measured on the clean originals of the *first*
    attack's examples (the first that succeeded at all): correctly classified test images, paired
    image for image with that attack's curve. Our choice: the paper most likely used ordinary test
    batches; the difference is that ours excludes misclassified images.

    Communities are the true classes (``communities == "true"``, the paper) and, with
    ``with_predicted``, the model's predictions on the adversarial images (``"predicted"``). For the
    clean originals the predictions are the true classes, so their "predicted" rows repeat the "true" ones.

    Args:
        model, dataset: as for :func:`~dynamic_graphs.attacks.attack` (``dataset`` is usually the test split;
            a dataset name means its test split).
        methods: one attack name or a list of them.
        n, repeats, k, seed, layers: as for :func:`~dynamic_graphs.modularity_curve`. If an attack
            finds fewer than ``n * repeats`` examples, fewer repeats (or a smaller n) are used, with a warning.
        device, paper_compat, batch_size, cache: as for :func:`~dynamic_graphs.attacks.attack`.
        with_predicted: also score the graphs with the predicted classes as communities.
        **params: attack parameters: ``pgd={"steps": 20}`` for one attack, or ``eps=0.1`` for every
            chosen attack that takes ``eps``.

    An attack that succeeds on no image is left out with a warning (listed in ``frame.attrs["skipped"]``).

    Returns:
        The :func:`~dynamic_graphs.modularity_curve` rows stacked by :func:`~dynamic_graphs.stack_curves`,
        with the label columns ``attack`` and ``communities`` (declared in ``frame.attrs["labels"]``),
        ``paper_compat``, and per attack ``attempted``, ``correct``, ``successful``, ``kept``,
        ``success_rate``, ``mean_l2``, ``mean_linf`` (declared measures; NaN for the clean rows'
        attack columns).
    """
    methods = [resolve_attack(method) for method in ([methods] if isinstance(methods, str) else methods)]
    if not methods:
        raise ValueError("methods is empty; pass at least one attack name.")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods lists an attack more than once: {methods}")
    per_method = _split_params(methods, params)
    for method in methods:  # every name and parameter is checked before any work starts
        attack_params(method, paper_compat=paper_compat, **per_method[method])
    dataset = as_dataset(dataset, "test")
    sets: dict[str, AdversarialDataset] = {}
    for method in methods:
        try:
            sets[method] = attack(model, dataset, method, n=n * repeats, seed=seed, batch_size=batch_size,
                                  device=device, paper_compat=paper_compat, cache=cache, **per_method[method])
        except NoSuccessfulAttackError as err:  # one attack that never works should not sink the others
            if method == methods[-1] and not sets:
                raise
            warnings.warn(f"{err} It is left out of the curves.", RuntimeWarning, stacklevel=2)
    first = next(iter(sets.values()))
    if len(np.unique(first.targets.numpy())) < 2:
        raise ValueError(f"The model classifies only class {int(first.targets[0])} correctly among the "
                         f"{first.counts['attempted']} images drawn, so the clean originals hold one class and "
                         "modularity is undefined; use a better-trained model.")

    def curve(images: Dataset, what: str, **extra: Any) -> pd.DataFrame:
        size, reps = _fit(len(images), n, repeats, what)
        frame = modularity_curve(model, images, layers=layers, n=size, repeats=reps, k=k, seed=seed, device=device,
                                 batch_size=batch_size).assign(**extra)
        frame.attrs["measures"] = [column for column in ATTACK_MEASURES if column in frame.columns]
        return frame

    curves: dict[tuple[str, str], pd.DataFrame] = {}
    clean = curve(first.clean(), "clean originals", kept=len(first))
    for communities in ["true", "predicted"] if with_predicted else ["true"]:
        curves[CLEAN, communities] = clean
    for method, adversarial in sets.items():
        distances = adversarial.distances()
        extra = dict(**adversarial.counts, success_rate=adversarial.success_rate,
                     mean_l2=distances.l2.mean(), mean_linf=distances.linf.mean())
        curves[method, "true"] = curve(adversarial, method, **extra)
        if with_predicted:
            predicted = adversarial.with_labels("predicted")
            size, reps = _fit(len(predicted), n, repeats, method)
            samples = sample_indices(len(predicted), n=size, repeats=reps, seed=seed)
            if all(np.unique(predicted.targets.numpy()[sample]).size > 1 for sample in samples):
                curves[method, "predicted"] = curve(predicted, method, **extra)
            else:  # one predicted class: a single community, Q = 0 by definition, and modularity_curve refuses it
                warnings.warn(f"{attack_label(method)}: the model predicts a single class on a sample of its "
                              "adversarial images, so the predicted-classes curve is left out.", RuntimeWarning,
                              stacklevel=2)
    stacked = stack_curves(curves, name=LABELS)
    attrs = dict(stacked.attrs)
    stacked["paper_compat"] = bool(paper_compat)
    columns = [*LABELS, "layer", "depth", "repeat", "modularity", "edges", "n", "k"]
    frame = stacked[columns + [c for c in stacked.columns if c not in columns]]
    frame.attrs = {**attrs, "attacks": {method: {"params": made.params, "counts": made.counts}
                                        for method, made in sets.items()},
                   "skipped": [method for method in methods if method not in sets]}
    return frame


def attack_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per attack of :func:`adversarial_curves`' frame: counts, success rate, perturbation
    size, and the mean Q of the last layer per kind of communities (``q_last_true``, ``q_last_predicted``).

    Each mean comes with its 95 % Student-t interval over the repeats (``q_last_true_low``,
    ``q_last_true_high``, ...; :func:`~dynamic_graphs.frames.t_interval`, as in
    :func:`~dynamic_graphs.summarize_curve`): NaN with one repeat.

    A frame that stacks several runs (say two models, stacked with ``stack_curves(..., name="model")``)
    gets one row per (run, attack): every label column that varies within an attack leads the index.
    A frame whose curves no column tells apart is refused (:func:`~dynamic_graphs.frames.check_curves`).

    Raises:
        TypeError: not a DataFrame. KeyError: not an adversarial_curves frame.
        ValueError: curves that no label column tells apart.
    """
    labels = check_curves(curves, caller="attack_summary")
    missing = [column for column in LABELS if column not in curves.columns]
    if missing:
        raise KeyError(f"attack_summary: the frame lacks the column(s) {missing}; pass the frame from "
                       "adversarial_curves().")
    by_attack = curves.groupby("attack", sort=False)
    runs = [label for label in labels if label not in LABELS and label not in ATTACK_MEASURES
            and (by_attack[label].nunique(dropna=False) > 1).any()]
    keys = [*runs, "attack"]
    last = curves[curves["depth"] == curves.groupby([*keys, "communities"], sort=False)["depth"].transform("max")]
    stats = last.groupby([*keys, "communities"], sort=False)["modularity"].agg(["mean", "std", "count"])
    stats["low"], stats["high"] = t_interval(stats["mean"], stats["std"], stats["count"])
    q_last = stats[["mean", "low", "high"]].unstack("communities")
    q_last.columns = [f"q_last_{view}" + ("" if measure == "mean" else f"_{measure}")
                      for measure, view in q_last.columns]
    order = [f"q_last_{view}{suffix}" for view in dict.fromkeys(last["communities"]) for suffix in ("", "_low", "_high")]
    q_last = q_last[[column for column in order if column in q_last.columns]]
    columns = [c for c in (*ATTACK_MEASURES, "n") if c in curves.columns]
    grouped = curves.groupby(keys, sort=False)
    table = grouped[columns].first()
    table["repeats"] = grouped["repeat"].nunique()
    return table.join(q_last)
