"""The baselines the modularity criterion is compared to: other rules that choose as many units.

The tail of each stage, random units (also matched per stage to another selection), the linear-probe
criterion of Chen & Zhao (TPAMI 2018), and two similarity scores of a unit's input and output: linear
CKA (Pons et al., ICPR 2024) and block influence (ShortGPT, Men et al. 2024). Each returns probe-layer
names in depth order, which :func:`dynamic_graphs.pruning.prune` accepts.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..curve import draw_samples
from ..data import as_dataset
from ..features import check_layers, iter_layer_features
from ..metrics import linear_cka, probe_score
from ..models import LayerInfo, layer_info, probe_layers
from ..utils import check_int, check_positive_int
from .selection import check_count, pick_units
from .surgery import check_removal, removable_layers, stage_room, units

__all__ = [
    "block_influence",
    "block_influence_layers",
    "cka_layers",
    "cka_scores",
    "linear_probe_accuracy",
    "probe_criterion_layers",
    "random_layers",
    "random_matched_layers",
    "tail_layers",
    "unit_pairs",
]


def tail_layers(model: nn.Module, count: int) -> list[str]:
    """Baseline: ``count`` removable units taken from the tail of each stage, spread evenly.

    Stages take turns, the last stage first; each turn removes the last remaining removable unit of
    that stage. In depth order.

    Example:
        >>> from dynamic_graphs.models import get_model
        >>> tail_layers(get_model("resnet20"), 4)
        ['layer1.2', 'layer2.2', 'layer3.1', 'layer3.2']
    """
    count = check_count(model, count)
    by_stage: dict[int, list[str]] = {}
    for info in units(model):
        if info.removable:
            by_stage.setdefault(info.stage, []).append(info.name)
    ranked: list[str] = []  # stage by stage, last stage first, each stage's last unit first
    while any(by_stage.values()):
        ranked += [by_stage[stage].pop() for stage in sorted(by_stage, reverse=True) if by_stage[stage]]
    return pick_units(model, ranked, count)


def random_layers(model: nn.Module, count: int, *, seed: int = 0) -> list[str]:
    """Baseline: ``count`` removable units drawn uniformly at random (seeded, its own stream). In depth order."""
    count = check_count(model, count)
    candidates = removable_layers(model)
    order = np.random.default_rng(seed).permutation(len(candidates))
    return pick_units(model, [candidates[i] for i in order], count)


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
    come from :func:`dynamic_graphs.features.iter_layer_features`; their map shape from the zoo's
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
    dataset = as_dataset(dataset, split="train")
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
    count = check_count(model, count)
    ranked = probe[probe.layer.isin(removable_layers(model))].sort_values(["delta", "depth"])["layer"]
    return pick_units(model, ranked, count)


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

    if isinstance(like, str):
        raise TypeError(f"like must be a list of probe-layer names, got the string {like!r}; use [{like!r}].")
    seed = check_int("seed", seed, minimum=0)
    infos = units(model)
    stage_of = {info.name: info.stage for info in infos}
    wanted: dict[int, int] = {}
    for info in check_removal(model, like):
        wanted[info.stage] = wanted.get(info.stage, 0) + 1
    room = stage_room(model)
    over = {stage: count for stage, count in wanted.items() if count > room[stage]}
    if over:
        raise ValueError(f"like removes {', '.join(f'{c} units of stage {s}' for s, c in over.items())}, but "
                         f"{', '.join(f'stage {s} can lose at most {room[s]}' for s in over)} together; pass a "
                         "selection that dg.pruning.prune accepts.")
    rng = np.random.default_rng(seed)
    ranked: list[str] = []
    for stage in sorted(wanted):
        candidates = [name for name in removable_layers(model) if stage_of[name] == stage]
        ranked += [candidates[i] for i in rng.choice(len(candidates), size=wanted[stage], replace=False)]
    return pick_units(model, ranked, None)


def unit_pairs(model: nn.Module) -> list[tuple[str, str, int]]:
    """``(input layer, unit layer, stage)`` for every removable unit: its input is the previous probe layer's output."""
    infos = units(model)
    return [(infos[i - 1].name, info.name, info.stage) for i, info in enumerate(infos) if info.removable and i > 0]


def _unit_scores(model: nn.Module, dataset: Any, score, *, n: int, seed: int, device: str | torch.device,
                 batch_size: int) -> pd.DataFrame:
    """``score(input features, output features, layer)`` for every removable unit, on ``n`` drawn images."""
    n = check_positive_int("n", n)
    dataset = as_dataset(dataset, split="train")
    pairs = unit_pairs(model)
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
    :func:`dynamic_graphs.features.iter_layer_features` on ``n`` images drawn by
    :func:`dynamic_graphs.draw_samples` with ``seed``; CKA is :func:`dynamic_graphs.metrics.linear_cka`.

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
    count = check_count(model, count)
    scores = cka_scores(model, dataset, n=n, seed=seed, device=device)
    return pick_units(model, scores.sort_values(["score", "depth"], ascending=[False, True])["layer"], count)


def block_influence_layers(model: nn.Module, dataset: Any, count: int, *, n: int = 500, seed: int = 0,
                           device: str | torch.device = "auto") -> list[str]:
    """Baseline: the ``count`` removable units with the smallest block influence (:func:`block_influence`;
    ShortGPT, Men et al. 2024), within the per-stage limits. In depth order."""
    count = check_count(model, count)
    scores = block_influence(model, dataset, n=n, seed=seed, device=device)
    return pick_units(model, scores.sort_values(["score", "depth"])["layer"], count)
