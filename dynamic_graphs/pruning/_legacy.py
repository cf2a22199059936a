"""Modularity-guided layer pruning (PAPER.md §5.3, Figs. 8-9, Table 1), with the baselines it is compared to.

The pipeline, one function per stage::

    curve = dg.modularity_curve(model, test_set)
    layers = dg.redundant_layers(curve, model)         # where the curve is flat or falls
    smaller = dg.prune(model, layers)                  # a new model without them, weights inherited
    smaller = dg.recover(smaller, "fashion-mnist")      # fine-tune (or from_scratch=True), cached
    dg.model_cost(model), dg.model_cost(smaller)        # parameters, FLOPs and MACs

A *unit* is what one probe layer's removal takes out: a residual block of a CIFAR ResNet (its probe
layer is the block's output) or a conv + BN + ReLU of a CIFAR VGG (its probe layer is the conv).
Only units whose input and output shapes match can go: a block with an identity shortcut, a conv
with as many output channels as input channels. The stem and shape-changing units stay.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._settings import settings
from ..curve import draw_samples, summarize_curve
from ..data import dataset_info, get_dataset
from ..features import _forward, _hooks, check_layers, evaluating
from ..models import get_model, probe_layers
from ..models.resnet_cifar import CifarResNet, CifarResNetSmall
from ..models.vgg_cifar import CifarVGG
from ..training import _merge, finished, load_checkpoint, train, train_defaults
from ..utils import resolve_device, seed_everything

# Recovery by fine-tuning from the inherited weights: a short, low-lr continuation of the recipe.
FINETUNE_DEFAULTS: dict[str, dict[str, Any]] = {
    "fashion-mnist": dict(train_defaults("fashion-mnist"), epochs=2, lr=0.01, milestones=[1]),
    "cifar10": dict(train_defaults("cifar10"), epochs=40, lr=0.01, milestones=[20, 30]),
    "cifar100": dict(train_defaults("cifar100"), epochs=40, lr=0.01, milestones=[20, 30]),
}
DEFAULT_THRESHOLD = 0.01  # ΔQ below this counts as "no gain" (about the std of a 5 × 500 mean here)


@dataclass(frozen=True)
class _Unit:
    layer: str            # probe-layer name
    stage: int            # 1-based stage (ResNet stage, or VGG group between pools)
    index: int            # position within its stage (blocks) or in the cfg (VGG convs)
    reason: str | None    # why it cannot be removed; None when it can


def _family(model: nn.Module) -> str:
    if isinstance(model, (CifarResNetSmall, CifarResNet)):
        return "resnet"
    if isinstance(model, CifarVGG):
        return "vgg"
    raise TypeError(f"Pruning supports the registry's CIFAR ResNets and VGGs (resnet20 ... resnet152, vgg11 ... "
                    f"vgg19); got {type(model).__name__}. Build the model with dg.get_model(...).")


def _stage_count(model: nn.Module) -> int:
    return 3 if isinstance(model, CifarResNetSmall) else 4


def _vgg_cfg(model: CifarVGG) -> list[int | str]:
    """The cfg list ``model.features`` was built from, read off its modules."""
    return [m.out_channels if isinstance(m, nn.Conv2d) else "M"
            for m in model.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]


def _units(model: nn.Module) -> list[_Unit]:
    """Every probe layer of ``model`` as a unit, with why it cannot be removed (or None)."""
    if _family(model) == "resnet":
        units = [_Unit("conv1", 0, 0, "it is the stem convolution")]
        for stage in range(1, _stage_count(model) + 1):
            for index, block in enumerate(getattr(model, f"layer{stage}")):
                reason = None
                if not isinstance(block.shortcut, nn.Identity):
                    last = block.conv3 if hasattr(block, "conv3") else block.conv2
                    reason = (f"it changes the shape ({block.conv1.in_channels} -> {last.out_channels} channels, "
                              f"stride {max(block.conv1.stride[0], getattr(block.conv2, 'stride', (1,))[0])}), "
                              "so its output cannot stand in for its input")
                units.append(_Unit(f"layer{stage}.{index}", stage, index, reason))
        return units
    units, stage, position = [], 1, 0
    for module_index, module in enumerate(model.features):
        if isinstance(module, nn.MaxPool2d):
            stage += 1
        elif isinstance(module, nn.Conv2d):
            reason = None
            if module.in_channels != module.out_channels:
                reason = (f"it changes the channel count ({module.in_channels} -> {module.out_channels}), "
                          "so the next layer could not take its input")
            units.append(_Unit(f"features.{module_index}", stage, position, reason))
            position += 1
    return units


def removable_layers(model: nn.Module) -> list[str]:
    """Probe layers whose unit (residual block or VGG conv) can be removed without breaking shapes.

    Example:
        >>> removable_layers(get_model("resnet20"))[:3]
        ['layer1.0', 'layer1.1', 'layer1.2']
        >>> removable_layers(get_model("vgg11"))
        ['features.11', 'features.18', 'features.22', 'features.25']
    """
    return [unit.layer for unit in _units(model) if unit.reason is None]


def _check_removal(model: nn.Module, layers: Sequence[str]) -> list[_Unit]:
    """The units for ``layers``, or a clear error for a layer that is unknown or cannot be removed."""
    if isinstance(layers, str):
        raise TypeError(f"layers must be a list of probe-layer names, got the string {layers!r}; use [{layers!r}].")
    layers = list(layers)
    units = {unit.layer: unit for unit in _units(model)}
    name = model.config["name"] if hasattr(model, "config") else type(model).__name__
    for layer in layers:
        if layer not in units:
            check_layers(model, [layer])  # an unknown module: KeyError with close names
            raise ValueError(f"{layer!r} is not a probe layer of {name}, so it is no unit that pruning can remove; "
                             f"removable layers: {', '.join(removable_layers(model))}.")
        if units[layer].reason is not None:
            raise ValueError(f"{layer!r} of {name} cannot be removed: {units[layer].reason}. "
                             f"Removable layers: {', '.join(removable_layers(model))}.")
    repeated = sorted({layer for layer in layers if layers.count(layer) > 1})
    if repeated:
        raise ValueError(f"layers lists {repeated} more than once; give each layer once.")
    return [units[layer] for layer in layers]


def prune(model: nn.Module, layers: Sequence[str]) -> nn.Module:
    """A new model without the units of ``layers``, keeping every remaining weight.

    The original model is left untouched. The result is an ordinary registry model
    (``get_model(**pruned.config)`` rebuilds it; ``blocks=`` or ``cfg=`` record the new shape), so
    it saves and loads as configuration plus state_dict, trains with :func:`train` and has probe
    layers and a modularity curve of its own. ``pruned.pruned_layers`` lists what was removed.

    Args:
        model: a CIFAR ResNet or VGG built by :func:`get_model` (trained or not).
        layers: probe-layer names to remove (see :func:`removable_layers`).

    Raises:
        KeyError: a name that is not a module of the model.
        ValueError: a layer that cannot be removed (the message says why), or removing every
            block of a stage.

    Example:
        >>> net = get_model("resnet20")
        >>> small = prune(net, ["layer1.1", "layer3.2"])
        >>> small.config["blocks"], len(probe_layers(net)), len(probe_layers(small))
        ([2, 3, 2], 10, 8)
    """
    _family(model)
    if not hasattr(model, "config"):
        raise TypeError("prune needs a model built by dg.get_model (it rebuilds the architecture from model.config).")
    removed = _check_removal(model, layers)
    drop = {unit.layer for unit in removed}
    old_to_new: dict[str, str] = {}  # module prefix in the original -> in the pruned model
    if _family(model) == "resnet":
        blocks = []
        for stage in range(1, _stage_count(model) + 1):
            kept = [i for i in range(len(getattr(model, f"layer{stage}"))) if f"layer{stage}.{i}" not in drop]
            if not kept:
                raise ValueError(f"Removing {sorted(drop)} leaves stage {stage} without blocks; keep at least one.")
            old_to_new.update({f"layer{stage}.{old}": f"layer{stage}.{new}" for new, old in enumerate(kept)})
            blocks.append(len(kept))
        architecture = {"blocks": blocks}
    else:
        cfg, old_start, new_start = [], 0, 0
        for item, unit_layer in zip(_vgg_cfg(model), _vgg_cfg_layers(model)):
            width = 1 if item == "M" else 3  # modules per cfg item: pool, or conv + BN + ReLU
            if unit_layer not in drop:
                cfg.append(item)
                old_to_new.update({f"features.{old_start + j}": f"features.{new_start + j}" for j in range(width)})
                new_start += width
            old_start += width
        architecture = {"cfg": cfg}
    pruned = get_model(**{**model.config, **architecture}).to(next(model.parameters()).device)
    new_to_old = {new: old for old, new in old_to_new.items()}
    source = model.state_dict()

    def source_key(key: str) -> str:
        prefix, _, rest = key.partition(".")
        head = f"{prefix}.{rest.split('.')[0]}"
        return key.replace(head, new_to_old[head], 1) if head in new_to_old else key

    pruned.load_state_dict({key: source[source_key(key)].clone() for key in pruned.state_dict()})
    pruned.train(model.training)
    pruned.pruned_layers = sorted(drop, key=[unit.layer for unit in _units(model)].index)
    return pruned


def _vgg_cfg_layers(model: CifarVGG) -> list[str | None]:
    """For each cfg item of ``model``, its conv's probe-layer name (None for a pool)."""
    names, index = [], 0
    for item in _vgg_cfg(model):
        names.append(None if item == "M" else f"features.{index}")
        index += 1 if item == "M" else 3
    return names


