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
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..curve import draw_samples
from ..data import get_dataset
from ..features import check_layers, iter_layer_features
from ..frames import single_curve, summarize_by_curve
from ..models import LayerInfo, UnknownModelError, layer_info, list_models, probe_layers
from ..utils import check_int, check_positive_int, lookup
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


def _model_name(model: nn.Module) -> str:
    return model.config["name"] if hasattr(model, "config") else type(model).__name__


def layer_gains(curve: pd.DataFrame, model: nn.Module) -> pd.DataFrame:
    """Per curve and probe layer: mean Q over repeats, its gain ΔQ over the previous layer, and removability.

    A frame that stacks several curves of ``model`` (trained and untrained, several ``k``...) gives
    one gain per curve and layer, its label columns kept (see :mod:`dynamic_graphs.frames`); a
    frame that stacks curves no column tells apart is refused.

    Args:
        curve: :func:`dynamic_graphs.modularity_curve`'s frame for ``model`` (any number of repeats),
            or a stack of such curves.
        model: the model the curve was measured on.

    Returns:
        The label columns (none for one plain curve), then ``layer``, ``depth``, ``modularity``
        (mean), ``std``, ``delta`` (NaN for the first layer), ``removable``, in depth order.

    Raises:
        ValueError: a curve's layers are not ``model``'s probe layers, or its ``model`` column
            names another model (a curve of another model); curves no column tells apart.
    """
    name = _model_name(model)
    expected = probe_layers(model)
    removable = set(removable_layers(model))
    summary = summarize_by_curve(curve, caller="layer_gains")
    labels = summary.attrs["labels"]
    groups = summary.groupby(labels, sort=False, dropna=False) if labels else [((), summary)]
    frames = []
    for key, one in groups:
        values = dict(zip(labels, key if isinstance(key, tuple) else (key,)))
        if "model" in values and str(values["model"]).strip().lower() != name.lower():
            raise ValueError(f"curve is of model {values['model']!r}, not of {name!r}; measure this model's curve.")
        one = one.sort_values("depth", kind="stable")
        if one["layer"].tolist() != expected:
            raise ValueError(f"curve's layers ({len(one)}: {', '.join(one['layer'][:4])}, ...) are not the "
                             f"probe layers of this {name} ({len(expected)}: {', '.join(expected[:4])}, ...); it is "
                             "the curve of another model. Measure dg.modularity_curve(model, ...) on this model.")
        mean = one["mean"].to_numpy()
        frames.append(pd.DataFrame({
            **{label: [value] * len(one) for label, value in values.items()},
            "layer": one["layer"].to_numpy(), "depth": one["depth"].to_numpy(), "modularity": mean,
            "std": one["std"].to_numpy(), "delta": np.diff(mean, prepend=np.nan),
            "removable": one["layer"].isin(removable).to_numpy(),
        }))
    gains = pd.concat(frames, ignore_index=True)
    gains.attrs = {"labels": labels}
    return gains


def redundant_layers(curve: pd.DataFrame, model: nn.Module, *, threshold: float = DEFAULT_THRESHOLD,
                     max_layers: int | None = None) -> list[str]:
    """The removable layers where the modularity curve is flat or falls: ΔQ < ``threshold``.

    ΔQ of a layer is its mean Q minus the previous probe layer's. Lu et al. 2022 mark a layer
    redundant where "ΔQ ≈ 0 or ΔQ < 0" (their pruning pipeline, Figs. 8-9) and give no number, so
    the threshold is a parameter. A layer whose ΔQ is below ``threshold`` adds too little class
    separation to keep; negative ΔQ (degradation) is always below it. Only layers that
    :func:`removable_layers` allows are returned.

    Args:
        curve: the model's modularity curve (:func:`dynamic_graphs.modularity_curve`): one curve.
        model: the model the curve is of.
        threshold: largest ΔQ that still counts as a plateau.
        max_layers: keep at most this many, those with the smallest ΔQ.

    Returns:
        Layer names in depth order.

    Raises:
        ValueError: the frame holds several curves (the message names the columns to select on).
    """
    gains = layer_gains(single_curve(curve, caller="redundant_layers"), model)
    candidates = gains[gains.removable & (gains.delta < threshold)].sort_values(["delta", "depth"])
    count = None if max_layers is None else check_int("max_layers", max_layers, minimum=0)
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
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

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
        scaler = StandardScaler().fit(features[:n_train])
        with warnings.catch_warnings():  # an unconverged lbfgs still ranks layers; its warnings would flood logs
            warnings.simplefilter("ignore", ConvergenceWarning)
            probe = LogisticRegression(max_iter=300).fit(scaler.transform(features[:n_train]), labels[:n_train])
        accuracy = probe.score(scaler.transform(features[n_train:]), labels[n_train:])
        rows.append({"layer": layer, "depth": depth, "probe_acc": float(accuracy)})
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
