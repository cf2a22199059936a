"""A notebook's parameters, checked before any work: names, counts, sizes and types.

Every notebook calls :func:`check_parameters` in its first code cell after the ``parameters`` cell,
passing each of its parameters by name, so that a typo on the command line fails within seconds,
with the message the Python API would give, instead of after a model has trained::

    papermill notebooks/fig3.ipynb out.ipynb -p n -5     # ValueError: n must be an integer >= 1, got -5.
    papermill notebooks/fig3.ipynb out.ipynb -p k abc    # TypeError: k must be an integer, got 'abc' (str).

One table, :data:`RULES`, holds the rule of each parameter name the notebooks share (README,
"Notebooks"); then the parameters are checked against each other (``k < n``) and against the
dataset's split sizes (:func:`dynamic_graphs.dataset_info`, nothing is loaded or downloaded).
papermill's ``-p`` passes ``-p k abc`` as the string ``"abc"`` and ``-p n -5`` as the integer ``-5``,
so a string where a number is needed is a ``TypeError`` naming the parameter.
"""
from __future__ import annotations

import logging
import math
import os
from numbers import Real
from typing import Any, Callable

from ._settings import settings
from .attacks import list_attacks, resolve_attack
from .data import dataset_info
from .models import UnknownModelError, list_models
from .training import check_model_options
from .utils import _is_int, check_int, check_int_list, lookup, resolve_device

__all__ = ["RULES", "check_parameters"]

logger = logging.getLogger(__name__)

Rule = Callable[[str, Any], Any]
"""A rule takes a parameter's name and value and returns the value checked (or raises)."""


# --------------------------------------------------------------------------- rules of one parameter


def _count(minimum: int = 1, maximum: int | None = None, *, optional: bool = False) -> Rule:
    """An integer in ``[minimum, maximum]``; with ``optional``, ``None`` too (the notebook's default)."""
    def rule(name: str, value: Any) -> int | None:
        if value is None and optional:
            return None
        if optional and not _is_int(value):
            raise TypeError(f"{name} must be an integer or None, got {value!r} ({type(value).__name__}).")
        return check_int(name, value, minimum=minimum, maximum=maximum)
    return rule


def _int_list(minimum: int = 1, *, optional: bool = False, allow_empty: bool = False) -> Rule:
    """One integer or a list of distinct integers >= ``minimum``; with ``optional``, ``None`` too;
    with ``allow_empty``, the empty list too."""
    def rule(name: str, value: Any) -> list[int] | None:
        if value is None and optional:
            return None
        if isinstance(value, str):  # papermill's -p passes "[3, 5]" as a string
            raise TypeError(f"{name} must be a list of integers, got the string {value!r}; on the command line "
                            f"give a list as YAML: -y \"{name}: [3, 5]\".")
        return check_int_list(name, value, minimum=minimum, allow_empty=allow_empty)
    return rule


def _number(minimum: float | None = None, *, positive: bool = False, optional: bool = False) -> Rule:
    """A finite real number (not a bool), ``> 0`` with ``positive``, ``>= minimum`` with ``minimum``."""
    def rule(name: str, value: Any) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, Real):
            alternatives = "a number or None" if optional else "a number"
            raise TypeError(f"{name} must be {alternatives}, got {value!r} ({type(value).__name__}).")
        if math.isnan(value) or (positive and value <= 0) or (minimum is not None and value < minimum):
            bound = " > 0" if positive else f" >= {minimum}" if minimum is not None else ""
            raise ValueError(f"{name} must be a number{bound}, got {value!r}.")
        return value
    return rule


def _finite(name: str, value: Any) -> float:
    value = _number()(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return value


def _separations(name: str, value: Any) -> list[float]:
    """One separation or a list of them, each finite and >= 0 (as :func:`dynamic_graphs.asymptotic_sweep`)."""
    values = [value] if isinstance(value, Real) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise TypeError(f"{name} must be a number or a non-empty list of numbers, got {value!r}.")
    checked = [_number(minimum=0)(f"{name}[{i}]", v) for i, v in enumerate(values)]
    return [_finite(f"{name}[{i}]", v) for i, v in enumerate(checked)]


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty string, got {value!r} ({type(value).__name__}).")
    return value


def _optional_mapping(name: str, value: Any) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a mapping (YAML {{key: value}}) or None, got {value!r} "
                        f"({type(value).__name__}).")
    return value