# --------------------------------------------------------------------------------------------------
# Which layers: the modularity criterion and the baselines
# --------------------------------------------------------------------------------------------------


def layer_gains(curve: pd.DataFrame, model: nn.Module) -> pd.DataFrame:
    """Per probe layer: mean Q over repeats, its gain ΔQ over the previous layer, and removability.

    Args:
        curve: :func:`modularity_curve`'s frame for ``model`` (one model, any number of repeats).
        model: the model the curve was measured on.

    Returns:
        Columns ``layer``, ``depth``, ``modularity`` (mean), ``std``, ``delta`` (NaN for the first
        layer), ``removable``, in depth order.

    Raises:
        ValueError: the frame holds several curves, or its layers are not ``model``'s probe layers
            (a curve from another model).
    """
    for column in ("model", "dataset", "trained"):
        if column in curve.columns and curve[column].nunique() > 1:
            raise ValueError(f"curve holds several curves ({column}: {sorted(map(str, curve[column].unique()))}); "
                             f"select one, e.g. curve[curve.{column} == ...].")
    name = model.config["name"] if hasattr(model, "config") else type(model).__name__
    if "model" in curve.columns and curve["model"].iloc[0] != name:
        raise ValueError(f"curve is of model {curve['model'].iloc[0]!r}, not of {name!r}; measure this model's curve.")
    summary = summarize_curve(curve.drop(columns=[c for c in ("model", "dataset", "trained") if c in curve.columns]))
    expected = probe_layers(model)
    if summary["layer"].tolist() != expected:
        raise ValueError(f"curve's layers ({len(summary)}: {', '.join(summary['layer'][:4])}, ...) are not the "
                         f"probe layers of this {name} ({len(expected)}: {', '.join(expected[:4])}, ...); it is the "
                         "curve of another model. Measure dg.modularity_curve(model, ...) on this model.")
    removable = set(removable_layers(model))
    return pd.DataFrame({
        "layer": summary["layer"], "depth": summary["depth"], "modularity": summary["mean"],
        "std": summary["std"], "delta": summary["mean"].diff(), "removable": summary["layer"].isin(removable),
    })


