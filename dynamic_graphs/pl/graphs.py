"""Pictures of the k-NN graphs themselves: one layer's graph, a panel per layer, and a GIF across layers.

The paper's 2021 demo drew each layer's graph on a circle grouped by class, "the darker the color
of the edge, the higher the similarity" (arXiv 2111.12485, Fig. 2 and the official code's README);
:func:`draw_graph` keeps that style. The graphs come from :func:`~dynamic_graphs.figures.layer_graphs`.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np

from ..figures.graphs import LayerGraph
from ..graphs import import_igraph, edge_list, edge_weights
from ..utils import as_labels, atomic_path, check_int, check_positive_int, isolated_rng, lookup
from ._axes import new_axes

if TYPE_CHECKING:
    import igraph
    import matplotlib.axes
    import matplotlib.figure

__all__ = ["class_colors", "draw_graph", "edge_colors", "embed_gif", "graph_animation", "graph_layout",
           "plot_layer_graphs"]

Layout = Literal["circle", "fr", "kk", "drl", "grid", "random"]

_EDGE_SHADE = (0.25, 1.0)  # Greys colormap range: the weakest edge stays visible, the strongest is black
_EDGE_ALPHA = (0.25, 0.9)  # opacity range, also rising with the weight
_NODE_SIZE = 28  # points², for a graph of about 50 nodes


# --------------------------------------------------------------------------- colours and coordinates


def class_colors(labels: Any) -> dict[Any, tuple[float, float, float]]:
    """A categorical colour for each class present in ``labels``, as ``{label: rgb}``.

    Non-negative integer labels keep their colour whatever the sample (label 3 is always the same
    colour): ``tab10`` up to 10 label values, evenly spaced ``husl`` hues beyond. Other labels are
    coloured by their sorted rank.
    """
    import matplotlib
    import seaborn as sns

    classes = np.unique(np.asarray(labels))
    by_value = np.issubdtype(classes.dtype, np.integer) and classes.size and classes.min() >= 0
    slots = classes.astype(np.int64) if by_value else np.arange(classes.size)
    n_slots = int(slots.max()) + 1 if slots.size else 0
    palette = (list(matplotlib.colormaps["tab10"].colors) if n_slots <= 10
               else sns.color_palette("husl", n_slots))
    return {label.item() if hasattr(label, "item") else label: tuple(palette[int(slot)][:3])
            for label, slot in zip(classes, slots)}


def class_name(label: Any, class_names: Sequence[str] | Mapping | None) -> str:
    """The legend name of ``label``: ``class_names[label]`` (a sequence or a mapping), else ``str(label)``."""
    if class_names is None:
        return str(label)
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, label))
    return str(class_names[int(label)])


def _class_handles(palette: Mapping[Any, Any], class_names: Sequence[str] | Mapping | None) -> list:
    """Legend handles, one marker per class of ``palette``."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], linestyle="", marker="o", markersize=6, color=color,
                   label=class_name(label, class_names)) for label, color in palette.items()]


def graph_layout(graph: igraph.Graph, labels: Any, layout: Layout | str = "circle", *, seed: int = 0) -> np.ndarray:
    """Node coordinates from one of igraph's layouts, as an (N, 2) array.

    ``"circle"`` puts the nodes on a circle sorted by class (each class an arc, as in the paper's
    GIF); ``"fr"`` is Fruchterman-Reingold pulled by the edge weights (negative ones count as
    almost nothing), from a start drawn with ``seed``; any other name is passed to
    ``graph.layout(name)`` under the same seed.
    """
    labels = as_labels(labels, graph.vcount())
    if layout == "circle":
        ranks = np.unique(labels, return_inverse=True)[1]
        order = np.argsort(ranks, kind="stable")
        return np.asarray(graph.layout_circle(order=order.tolist()).coords, dtype=float)
    with isolated_rng(seed):  # igraph draws from Python's global ``random``, seeded here and restored after
        import_igraph().set_random_number_generator(random)
        if layout == "fr":
            start = np.random.default_rng(seed).uniform(-1, 1, size=(graph.vcount(), 2))
            weights = np.clip(edge_weights(graph), 1e-3, None).tolist() if graph.ecount() else None
            coords = graph.layout_fruchterman_reingold(weights=weights, seed=start.tolist(), grid="nogrid")
        else:
            coords = graph.layout(layout)
    return np.asarray(coords.coords, dtype=float).reshape(graph.vcount(), 2)


