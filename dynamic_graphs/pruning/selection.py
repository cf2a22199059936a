"""Which layers to prune: the modularity criterion and the baselines it is compared to.

The criterion of Lu et al. 2022 (layer pruning, Figs. 8-9 and Table 1): on the trained model's
modularity curve, a removable unit whose gain ΔQ over the previous probe layer is about zero
(a plateau) or negative (a degradation) adds too little class separation to keep. The baselines
remove as many units by another rule: the tail of each stage, random units, or the linear-probe
criterion of Chen & Zhao (TPAMI 2018).

Every rule takes ``(curve, model, ...)`` (a frame first, then the model it is of) and returns
probe-layer names in depth order, which :func:`dynamic_graphs.pruning.prune` accepts.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from torch import nn

from ..frames import iter_curves, single_curve, summarize_by_curve, t_interval
from ..models import UnknownModelError, list_models, probe_layers
from ..utils import check_int, lookup, model_name
from .surgery import removable_layers, stage_room, units

__all__ = [
    "DEFAULT_THRESHOLD",
    "GAIN_KINDS",
    "PAPER_VARIANTS",
    "REDUNDANCY_RULES",
    "check_count",
    "classify_gains",
    "contrast_variants",
    "layer_gains",
    "paper_variants",
    "paired_gains",
    "pick_units",
    "plateau_variants",
    "redundant_layers",
    "rising_layers",
]

DEFAULT_THRESHOLD = 0.01  # ΔQ below this counts as "no gain" (about the std of a 5 × 500 mean here)

# The paper's VGG11 variants of Fig. 9 (Lu et al. 2022, Fig. 9: VGG11_1/2/3), as layers to remove.
PAPER_VARIANTS: dict[str, dict[str, list[str]]] = {
    "vgg11": {
        "VGG11_1": ["features.25"],
        "VGG11_2": ["features.18", "features.25"],
        "VGG11_3": ["features.11", "features.18", "features.25"],
    },
}


def paired_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Per depth: the mean paired gain over the rows of a units × depth table of Q, and its 95 % t-interval.

    Every row (a repeat, whose images feed every layer; or a training seed's mean curve) gives one
    value per layer, so each gain ``Q_u(layer) − Q_u(previous layer)`` is taken within a row before
    the t-interval (:func:`dynamic_graphs.frames.t_interval`) of those differences. This is the
    one computation behind :func:`layer_gains`' ``gain_low``/``gain_high`` and the gains of the
    curve verdicts (:mod:`dynamic_graphs.reports.verdicts`).

    Args:
        table: Q with one row per unit and one column per depth (any order: sorted here).

    Returns:
        Columns ``depth``, ``gain`` (the mean paired difference), ``gain_low``, ``gain_high``, one
        row per depth; NaN for the first depth, and intervals NaN where fewer than two rows have
        both values.

    Example:
        >>> table = pd.DataFrame([[0.2, 0.5], [0.3, 0.7]], columns=[1, 2])
        >>> paired_gains(table).round(3).to_dict("list")
        {'depth': [1, 2], 'gain': [nan, 0.35], 'gain_low': [nan, -0.285], 'gain_high': [nan, 0.985]}
    """
    differences = table.sort_index(axis=1).diff(axis=1)
    low, high = t_interval(differences.mean(), differences.std(), differences.count())
    return pd.DataFrame({"depth": differences.columns.to_numpy(), "gain": differences.mean().to_numpy(),
                         "gain_low": low, "gain_high": high})


def _paired_gains(curve: pd.DataFrame, value: str = "modularity") -> pd.DataFrame:
    """Per depth of one curve: the 95 % t-interval of the paired gains Q_r(layer) - Q_r(previous layer).

    Both layers of a pair are measured on the same images (repeat r), so the differences are
    taken within each repeat before averaging (:func:`paired_gains` of the repeats × depth table).
    Returns columns ``depth``, ``gain``, ``gain_low``, ``gain_high`` (NaN for the first layer, and
    the interval where fewer than two repeats have both values).
    """
    repeat = curve["repeat"] if "repeat" in curve.columns else pd.Series(0, index=curve.index)
    table = curve.assign(_repeat=repeat.to_numpy()).pivot(index="_repeat", columns="depth", values=value)
    return paired_gains(table)