def redundant_layers(curve: pd.DataFrame, model: nn.Module, *, threshold: float = DEFAULT_THRESHOLD,
                     max_layers: int | None = None) -> list[str]:
    """The removable layers where the modularity curve is flat or falls: ΔQ < ``threshold``.

    ΔQ of a layer is its mean Q minus the previous probe layer's (PAPER.md §5.3: "ΔQ ≈ 0 or ΔQ < 0"
    marks a redundant layer; the paper gives no number, so the threshold is a parameter). A layer
    whose ΔQ is below ``threshold`` adds too little class separation to keep; negative ΔQ
    (degradation) is always below it. Only layers that :func:`removable_layers` allows are returned.

    Args:
        curve: the model's modularity curve (:func:`modularity_curve`).
        model: the model the curve is of.
        threshold: largest ΔQ that still counts as a plateau.
        max_layers: keep at most this many, those with the smallest ΔQ.

    Returns:
        Layer names in depth order.
    """
    gains = layer_gains(curve, model)
    candidates = gains[gains.removable & (gains.delta < threshold)].sort_values(["delta", "depth"])
    return _pick(model, candidates["layer"], None if max_layers is None else _non_negative("max_layers", max_layers))


def rising_layers(curve: pd.DataFrame, model: nn.Module, count: int) -> list[str]:
    """The ``count`` removable layers with the largest ΔQ (on a rising part of the curve): the
    non-redundant layers of Fig. 9, to remove for contrast. In depth order."""
    gains = layer_gains(curve, model)
    ranked = gains[gains.removable].sort_values(["delta", "depth"], ascending=[False, True])["layer"]
    return _pick(model, ranked, _check_count(model, count))


