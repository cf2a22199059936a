"""Layer outputs of any ``nn.Module`` by module name: forward hooks, or torchvision's FX extractor.

Both backends give the same thing: each requested layer's output, flattened per sample, as the
features the paper turns into k-NN graphs (Lu et al. 2022, Sec. 3.1).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Literal, Sequence

import torch
from torch import nn

from ..models.common import Normalize
from ..progress import progress
from ..utils import check_positive_int, evaluating, lookup, resolve_device
from .layers import check_input_channels, resolve_layers, stem_mismatch
from .selection import OutputSelector, for_layer, pool_features, select_output

__all__ = ["BACKENDS", "DEFAULT_FEATURE_BYTES", "FX_LEAF_MODULES", "extract_features", "iter_layer_features"]

DEFAULT_FEATURE_BYTES = 2 * 2**30  # features held at once; layers that do not fit cost extra forward passes
BACKENDS = ("hooks", "fx")

FX_LEAF_MODULES: tuple[type[nn.Module], ...] = (Normalize,)
"""Modules the FX backend calls as a whole instead of tracing through (``Normalize`` checks its
input's shape, which a symbolic trace cannot evaluate)."""


class _StopForward(Exception):
    """Raised by the hook of the last wanted layer: the rest of the network need not run."""


def _layer_features(name: str, output: Any, selector: Any, pool: Any) -> torch.Tensor:
    """A layer's raw output as (N, M) features: the selected tensor, pooled and flattened."""
    return pool_features(select_output(output, for_layer(selector, name), layer=name).detach(),
                         for_layer(pool, name) or "flatten", layer=name)


def _as_features(on_features, selector: Any, pool: Any):
    """``on_output`` for :func:`_hooks` that hands ``on_features(name, features)`` the (N, M)
    features of each output (:func:`select_output`, :func:`pool_features`)."""
    return lambda name, output: on_features(name, _layer_features(name, output, selector, pool))


@contextmanager
def _hooks(model: nn.Module, layers: Sequence[str], on_output, stop_after: str | None = None):
    """Call ``on_output(name, output)`` with each named module's raw output, and end the forward
    pass after ``stop_after``'s; hooks are removed on exit."""
    modules = dict(model.named_modules())

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            on_output(name, output)
            if name == stop_after:
                raise _StopForward
        return hook

    handles = [modules[name].register_forward_hook(make_hook(name)) for name in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _forward(model: nn.Module, images: torch.Tensor):
    # inference mode here rather than around the generator: a suspended generator would leave
    # gradients off in the caller's code between layers.
    try:
        with torch.inference_mode():
            return model(images)
    except _StopForward:
        return None


def _flat_sizes_in_run_order(model: nn.Module, image: torch.Tensor, layers: list[str], selector: Any = None,
                             pool: Any = "flatten") -> dict[str, int]:
    """Feature size per layer, ordered as the layers run, from a one-image forward pass."""
    calls: list[tuple[str, int]] = []
    with _hooks(model, layers, _as_features(lambda name, out: calls.append((name, out[0].numel())), selector, pool)):
        _forward(model, image)
    names = [name for name, _ in calls]
    for name in layers:
        if names.count(name) != 1:
            raise ValueError(f"Layer {name!r} ran {names.count(name)} times in one forward pass; a probe layer "
                             "must run exactly once (a module reused inside the network cannot be probed).")
    return dict(calls)


def _plan_passes(sizes: dict[str, int], n_samples: int, max_bytes: int, *, carry: bool = False) -> list[list[str]]:
    """Group consecutive layers so that each group's features (float32) fit in ``max_bytes``.

    With ``carry``, a pass after the first also holds the previous pass's last layer (the input it
    resumes from, see :func:`_resume_segment`), and the budget counts it.
    """
    passes: list[list[str]] = [[]]
    held = 0
    for name, size in sizes.items():
        need = 4 * n_samples * size
        if passes[-1] and held + need > max_bytes:
            held = 4 * n_samples * sizes[passes[-1][-1]] if carry else 0
            passes.append([])
        passes[-1].append(name)
        held += need
    return passes


def _output_shapes(model: nn.Module, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Size | None]:
    """Each layer's raw output shape per sample from a one-image pass; None where it is not one float32 tensor."""
    shapes: dict[str, torch.Size | None] = {}

    def record(name: str, output: Any) -> None:
        plain = isinstance(output, torch.Tensor) and output.dtype == torch.float32
        shapes[name] = output.shape[1:] if plain else None

    with _hooks(model, layers, record):
        _forward(model, image)
    return shapes


def _resume_segment(model: nn.Module, boundary: str, group: list[str]) -> nn.Module | None:
    """A module computing ``{layer: output}`` for ``group`` from ``boundary``'s output alone, or None.

    The network is traced (:func:`_fx_extractor`) up to the group's last layer, and the part after
    ``boundary`` becomes a graph of its own whose input is ``boundary``'s output. That is only
    possible where the network's data flow is cut by ``boundary``: no value computed before it (a
    skip connection across it, the input images) is read after it. Elsewhere, and for models
    FX cannot trace, None: the pass runs from the images instead.
    """
    try:
        traced = _fx_extractor(model, [boundary, *group])
    except TypeError:
        return None
    nodes = list(traced.graph.nodes)
    returned = nodes[-1].args[0]  # create_feature_extractor returns {name: node}
    if not isinstance(returned, dict) or boundary not in returned:
        return None
    cut = returned[boundary]
    position = {node: index for index, node in enumerate(nodes)}
    after = nodes[position[cut] + 1:-1]
    for node in after:
        if any(position[used] < position[cut] and used.op != "get_attr" for used in node.all_input_nodes):
            return None  # a value from before the cut crosses it
    graph = torch.fx.Graph()
    values = {cut: graph.placeholder("boundary")}

    def value_of(node: torch.fx.Node) -> torch.fx.Node:
        if node not in values:  # a parameter or buffer fetched before the cut
            values[node] = graph.node_copy(node, value_of)
        return values[node]

    for node in after:
        values[node] = graph.node_copy(node, value_of)
    graph.output({name: value_of(returned[name]) for name in group})
    return torch.fx.GraphModule(traced, graph)


def _fx_extractor(model: nn.Module, layers: list[str]) -> nn.Module:
    """A graph module returning ``{layer: output}``; nodes after the last layer are dropped."""
    from torchvision.models.feature_extraction import create_feature_extractor

    try:  # this only traces: any error here means the model cannot be traced symbolically
        return create_feature_extractor(model, return_nodes={name: name for name in layers},
                                        tracer_kwargs={"leaf_modules": list(FX_LEAF_MODULES)},
                                        suppress_diff_warning=True)
    except Exception as err:
        raise TypeError(f"The FX backend cannot trace {type(model).__name__} ({type(err).__name__}: {err}); "
                        "use backend='hooks', or add the untraceable module's class to "
                        "dynamic_graphs.features.FX_LEAF_MODULES.") from err


def _run_group(model: nn.Module, images: torch.Tensor, group: list[str], buffers: dict[str, torch.Tensor],
               batch_size: int, device: torch.device, backend: str, selector: Any, pool: Any,
               resume: tuple[nn.Module, torch.Tensor, torch.Size] | None = None) -> None:
    """Fill ``buffers[layer]`` (N, M) with ``group``'s outputs, one batch of ``images`` at a time, or,
    with ``resume = (segment, boundary features, their shape per sample)``, one batch of the previous
    pass's last layer at a time (:func:`_resume_segment`)."""
    start = 0
    batches = progress(range(0, len(images), batch_size), desc="features · batch")

    def store(name: str, output: torch.Tensor) -> None:
        buffers[name][start:start + len(output)] = output.reshape(len(output), -1)
        batches.update(0)  # a line, when due, within a long forward pass (a ResNet110 batch: ~10 s on 2 cores)

    if resume is not None:
        segment, source, shape = resume
        for start in batches:
            chunk = source[start:start + batch_size]
            outputs = _forward(segment, chunk.view(len(chunk), *shape))
            for name in group:
                store(name, _layer_features(name, outputs[name], selector, pool))
        return
    if backend == "hooks":
        with _hooks(model, group, _as_features(store, selector, pool), stop_after=group[-1]):
            for start in batches:
                _forward(model, images[start:start + batch_size].to(device, non_blocking=True))
        return
    extractor = _fx_extractor(model, group)
    for start in batches:
        outputs = _forward(extractor, images[start:start + batch_size].to(device, non_blocking=True))
        for name in group:
            store(name, _layer_features(name, outputs[name], selector, pool))


def iter_layer_features(model: nn.Module, images: torch.Tensor, *, layers: Sequence[str] | None = None,
                        batch_size: int = 250, device: str | torch.device = "auto",
                        max_bytes: int = DEFAULT_FEATURE_BYTES, backend: Literal["hooks", "fx"] = "hooks",
                        output: OutputSelector | dict[str, OutputSelector] = None,
                        pool: str | Callable | dict[str, Any] = "flatten",
                        resume: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(layer, features)`` for each layer, in the order the layers run in the network.

    Features are (N, M) float32 tensors on ``device``: each sample's output flattened (the
    paper's semantics), or reduced by ``pool``. Modules may return tuples, lists, dicts,
    HuggingFace ``ModelOutput``s or dataclasses: by default their first tensor is used
    (:func:`select_output`), ``output=`` picks another. The model
    runs in eval mode without gradients, one batch at a time; its train/eval mode and device are
    restored afterwards. At most about ``max_bytes`` of features are held at once: when all layers
    do not fit, they are taken in several passes, each stopping right after its last layer. A pass
    after the first resumes from the previous pass's last layer where the network's data flow
    passes through that layer alone (a ResNet between blocks, a VGG between convs: traced with
    FX, see ``resume``), and otherwise runs the images again.

    Args:
        model: any ``nn.Module`` taking ``images``.
        images: (N, C, H, W) tensor.
        layers: module names, as in ``model.named_modules()``; ``None`` takes a registry model's
            probe layers.
        batch_size: images per forward pass.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        max_bytes: memory budget for the features held at once.
        backend: ``"hooks"`` (forward hooks on the named modules) or ``"fx"`` (torchvision's
            ``create_feature_extractor``, which traces the model symbolically and keeps only the
            graph up to each group's last layer; the modules in :data:`FX_LEAF_MODULES` are not
            traced through). Both give identical tensors. In both, a one-image pass with hooks
            first orders the layers and checks that each runs exactly once.
        output: which tensor of each layer's output (:data:`OutputSelector`: None, an index, a
            key or attribute, a callable), or a dict giving one per layer. With ``"fx"``, a
            module that returns a tuple or dict must be in :data:`FX_LEAF_MODULES`: FX names a
            traced-through module's node after its last operation, not after its output.
        pool: ``"flatten"`` (default), ``"mean"`` or ``"cls"`` for token outputs (N, T, D), or a
            callable (:func:`pool_features`); a dict gives one per layer.
        resume: let later passes start from the previous pass's last layer (its features, kept
            within ``max_bytes``) instead of the images, where that layer outputs one float32
            tensor, flattened as it is (no ``output=`` or ``pool=`` for it), and the network's
            graph is cut there. The features are identical either way; ``False`` always runs the
            images. A caller that modifies a yielded tensor in place makes the next pass run the
            images.

    Raises:
        TypeError: ``images`` is not a tensor, a layer's output has no tensor ``output=`` can find
            (naming the layer, the output's type and the choices), or (``"fx"``) the model cannot
            be traced.
        ValueError: ``images`` is not (N, ...) with N >= 1, has another number of channels than the
            model takes (:func:`check_input_channels`), a bad ``batch_size``, or a layer that runs
            more than once.
        UnknownNameError: an unknown layer or backend.
    """
    layers = resolve_layers(model, layers, "iter_layer_features")
    backend = lookup(backend, BACKENDS, what="extraction backend")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor of shape (N, C, H, W), got {type(images).__name__}.")
    if images.ndim < 2 or len(images) < 1:
        raise ValueError(f"images must be a tensor of shape (N, C, H, W) with N >= 1, got {tuple(images.shape)}.")
    check_input_channels(model, images)
    batch_size = check_positive_int("batch_size", batch_size)
    device = resolve_device(device)
    n_samples = len(images)
    with evaluating(model, device):
        try:
            sizes = _flat_sizes_in_run_order(model, images[:1].to(device), layers, output, pool)
        except RuntimeError as err:  # e.g. a conv's "expected input ... to have 3 channels"
            mismatch = stem_mismatch(model, images)
            if mismatch is not None:
                raise mismatch from err
            raise
        passes = _plan_passes(sizes, n_samples, max_bytes)
        shapes: dict[str, torch.Size | None] = {}
        if len(passes) > 1 and resume:
            shapes = _output_shapes(model, images[:1].to(device), layers)
            passes = _plan_passes(sizes, n_samples, max_bytes, carry=True)
        boundary: tuple[str, torch.Tensor, int] | None = None  # the last pass's last layer, and its version
        for group in passes:
            buffers = {name: torch.empty(n_samples, sizes[name], device=device) for name in group}
            resumed = None
            if boundary is not None:
                name, source, version = boundary
                segment = (_resume_segment(model, name, group)
                           if shapes.get(name) is not None and for_layer(output, name) is None
                           and (for_layer(pool, name) or "flatten") == "flatten" else None)
                if segment is not None and source._version == version:  # not modified in place by the caller
                    resumed = (segment, source, shapes[name])
            _run_group(model, images, group, buffers, batch_size, device, backend, output, pool, resumed)
            boundary = None
            for name in group:
                features = buffers.pop(name)
                if name == group[-1] and shapes:
                    boundary = (name, features, features._version)
                yield name, features
            del resumed  # the source of this pass must not outlive it: the next pass's budget does not count it


def extract_features(model: nn.Module, images: torch.Tensor, *, layers: Sequence[str] | None = None,
                     batch_size: int = 250, device: str | torch.device = "auto",
                     backend: Literal["hooks", "fx"] = "hooks", output: Any = None,
                     pool: Any = "flatten") -> dict[str, torch.Tensor]:
    """All requested layers' flattened outputs at once, as a dict ``layer -> (N, M) CPU tensor``.

    Convenient for small N; :func:`iter_layer_features` keeps memory bounded for large N.
    ``backend``, ``output`` and ``pool`` are as there.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU())
        >>> {k: tuple(v.shape) for k, v in extract_features(net, torch.rand(5, 1, 2, 2), layers=["1", "2"]).items()}
        {'1': (5, 3), '2': (5, 3)}
    """
    return {name: features.cpu() for name, features in
            iter_layer_features(model, images, layers=layers, batch_size=batch_size, device=device, max_bytes=2**62,
                                backend=backend, output=output, pool=pool)}