GAIN_KINDS = ("down", "flat", "small", "up", "unresolved")


def classify_gains(gain_low, gain_high, threshold: float = DEFAULT_THRESHOLD):
    """Whether each layer's gain falls, is flat, rises a little, rises or is unresolved, from its 95 % interval.

    The one classification of layer gains in the package. For a gain interval
    [``gain_low``, ``gain_high``]:

    - ``"down"``: ``gain_high`` < 0, the layer measurably lowers Q (a dip);
    - ``"flat"``: ``gain_low`` ≤ 0 ≤ ``gain_high`` < ``threshold``, no measurable rise and
      demonstrably less than ``threshold`` (a plateau of the curve);
    - ``"small"``: 0 < ``gain_low`` and ``gain_high`` < ``threshold``, a measurable rise that is
      demonstrably less than ``threshold``: the curve still rises there, slowly;
    - ``"up"``: ``gain_low`` > 0 and ``gain_high`` ≥ ``threshold``, a measurable rise that may
      exceed ``threshold``;
    - ``"unresolved"``: ``gain_low`` ≤ 0 and ``gain_high`` ≥ ``threshold``, an interval too wide to
      call the layer either; also an undefined (NaN) interval, as with one repeat.

    Two readings use it. The curve's shape (the fig3 verdict, ``curve_gains(flat_only=True)``):
    a plateau is where the curve stops rising, ``"flat"`` or ``"down"``; a slow steady rise
    (``"small"``) is not one, since a deep network's many layers each add little to a curve that
    keeps rising. Redundancy for pruning (:func:`redundant_layers` with ``rule="interval"``): a
    layer is redundant when it demonstrably adds less than ``threshold``, ``"down"``, ``"flat"`` or
    ``"small"``, which is exactly ``gain_high`` < ``threshold``.

    Args:
        gain_low, gain_high: the interval's ends, scalars or array-likes of one shape (the
            ``gain_low`` and ``gain_high`` columns of :func:`layer_gains`).
        threshold: the gain below which a layer demonstrably adds little (:data:`DEFAULT_THRESHOLD`, 0.01).

    Returns:
        One of :data:`GAIN_KINDS` for scalar input, otherwise an array of them (object dtype) of
        the inputs' shape.

    Example:
        >>> classify_gains([-0.02, -0.003, 0.002, 0.004, -0.01], [-0.01, 0.004, 0.004, 0.05, 0.03]).tolist()
        ['down', 'flat', 'small', 'up', 'unresolved']
        >>> classify_gains(float("nan"), float("nan"))
        'unresolved'
    """
    low, high = np.asarray(gain_low, dtype=float), np.asarray(gain_high, dtype=float)
    kinds = np.select([high < 0, (high < threshold) & (low > 0), high < threshold, low > 0],
                      ["down", "small", "flat", "up"], "unresolved").astype(object)
    return str(kinds) if kinds.ndim == 0 else kinds