def _non_negative(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}.")
    return int(value)


def _stage_room(model: nn.Module) -> dict[int, int]:
    """How many units each stage can lose together: its removable ones, less one where a ResNet stage
    would otherwise lose every block."""
    units = _units(model)
    room = {unit.stage: 0 for unit in units}
    for unit in units:
        room[unit.stage] += unit.reason is None
    if _family(model) == "resnet":
        for stage in room:
            stage_units = [unit for unit in units if unit.stage == stage]
            if stage and all(unit.reason is None for unit in stage_units):
                room[stage] -= 1
    return room


def _pick(model: nn.Module, ranked: Sequence[str], count: int | None) -> list[str]:
    """The first ``count`` of ``ranked`` (all when None) that can be removed together, in depth order.

    A layer whose stage has no room left (a ResNet stage keeps one block) is passed over for the next.
    """
    room = _stage_room(model)
    units = _units(model)
    stage_of = {unit.layer: unit.stage for unit in units}
    chosen: list[str] = []
    for layer in ranked:
        if count is not None and len(chosen) >= count:
            break
        if room[stage_of[layer]] > 0:
            room[stage_of[layer]] -= 1
            chosen.append(layer)
    order = [unit.layer for unit in units]
    return sorted(chosen, key=order.index)


def _check_count(model: nn.Module, count: int) -> int:
    count = _non_negative("count", count)
    available = sum(_stage_room(model).values())
    if count > available:
        raise ValueError(f"count={count} but at most {available} units of this model can be removed together.")
    return count


def tail_layers(model: nn.Module, count: int) -> list[str]:
    """Baseline: ``count`` removable units taken from the tail of each stage, spread evenly.

    Stages take turns, the last stage first; each turn removes the last remaining removable unit of
    that stage. In depth order.

    Example:
        >>> tail_layers(get_model("resnet20"), 4)
        ['layer1.2', 'layer2.2', 'layer3.1', 'layer3.2']
    """
    count = _check_count(model, count)
    by_stage: dict[int, list[str]] = {}
    for unit in _units(model):
        if unit.reason is None:
            by_stage.setdefault(unit.stage, []).append(unit.layer)
    ranked: list[str] = []  # stage by stage, last stage first, each stage's last unit first
    while any(by_stage.values()):
        ranked += [by_stage[stage].pop() for stage in sorted(by_stage, reverse=True) if by_stage[stage]]
    return _pick(model, ranked, count)


def random_layers(model: nn.Module, count: int, *, seed: int = 0) -> list[str]:
    """Baseline: ``count`` removable units drawn uniformly at random (seeded). In depth order."""
    count = _check_count(model, count)
    candidates = removable_layers(model)
    order = np.random.default_rng(seed).permutation(len(candidates))
    return _pick(model, [candidates[i] for i in order], count)


