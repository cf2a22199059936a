from .analysis import (cka_matrix, edge_statistics, linear_cka, matrix_rank_correlation,  # noqa: F401
                       modularity_difference, one_nn_error)
