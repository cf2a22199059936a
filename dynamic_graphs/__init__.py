"""dynamic_graphs: how classes separate layer by layer, measured by k-NN graph modularity (Lu et al., ECCV 2022).

The package has four layers, each reading only the ones before it:

1. data and models: :mod:`.data`, :mod:`.models` (the zoo, with per-layer info), :mod:`.training`;
2. the measure: :mod:`.features` (extraction), :mod:`.graphs` (k-NN graphs, modularity),
   :mod:`.curve` (the modularity curve), :mod:`.metrics` (companion measures), and the tools
   built on it, :mod:`.attacks` and :mod:`.pruning`;
3. figure-level functions, :mod:`.figures`, each returning one tidy frame whose label columns
   tell its curves apart (:mod:`.frames`);
4. plots, all in :mod:`.pl`.

Only light modules are imported here; igraph and leidenalg load when a graph is first built.
"""
from __future__ import annotations

from . import pl
from ._settings import settings
from .attacks import ATTACK_DEFAULTS, PAPER_COMPAT_PARAMS, AdversarialDataset, attack, attack_params, list_attacks
from .curve import draw_samples, layer_scores, modularity_curve, sample_indices, summarize_curve, summarize_seeds
from .data import dataset_info, labels_of, synthetic_dataset
from .data.registry import get_dataset
from .features import extract_features, iter_layer_features, pool_features, select_output
from .figures import (BLOCK_SCORES, PAPER_TABLE1, ablation_curves, adversarial_curves, asymptotic_sweep,
                      attack_summary, block_removal_costs, block_scores, cka_agreement, compare_pruning,
                      cost_correlations, curve_gains, evaluate_variants, layer_embeddings, layer_graph_table,
                      layer_graphs, model_curves, score_rules, summarize_agreement, summarize_comparison,
                      training_dynamics)
from .frames import check_curves, curve_labels, iter_curves, stack_curves
from .graphs import cosine_similarity, knn_graph, leiden, modularity, partition_agreement
from .metrics import (cka_matrix, edge_statistics, knn_accuracy, layer_metrics, linear_cka, matrix_rank_correlation,
                      modularity_difference, mutual_knn, one_nn_error, separation_fuzziness)
from .models import LayerInfo, get_model, layer_info, list_models, probe_layers
from .parameters import check_parameters
from .pl import (draw_graph, embed_gif, graph_animation, plot_ablation, plot_adversarial_curves, plot_asymptotics,
                 plot_block_costs, plot_convergence, plot_cost_correlations, plot_curve, plot_curve_grid,
                 plot_decomposition, plot_embedding, plot_embeddings, plot_layer_graphs, plot_layer_matrix,
                 plot_pruning_comparison, plot_removal_effects, plot_training_dynamics, plot_variant_curves)
from .pruning import (FINETUNE_DEFAULTS, contrast_variants, layer_gains, linear_probe_accuracy, model_cost,
                      paper_variants, plateau_variants, probe_criterion_layers, prune, random_layers, recover,
                      redundant_layers, removable_layers, rising_layers, tail_layers)
from .pruning import block_influence, block_influence_layers, cka_layers, cka_scores, random_matched_layers
from .outputs import figure_name, run_info, save_figure, save_table
from .training import (FASHION_MNIST_ONECYCLE, FASHION_MNIST_STEP, RECIPES, TRAIN_DEFAULTS, evaluate, load_checkpoint,
                       train, zoo_table)
from .training.weights import pretrained
from .utils import UnknownNameError, resolve_device, seed_everything

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_") and name not in ("annotations",)]
