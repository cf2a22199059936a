"""The dynamic graphs themselves (arXiv 2111.12485, Fig. 2): every layer's k-NN graph for one set of images.

The pictures of these graphs (panels, the GIF) are in :mod:`dynamic_graphs.pl.graphs`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import pandas as pd
import torch
from torch import nn

from ..features import iter_layer_features, resolve_layers
from ..graphs import knn_graph, modularity
from ..utils import as_labels

__all__ = ["LayerGraph", "layer_graph_table", "layer_graphs"]


class LayerGraph(NamedTuple):
    """One layer's k-NN graph and its modularity against the classes; unpacks as ``(layer, graph, Q)``."""

    layer: str
    graph: Any  # igraph.Graph
    modularity: float


def layer_graphs(model: nn.Module, images: torch.Tensor, labels: Any, *, layers: Sequence[str] | None = None,
                 k: int = 3, device: str | torch.device = "auto", batch_size: int = 250) -> list[LayerGraph]:
    """The paper's k-NN graph of every layer for one set of images, with its modularity Q.

    Built with the same stages as :func:`~dynamic_graphs.modularity_curve` (:func:`iter_layer_features`,
    :func:`knn_graph`, :func:`modularity`), so Q is the curve's value for these images.

    Args:
        model: a classifier taking ``images``.
        images: (N, C, H, W) tensor, one graph node each.
        labels: the N class labels (the communities).
        layers: module names in forward order; ``None`` uses the model's probe layers.
        k: neighbours per node (the paper's GIF: 3).
        device: where the forward pass and similarities run.
        batch_size: images per forward pass.

    Returns:
        One :class:`LayerGraph` ``(layer, graph, modularity)`` per layer, in forward order; each graph
        also carries its layer name as ``graph["layer"]``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.ReLU())
        >>> graphs = layer_graphs(net, torch.rand(12, 1, 2, 2), [0, 1] * 6, layers=["1", "2"], k=2, device="cpu")
        >>> [(g.layer, g.graph.vcount()) for g in graphs]
        [('1', 12), ('2', 12)]
    """
    labels = as_labels(labels, len(images))
    layers = resolve_layers(model, layers, "layer_graphs")
    graphs = []
    for layer, features in iter_layer_features(model, images, layers=layers, batch_size=batch_size, device=device):
        graph = knn_graph(features, k=k, name=layer)
        del features
        graph["layer"] = layer
        graphs.append(LayerGraph(layer, graph, modularity(graph, labels)))
    return graphs


def layer_graph_table(graphs: Sequence[LayerGraph]) -> pd.DataFrame:
    """The graphs of :func:`layer_graphs` as a table: ``depth`` (1-based), ``layer``, ``modularity``, ``edges``."""
    return pd.DataFrame([{"depth": depth, "layer": item.layer, "modularity": item.modularity,
                          "edges": item.graph.ecount()} for depth, item in enumerate(graphs, start=1)])
