"""Every plot of the package, one function per panel: ``dg.pl.plot_curve(curve, ax=ax)``.

Each takes a frame from the measure or a figure function (and ``ax=None`` where it draws one
panel) and returns the axes or figure it drew; none computes more than it shows. Functions that
read stacked curves keep them apart by their label columns (:mod:`dynamic_graphs.frames`).
"""
from .ablation import plot_ablation, plot_asymptotics, plot_convergence, plot_decomposition
from .data_axis import plot_plateau_shares
from .curves import plot_adversarial_curves, plot_curve, plot_curve_grid, plot_training_dynamics, plot_variant_curves
from .embeddings import plot_embedding, plot_embeddings
from .graphs import draw_graph, embed_gif, graph_animation, plot_layer_graphs
from .layers import plot_layer_matrix
from .metrics import plot_block_costs, plot_cost_correlations, plot_layer_measures
from .pruning import plot_pruning_comparison, plot_removal_effects

__all__ = [
    "draw_graph",
    "embed_gif",
    "graph_animation",
    "plot_ablation",
    "plot_adversarial_curves",
    "plot_asymptotics",
    "plot_block_costs",
    "plot_convergence",
    "plot_cost_correlations",
    "plot_curve",
    "plot_curve_grid",
    "plot_decomposition",
    "plot_embedding",
    "plot_embeddings",
    "plot_layer_graphs",
    "plot_layer_measures",
    "plot_plateau_shares",
    "plot_layer_matrix",
    "plot_pruning_comparison",
    "plot_removal_effects",
    "plot_training_dynamics",
    "plot_variant_curves",
]