def linear_probe_accuracy(model: nn.Module, dataset: Any, *, layers: Sequence[str] | None = None,
                          n_train: int = 2000, n_test: int = 1000, pool: int = 4, seed: int = 0,
                          device: str | torch.device = "auto", batch_size: int = 250) -> pd.DataFrame:
    """Accuracy of a linear classifier (logistic regression) on each probe layer's features.

    The criterion of Chen & Zhao (TPAMI 2018), "Shallowing deep networks": a layer whose probe
    accuracy barely improves on the previous one's adds little. To keep it cheap, each feature map
    is average-pooled to ``pool`` × ``pool`` before the classifier (our simplification).

    Args:
        model: a trained classifier.
        dataset: labelled images; ``n_train`` + ``n_test`` disjoint ones are drawn with ``seed``.
        layers: probe layers (default: the model's).
        n_train, n_test: images to fit and to score each probe on.
        pool: spatial size of the pooled feature maps.

    Returns:
        Columns ``layer``, ``depth``, ``probe_acc``, ``delta`` (gain over the previous layer).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    layers = list(probe_layers(model) if layers is None else check_layers(model, layers))
    images, labels = draw_samples(dataset, n=n_train + n_test, seed=seed)
    device = resolve_device(device)
    pooled: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}

    def keep(name: str, output: torch.Tensor) -> None:
        if output.ndim == 4:
            output = nn.functional.adaptive_avg_pool2d(output, pool)
        pooled[name].append(output.flatten(1).float().cpu())

    with evaluating(model, device), _hooks(model, layers, keep):
        for start in range(0, len(images), batch_size):
            _forward(model, images[start:start + batch_size].to(device))
    rows = []
    for depth, layer in enumerate(layers, start=1):
        features = torch.cat(pooled[layer]).numpy()
        scaler = StandardScaler().fit(features[:n_train])
        with warnings.catch_warnings():  # an unconverged lbfgs still ranks layers; its warnings would flood logs
            warnings.simplefilter("ignore", ConvergenceWarning)
            probe = LogisticRegression(max_iter=300).fit(scaler.transform(features[:n_train]), labels[:n_train])
        accuracy = probe.score(scaler.transform(features[n_train:]), labels[n_train:])
        rows.append({"layer": layer, "depth": depth, "probe_acc": float(accuracy)})
    frame = pd.DataFrame(rows)
    return frame.assign(delta=frame["probe_acc"].diff())


def probe_criterion_layers(model: nn.Module, probe: pd.DataFrame, count: int) -> list[str]:
    """Baseline: the ``count`` removable layers whose linear-probe accuracy gains least
    (``probe`` from :func:`linear_probe_accuracy`). In depth order."""
    count = _check_count(model, count)
    ranked = probe[probe.layer.isin(removable_layers(model))].sort_values(["delta", "depth"])["layer"]
    return _pick(model, ranked, count)


# --------------------------------------------------------------------------------------------------
# Cost and recovery
# --------------------------------------------------------------------------------------------------


def model_cost(model: nn.Module, *, image_size: int = 32) -> dict[str, int]:
    """Parameters, FLOPs and MACs of one forward pass on a single image, by torch's FlopCounterMode.

    FLOPs count a multiply-add as two operations (convolutions and matrix products); MACs are half
    of that. The paper's thop counts are MACs.

    Returns:
        ``{"params": ..., "flops": ..., "macs": ...}``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    parameter = next(model.parameters())
    image = torch.zeros(1, model.config["in_channels"] if hasattr(model, "config") else 3, image_size, image_size,
                        device=parameter.device)
    counter = FlopCounterMode(display=False)
    with evaluating(model, parameter.device), torch.no_grad(), counter:
        model(image)
    flops = int(counter.get_total_flops())
    return {"params": int(sum(p.numel() for p in model.parameters())), "flops": flops, "macs": flops // 2}


def _state_digest(model: nn.Module) -> str:
    digest = hashlib.sha1()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:10]


