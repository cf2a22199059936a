"""k-NN graphs of layer representations and their modularity against the true classes (arXiv 2111.12485).

Four modules, each reading only the ones before it:

- :mod:`.similarity`: the feature matrix, its inverse row norms, blocked cosine-similarity rows and
  each row's top k with the paper's tie rule;
- :mod:`.candidates`: the low-precision path, bfloat16 or TF32 candidates within a proven bound,
  rescored exactly in float32;
- :mod:`.community`: modularity against the classes, Leiden communities and their agreement;
- :mod:`.knn`: the blocked k-NN search (:func:`cosine_top_k`, which chooses the path) and the
  paper's symmetrised graph, :func:`knn_graph`.

:func:`knn_graph` and :func:`modularity` are exported at the top level (``dg.knn_graph``,
``dg.modularity``), the rest here.
"""
from __future__ import annotations

from .candidates import (
    AUTO_MIN_FEATURES,
    AUTO_MIN_SAMPLES,
    GRAPH_PRECISIONS,
    GROUP,
    LOW_BLOCK_BYTES,
    NEAR_TIE,
    best_columns,
    bfloat16_rows,
    candidate_bound,
    candidate_pairs,
    candidate_thresholds,
    candidate_top_k,
    exact_top_k,
    group_maxima,
    low_block_rows,
    low_precision_rows,
    max_candidates,
    rescored,
    resolve_precision,
    row_counts,
)
from .community import (
    class_membership,
    edge_list,
    edge_weights,
    import_igraph,
    leiden,
    modularity,  # noqa: F401  (dg.modularity; the package imports it from here)
    partition_agreement,
    partition_modularity,
)
from .knn import (
    APPROX_DIM,
    GRAPH_METHODS,
    cosine_top_k,
    knn_graph,  # noqa: F401  (dg.knn_graph; the package imports it from here)
    random_projection,
    symmetrised_edges,
)
from .similarity import (
    BLOCK_BYTES,
    NORM_FLOOR,
    as_feature_matrix,
    block_rows,
    check_k,
    cosine_similarity,
    inverse_norms,
    similarity_of_rows,
    similarity_rows,
    top_k_neighbours,
)

__all__ = [
    "import_igraph",
    "APPROX_DIM",
    "AUTO_MIN_FEATURES",
    "AUTO_MIN_SAMPLES",
    "BLOCK_BYTES",
    "GRAPH_METHODS",
    "GRAPH_PRECISIONS",
    "GROUP",
    "LOW_BLOCK_BYTES",
    "NEAR_TIE",
    "NORM_FLOOR",
    "as_feature_matrix",
    "best_columns",
    "bfloat16_rows",
    "block_rows",
    "candidate_bound",
    "candidate_pairs",
    "candidate_thresholds",
    "candidate_top_k",
    "check_k",
    "class_membership",
    "cosine_similarity",
    "cosine_top_k",
    "edge_list",
    "edge_weights",
    "exact_top_k",
    "group_maxima",
    "inverse_norms",
    "leiden",
    "low_block_rows",
    "low_precision_rows",
    "max_candidates",
    "partition_agreement",
    "partition_modularity",
    "random_projection",
    "rescored",
    "resolve_precision",
    "row_counts",
    "similarity_of_rows",
    "similarity_rows",
    "symmetrised_edges",
    "top_k_neighbours",
]
