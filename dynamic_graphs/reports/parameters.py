"""A notebook's parameters, checked before any work: names, counts, sizes and types.

Every notebook calls :func:`dynamic_graphs.reports.start` in the cell after its ``parameters`` cell,
which passes each parameter to :func:`check_parameters`, so that a bad value on the command line
fails within seconds, with the message the Python API would give, instead of after a model has trained::

    papermill notebooks/fig3.ipynb out.ipynb -p n -5     # ValueError: n must be an integer >= 1, got -5.
    papermill notebooks/fig3.ipynb out.ipynb -p k abc    # TypeError: k must be an integer, got 'abc' (str).

One table, :data:`RULES`, holds the rule of each parameter name the notebooks share (README,
"Notebooks"); then the parameters are checked against each other (``k < n``) and against the
dataset's split sizes (:func:`dynamic_graphs.data.dataset_info`, nothing is loaded or downloaded).
papermill's ``-p`` passes ``-p k abc`` as the string ``"abc"`` and ``-p n -5`` as the integer ``-5``,
so a string where a number is needed is a ``TypeError`` naming the parameter.
"""
from __future__ import annotations

import logging
from typing import Any

from .. import rules
from ..attacks import list_attacks, resolve_attack
from ..curve import SPEC_RULES
from ..data import dataset_info
from ..models import UnknownModelError, list_models
from ..training import MISSING, check_model_options
from ..utils import lookup

__all__ = ["RULES", "check_parameters"]

logger = logging.getLogger(__name__)


def _names(value: Any) -> list:
    """One name (or path) or a list of them, as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _models(name: str, value: Any) -> list[str]:
    """Registry names, looked up as :func:`dynamic_graphs.get_model` does (same message, suggestions)."""
    models = _names(value)
    if not models:
        raise ValueError(f"{name} must name at least one model of dg.list_models(), got an empty list.")
    return [lookup(model, list_models(), what="model", error=UnknownModelError) for model in models]


def _imagenet_network(name: str, value: Any) -> str:
    from ..models import IMAGENET_NETWORKS

    return rules.one_of(list(IMAGENET_NETWORKS), "ImageNet network")(name, value)


def _train_sizes(name: str, value: Any) -> list[int | None]:
    """Training-set sizes: positive integers, and None for the whole split, each once."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise TypeError(f"{name} must be a non-empty list of image counts (None: the whole split), got {value!r}; "
                        f"on the command line as YAML: -y \"{name}: [600, 6000, null]\".")
    sizes = [None if size is None else rules.count()(f"{name}[{i}]", size) for i, size in enumerate(value)]
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"{name} lists a size more than once: {list(value)}")
    return sizes


def _class_train_sizes(name: str, value: Any) -> list[int | None] | None:
    """The training sizes of the class-subset cells: None (the same as ``train_sizes``), or sizes as there."""
    return None if value is None else _train_sizes(name, value)


def _train_seeds(name: str, value: Any) -> list[int] | dict[str, list[int]] | None:
    """Training seeds: a list for every model, None (the notebook's ``seed``), or a mapping of model to seeds
    (data_axis; its names are checked against the models there)."""
    if isinstance(value, dict):
        return {model: rules.int_list(minimum=0)(f"{name}[{model!r}]", seeds) for model, seeds in value.items()}
    return rules.int_list(minimum=0, optional=True)(name, value)


def _class_sets(name: str, value: Any) -> list[list[int] | None]:
    """Sets of classes: None (every class) or lists of at least two distinct class indices."""
    from ..training import check_classes

    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise TypeError(f"{name} must be a non-empty list of class sets (None: every class; [0, 6]: those two), "
                        f"got {value!r}; on the command line as YAML: -y \"{name}: [null, [0, 6]]\".")
    return [None if classes is None else check_classes(classes) for classes in value]


