"""Each constraint on a setting, written once: the functions and the notebook parameter check share them.

A *rule* takes a setting's name and value and returns the value checked, or raises a ``TypeError``
(wrong type) or ``ValueError`` (out of range) whose message names the setting and the fix.
:class:`dynamic_graphs.CurveSpec` validates its fields with these rules, and
:data:`dynamic_graphs.reports.RULES` maps every notebook parameter to one of them, so a value the
API refuses is refused, with the same message, before a notebook does any work. The checks across
settings (:func:`check_neighbours`, :func:`check_draws`) are shared the same way.
"""
from __future__ import annotations

import math
import os
from numbers import Real
from typing import Any, Callable, Sequence

from .utils import check_int, check_int_list, is_int, lookup, resolve_device

__all__ = [
    "Rule",
    "check_class_count",
    "check_draws",
    "check_seed_pairs",
    "check_neighbours",
    "count",
    "device",
    "directory",
    "finite",
    "flag",
    "int_list",
    "mapping",
    "number",
    "one_of",
    "separations",
    "split",
    "text",
]

Rule = Callable[[str, Any], Any]
"""A rule takes a setting's name and value and returns the value checked (or raises)."""

SPLITS = ("train", "test")


def count(minimum: int = 1, maximum: int | None = None, *, optional: bool = False) -> Rule:
    """An integer in ``[minimum, maximum]``; with ``optional``, ``None`` too (the default of "all")."""
    def rule(name: str, value: Any) -> int | None:
        if value is None and optional:
            return None
        if optional and not is_int(value):
            raise TypeError(f"{name} must be an integer or None, got {value!r} ({type(value).__name__}).")
        return check_int(name, value, minimum=minimum, maximum=maximum)
    return rule


def int_list(minimum: int = 1, *, optional: bool = False, allow_empty: bool = False) -> Rule:
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


def number(minimum: float | None = None, *, positive: bool = False, optional: bool = False) -> Rule:
    """A real number (not a bool, not NaN), ``> 0`` with ``positive``, ``>= minimum`` with ``minimum``."""
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


def finite(name: str, value: Any) -> float:
    """A finite real number."""
    value = number()(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return value


def separations(name: str, value: Any) -> list[float]:
    """One separation or a non-empty list of them, each finite and >= 0, as a list of floats."""
    values = [value] if isinstance(value, Real) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise TypeError(f"{name} must be a number or a non-empty list of numbers, got {value!r}.")
    checked = [number(minimum=0)(f"{name}[{i}]", v) for i, v in enumerate(values)]
    return [float(finite(f"{name}[{i}]", v)) for i, v in enumerate(checked)]


def flag(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not a truthy number or string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def text(name: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty string, got {value!r} ({type(value).__name__}).")
    return value


def mapping(name: str, value: Any) -> dict | None:
    """A mapping or ``None``."""
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a mapping (YAML {{key: value}}) or None, got {value!r} "
                        f"({type(value).__name__}).")
    return value


def directory(name: str, value: Any) -> str | os.PathLike | None:
    """``None`` (the package's default directory) or a path."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a directory path or None, got {value!r} ({type(value).__name__}).")
    return value


def split(name: str, value: Any) -> str:
    """A dataset split: ``"train"`` or ``"test"``."""
    if value not in SPLITS:
        raise ValueError(f"{name} must be 'train' or 'test', got {value!r}.")
    return value


def device(name: str, value: Any) -> Any:
    """``"auto"``, ``"cpu"``, ``"cuda[:i]"`` or a ``torch.device`` that exists here."""
    import torch

    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{name} must be 'auto', 'cpu' or 'cuda[:i]', got {value!r} ({type(value).__name__}).")
    resolve_device(value)  # an unknown device, or CUDA asked for where there is none
    return value


def one_of(choices: Sequence[str], what: str) -> Rule:
    """One of ``choices``, matched as :func:`dynamic_graphs.utils.lookup` does (case, close names)."""
    def rule(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be one of {', '.join(choices)}, got {value!r} ({type(value).__name__}).")
        return lookup(value, choices, what=what)
    return rule


# --------------------------------------------------------------------------- checks across settings


def check_neighbours(*, n: int | None = None, k: int | None = None, ns: Sequence[int] | None = None,
                     ks: Sequence[int] | None = None, n_name: str = "n", k_name: str = "k") -> None:
    """Every k a graph is built with must be below its N (a k-NN graph needs 1 <= k < N).

    ``n`` and ``k`` are one graph's; ``ks`` is a sweep of k at ``n``, ``ns`` a sweep of N at ``k``,
    and ``ns`` with ``ks`` and neither ``n`` nor ``k`` a grid of both. ``n_name`` and ``k_name``
    name the fixed values in the message (``n_default``, ``k_default`` in the ablation).
    """
    if n is not None and k is not None and k >= n:
        raise ValueError(f"{k_name} must satisfy 1 <= {k_name} < {n_name} ({n_name} = {n} images per graph), got "
                         f"{k_name} = {k}; choose a smaller {k_name} or a larger {n_name}.")
    if ks is not None and n is not None and max(ks) >= n:
        raise ValueError(f"The k sweep needs every k < {n_name} = {n}, got k = {max(ks)}; drop the largest ks or "
                         f"raise {n_name}.")
    if ns is not None and k is not None and k >= min(ns):
        raise ValueError(f"The n sweep needs {k_name} = {k} < every n, got n = {min(ns)}; drop the smallest ns or "
                         f"lower {k_name}.")
    if ns is not None and ks is not None and n is None and k is None and max(ks) >= min(ns):
        raise ValueError(f"Every n must exceed every k, got ns = {list(ns)} and ks = {list(ks)}; raise the smallest "
                         "n or lower the ks.")


def check_class_count(*, ns: Sequence[int], num_classes: int) -> None:
    """Every graph of a mixture of ``num_classes`` classes needs at least one node per class."""
    if min(ns) < num_classes:
        raise ValueError(f"Every n must be at least num_classes = {num_classes}, got n = {min(ns)}; raise the "
                         "smallest n.")


def check_seed_pairs(random_seeds: Sequence[int] | None, recovery_seeds: Sequence[int] | None) -> None:
    """Table 1's random draws pair with its recovery seeds, run by run (``compare_pruning``)."""
    if random_seeds is not None and recovery_seeds is not None and len(random_seeds) != len(recovery_seeds):
        raise ValueError(f"random_seeds {list(random_seeds)} and recovery_seeds {list(recovery_seeds)} pair up run by "
                         "run: give as many of each, or random_seeds=None to draw with the recovery seeds.")


def check_draws(available: int, *, n: int, repeats: int, what: str = "The dataset", asked: str = "n × repeats",
                fix: str = "lower n or repeats") -> None:
    """``repeats`` disjoint samples of ``n`` images must fit the ``available`` ones."""
    if n * repeats > available:
        raise ValueError(f"{what} has {available} images but {asked} = {n} × {repeats} = {n * repeats} disjoint "
                         f"samples were asked for; {fix}.")
