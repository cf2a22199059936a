"""Measures beside the curve: layer similarity (D against CKA), Q's asymptotics, and per-layer companions.

:mod:`.similarity` compares layers (arXiv 2111.12485, Fig. 7); :mod:`.asymptotics` holds the
terms of Q's decomposition and its large-N limit; :mod:`.companions` the per-layer measures that
:func:`layer_metrics` computes on the curve's own images, from one feature pass.
"""
from .asymptotics import edge_statistics, one_nn_error
from .companions import (DEFAULT_LAYER_METRICS, LAYER_METRICS, check_metrics, knn_accuracy, layer_metrics, mutual_knn,
                         probe_score, separation_fuzziness)
from .similarity import (centred_gram, cka_matrix, cka_of_grams, linear_cka, matrix_rank_correlation,
                         modularity_difference, unit_gram)

__all__ = [
    "DEFAULT_LAYER_METRICS",
    "LAYER_METRICS",
    "centred_gram",
    "check_metrics",
    "cka_matrix",
    "cka_of_grams",
    "edge_statistics",
    "knn_accuracy",
    "layer_metrics",
    "linear_cka",
    "matrix_rank_correlation",
    "modularity_difference",
    "mutual_knn",
    "one_nn_error",
    "probe_score",
    "separation_fuzziness",
    "unit_gram",
]