def recover(pruned: nn.Module, dataset: str = "fashion-mnist", *, from_scratch: bool = False, seed: int = 0,
            device: str | torch.device = "auto", checkpoint: str | Path | None = None, **overrides) -> nn.Module:
    """Recover a pruned model's accuracy by training, cached like :func:`pretrained`.

    Fine-tuning from the inherited weights is the default (:data:`FINETUNE_DEFAULTS`, e.g. on
    Fashion-MNIST 2 epochs, at lr 0.01 then 0.001); ``from_scratch=True`` re-initialises the pruned
    architecture and trains it with the dataset's full recipe, as the paper's code did. Every
    option of :data:`TRAIN_DEFAULTS` can be overridden. The run is cached under
    ``settings.checkpoint_dir/<dataset>/pruned/``, keyed by the starting weights, the options and
    the seed, written atomically every epoch and resumed when interrupted.

    Returns:
        The trained model in eval mode, with ``checkpoint`` metadata (``test_acc``, ``history``...).
        ``pruned`` itself is not modified.
    """
    info = dataset_info(dataset)
    config = pruned.config
    if config.get("num_classes") != info["num_classes"] or config.get("in_channels") != info["in_channels"]:
        raise ValueError(f"The model has {config.get('num_classes')} classes and {config.get('in_channels')} input "
                         f"channels; {dataset} has {info['num_classes']} and {info['in_channels']}.")
    defaults = train_defaults(dataset) if from_scratch else FINETUNE_DEFAULTS.get(dataset, FINETUNE_DEFAULTS["cifar10"])
    hparams = _merge(defaults, overrides)
    if from_scratch:
        seed_everything(seed)  # the new initial weights are part of what the seed fixes
    start = get_model(**config)
    if not from_scratch:
        start.load_state_dict(pruned.state_dict())
    if checkpoint is None:
        fields = {"config": config, "weights": _state_digest(start), "hparams": hparams, "seed": seed,
                  "from_scratch": from_scratch}
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:10]
        checkpoint = settings.checkpoint_dir / str(dataset).replace("/", "_") / "pruned" / f"{config['name']}-{digest}.pt"
    checkpoint = Path(checkpoint)
    if settings.verbosity >= 1 and not finished(checkpoint):
        how = "from scratch" if from_scratch else "fine-tuning"
        print(f"Recovering {config['name']} {config.get('blocks', config.get('cfg'))} ({how}, "
              f"{hparams['epochs']} epochs) -> {checkpoint}", flush=True)
    if not finished(checkpoint):
        train(start, get_dataset(dataset, "train"), get_dataset(dataset, "test"), checkpoint=checkpoint,
              device=device, seed=seed, dataset_name=dataset, **hparams)
    model = load_checkpoint(checkpoint, device=device)
    model.pruned_layers = getattr(pruned, "pruned_layers", [])
    return model


# --------------------------------------------------------------------------------------------------
# Experiments behind Figs. 8-9 and Table 1
# --------------------------------------------------------------------------------------------------

# The paper's VGG11 variants of Fig. 9 (PAPER.md §3, F-non-redundant pruning), as layers to remove.
PAPER_VARIANTS: dict[str, dict[str, list[str]]] = {
    "vgg11": {
        "VGG11_1": ["features.25"],
        "VGG11_2": ["features.18", "features.25"],
        "VGG11_3": ["features.11", "features.18", "features.25"],
    },
}


def paper_variants(name: str) -> dict[str, list[str]]:
    """The paper's pruned variants of model ``name`` as ``{variant: layers to remove}`` ({} if none)."""
    return {variant: list(layers) for variant, layers in PAPER_VARIANTS.get(name, {}).items()}


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


def _reduction(before: int, after: int) -> float:
    return 1.0 - after / before