def edge_colors(weights: Any, edge_range: tuple[float, float] | None = None) -> np.ndarray:
    """RGBA colours of edges: darker and more opaque for a higher weight (cosine similarity).

    The scale runs over ``edge_range`` (default ``(min(0, lowest weight), 1)``, the absolute cosine
    scale, so panels and frames compare). Weights at the bottom of the scale, negative ones
    included, are light grey but never invisible.

    Returns:
        (E, 4) float array.
    """
    import matplotlib

    weights = np.asarray(weights, dtype=float)
    low, high = edge_range if edge_range is not None else _default_range([weights])
    t = np.clip((weights - low) / max(high - low, 1e-12), 0.0, 1.0)
    colors = matplotlib.colormaps["Greys"](_EDGE_SHADE[0] + (_EDGE_SHADE[1] - _EDGE_SHADE[0]) * t)
    colors[:, 3] = _EDGE_ALPHA[0] + (_EDGE_ALPHA[1] - _EDGE_ALPHA[0]) * t
    return colors


def _default_range(weight_sets: Sequence[np.ndarray]) -> tuple[float, float]:
    low = min([0.0] + [float(np.min(w)) for w in weight_sets if len(w)])
    high = max([1.0] + [float(np.max(w)) for w in weight_sets if len(w)])
    return low, high


# --------------------------------------------------------------------------- drawing


def draw_graph(graph: igraph.Graph, labels: Any, *, ax: matplotlib.axes.Axes | None = None,
               layout: Layout | str | np.ndarray = "circle", seed: int = 0,
               class_names: Sequence[str] | Mapping | None = None, title: str | None = None,
               edge_range: tuple[float, float] | None = None, node_size: float = _NODE_SIZE,
               legend: bool = True) -> matplotlib.axes.Axes:
    """Draw a weighted k-NN graph with matplotlib: nodes coloured by class, edges shaded by weight.

    The paper's 2021 GIF style (arXiv 2111.12485, Fig. 2; the official code's README): a circular layout
    grouped by class, and the darker an edge, the higher the similarity. Edges are one
    ``LineCollection`` drawn weakest first (so strong edges lie on top); negative-weight edges (possible
    for pre-BN conv outputs) are dashed. Nodes are one scatter collection.

    Args:
        graph: undirected ``igraph.Graph`` with an edge attribute ``"weight"`` (from :func:`knn_graph`).
        labels: one class label per vertex.
        ax: axes to draw on; a new figure when None.
        layout: ``"circle"``, ``"fr"`` or another igraph layout name (see :func:`graph_layout`), or
            precomputed (N, 2) coordinates.
        seed: seed of the random layouts.
        class_names: legend names, indexed by label (a dataset's ``classes``) or a ``{label: name}`` dict.
        title: axes title.
        edge_range: ``(low, high)`` weights mapped to the lightest and darkest shade (see :func:`edge_colors`).
        node_size: marker area in points².
        legend: add a class legend to the right of the axes.

    Returns:
        The axes.

    Example:
        >>> from dynamic_graphs import knn_graph
        >>> g = knn_graph(np.eye(6) + 0.1, k=2)
        >>> ax = draw_graph(g, [0, 0, 0, 1, 1, 1], legend=False)
        >>> len(ax.collections)
        2
    """
    from matplotlib.collections import LineCollection

    labels = as_labels(labels, graph.vcount())
    _, ax = new_axes(ax, (5, 5))
    if isinstance(layout, str):
        coords = graph_layout(graph, labels, layout, seed=seed)
    else:
        coords = np.asarray(layout, dtype=float)
        if coords.shape != (graph.vcount(), 2):
            raise ValueError(f"layout coordinates must have shape ({graph.vcount()}, 2), got {coords.shape}.")

    weights, edges = edge_weights(graph), edge_list(graph)
    order = np.argsort(weights, kind="stable")  # weakest first: the darkest edges end up on top
    edges, weights = edges[order], weights[order]
    lines = LineCollection(coords[edges], colors=edge_colors(weights, edge_range), linewidths=1.0,
                           linestyles=["--" if w < 0 else "-" for w in weights] or "-", zorder=1)
    ax.add_collection(lines)

    palette = class_colors(labels)
    ax.scatter(coords[:, 0], coords[:, 1], s=node_size, c=[palette[label.item()] for label in labels],
               edgecolors="white", linewidths=0.5, zorder=2)
    if legend:
        ax.legend(handles=_class_handles(palette, class_names), loc="center left", bbox_to_anchor=(1.0, 0.5),
                  frameon=False, fontsize=8)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.05)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax


