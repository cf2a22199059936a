"""Which tensor of a layer's output becomes its features, and how token outputs are reduced."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Union

import torch

from ..utils import lookup

__all__ = ["OutputSelector", "POOLS", "for_layer", "pool_features", "select_output"]


POOLS = ("flatten", "mean", "cls")
OutputSelector = Union[int, str, Callable[[Any], torch.Tensor], None]
"""Which tensor of a layer's output to use: None (the output itself, or its first tensor), an
index (tuples, lists), a key or attribute name (dicts, HuggingFace ``ModelOutput``, dataclasses,
named tuples), or a callable ``output -> tensor``."""


def _first_tensor(output: Any) -> torch.Tensor | None:
    """The output itself if a tensor, else the first tensor among its elements, values or fields."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):  # dicts and HuggingFace ModelOutput (an OrderedDict)
        values = list(output.values())
    elif isinstance(output, (tuple, list)):
        values = list(output)
    elif dataclasses.is_dataclass(output) and not isinstance(output, type):
        values = [getattr(output, field.name) for field in dataclasses.fields(output)]
    else:
        return None
    return next((value for value in values if isinstance(value, torch.Tensor)), None)


def _describe_output(output: Any) -> str:
    if isinstance(output, (tuple, list)):
        kinds = ", ".join(type(item).__name__ for item in output[:4]) + (", ..." if len(output) > 4 else "")
        return f"a {type(output).__name__} of {len(output)} ({kinds})"
    if isinstance(output, Mapping):
        return f"a {type(output).__name__} with keys {list(output)[:6]}"
    return f"a {type(output).__name__}"


def select_output(output: Any, selector: OutputSelector = None, *, layer: str = "the layer") -> torch.Tensor:
    """The tensor that stands for a layer's ``output`` (see :data:`OutputSelector`).

    By default a tensor output is used as it is and any other output (tuple, list, dict,
    ``ModelOutput``, dataclass) by its first tensor: a HuggingFace encoder layer's
    ``(hidden_states, ...)`` gives its hidden states.

    Raises:
        TypeError: no tensor found, or the selector picks something that is not a tensor; the
            message names the layer, the output's type and the choices.
    """
    choices = ("pass output= an index (tuples, lists), a key or attribute name (dicts, ModelOutput, "
               "dataclasses) or a callable output -> tensor")
    if selector is None:
        chosen = _first_tensor(output)
        if chosen is None:
            raise TypeError(f"Layer {layer!r} returned {_describe_output(output)}, with no tensor to use; {choices}.")
        return chosen
    if callable(selector):
        chosen = selector(output)
    elif isinstance(selector, bool) or not isinstance(selector, (int, str)):
        raise TypeError(f"output= must be None, an index, a key or a callable, got {selector!r}.")
    elif isinstance(selector, int):
        if not isinstance(output, (tuple, list)):
            raise TypeError(f"output={selector} indexes a tuple or list, but layer {layer!r} returned "
                            f"{_describe_output(output)}; {choices}.")
        if not -len(output) <= selector < len(output):
            raise TypeError(f"output={selector} is out of range: layer {layer!r} returned {_describe_output(output)}.")
        chosen = output[selector]
    elif isinstance(output, Mapping):
        if selector not in output:
            raise TypeError(f"output={selector!r} is not a key of layer {layer!r}'s output, "
                            f"{_describe_output(output)}.")
        chosen = output[selector]
    elif hasattr(output, selector):
        chosen = getattr(output, selector)
    else:
        raise TypeError(f"output={selector!r} is neither a key nor an attribute of layer {layer!r}'s output, "
                        f"{_describe_output(output)}; {choices}.")
    if not isinstance(chosen, torch.Tensor):
        raise TypeError(f"output={selector!r} picked {_describe_output(chosen)} from layer {layer!r}, not a tensor; "
                        f"{choices}.")
    return chosen


def pool_features(tensor: torch.Tensor, pool: str | Callable[[torch.Tensor], torch.Tensor] = "flatten", *,
                  layer: str = "the layer") -> torch.Tensor:
    """One row per sample: ``tensor`` (N, ...) reduced by ``pool`` and flattened to (N, M).

    ``"flatten"`` keeps everything (the paper's semantics); ``"mean"`` averages a token output
    (N, T, D) over its tokens, or a channels-first map (N, C, H, W) over its positions, giving
    (N, D) or (N, C); ``"cls"`` takes the first token of (N, T, D) (a ViT's class token). A callable
    ``tensor -> tensor`` does anything else (for example a channels-last map's mean). (N, D)
    outputs have nothing to pool and are kept.

    Raises:
        ValueError: ``"cls"`` on an output that is not (N, T, D), naming the layer and the shape.
        UnknownNameError: an unknown pool name.
    """
    if callable(pool):
        pooled = pool(tensor)
        if not isinstance(pooled, torch.Tensor) or len(pooled) != len(tensor):
            raise TypeError(f"pool= callable must return a tensor with one row per sample for layer {layer!r}.")
        return pooled.reshape(len(pooled), -1)
    pool = lookup(pool, POOLS, what="pool")
    if pool == "cls":
        if tensor.ndim != 3:
            shape = ", ".join(["N", *map(str, tensor.shape[1:])])
            raise ValueError(f"pool='cls' takes the first token of a (N, T, D) output; layer {layer!r} gives "
                             f"({shape}). Use pool='mean' or 'flatten'.")
        return tensor[:, 0]
    if pool == "mean" and tensor.ndim > 2:
        return tensor.mean(dim=1) if tensor.ndim == 3 else tensor.mean(dim=tuple(range(2, tensor.ndim)))
    return tensor.reshape(len(tensor), -1)


def for_layer(value: Any, layer: str) -> Any:
    """A per-layer option: a dict gives each layer its own value (missing layers: None), else the value."""
    return value.get(layer) if isinstance(value, dict) else value