def _directory(name: str, value: Any) -> str | os.PathLike | None:
    """``None`` (the package's default directory) or a path."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a directory path or None, got {value!r} ({type(value).__name__}).")
    return value


def _names(value: Any) -> list:
    """One name (or path) or a list of them, as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _models(name: str, value: Any) -> list[str]:
    """Registry names, looked up as :func:`dynamic_graphs.get_model` does (same message, suggestions)."""
    models = _names(value)
    if not models:
        raise ValueError(f"{name} must name at least one model of dg.list_models(), got an empty list.")
    return [lookup(model, list_models(), what="model", error=UnknownModelError) for model in models]


def _datasets(name: str, value: Any) -> dict[str, dict]:
    """Dataset names or image folders, with their :func:`dynamic_graphs.dataset_info` (nothing loaded)."""
    datasets = _names(value)
    if not datasets:
        raise ValueError(f"{name} must name at least one dataset, got an empty list.")
    return {str(dataset): dataset_info(dataset) for dataset in datasets}


def _attacks(name: str, value: Any) -> list[str]:
    """Attack names, matched as :func:`dynamic_graphs.attack` does; at least one, each once."""
    methods = [resolve_attack(method) for method in _names(value)]
    if not methods:
        raise ValueError(f"{name} is empty; pass at least one attack name of dg.list_attacks(): "
                         f"{', '.join(list_attacks())}.")
    if len(set(methods)) != len(methods):
        raise ValueError(f"{name} lists an attack more than once: {methods}")
    return methods


def _pruning_methods(name: str, value: Any) -> list[str]:
    """Baselines of :func:`dynamic_graphs.compare_pruning`, matched as it does; each once (none is allowed)."""
    from .figures.pruning import METHODS

    methods = [lookup(method, METHODS, what="pruning method") for method in _names(value)]
    if len(set(methods)) != len(methods):
        raise ValueError(f"{name} lists a method more than once: {methods}")
    return methods


def _layer_metrics(name: str, value: Any) -> list[str]:
    """Measures of :func:`dynamic_graphs.layer_metrics`, matched as it does; at least one, each once."""
    from .metrics import LAYER_METRICS

    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of names, got the string {value!r}; on the command line give a list "
                        f"as YAML: -y \"{name}: [modularity, knn_accuracy]\".")
    metrics = [lookup(metric, LAYER_METRICS, what="layer metric") for metric in _names(value)]
    if not metrics or len(set(metrics)) != len(metrics):
        raise ValueError(f"{name} must list each measure of {', '.join(LAYER_METRICS)} at most once, and at least "
                         f"one; got {metrics}.")
    return metrics


def _redundancy_rule(name: str, value: Any) -> str:
    """A rule of :func:`dynamic_graphs.redundant_layers`, matched as it does."""
    from .pruning.selection import REDUNDANCY_RULES

    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(REDUNDANCY_RULES)}, got {value!r} ({type(value).__name__}).")
    return lookup(value, REDUNDANCY_RULES, what="redundancy rule")


def _split(name: str, value: Any) -> str:
    if value not in ("train", "test"):
        raise ValueError(f"{name} must be 'train' or 'test', got {value!r}.")
    return value