def layer_gains(curve: pd.DataFrame, model: nn.Module) -> pd.DataFrame:
    """Per curve and probe layer: mean Q over repeats, its gain ΔQ over the previous layer with a
    95 % interval, and removability.

    ``delta`` is the mean Q of a layer minus the previous probe layer's. Its interval
    (``gain_low``, ``gain_high``) comes from the *paired* differences: in each repeat the same
    images feed every layer, so per repeat r the gain is Q_r(layer) - Q_r(previous layer), and
    the interval is the Student-t one of those r differences,
    mean ± t_{0.975, r-1} · std / sqrt(r) (docs/method.md, "Intervals"). Pairing removes the
    sample-to-sample variation that both layers share, so this interval is narrower than one
    built from the two layers' separate spreads. Its centre, the mean paired difference, equals
    ``delta`` when every repeat has both values. NaN for the first layer and with one repeat.

    A frame that stacks several curves of ``model`` (trained and untrained, several ``k``...) gives
    one gain per curve and layer, its label columns kept (see :mod:`dynamic_graphs.frames`); a
    frame that stacks curves no column tells apart is refused.

    Args:
        curve: :func:`dynamic_graphs.modularity_curve`'s frame for ``model`` (any number of repeats),
            or a stack of such curves.
        model: the model the curve was measured on.

    Returns:
        The label columns (none for one plain curve), then ``layer``, ``depth``, ``modularity``
        (mean), ``std``, ``delta`` (NaN for the first layer), ``gain_low``, ``gain_high``,
        ``removable``, in depth order.

    Raises:
        ValueError: a curve's layers are not ``model``'s probe layers, or its ``model`` column
            names another model (a curve of another model); curves no column tells apart.
    """
    name = model_name(model)
    expected = probe_layers(model)
    removable = set(removable_layers(model))
    summary = summarize_by_curve(curve, caller="layer_gains")
    labels = summary.attrs["labels"]
    groups = summary.groupby(labels, sort=False, dropna=False) if labels else [((), summary)]
    raw_curves = list(iter_curves(curve, caller="layer_gains"))  # the same curves, in the same order
    frames = []
    for (key, one), (_, raw) in zip(groups, raw_curves):
        values = dict(zip(labels, key if isinstance(key, tuple) else (key,)))
        if "model" in values and str(values["model"]).strip().lower() != name.lower():
            raise ValueError(f"curve is of model {values['model']!r}, not of {name!r}; measure this model's curve.")
        one = one.sort_values("depth", kind="stable")
        if one["layer"].tolist() != expected:
            raise ValueError(f"curve's layers ({len(one)}: {', '.join(one['layer'][:4])}, ...) are not the "
                             f"probe layers of this {name} ({len(expected)}: {', '.join(expected[:4])}, ...); it is "
                             "the curve of another model. Measure dg.modularity_curve(model, ...) on this model.")
        paired = _paired_gains(raw).set_index("depth").loc[one["depth"].to_numpy()]
        mean = one["mean"].to_numpy()
        frames.append(pd.DataFrame({
            **{label: [value] * len(one) for label, value in values.items()},
            "layer": one["layer"].to_numpy(), "depth": one["depth"].to_numpy(), "modularity": mean,
            "std": one["std"].to_numpy(), "delta": np.diff(mean, prepend=np.nan),
            "gain_low": paired["gain_low"].to_numpy(), "gain_high": paired["gain_high"].to_numpy(),
            "removable": one["layer"].isin(removable).to_numpy(),
        }))
    gains = pd.concat(frames, ignore_index=True)
    gains.attrs = {"labels": labels}
    return gains


REDUNDANCY_RULES = ("mean", "interval")


def redundant_layers(curve: pd.DataFrame, model: nn.Module, *, threshold: float = DEFAULT_THRESHOLD,
                     rule: str = "mean", max_layers: int | None = None) -> list[str]:
    """The removable layers where the modularity curve is flat or falls, by one of two rules.

    ΔQ of a layer is its mean Q minus the previous probe layer's (:func:`layer_gains`). Lu et al.
    2022 (arXiv 2111.12485) mark a layer redundant where "ΔQ ≈ 0 or ΔQ < 0" (their pruning
    pipeline, Figs. 8-9) and give no number, so the threshold is a parameter. Negative ΔQ
    (degradation) is always below it. Only layers that :func:`removable_layers` allows are
    returned. The rules (docs/method.md, "Intervals"):

    - ``"mean"`` (the default, and the rule of the committed reports but table1-interval): redundant when the mean
      gain ``delta`` < ``threshold``. It cannot tell a plateau from noise.
    - ``"interval"``: redundant when the whole 95 % interval of the paired gain lies below the
      threshold, ``gain_high`` < ``threshold``: the layers that :func:`classify_gains` calls
      ``"down"``, ``"flat"`` or ``"small"``, demonstrably adding less than the threshold (the fig3
      verdict's plateaus are only the flat and falling ones). It needs at least two repeats; with more repeats the interval narrows and more true
      plateaus pass.

    Args:
        curve: the model's modularity curve (:func:`dynamic_graphs.modularity_curve`): one curve.
        model: the model the curve is of.
        threshold: largest gain that still counts as a plateau.
        rule: ``"mean"`` or ``"interval"`` (any case).
        max_layers: keep at most this many, those with the smallest ``delta`` (``"mean"``) or
            ``gain_high`` (``"interval"``).

    Returns:
        Layer names in depth order.

    Raises:
        UnknownNameError: (a ``KeyError``) an unknown ``rule``.
        ValueError: the frame holds several curves (the message names the columns to select on);
            ``rule="interval"`` on a curve with one repeat (its intervals are undefined).
    """
    rule = lookup(rule, REDUNDANCY_RULES, what="redundancy rule")
    gains = layer_gains(single_curve(curve, caller="redundant_layers"), model)
    count = None if max_layers is None else check_int("max_layers", max_layers, minimum=0)
    if rule == "mean":
        candidates = gains[gains.removable & (gains.delta < threshold)].sort_values(["delta", "depth"])
    else:
        undefined = gains[gains.removable & gains.delta.notna() & gains.gain_high.isna()]["layer"].tolist()
        if undefined:
            raise ValueError(f"redundant_layers(rule='interval') needs the gain's interval, but it is undefined for "
                             f"{undefined} (fewer than 2 repeats with a value). Measure the curve with repeats >= 2, "
                             "or use rule='mean'.")
        candidates = gains[gains.removable & (gains.gain_high < threshold)].sort_values(["gain_high", "depth"])
    return pick_units(model, candidates["layer"], count)