def evaluate_variants(parent: nn.Module, variants: dict[str, Sequence[str]], dataset: str = "fashion-mnist", *,
                      with_curves: bool = True, n: int = 500, repeats: int = 5, k: int = 3, seed: int = 0,
                      device: str | torch.device = "auto", from_scratch: bool = False,
                      **recovery: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prune ``parent`` once per variant, recover each (:func:`recover`), and measure it.

    Args:
        parent: the trained, unpruned model (``parent.checkpoint['test_acc']`` is its accuracy).
        variants: ``{variant name: layers to remove}``.
        dataset: recovery data and the test set the curves are measured on.
        with_curves: also measure each variant's modularity curve (and the parent's).
        n, repeats, k: curve settings.
        seed: recovery and curve seed (the same for every variant, so they meet the same budget).
        from_scratch, **recovery: passed to :func:`recover` (``epochs=``, ``lr=``, ``train_size=``...).

    Returns:
        ``(table, curves)``. ``table`` has one row per variant plus ``unpruned``: ``variant``,
        ``removed`` (count), ``layers``, ``top1`` (%), ``params``, ``flops``, ``macs``,
        ``params_reduction``, ``flops_reduction``, ``q_last`` (mean Q of the last probe layer) and
        ``delta_acc``/``delta_q`` (unpruned minus variant). ``curves`` stacks the curves with a
        ``variant`` column (empty without ``with_curves``).
    """
    from ..curve import modularity_curve

    test_set = get_dataset(dataset, "test")
    image_size = dataset_info(dataset)["image_size"]
    base_cost = model_cost(parent, image_size=image_size)
    models = {"unpruned": parent}
    for variant, layers in variants.items():
        models[variant] = recover(prune(parent, layers), dataset, from_scratch=from_scratch, seed=seed,
                                  device=device, **recovery)
    rows, curves = [], []
    for variant, model in models.items():
        cost = model_cost(model, image_size=image_size)
        row = {"variant": variant, "removed": len(getattr(model, "pruned_layers", [])),
               "layers": ", ".join(getattr(model, "pruned_layers", [])),
               "top1": 100 * model.checkpoint["test_acc"], **cost,
               "params_reduction": _reduction(base_cost["params"], cost["params"]),
               "flops_reduction": _reduction(base_cost["flops"], cost["flops"])}
        if with_curves:
            curve = modularity_curve(model, test_set, n=n, repeats=repeats, k=k, seed=seed, device=device)
            row["q_last"] = float(curve[curve.depth == curve.depth.max()].modularity.mean())
            curves.append(curve.assign(variant=variant, top1=row["top1"]))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["delta_acc"] = table.top1.iloc[0] - table.top1
    if with_curves:
        table["delta_q"] = table.q_last.iloc[0] - table.q_last
    return table, (pd.concat(curves, ignore_index=True) if curves else pd.DataFrame())


def compare_pruning(parent: nn.Module, curve: pd.DataFrame, dataset: str = "fashion-mnist", *,
                    threshold: float = DEFAULT_THRESHOLD, max_layers: int | None = None,
                    random_seeds: Sequence[int] = (0, 1, 2), probe_train: int = 2000, probe_test: int = 1000,
                    seed: int = 0, device: str | torch.device = "auto", **recovery: Any) -> pd.DataFrame:
    """Table 1: modularity-guided pruning against the baselines, under one recovery budget.

    The modularity criterion picks :func:`redundant_layers` (``threshold``, ``max_layers``); each
    baseline removes as many units: ``tail`` (:func:`tail_layers`), ``random`` (one row per seed in
    ``random_seeds``, :func:`random_layers`) and ``linear-probe`` (:func:`probe_criterion_layers`
    on :func:`linear_probe_accuracy` measured on training images). Every pruned model is recovered
    with the same options (``**recovery``, :func:`recover`) and ``seed``.

    Returns:
        One row per model: ``method``, ``seed``, ``removed``, ``layers``, ``top1`` (%), ``params``,
        ``flops``, ``macs``, ``params_reduction``, ``flops_reduction``; the first row is the
        unpruned parent.
    """
    layers = redundant_layers(curve, parent, threshold=threshold, max_layers=max_layers)
    if not layers:
        raise ValueError(f"No removable layer has ΔQ < {threshold}; raise threshold to prune.")
    count = len(layers)
    probe = linear_probe_accuracy(parent, get_dataset(dataset, "train"), n_train=probe_train, n_test=probe_test,
                                  seed=seed, device=device)
    selections = [("modularity", seed, layers), ("tail", seed, tail_layers(parent, count)),
                  ("linear-probe", seed, probe_criterion_layers(parent, probe, count))]
    selections += [("random", s, random_layers(parent, count, seed=s)) for s in random_seeds]
    variants = {f"{method}/{s}": chosen for method, s, chosen in selections}
    table, _ = evaluate_variants(parent, variants, dataset, with_curves=False, seed=seed, device=device, **recovery)
    methods = [("unpruned", seed)] + [(method, s) for method, s, _ in selections]
    table.insert(0, "method", [method for method, _ in methods])
    table.insert(1, "seed", [s for _, s in methods])
    return table.drop(columns=["variant", "delta_acc"])


def summarize_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 per method: mean top-1 (std over seeds where there are several) and mean reductions."""
    grouped = table.groupby("method", sort=False)
    return pd.DataFrame({
        "runs": grouped.size(), "removed": grouped.removed.first(), "top1": grouped.top1.mean(),
        "top1_std": grouped.top1.std(), "params_reduction": grouped.params_reduction.mean(),
        "flops_reduction": grouped.flops_reduction.mean(),
    }).reset_index()


# Table 1 of the paper (ResNet56 on CIFAR-10, PAPER.md §6), for display beside our rows.
PAPER_TABLE1 = pd.DataFrame({
    "method": ["ResNet56", "Chen et al. [5]", "DBP-0.5 [61]", "Ours (paper)"],
    "top1": [93.27, 93.29, 93.39, 93.38],
    "params_reduction": [0.0, 0.4230, np.nan, 0.4300],
    "flops_reduction": [0.0, 0.3480, 0.5341, 0.6030],
})