def _device(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be 'auto', 'cpu' or 'cuda[:i]', got {value!r} ({type(value).__name__}).")
    resolve_device(value)  # an unknown device, or CUDA asked for where there is none
    return value


RULES: dict[str, Rule] = {
    # names, against the registries
    "model": _models,
    "dataset": _datasets,
    "methods": _attacks,                        # fig5
    "baselines": _pruning_methods,              # table1
    "rule": _redundancy_rule,                   # table1: dg.redundant_layers' rule
    "metrics": _layer_metrics,                  # metrics: dg.layer_metrics' measures
    "metric_split": _split,                     # metrics: the split the measures are computed on
    "device": _device,
    "layout": _text,                            # fig2: an igraph layout name
    # counts
    "n": _count(),
    "repeats": _count(),
    "k": _count(),
    "seed": _count(minimum=0),
    "epochs": _count(optional=True),            # None: the dataset's recipe
    "train_size": _count(optional=True),        # None: every training image
    "test_size": _count(optional=True),
    "recovery_epochs": _count(optional=True),
    "recovery_train_size": _count(optional=True),
    "probe_train": _count(),                    # table1
    "probe_test": _count(),
    "max_layers": _count(optional=True),        # table1; None: every redundant unit
    "ncols": _count(),                          # fig1
    "col_wrap": _count(optional=True),          # fig3: panels per figure row; None: one row per dataset
    "num_classes": _count(minimum=2),           # asymptotics
    "dim": _count(),
    "n_boot": _count(),                         # metrics: bootstrap resamples
    "verbosity": _count(minimum=0, maximum=2),
    # lists of integers
    "ns": _int_list(),
    "ks": _int_list(),
    "counts": _int_list(allow_empty=True),      # fig8, fig9; fig9's []: the paper's variants only
    "random_seeds": _int_list(minimum=0, optional=True),  # table1; None: the recovery seeds
    "recovery_seeds": _int_list(minimum=0, optional=True),  # table1, fig8, fig9; None (figs. 8-9): [seed]
    "train_seeds": _int_list(minimum=0, optional=True),  # fig3; None: [seed]
    "probe": _int_list(),                       # fig4: 1-based probe-layer indices
    "layers_to_draw": _int_list(),              # fig2: 1-based probe-layer indices
    # numbers
    "threshold": _number(),                     # table1: ΔQ below it is a plateau
    "recovery_lr": _number(positive=True, optional=True),
    "perplexity": _number(positive=True),       # fig1; below n, checked with it
    "fps": _number(positive=True),              # fig2
    "offset": _finite,                          # asymptotics
    "separations": _separations,
    # switches and directories
    "train_options": _optional_mapping,         # fig3: {model: {option: value}}, checked with the models
    "compare_untrained": _flag,
    "paper_compat": _flag,
    "from_scratch": _flag,
    "fig_dir": _directory,
    "report_dir": _directory,
}
"""The rule of each notebook parameter, by name."""


# --------------------------------------------------------------------------- rules across parameters


def _check_neighbours(values: dict[str, Any]) -> None:
    """Every k a graph is built with must be below its n (``knn_graph`` needs 1 <= k < N)."""
    n, k, ns, ks = (values.get(key) for key in ("n", "k", "ns", "ks"))
    if n is not None and k is not None and k >= n:
        raise ValueError(f"k must satisfy 1 <= k < n (n = {n} images per graph), got k = {k}; choose a smaller k "
                         "or a larger n.")
    if ks is not None and n is not None and max(ks) >= n:  # fig6's k sweep, at n
        raise ValueError(f"The k sweep needs every k < n = {n}, got k = {max(ks)}; drop the largest ks or raise n.")
    if ns is not None and k is not None and k >= min(ns):  # fig6's n sweep, at k
        raise ValueError(f"The n sweep needs k = {k} < every n, got n = {min(ns)}; drop the smallest ns or lower k.")
    if ns is not None and ks is not None and n is None and k is None and max(ks) >= min(ns):  # a grid (asymptotics)
        raise ValueError(f"Every n must exceed every k, got ns = {ns} and ks = {ks}; raise the smallest n or lower "
                         "the ks.")
    classes = values.get("num_classes")
    if ns is not None and classes is not None and min(ns) < classes:
        raise ValueError(f"Every n must be at least num_classes = {classes}, got n = {min(ns)}; raise the "
                         "smallest n.")
    perplexity = values.get("perplexity")
    if perplexity is not None and n is not None and perplexity >= n:
        raise ValueError(f"perplexity must lie in (0, n) with n = {n} images, got {perplexity}; lower it or raise n.")


def _check_sizes(values: dict[str, Any]) -> None:
    """Counts of images against the splits of each dataset (graphs are drawn from its test split)."""
    repeats = values.get("repeats") or 1
    for dataset, info in (values.get("dataset") or {}).items():
        sizes = info.get("split_sizes")
        if not sizes:  # an image folder: its files are not counted here
            continue
        test, train = sizes["test"], sizes["train"]
        for key in ("n", "ns"):
            n = values.get(key)
            if n is None:
                continue
            largest = max(n) if key == "ns" else n
            if largest * repeats > test:
                what = "max(ns)" if key == "ns" else "n"
                raise ValueError(f"{dataset}'s test split has {test} images but {what} × repeats = {largest} × "
                                 f"{repeats} = {largest * repeats} disjoint samples were asked for; lower {key} or "
                                 "repeats.")
        limits = {"test_size": ("test", test), "train_size": ("training", train),
                  "recovery_train_size": ("training", train)}
        for key, (split, size) in limits.items():
            if values.get(key) is not None and values[key] > size:
                raise ValueError(f"{key} = {values[key]} is more than the {size} images of {dataset}'s {split} split; "
                                 "lower it, or None for all of them.")
        probe_train, probe_test = values.get("probe_train"), values.get("probe_test")
        if probe_train is not None and probe_test is not None and probe_train + probe_test > train:
            raise ValueError(f"probe_train + probe_test = {probe_train} + {probe_test} = {probe_train + probe_test} "
                             f"disjoint images are more than the {train} of {dataset}'s training split; lower them.")


def _check_rule(values: dict[str, Any]) -> None:
    """The interval rule needs a gain interval, so at least two repeats per layer."""
    if values.get("rule") == "interval" and values.get("repeats") is not None and values["repeats"] < 2:
        raise ValueError(f"rule='interval' needs the gain's 95 % interval, which takes repeats >= 2 (got repeats = "
                         f"{values['repeats']}); raise repeats, or use rule='mean'.")


def _check_seeds(values: dict[str, Any]) -> None:
    """Table 1's random draws pair with its recovery seeds, run by run (compare_pruning)."""
    draws, runs = values.get("random_seeds"), values.get("recovery_seeds")
    if draws is not None and runs is not None and len(draws) != len(runs):
        raise ValueError(f"random_seeds {draws} and recovery_seeds {runs} pair up run by run: give as many of each, "
                         "or random_seeds=None to draw with the recovery seeds.")


def _check_train_options(values: dict[str, Any]) -> None:
    """fig3's per-model training options: for its models, valid options on every dataset."""
    if values.get("train_options") is not None:
        check_model_options(values["train_options"], values.get("model") or [], list(values.get("dataset") or {}))


def _check_layout(values: dict[str, Any]) -> None:
    """fig3's col_wrap wraps the panels of one dataset (plot_curve_grid refuses it with several)."""
    datasets = values.get("dataset") or {}
    if values.get("col_wrap") is not None and len(datasets) > 1:
        raise ValueError(f"col_wrap wraps the model panels of one dataset, but {len(datasets)} were given "
                         f"({', '.join(datasets)}); pass col_wrap=None for a row of panels per dataset.")


# --------------------------------------------------------------------------- entry point


def check_parameters(**parameters: Any) -> None:
    """Check a notebook's parameters before any download, training or forward pass.

    Each parameter is checked by its name with the rule of :data:`RULES` (registry names as
    :func:`dynamic_graphs.get_model`, :func:`dynamic_graphs.get_dataset` and
    :func:`dynamic_graphs.attack` look them up, counts as :func:`dynamic_graphs.utils.check_int`),
    then against each other: every ``k`` below its ``n``, ``perplexity`` below ``n``, and, for each
    dataset, ``n × repeats`` (``max(ns) × repeats``) no more than its test split, ``train_size``,
    ``recovery_train_size`` and ``probe_train + probe_test`` no more than its training split,
    ``test_size`` no more than its test split, as many ``random_seeds`` as ``recovery_seeds``,
    ``rule="interval"`` with at least two ``repeats``,
    ``col_wrap`` only with one dataset, and ``train_options`` for the notebook's models only, each
    a valid recipe (:func:`~dynamic_graphs.training.check_model_options`).
    Nothing is loaded or downloaded.

    When all pass, ``settings.verbosity`` is set from ``verbosity`` (if given). A name without a
    rule is not checked; it is logged, so that a notebook's new parameter is noticed (the test
    suite requires a rule for every parameter of every notebook).

    Args:
        **parameters: the notebook's parameters, by name, e.g. ``check_parameters(model=model, n=n, k=k)``.

    Raises:
        TypeError: a value of the wrong type, such as the string ``"abc"`` for ``k``.
        ValueError: a value out of range, or too large for the dataset.
        UnknownNameError: (a ``KeyError``) an unknown model, dataset or attack; the message
            suggests close names and lists the available ones.

    Example:
        >>> check_parameters(model="resnet20", dataset="fashion-mnist", n=500, repeats=5, k=3)
        >>> check_parameters(k="abc")
        Traceback (most recent call last):
        ...
        TypeError: k must be an integer, got 'abc' (str).
    """
    checked: dict[str, Any] = {}
    unknown = []
    for name, value in parameters.items():
        rule = RULES.get(name)
        if rule is None:
            unknown.append(name)
            continue
        checked[name] = rule(name, value)
    if unknown:
        logger.info("check_parameters has no rule for %s: not checked.", ", ".join(unknown))
    _check_neighbours(checked)
    _check_sizes(checked)
    _check_seeds(checked)
    _check_rule(checked)
    _check_layout(checked)
    _check_train_options(checked)
    if "verbosity" in checked:
        settings.verbosity = checked["verbosity"]