def rising_layers(curve: pd.DataFrame, model: nn.Module, count: int) -> list[str]:
    """The ``count`` removable layers with the largest ΔQ (on a rising part of the curve): the
    non-redundant layers of Fig. 9, to remove for contrast. In depth order. ``curve`` holds one curve."""
    gains = layer_gains(single_curve(curve, caller="rising_layers"), model)
    ranked = gains[gains.removable].sort_values(["delta", "depth"], ascending=[False, True])["layer"]
    return pick_units(model, ranked, check_count(model, count))


def pick_units(model: nn.Module, ranked: Sequence[str], count: int | None) -> list[str]:
    """The first ``count`` of ``ranked`` (all when None) that can be removed together, in depth order.

    A layer whose stage has no room left (a ResNet stage keeps one block) is passed over for the next.
    """
    room = stage_room(model)
    infos = units(model)
    stage_of = {info.name: info.stage for info in infos}
    chosen: list[str] = []
    for layer in ranked:
        if count is not None and len(chosen) >= count:
            break
        if room[stage_of[layer]] > 0:
            room[stage_of[layer]] -= 1
            chosen.append(layer)
    order = [info.name for info in infos]
    return sorted(chosen, key=order.index)


def check_count(model: nn.Module, count: int) -> int:
    count = check_int("count", count, minimum=0)
    available = sum(stage_room(model).values())
    if count > available:
        raise ValueError(f"count={count} but at most {available} units of this model can be removed together.")
    return count


# --------------------------------------------------------------------------------------------------
# Variants: named sets of layers to remove, for Figs. 8-9
# --------------------------------------------------------------------------------------------------


def paper_variants(name: str) -> dict[str, list[str]]:
    """The paper's pruned variants of model ``name`` (any case) as ``{variant: layers to remove}``
    ({} for a model the paper prunes no variant of).

    Raises:
        UnknownModelError: (a ``KeyError``) ``name`` is no registered model.
    """
    key = lookup(name, list_models(), what="model", error=UnknownModelError)
    return {variant: list(layers) for variant, layers in PAPER_VARIANTS.get(key, {}).items()}


def plateau_variants(curve: pd.DataFrame, model: nn.Module, counts: Sequence[int]) -> dict[str, list[str]]:
    """Progressive plateau pruning (Fig. 8): for each count m, ``"m removed"``, the m removable layers
    with the smallest ΔQ."""
    return {f"{count} removed": redundant_layers(curve, model, threshold=float("inf"), max_layers=count)
            for count in counts}


def contrast_variants(curve: pd.DataFrame, model: nn.Module, counts: Sequence[int]) -> dict[str, list[str]]:
    """For each count m: ``plateau-m``, the m removable layers with the smallest ΔQ, and ``rising-m``,
    the m with the largest (Fig. 9's contrast: redundant against non-redundant layers)."""
    variants = {}
    for count in counts:
        variants[f"plateau-{count}"] = redundant_layers(curve, model, threshold=float("inf"), max_layers=count)
        variants[f"rising-{count}"] = rising_layers(curve, model, count)
    return variants


# --------------------------------------------------------------------------------------------------
# Baselines at equal budgets: matched random units, and similarity between a unit's input and output
# --------------------------------------------------------------------------------------------------


