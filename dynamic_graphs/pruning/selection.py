"""Which layers to prune: the modularity criterion and the baselines it is compared to.

The criterion of Lu et al. 2022 (layer pruning, Figs. 8-9 and Table 1): on the trained model's
modularity curve, a removable unit whose gain ΔQ over the previous probe layer is about zero
(a plateau) or negative (a degradation) adds too little class separation to keep. The baselines
remove as many units by another rule: the tail of each stage, random units, or the linear-probe
criterion of Chen & Zhao (TPAMI 2018).

Every rule takes ``(curve, model, ...)`` (a frame first, then the model it is of) and returns
probe-layer names in depth order, which :func:`dynamic_graphs.prune` accepts.
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..curve import draw_samples
from ..data import get_dataset
from ..features import check_layers, iter_layer_features
from ..frames import iter_curves, single_curve, summarize_by_curve, t_interval
from ..metrics import linear_cka, probe_score
from ..models import LayerInfo, UnknownModelError, layer_info, list_models, probe_layers
from ..utils import check_int, check_positive_int, lookup, model_name
from .surgery import removable_layers, stage_room, units

DEFAULT_THRESHOLD = 0.01  # ΔQ below this counts as "no gain" (about the std of a 5 × 500 mean here)

# The paper's VGG11 variants of Fig. 9 (Lu et al. 2022, Fig. 9: VGG11_1/2/3), as layers to remove.
PAPER_VARIANTS: dict[str, dict[str, list[str]]] = {
    "vgg11": {
        "VGG11_1": ["features.25"],
        "VGG11_2": ["features.18", "features.25"],
        "VGG11_3": ["features.11", "features.18", "features.25"],
    },
}


def _paired_gains(curve: pd.DataFrame, value: str = "modularity") -> pd.DataFrame:
    """Per depth of one curve: the 95 % t-interval of the paired gains Q_r(layer) - Q_r(previous layer).

    Both layers of a pair are measured on the same images (repeat r), so the differences are
    taken within each repeat before averaging. Returns columns ``depth``, ``gain_low``,
    ``gain_high`` (NaN for the first layer and where fewer than two repeats have both values).
    """
    repeat = curve["repeat"] if "repeat" in curve.columns else pd.Series(0, index=curve.index)
    table = curve.assign(_repeat=repeat.to_numpy()).pivot(index="_repeat", columns="depth", values=value)
    differences = table.sort_index(axis=1).diff(axis=1)
    low, high = t_interval(differences.mean(), differences.std(), differences.count())
    return pd.DataFrame({"depth": differences.columns.to_numpy(), "gain_low": low, "gain_high": high})


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
      threshold, ``gain_high`` < ``threshold``: a plateau (or fall) we are confident of. It needs
      at least two repeats; with more repeats the interval narrows and more true plateaus pass.

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
    return _pick(model, candidates["layer"], count)


def rising_layers(curve: pd.DataFrame, model: nn.Module, count: int) -> list[str]:
    """The ``count`` removable layers with the largest ΔQ (on a rising part of the curve): the
    non-redundant layers of Fig. 9, to remove for contrast. In depth order. ``curve`` holds one curve."""
    gains = layer_gains(single_curve(curve, caller="rising_layers"), model)
    ranked = gains[gains.removable].sort_values(["delta", "depth"], ascending=[False, True])["layer"]
    return _pick(model, ranked, _check_count(model, count))


def _pick(model: nn.Module, ranked: Sequence[str], count: int | None) -> list[str]:
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


def _check_count(model: nn.Module, count: int) -> int:
    count = check_int("count", count, minimum=0)
    available = sum(stage_room(model).values())
    if count > available:
        raise ValueError(f"count={count} but at most {available} units of this model can be removed together.")
    return count


def tail_layers(model: nn.Module, count: int) -> list[str]:
    """Baseline: ``count`` removable units taken from the tail of each stage, spread evenly.

    Stages take turns, the last stage first; each turn removes the last remaining removable unit of
    that stage. In depth order.

    Example:
        >>> from dynamic_graphs.models import get_model
        >>> tail_layers(get_model("resnet20"), 4)
        ['layer1.2', 'layer2.2', 'layer3.1', 'layer3.2']
    """
    count = _check_count(model, count)
    by_stage: dict[int, list[str]] = {}
    for info in units(model):
        if info.removable:
            by_stage.setdefault(info.stage, []).append(info.name)
    ranked: list[str] = []  # stage by stage, last stage first, each stage's last unit first
    while any(by_stage.values()):
        ranked += [by_stage[stage].pop() for stage in sorted(by_stage, reverse=True) if by_stage[stage]]
    return _pick(model, ranked, count)


def random_layers(model: nn.Module, count: int, *, seed: int = 0) -> list[str]:
    """Baseline: ``count`` removable units drawn uniformly at random (seeded, its own stream). In depth order."""
    count = _check_count(model, count)
    candidates = removable_layers(model)
    order = np.random.default_rng(seed).permutation(len(candidates))
    return _pick(model, [candidates[i] for i in order], count)


def _feature_maps(features: torch.Tensor, info: LayerInfo, image_shape: Sequence[int]) -> torch.Tensor:
    """Flattened (N, M) features of a probe layer back as (N, C, H, W) maps, from its declared info."""
    height, width = image_shape
    spatial, rest = divmod(features.shape[1], info.channels)
    sides = [(h, spatial // h) for h in dict.fromkeys((math.ceil(height / info.reduction), height // info.reduction))
             if h > 0 and spatial % h == 0]
    if rest or not sides:
        raise ValueError(f"Layer {info.name!r}: {features.shape[1]} features per image are not {info.channels} "
                         f"maps of a {height}x{width} input reduced {info.reduction} times.")
    return features.view(len(features), info.channels, *sides[0])


def linear_probe_accuracy(model: nn.Module, dataset: Any, *, layers: Sequence[str] | None = None,
                          n_train: int = 2000, n_test: int = 1000, pool: int | None = 4, seed: int = 0,
                          device: str | torch.device = "auto", batch_size: int = 250) -> pd.DataFrame:
    """Accuracy of a linear classifier (logistic regression) on each probe layer's features.

    The criterion of Chen & Zhao (TPAMI 2018), "Shallowing deep networks": a layer whose probe
    accuracy barely improves on the previous one's adds little. To keep it cheap, each feature map
    is average-pooled to ``pool`` × ``pool`` before the classifier (our simplification). Features
    come from :func:`dynamic_graphs.iter_layer_features`; their map shape from the zoo's
    :func:`dynamic_graphs.models.layer_info`.

    Args:
        model: a trained classifier.
        dataset: labelled images (a Dataset, or a registry name for its training split);
            ``n_train`` + ``n_test`` disjoint ones are drawn with ``seed``.
        layers: probe layers (default: the model's).
        n_train, n_test: images to fit and to score each probe on.
        pool: spatial size of the pooled feature maps; None fits on the flattened features (for
            layers the zoo declares no info about).

    Returns:
        Columns ``layer``, ``depth``, ``probe_acc``, ``delta`` (gain over the previous layer).

    Raises:
        ValueError: a layer without declared info while ``pool`` is set.
    """
    n_train, n_test = check_positive_int("n_train", n_train), check_positive_int("n_test", n_test)
    if pool is not None:
        pool = check_positive_int("pool", pool)
    if isinstance(dataset, (str, os.PathLike)):
        dataset = get_dataset(dataset, "train")
    layers = list(probe_layers(model) if layers is None else check_layers(model, layers))
    infos = {info.name: info for info in layer_info(model)} if pool is not None else {}
    missing = [layer for layer in layers if pool is not None and layer not in infos]
    if missing:
        raise ValueError(f"linear_probe_accuracy pools feature maps to pool x pool using the zoo's layer info; "
                         f"{missing} have none. Pass pool=None to fit on the flattened features.")
    images, labels = draw_samples(dataset, n=n_train + n_test, seed=seed)
    pooled: dict[str, np.ndarray] = {}
    for layer, features in iter_layer_features(model, images, layers=layers, batch_size=batch_size, device=device):
        if pool is not None:
            maps = _feature_maps(features, infos[layer], images.shape[-2:])
            features = nn.functional.adaptive_avg_pool2d(maps, pool).flatten(1)
        pooled[layer] = features.float().cpu().numpy()
    rows = []
    for depth, layer in enumerate(layers, start=1):
        features = pooled[layer]
        accuracy = probe_score(features[:n_train], labels[:n_train], features[n_train:], labels[n_train:])
        rows.append({"layer": layer, "depth": depth, "probe_acc": accuracy})
    frame = pd.DataFrame(rows)
    return frame.assign(delta=frame["probe_acc"].diff())


def probe_criterion_layers(probe: pd.DataFrame, model: nn.Module, count: int) -> list[str]:
    """Baseline: the ``count`` removable layers whose linear-probe accuracy gains least
    (``probe`` from :func:`linear_probe_accuracy` on ``model``). In depth order."""
    if isinstance(probe, nn.Module) and isinstance(model, pd.DataFrame):
        raise TypeError("probe_criterion_layers takes (probe, model, count), the frame first like every "
                        "selection rule; got (model, probe, ...).")
    count = _check_count(model, count)
    ranked = probe[probe.layer.isin(removable_layers(model))].sort_values(["delta", "depth"])["layer"]
    return _pick(model, ranked, count)


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


def random_matched_layers(model: nn.Module, like: Sequence[str], *, seed: int = 0) -> list[str]:
    """Baseline: random removable units with as many per stage as ``like`` (e.g. the modularity rule's choice).

    Units of one stage have the same width, so this removes the same parameters and FLOPs as
    ``like`` while choosing at random within each stage: the fair random reference for a
    criterion (``random_layers`` draws over all stages and tends to take more of the wide last
    stage). Seeded with its own ``numpy`` Generator (the global random state is left alone).

    Args:
        model: a registry model that declares its units.
        like: probe-layer names of removable units of ``model`` that can be removed together.
        seed: seed of the draw.

    Returns:
        Layer names in depth order, as many per stage as in ``like``.

    Raises:
        TypeError: ``like`` is one string.
        ValueError: ``like`` names a unit that cannot be removed, or more units of a stage than the
            stage can lose together (see :func:`dynamic_graphs.pruning.surgery.stage_room`).

    Example:
        >>> from dynamic_graphs.models import get_model
        >>> len(random_matched_layers(get_model("resnet20"), ["layer1.0", "layer3.2"], seed=1))
        2
    """
    from .surgery import _check_removal

    if isinstance(like, str):
        raise TypeError(f"like must be a list of probe-layer names, got the string {like!r}; use [{like!r}].")
    seed = check_int("seed", seed, minimum=0)
    infos = units(model)
    stage_of = {info.name: info.stage for info in infos}
    wanted: dict[int, int] = {}
    for info in _check_removal(model, like):
        wanted[info.stage] = wanted.get(info.stage, 0) + 1
    room = stage_room(model)
    over = {stage: count for stage, count in wanted.items() if count > room[stage]}
    if over:
        raise ValueError(f"like removes {', '.join(f'{c} units of stage {s}' for s, c in over.items())}, but "
                         f"{', '.join(f'stage {s} can lose at most {room[s]}' for s in over)} together; pass a "
                         "selection that dg.prune accepts.")
    rng = np.random.default_rng(seed)
    ranked: list[str] = []
    for stage in sorted(wanted):
        candidates = [name for name in removable_layers(model) if stage_of[name] == stage]
        ranked += [candidates[i] for i in rng.choice(len(candidates), size=wanted[stage], replace=False)]
    return _pick(model, ranked, None)


def _unit_pairs(model: nn.Module) -> list[tuple[str, str, int]]:
    """``(input layer, unit layer, stage)`` for every removable unit: its input is the previous probe layer's output."""
    infos = units(model)
    return [(infos[i - 1].name, info.name, info.stage) for i, info in enumerate(infos) if info.removable and i > 0]


def _unit_scores(model: nn.Module, dataset: Any, score, *, n: int, seed: int, device: str | torch.device,
                 batch_size: int) -> pd.DataFrame:
    """``score(input features, output features, layer)`` for every removable unit, on ``n`` drawn images."""
    n = check_positive_int("n", n)
    if isinstance(dataset, (str, os.PathLike)):
        dataset = get_dataset(dataset, "train")
    pairs = _unit_pairs(model)
    depth = {layer: i for i, layer in enumerate(probe_layers(model), start=1)}
    wanted = {layer for pair in pairs for layer in pair[:2]}
    layers = [layer for layer in probe_layers(model) if layer in wanted]
    images, _ = draw_samples(dataset, n=n, seed=seed)
    inputs_of = {unit: source for source, unit, _ in pairs}
    held: dict[str, torch.Tensor] = {}
    scores: dict[str, float] = {}
    sources = set(inputs_of.values())
    for layer, features in iter_layer_features(model, images, layers=layers, batch_size=batch_size, device=device):
        if layer in inputs_of:  # layers come in run order: the unit's input (the layer before it) came first
            scores[layer] = float(score(held.pop(inputs_of[layer]), features, layer))
        if layer in sources:  # each probe layer is the input of at most the next unit
            held[layer] = features
    return pd.DataFrame([{"layer": unit, "depth": depth[unit], "stage": stage, "input": source,
                          "score": scores[unit]} for source, unit, stage in pairs])


def cka_scores(model: nn.Module, dataset: Any, *, n: int = 500, seed: int = 0,
               device: str | torch.device = "auto", batch_size: int = 250) -> pd.DataFrame:
    """Linear CKA between each removable unit's input and output (Pons et al., ICPR 2024).

    A unit whose output is nearly its input up to rotation and scale (CKA near 1) transforms the
    representation little, so it is a candidate to remove. A unit's input is the previous probe
    layer's output (the representation the modularity curve of arXiv 2111.12485 measures; for a
    ResNet block, exactly the block's input), its output its own probe layer's. Features come from
    :func:`dynamic_graphs.iter_layer_features` on ``n`` images drawn by
    :func:`dynamic_graphs.draw_samples` with ``seed``; CKA is :func:`dynamic_graphs.linear_cka`.

    Args:
        model: a registry model that declares its units.
        dataset: labelled images (a Dataset, or a registry name for its training split).
        n: images to compare on.
        seed: the draw's seed.

    Returns:
        One row per removable unit in depth order: ``layer``, ``depth``, ``stage``, ``input`` (the
        layer taken as its input) and ``score`` (CKA in [0, 1]).

    Raises:
        ValueError: a representation with zero variance (CKA is undefined there).
    """
    return _unit_scores(model, dataset, lambda x, y, _layer: linear_cka(x, y), n=n, seed=seed, device=device,
                        batch_size=batch_size)


def _block_influence(x: torch.Tensor, y: torch.Tensor, layer: str) -> float:
    if x.shape != y.shape:
        raise ValueError(f"Block influence compares a unit's input and output image by image, but unit {layer!r} "
                         f"turns {x.shape[1]} features per image into {y.shape[1]}; only shape-preserving units "
                         "have one.")
    cosine = nn.functional.cosine_similarity(x.double(), y.double(), dim=1)
    return float((1.0 - cosine).mean())


def block_influence(model: nn.Module, dataset: Any, *, n: int = 500, seed: int = 0,
                    device: str | torch.device = "auto", batch_size: int = 250) -> pd.DataFrame:
    """Block influence 1 − cos(input, output) of each removable unit, averaged over images (ShortGPT,
    Men et al. 2024).

    Each image's input and output features are flattened and compared by cosine similarity; a
    unit that barely changes its input's direction (influence near 0) is a candidate to remove.
    Inputs, outputs and images are as in :func:`cka_scores`. An all-zero feature vector counts as
    cosine 0 (``torch.nn.functional.cosine_similarity``'s eps).

    Returns:
        One row per removable unit in depth order: ``layer``, ``depth``, ``stage``, ``input`` and
        ``score`` (mean influence in [0, 2]).

    Raises:
        ValueError: a unit whose input and output differ in size.
    """
    return _unit_scores(model, dataset, _block_influence, n=n, seed=seed, device=device, batch_size=batch_size)


def cka_layers(model: nn.Module, dataset: Any, count: int, *, n: int = 500, seed: int = 0,
               device: str | torch.device = "auto") -> list[str]:
    """Baseline: the ``count`` removable units whose output is most similar to their input by linear CKA
    (:func:`cka_scores`; Pons et al., ICPR 2024), within the per-stage limits. In depth order."""
    count = _check_count(model, count)
    scores = cka_scores(model, dataset, n=n, seed=seed, device=device)
    return _pick(model, scores.sort_values(["score", "depth"], ascending=[False, True])["layer"], count)


def block_influence_layers(model: nn.Module, dataset: Any, count: int, *, n: int = 500, seed: int = 0,
                           device: str | torch.device = "auto") -> list[str]:
    """Baseline: the ``count`` removable units with the smallest block influence (:func:`block_influence`;
    ShortGPT, Men et al. 2024), within the per-stage limits. In depth order."""
    count = _check_count(model, count)
    scores = block_influence(model, dataset, n=n, seed=seed, device=device)
    return _pick(model, scores.sort_values(["score", "depth"])["layer"], count)