def _datasets(name: str, value: Any) -> dict[str, dict]:
    """Dataset names or image folders, with their :func:`dynamic_graphs.data.dataset_info` (nothing loaded)."""
    datasets = _names(value)
    if not datasets:
        raise ValueError(f"{name} must name at least one dataset, got an empty list.")
    return {str(dataset): dataset_info(dataset) for dataset in datasets}


def _attacks(name: str, value: Any) -> list[str]:
    """Attack names, matched as :func:`dynamic_graphs.attacks.attack` does; at least one, each once."""
    methods = [resolve_attack(method) for method in _names(value)]
    if not methods:
        raise ValueError(f"{name} is empty; pass at least one attack name of dg.attacks.list_attacks(): "
                         f"{', '.join(list_attacks())}.")
    if len(set(methods)) != len(methods):
        raise ValueError(f"{name} lists an attack more than once: {methods}")
    return methods


def _pruning_methods(name: str, value: Any) -> list[str]:
    from ..figures.pruning import check_methods

    # a bare string is refused (as compare_pruning refuses it), not wrapped into a list
    return check_methods(name, value if isinstance(value, str) else _names(value))


def _layer_metrics(name: str, value: Any) -> list[str]:
    from ..metrics import check_metrics

    return check_metrics(name, value if isinstance(value, str) else _names(value))


def _redundancy_rule(name: str, value: Any) -> str:
    from ..pruning.selection import REDUNDANCY_RULES

    return rules.one_of(REDUNDANCY_RULES, "redundancy rule")(name, value)


RULES: dict[str, rules.Rule] = {
    # the curve's settings: the rules CurveSpec validates its fields with
    **{name: SPEC_RULES[name] for name in ("n", "repeats", "k", "seed", "device")},
    # names, against the registries
    "model": _models,
    "dataset": _datasets,
    "network": _imagenet_network,               # transfer: a network trained on ImageNet elsewhere
    "methods": _attacks,                        # fig5
    "baselines": _pruning_methods,              # table1
    "rule": _redundancy_rule,                   # table1: dg.pruning.redundant_layers' rule
    "metrics": _layer_metrics,                  # metrics: dg.metrics.layer_metrics' measures
    "metric_split": rules.split,                # metrics: the split the measures are computed on
    "missing": rules.one_of(MISSING, "missing= policy"),  # data_axis: a cell not trained yet
    "layout": rules.text,                       # fig2: an igraph layout name
    # counts
    "epochs": rules.count(optional=True),       # None: the dataset's recipe
    "train_size": rules.count(optional=True),   # None: every training image
    "test_size": rules.count(optional=True),
    "recovery_epochs": rules.count(optional=True),
    "recovery_train_size": rules.count(optional=True),
    "probe_train": rules.count(),               # table1
    "probe_test": rules.count(),
    "max_layers": rules.count(optional=True),   # table1; None: every redundant unit
    "ncols": rules.count(),                     # fig1
    "image_size": rules.count(),                # transfer: the side the images are resized to
    "steps": rules.count(optional=True),        # data_axis: optimizer steps per cell; None: the recipe's
    "train_sizes": _train_sizes,                # data_axis: training images per cell; None: the whole split
    "class_sets": _class_sets,                  # data_axis: None (every class) or lists of class indices
    "class_train_sizes": _class_train_sizes,    # data_axis: the class-subset cells' sizes; None: train_sizes
    "col_wrap": rules.count(optional=True),     # fig3: panels per figure row; None: one row per dataset
    "num_classes": rules.count(minimum=2),      # asymptotics
    "dim": rules.count(),
    "n_boot": rules.count(),                    # metrics: bootstrap resamples
    "verbosity": rules.count(minimum=0, maximum=2),
    # lists of integers
    "ns": rules.int_list(),
    "ks": rules.int_list(),
    "counts": rules.int_list(allow_empty=True),  # fig8, fig9; fig9's []: the paper's variants only
    "random_seeds": rules.int_list(minimum=0, optional=True),  # table1; None: the recovery seeds
    "recovery_seeds": rules.int_list(minimum=0, optional=True),  # table1, fig8, fig9; None (figs. 8-9): [seed]
    "train_seeds": _train_seeds,                # fig3 (None: [seed]); data_axis, also {model: seeds}
    "probe": rules.int_list(),                  # fig4: 1-based probe-layer indices
    "layers_to_draw": rules.int_list(),         # fig2: 1-based probe-layer indices
    # numbers
    "threshold": rules.number(),                # table1: ΔQ below it is a plateau
    "recovery_lr": rules.number(positive=True, optional=True),
    "perplexity": rules.number(positive=True),  # fig1; below n, checked with it
    "fps": rules.number(positive=True),         # fig2
    "offset": rules.finite,                     # asymptotics
    "separations": rules.separations,
    # switches and directories
    "train_options": rules.mapping,             # fig3: {model: {option: value}}, checked with the models
    "compare_untrained": rules.flag,
    "paper_compat": rules.flag,
    "from_scratch": rules.flag,
    "fig_dir": rules.directory,
    "report_dir": rules.directory,
}
"""The rule of each notebook parameter, by name."""