def _panel_title(position: int, item: LayerGraph) -> str:
    return f"L{position} ({item.layer})  Q = {item.modularity:.2f}"


def _select(graphs: Sequence[LayerGraph], layers: Sequence[int | str] | None) -> list[tuple[int, LayerGraph]]:
    """``(1-based position, graph)`` pairs for the chosen layers; positions past the end are dropped with a warning."""
    numbered = list(enumerate(graphs, start=1))
    if layers is None:
        return numbered
    by_name = {item.layer: (position, item) for position, item in numbered}
    chosen, beyond = [], []
    for index, key in enumerate(layers):
        if isinstance(key, str):
            chosen.append(by_name[lookup(key, by_name, what="layer", hint=" (the layers of these graphs)")])
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            position = check_int(f"layers[{index}]", key, minimum=1)
            if position > len(graphs):
                beyond.append(position)
            else:
                chosen.append(numbered[position - 1])
        else:
            raise TypeError(f"layers are 1-based positions (int >= 1) or layer names, got {key!r}.")
    if beyond:
        warnings.warn(f"Layers {beyond} are past the last of the {len(graphs)} graphs and are left out.",
                      UserWarning, stacklevel=3)
    if not chosen:
        raise ValueError(f"None of the layers {list(layers)} is among the {len(graphs)} graphs.")
    return chosen


