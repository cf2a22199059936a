"""dynamic_graphs: how classes separate layer by layer, measured by k-NN graph modularity (Lu et al., ECCV 2022).

The top level holds what a first hour needs: data and models, the curve with its settings
(:class:`CurveSpec`) and summaries, the stacked-curve helpers, and the two stages of the measure.
The rest lives in namespaces named for their job, each reading only the ones before it:

1. data and models: :mod:`.data`, :mod:`.models` (the zoo, with per-layer info), :mod:`.training`;
2. the measure: :mod:`.features` (extraction), :mod:`.graphs` (k-NN graphs, modularity),
   :mod:`.curve` (the modularity curve and its loop), :mod:`.frames` (stacked curves),
   :mod:`.metrics` (companion measures), and the tools built on it, :mod:`.attacks` and
   :mod:`.pruning`;
3. figure-level functions, :mod:`.figures`, each returning one tidy frame whose label columns
   tell its curves apart;
4. plots, all in :mod:`.pl`; and :mod:`.reports`, the notebooks' parameter checks and outputs.

The command line is ``dynamic-graphs`` (:mod:`.cli`). Only light modules are imported here;
igraph and leidenalg load when a graph is first built.
"""
from __future__ import annotations

from . import attacks, curve, data, features, figures, frames, graphs, metrics, models, pl, pruning, reports, training
from ._settings import settings
from .curve import CurveSpec, draw_samples, modularity_curve, summarize_curve, summarize_seeds
from .data.registry import get_dataset
from .frames import curve_labels, stack_curves
from .graphs import knn_graph, modularity
from .models import get_model, list_models, probe_layers
from .training.weights import pretrained

__version__ = "0.1.0"

__all__ = [
    "settings", "CurveSpec",
    # data and models
    "get_dataset", "get_model", "list_models", "probe_layers", "pretrained",
    # the curve, its summaries and stacked curves
    "modularity_curve", "summarize_curve", "summarize_seeds", "draw_samples", "stack_curves", "curve_labels",
    # the measure's two stages
    "knn_graph", "modularity",
    # namespaces
    "data", "models", "training", "features", "graphs", "curve", "frames", "metrics", "pruning", "attacks",
    "figures", "pl", "reports",
]