# --------------------------------------------------------------------------- rules across parameters


def _check_neighbours(values: dict[str, Any]) -> None:
    """Every k a graph is built with below its n, every n of a grid at least its classes, perplexity below n."""
    n, k, ns, ks = (values.get(key) for key in ("n", "k", "ns", "ks"))
    rules.check_neighbours(n=n, k=k, ns=ns, ks=ks)
    if ns is not None and values.get("num_classes") is not None:
        rules.check_class_count(ns=ns, num_classes=values["num_classes"])
    perplexity = values.get("perplexity")
    if perplexity is not None and n is not None and perplexity >= n:
        raise ValueError(f"perplexity must lie in (0, n) with n = {n} images, got {perplexity}; lower it or raise n.")


def _check_sizes(values: dict[str, Any]) -> None:
    """Counts of images against each dataset's splits (samples come from the test split, or ``metric_split``)."""
    repeats = values.get("repeats") or 1
    drawn = values.get("metric_split") or "test"  # the metrics notebook measures on metric_split
    for dataset, info in (values.get("dataset") or {}).items():
        sizes = info.get("split_sizes")
        if not sizes:  # an image folder: its files are not counted here
            continue
        test, train = sizes["test"], sizes["train"]
        for key in ("n", "ns"):
            n = values.get(key)
            if n is None:
                continue
            what = "max(ns)" if key == "ns" else "n"
            rules.check_draws(sizes[drawn], n=max(n) if key == "ns" else n, repeats=repeats,
                              what=f"{dataset}'s {'training' if drawn == 'train' else 'test'} split",
                              asked=f"{what} × repeats", fix=f"lower {key} or repeats")
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
    rules.check_seed_pairs(values.get("random_seeds"), values.get("recovery_seeds"))


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
    :func:`dynamic_graphs.attacks.attack` look them up, counts as :func:`dynamic_graphs.utils.check_int`),
    then against each other: every ``k`` below its ``n``, ``perplexity`` below ``n``, and, for each
    dataset, ``n × repeats`` (``max(ns) × repeats``) no more than the split they are drawn from (the
    test split, or the one ``metric_split`` names), ``train_size``,
    ``recovery_train_size`` and ``probe_train + probe_test`` no more than its training split,
    ``test_size`` no more than its test split, as many ``random_seeds`` as ``recovery_seeds``,
    ``rule="interval"`` with at least two ``repeats``,
    ``col_wrap`` only with one dataset, and ``train_options`` for the notebook's models only, each
    a valid recipe (:func:`~dynamic_graphs.training.check_model_options`).
    Nothing is loaded or downloaded.

    It only checks, changing nothing: :func:`~dynamic_graphs.reports.start` sets ``settings.verbosity``
    from a checked ``verbosity``. A name without a rule is not checked; it is logged, so that a
    notebook's new parameter is noticed (the test suite requires a rule for every parameter of every
    notebook).

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