def plot_layer_graphs(graphs: Sequence[LayerGraph], labels: Any, *, layers: Sequence[int | str] | None = None,
                      ncols: int = 5, layout: Layout | str = "circle", seed: int = 0,
                      class_names: Sequence[str] | Mapping | None = None, curve: bool = True,
                      panel_size: float = 3.0) -> matplotlib.figure.Figure:
    """One graph panel per chosen layer, titled with its modularity Q (the pipeline of arXiv 2111.12485, Fig. 2).

    Edge shades share one scale across panels (a colour bar shows it) and the classes share one
    legend. With ``curve=True`` a last panel shows Q of every layer with the drawn layers marked:
    the curve that the graphs summarise.

    Args:
        graphs: from :func:`layer_graphs`.
        labels: the class label of each node.
        layers: which graphs to draw: 1-based positions in ``graphs`` (probe-layer indices when
            ``graphs`` covers all probe layers) or layer names; positions past the end are dropped
            with a warning. ``None`` draws all.
        ncols: panels per row.
        layout, seed: see :func:`draw_graph`.
        class_names: legend names, indexed by label.
        curve: add the Q-per-layer panel.
        panel_size: inches per panel.

    Returns:
        The matplotlib figure.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    chosen = _select(graphs, layers)
    ncols = check_positive_int("ncols", ncols)
    n_panels = len(chosen) + int(curve)
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    figure, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(panel_size * ncols + 1.6, panel_size * nrows))
    edge_range = _default_range([edge_weights(item.graph) for _, item in chosen])
    for ax, (position, item) in zip(axes.flat, chosen):
        draw_graph(item.graph, labels, ax=ax, layout=layout, seed=seed, edge_range=edge_range,
                   title=_panel_title(position, item), legend=False)
    if curve:
        ax = axes.flat[len(chosen)]
        positions = np.arange(1, len(graphs) + 1)
        values = np.array([item.modularity for item in graphs])
        ax.plot(positions, values, marker="o", markersize=3, color="0.4")
        marked = [position for position, _ in chosen]
        ax.plot(marked, values[np.array(marked) - 1], linestyle="", marker="o", markersize=7, color="C3")
        ax.set_ylim(min(0.0, values.min() - 0.05), max(1.0, values.max() + 0.05))  # Q's scale, as in the paper
        ax.set_xlabel("layer")
        ax.set_ylabel("Q")
        ax.set_title("modularity curve", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n_panels:]:
        ax.set_axis_off()

    figure.legend(handles=_class_handles(class_colors(labels), class_names), loc="center right", frameon=False,
                  fontsize=8)
    figure.tight_layout(rect=(0, 0, 1 - 1.5 / (panel_size * ncols + 1.6), 1))
    shade = matplotlib.colors.LinearSegmentedColormap.from_list(
        "edges", matplotlib.colormaps["Greys"](np.linspace(*_EDGE_SHADE, 64)))
    mappable = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(*edge_range), shade)
    graph_axes = [ax for ax, _ in zip(axes.flat, chosen)]
    figure.colorbar(mappable, ax=graph_axes, location="bottom", shrink=0.5, aspect=40, pad=0.02,
                    label="edge weight (cosine similarity)")
    return figure


def graph_animation(graphs: Sequence[LayerGraph], labels: Any, path: str | Path, *, fps: float = 1.0,
                    layout: Layout | str = "circle", seed: int = 0,
                    class_names: Sequence[str] | Mapping | None = None, size: float = 5.0, dpi: int = 80,
                    title: str | None = None) -> Path:
    """Write an animated GIF with one frame per graph (layer), as the paper's 2021 demo did.

    Every frame has the same size and edge-shade scale; the file is written atomically.

    Args:
        graphs: from :func:`layer_graphs`, in layer order.
        labels: the class label of each node.
        path: the GIF file to write (its directory is created).
        fps: frames (layers) per second.
        layout, seed: see :func:`draw_graph`; each frame's layout is computed from its own graph.
        class_names: legend names, indexed by label.
        size: frame height in inches (the width adds room for the legend).
        dpi: pixels per inch.
        title: a line above every frame's layer title (e.g. the model name).

    Returns:
        ``path`` as a ``Path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    if not graphs:
        raise ValueError("graphs is empty; pass the list from layer_graphs().")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    path = Path(path)
    edge_range = _default_range([edge_weights(item.graph) for item in graphs])
    frames = []
    for position, item in enumerate(graphs, start=1):
        figure = Figure(figsize=(size * 1.35, size), dpi=dpi)
        canvas = FigureCanvasAgg(figure)
        ax = figure.add_axes((0.02, 0.02, 0.96 / 1.35, 0.88))
        heading = _panel_title(position, item)
        draw_graph(item.graph, labels, ax=ax, layout=layout, seed=seed, class_names=class_names,
                   edge_range=edge_range, title=f"{title}\n{heading}" if title else heading)
        canvas.draw()
        frame = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        frames.append(frame.convert("RGB").quantize(colors=64, dither=Image.Dither.NONE))  # few colours: a smaller file
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=int(round(1000 / fps)), disposal=1)
    return path


def embed_gif(path: str | Path, *, width: int | None = None, alt: str | None = None):
    """The GIF at ``path`` as an ``IPython.display.HTML`` image with the file's bytes inlined.

    Unlike ``IPython.display.Image``, whose ``image/gif`` output nbconvert's HTML export leaves out,
    this shows (and animates) both in Jupyter and in the rendered HTML reports. ``alt`` describes
    it for readers who cannot see it (default: the file's name).
    """
    import base64
    import html

    from IPython.display import HTML

    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    size = f' width="{int(width)}"' if width else ""
    return HTML(f'<img src="data:image/gif;base64,{data}"{size} alt="{html.escape(alt or Path(path).name)}">')
