"""dynamic_graphs: how classes separate layer by layer, measured by k-NN graph modularity (Lu et al., ECCV 2022).

Only light modules are imported here; igraph and leidenalg load when a graph is first built.
"""
from __future__ import annotations

from ._settings import settings
from .analysis import (ablation_curves, asymptotic_sweep, cka_matrix, edge_statistics,
                       layer_embeddings, linear_cka, matrix_rank_correlation, modularity_difference, one_nn_error)
from .analysis_plots import (plot_ablation, plot_asymptotics, plot_convergence, plot_decomposition,
                             plot_embedding, plot_embeddings, plot_layer_matrix)
from .attacks import (ATTACK_DEFAULTS, PAPER_COMPAT_PARAMS, AdversarialDataset, adversarial_curves, attack,
                      attack_params, attack_summary, list_attacks, plot_adversarial_curves)
from .curve import draw_samples, layer_scores, modularity_curve, sample_indices, summarize_curve
from .data import dataset_info, get_dataset, labels_of, synthetic_dataset
from .drawing import (draw_graph, embed_gif, graph_animation, layer_graph_table, layer_graphs,
                      plot_layer_graphs)
from .dynamics import plot_training_dynamics, training_dynamics
from .experiments import figure_name, model_curves, run_info, save_figure, save_table
from .features import extract_features, iter_layer_features
from .graphs import cosine_similarity, knn_graph, leiden, modularity, partition_agreement
from .models import get_model, list_models, probe_layers
from .plotting import (plot_curve, plot_curve_grid, plot_pruning_comparison, plot_removal_effects,
                       plot_variant_curves)
from .pruning import (FINETUNE_DEFAULTS, PAPER_TABLE1, compare_pruning, contrast_variants, evaluate_variants,
                      layer_gains, linear_probe_accuracy, model_cost, paper_variants, plateau_variants,
                      probe_criterion_layers, prune,
                      random_layers, recover, redundant_layers, removable_layers, rising_layers,
                      summarize_comparison, tail_layers)
from .training import TRAIN_DEFAULTS, evaluate, load_checkpoint, pretrained, train
from .utils import resolve_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "ATTACK_DEFAULTS",
    "FINETUNE_DEFAULTS",
    "PAPER_COMPAT_PARAMS",
    "PAPER_TABLE1",
    "TRAIN_DEFAULTS",
    "ablation_curves",
    "adversarial_curves",
    "AdversarialDataset",
    "asymptotic_sweep",
    "attack",
    "attack_params",
    "attack_summary",
    "cka_matrix",
    "compare_pruning",
    "contrast_variants",
    "cosine_similarity",
    "dataset_info",
    "draw_graph",
    "draw_samples",
    "edge_statistics",
    "embed_gif",
    "evaluate",
    "evaluate_variants",
    "extract_features",
    "figure_name",
    "get_dataset",
    "get_model",
    "graph_animation",
    "iter_layer_features",
    "knn_graph",
    "labels_of",
    "layer_embeddings",
    "layer_gains",
    "layer_graph_table",
    "layer_graphs",
    "layer_scores",
    "leiden",
    "linear_cka",
    "linear_probe_accuracy",
    "list_attacks",
    "list_models",
    "load_checkpoint",
    "matrix_rank_correlation",
    "model_cost",
    "model_curves",
    "modularity",
    "modularity_curve",
    "modularity_difference",
    "one_nn_error",
    "paper_variants",
    "partition_agreement",
    "plot_ablation",
    "plot_adversarial_curves",
    "plot_asymptotics",
    "plot_convergence",
    "plot_curve",
    "plot_curve_grid",
    "plot_decomposition",
    "plot_embedding",
    "plot_embeddings",
    "plot_layer_graphs",
    "plot_layer_matrix",
    "plot_pruning_comparison",
    "plot_removal_effects",
    "plot_training_dynamics",
    "plateau_variants",
    "plot_variant_curves",
    "pretrained",
    "probe_criterion_layers",
    "probe_layers",
    "prune",
    "random_layers",
    "recover",
    "redundant_layers",
    "removable_layers",
    "resolve_device",
    "rising_layers",
    "run_info",
    "sample_indices",
    "save_figure",
    "save_table",
    "seed_everything",
    "settings",
    "summarize_comparison",
    "summarize_curve",
    "synthetic_dataset",
    "tail_layers",
    "train",
    "training_dynamics",
]
