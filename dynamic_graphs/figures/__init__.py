"""Figure-level functions: each runs one of the paper's experiments and returns one tidy, labelled frame.

Stacked curves carry the columns that tell them apart (see :mod:`dynamic_graphs.frames`); the plots
for these frames are in :mod:`dynamic_graphs.pl`.
"""
from .ablation import ablation_curves, asymptotic_sweep
from .adversarial import adversarial_curves, attack_summary
from .curves import curve_gains, model_curves
from .data_axis import (data_axis_cells, data_axis_curves, equal_step_epochs, model_seeds, plateau_share, plateau_shares,
                        plateau_summary, rise_depth)
from .dynamics import training_dynamics
from .embeddings import layer_embeddings
from .graphs import layer_graph_table, layer_graphs
from .metrics import BLOCK_SCORES, block_removal_costs, block_scores, cost_correlations, score_rules
from .similarity import cka_agreement, summarize_agreement
from .transfer import TRANSFER_MEASURES, best_layers, transfer_metrics
from .pruning import PAPER_TABLE1, compare_pruning, evaluate_variants, summarize_comparison

__all__ = [
    "BLOCK_SCORES",
    "PAPER_TABLE1",
    "TRANSFER_MEASURES",
    "ablation_curves",
    "adversarial_curves",
    "asymptotic_sweep",
    "attack_summary",
    "best_layers",
    "block_removal_costs",
    "block_scores",
    "cka_agreement",
    "compare_pruning",
    "cost_correlations",
    "curve_gains",
    "data_axis_cells",
    "data_axis_curves",
    "equal_step_epochs",
    "evaluate_variants",
    "layer_embeddings",
    "layer_graph_table",
    "layer_graphs",
    "model_curves",
    "model_seeds",
    "plateau_share",
    "plateau_shares",
    "plateau_summary",
    "rise_depth",
    "score_rules",
    "summarize_agreement",
    "summarize_comparison",
    "training_dynamics",
    "transfer_metrics",
]
