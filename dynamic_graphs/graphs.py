"""k-NN graphs of layer representations and their modularity against the true classes (arXiv 2111.12485)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .utils import as_labels, check_int, lookup

__all__ = [
    "import_igraph",
    "APPROX_DIM",
    "BLOCK_BYTES",
    "GRAPH_METHODS",
    "as_feature_matrix",
    "block_rows",
    "class_membership",
    "cosine_similarity",
    "cosine_top_k",
    "edge_list",
    "edge_weights",
    "leiden",
    "partition_agreement",
    "partition_modularity",
    "random_projection",
    "symmetrised_edges",
    "top_k_neighbours",
]

if TYPE_CHECKING:  # igraph is imported lazily: `import dynamic_graphs` stays light
    import igraph

_EPS = 1e-8  # the paper's floor on row norms: an all-zero row gets similarity 0 to everything
# The rows of the similarity matrix computed at once by knn_graph: the (rows × N) block is its only
# wide intermediate, so memory is the features + O(rows · N) + O(N · k) at any N, never N × N.
BLOCK_BYTES = 256 * 2**20


def import_igraph():
    try:
        import igraph
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("dynamic_graphs needs igraph: `pip install igraph` "
                          "or `conda install -c conda-forge python-igraph`.") from err
    return igraph


def as_feature_matrix(features: Any, *, name: str | None = None) -> torch.Tensor:
    """Flatten an (N, ...) tensor or array into an (N, M) float tensor, on its own device.

    Args:
        features: torch tensor or numpy array with one row per sample.
        name: what the features are (a layer name), used in error messages.

    Raises:
        TypeError: not a tensor or array.
        ValueError: fewer than 2 samples.
    """
    what = _describe(name)
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(features)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor or numpy.ndarray of shape (N, ...), "
                        f"got {type(features).__name__}.")
    if features.ndim < 2 or features.shape[0] < 2:
        raise ValueError(f"{what} must have shape (N, ...) with N >= 2 samples, got {tuple(features.shape)}.")
    matrix = features.reshape(features.shape[0], -1)
    if not matrix.is_floating_point() or matrix.dtype in (torch.float16, torch.bfloat16):
        matrix = matrix.float()
    return matrix


def _describe(name: str | None) -> str:
    return f"features of layer {name!r}" if name else "features"


def _inverse_norms(matrix: torch.Tensor, name: str | None) -> torch.Tensor:
    """1 / max(‖row‖, 1e-8) for every row, refusing NaN/Inf features (an O(N) check of the norms)."""
    norms = torch.linalg.vector_norm(matrix, dim=1)
    if not bool(torch.isfinite(norms).all()):
        bad = int((~torch.isfinite(matrix)).sum())
        problem = (f"contain {bad} NaN or Inf values out of {matrix.numel()}" if bad
                   else "are so large that their norms overflow")
        raise ValueError(f"{_describe(name)} {problem}; check the model (diverged training? unnormalised "
                         "input?) before building a graph.")
    return 1.0 / norms.clamp_min(_EPS)


def _similarity_rows(matrix: torch.Tensor, inverse: torch.Tensor, start: int, stop: int,
                     diagonal: float = 0.0) -> torch.Tensor:
    """Rows ``start:stop`` of the cosine-similarity matrix, with ``diagonal`` on the diagonal: the paper's
    0 (a self entry can still be among the top k, and is no edge; see cosine_similarity), or -inf to
    leave each sample out of its own neighbours."""
    block = matrix[start:stop] @ matrix.T
    block.mul_(inverse[start:stop, None]).mul_(inverse[None, :])
    block.diagonal(start).fill_(diagonal)
    return block


def cosine_similarity(features: Any, *, name: str | None = None) -> torch.Tensor:
    """Cosine similarity between the flattened rows, with a zero diagonal, as in Lu et al. 2022's graphs.

    Rows are L2-normalised with the norm floored at 1e-8, as in the paper's code, so an all-zero row
    has similarity 0 to every sample. The norms scale the Gram product instead of a normalised copy
    of the (N, M) features, so the Gram product is nearly all the work and memory.

    Raises:
        ValueError: NaN or Inf features (naming the layer ``name``).

    Returns:
        (N, N) tensor on the features' device.
    """
    matrix = as_feature_matrix(features, name=name)
    return _similarity_rows(matrix, _inverse_norms(matrix, name), 0, matrix.shape[0])


def _check_k(k: Any, n_samples: int) -> int:
    try:
        return check_int("k", k, minimum=1, maximum=n_samples - 1)
    except ValueError:
        raise ValueError(f"k must satisfy 1 <= k < N (number of samples = {n_samples}), got k={k}; "
                         "choose a smaller k or more samples.") from None


def top_k_neighbours(similarity: torch.Tensor, k: int, *, every_tie: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Indices and similarities of each row's k largest entries; ties go to the lower index.

    That tie rule is the one of the paper's ``heapq.nlargest``. It matters only for exact ties at
    the k-th place (duplicate samples), which are rare, so they are resolved row by row afterwards.
    ``similarity`` may be a block of rows of the full matrix (columns are sample indices).
    By default ``torch.topk``'s own order is kept for equal values within the top k and for ties at
    value 0: neither changes the graph (zero entries are not edges). ``every_tie=True`` resolves
    those too, towards the lower index, for neighbour lists (``exclude_self=True`` in
    :func:`cosine_top_k`), where they would change a vote and could differ between CPU and CUDA.

    Returns:
        ``(indices, values)``, both (rows, k) numpy arrays.
    """
    k = _check_k(k, similarity.shape[1])
    values, indices = torch.topk(similarity, k + 1, dim=1)  # one extra column reveals ties at the k-th place
    values, indices = values.cpu().numpy(), indices.cpu().numpy()
    if every_tie:  # any two equal values among the k + 1 candidates
        tied_rows = np.flatnonzero((values[:, 1:] == values[:, :-1]).any(axis=1))
    else:  # only a tie at the k-th place matters, and one at value 0 cannot change the graph
        tied_rows = np.flatnonzero((values[:, k] == values[:, k - 1]) & (values[:, k - 1] != 0))
    if tied_rows.size:
        rows = similarity[torch.as_tensor(tied_rows, device=similarity.device)].cpu().numpy()
        stable = np.argsort(-rows, axis=1, kind="stable")[:, :k]
        indices[tied_rows, :k] = stable
        values[tied_rows, :k] = np.take_along_axis(rows, stable, axis=1)
    return indices[:, :k], values[:, :k]


def block_rows(n_samples: int, itemsize: int = 4, *, budget: int = BLOCK_BYTES) -> int:
    """Rows of the similarity matrix per block so that a (rows × N) block fits ``budget`` bytes."""
    return max(1, min(n_samples, budget // (itemsize * n_samples)))


def cosine_top_k(features: Any, k: int, *, name: str | None = None, rows: int | None = None,
                 exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's k most cosine-similar samples (zero self-similarity), without the N × N matrix.

    The similarity matrix is computed ``rows`` rows at a time (default: as many as fit
    :data:`BLOCK_BYTES`) and only each row's top k is kept, so the memory beyond the features is
    O(rows · N) + O(N · k); on CUDA the blocks are computed and reduced on the device. The result is
    the top k of :func:`cosine_similarity` (:func:`top_k_neighbours`: ties to the lower index).
    The Gram product runs in the features' dtype (:func:`as_feature_matrix`: float32, or float64
    kept); no TF32 or matmul-precision flag is set here, so on CUDA PyTorch's setting applies.

    Args:
        features: (N, ...) torch tensor (any device) or numpy array.
        k: neighbours per sample, 1 <= k < N.
        name: layer name for error messages.
        rows: rows per block; None: from :data:`BLOCK_BYTES`.
        exclude_self: leave each sample out of its own neighbours (its similarity -inf instead of
            the paper's 0): the k nearest *other* samples, for leave-one-out measures.

    Returns:
        ``(indices, values)``, both (N, k) numpy arrays, most similar first.
    """
    matrix = as_feature_matrix(features, name=name)
    n_samples = matrix.shape[0]
    k = _check_k(k, n_samples)
    rows = block_rows(n_samples, matrix.element_size()) if rows is None else check_int("rows", rows, minimum=1)
    inverse = _inverse_norms(matrix, name)
    diagonal = -float("inf") if exclude_self else 0.0
    blocks = [top_k_neighbours(_similarity_rows(matrix, inverse, start, min(start + rows, n_samples), diagonal), k,
                               every_tie=exclude_self)
              for start in range(0, n_samples, rows)]
    return np.concatenate([i for i, _ in blocks]), np.concatenate([v for _, v in blocks])


def symmetrised_edges(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges of A = (A_knn + A_knnᵀ) / 2, where A_knn[i, j] = S_ij for j in top-k(i).

    A mutual pair keeps (S_ij + S_ji) / 2, a one-way pair gets S_ij / 2; zero entries are not edges.

    Returns:
        ``(edges, weights)``: (E, 2) int array with i < j, and (E,) float64 array.
    """
    from scipy import sparse

    n_samples, k = indices.shape
    rows = np.repeat(np.arange(n_samples), k)
    directed = sparse.coo_matrix((values.ravel().astype(np.float64), (rows, indices.ravel())),
                                 shape=(n_samples, n_samples)).tocsr()
    upper = sparse.triu((directed + directed.T) * 0.5, k=1).tocoo()  # drops self entries too
    keep = upper.data != 0
    edges = np.column_stack([upper.row[keep], upper.col[keep]]).astype(np.int64)
    return edges, upper.data[keep]


GRAPH_METHODS = ("exact", "approx")
# The approximate graph's projected width: the smallest of 256, 512, 1024 with ``|ΔQ| <= 0.01`` on every layer of
# a trained ResNet56 at n = 10,000 (0.0052, 5.6x faster on its widest layer; reports/benchmark_approx.txt).
APPROX_DIM = 1024


def random_projection(features: Any, dim: int = APPROX_DIM, *, seed: int = 0, name: str | None = None) -> torch.Tensor:
    """The flattened features times a seeded Gaussian matrix (M, dim) / sqrt(dim): (N, dim), on their device.

    Johnson-Lindenstrauss: inner products and norms, hence cosine similarities, are kept up to
    errors of order 1 / sqrt(dim), so the k-NN graph of the projection approximates the paper's at
    dim / M of the Gram cost. The projection is float32 (float64 features are rounded to float32);
    features no wider than ``dim`` are returned as they are. The matrix
    is drawn from its own generator seeded by ``seed`` (the global random state is untouched), in
    blocks of its rows, and applied block by block, so no copy of the features is made.
    """
    matrix = as_feature_matrix(features, name=name)
    dim = check_int("dim", dim, minimum=1)
    width = matrix.shape[1]
    if width <= dim:
        return matrix
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    projected = torch.zeros(matrix.shape[0], dim, dtype=torch.float32, device=matrix.device)
    step = max(1, (16 * 2**20) // (4 * dim))  # 16 MiB of the random matrix at a time
    for start in range(0, width, step):
        stop = min(start + step, width)
        block = torch.randn(stop - start, dim, generator=generator).to(matrix.device)
        projected += matrix[:, start:stop].float() @ block
    return projected / dim ** 0.5


def knn_graph(features: Any, k: int = 3, *, name: str | None = None, rows: int | None = None,
              method: str = "exact", dim: int = APPROX_DIM, seed: int = 0) -> igraph.Graph:
    """The paper's k-NN graph of one layer's representation (Lu et al. 2022; docs/method.md, "The measure").

    Each sample's features are flattened; cosine similarity; the diagonal set to 0 before the
    neighbours are chosen (a node whose k-th best similarity is negative keeps a zero-weight self
    entry, so it gets fewer edges); top-k per row with the similarity as the weight; symmetrised as
    (A + Aᵀ)/2, so the edges are the union of the directed choices (a mutual pair keeps S_ij, a
    one-way pair gets S_ij / 2); zero entries are not edges. The similarities are computed in the
    features' dtype (float32 for a curve's features, float64 kept) and the weights stored as
    float64. The similarity matrix is never held whole: its rows
    are computed in blocks and only each row's top k is kept (:func:`cosine_top_k`), so graphs of
    50,000 samples fit in memory.

    Args:
        features: (N, ...) torch tensor (any device) or numpy array.
        k: neighbours per sample, 1 <= k < N.
        name: layer name for error messages.
        rows: similarity rows per block; None: as many as fit :data:`BLOCK_BYTES` (all of them
            at the paper's N = 500).
        method: ``"exact"`` (the paper's graph) or ``"approx"``: the same construction on a seeded
            random projection of the features to ``dim`` columns (:func:`random_projection`), for
            wide layers at large N; an approximation, see docs/method.md.
        dim, seed: the approximate graph's projected width and projection seed.

    Returns:
        Undirected ``igraph.Graph`` with N vertices and edge attribute ``"weight"``.

    Example:
        >>> g = knn_graph(np.eye(4) + 0.1, k=1)
        >>> g.vcount(), g.is_directed()
        (4, False)
    """
    igraph = import_igraph()
    method = lookup(method, GRAPH_METHODS, what="graph method")
    if method == "approx":
        features = random_projection(features, dim, seed=seed, name=name)
    indices, values = cosine_top_k(features, k, name=name, rows=rows)
    edges, weights = symmetrised_edges(indices, values)
    return igraph.Graph(n=indices.shape[0], edges=edges, directed=False, edge_attrs={"weight": weights.tolist()})


def class_membership(labels: Any, n_vertices: int) -> np.ndarray:
    """Class labels (one per vertex, at least 2 classes) as community ids 0..C-1."""
    classes, membership = np.unique(as_labels(labels, n_vertices), return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"modularity against classes needs at least 2 classes, got {classes.size} "
                         f"({classes.tolist()}); sample more classes.")
    return membership


def edge_list(graph: igraph.Graph) -> np.ndarray:
    """The graph's edges as an (E, 2) int64 array, in igraph's edge order."""
    return np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)


def edge_weights(graph: igraph.Graph) -> np.ndarray:
    """The ``"weight"`` of every edge as a float64 array, in edge order (all 1 when the graph has none)."""
    if "weight" in graph.edge_attributes():
        return np.asarray(graph.es["weight"], dtype=np.float64)
    return np.ones(graph.ecount())


def partition_modularity(edges: np.ndarray, weights: np.ndarray, membership: np.ndarray) -> float:
    """Q = Σ_c [W_c / W − (S_c / 2W)²], the weighted modularity at resolution 1 (Lu et al. 2022's Q).

    W is the total edge weight, W_c the weight inside community c and S_c the summed strength of its
    nodes. Written out because igraph refuses negative weights; it equals networkx's definition.
    """
    total = weights.sum()
    n_groups = int(membership.max()) + 1
    src, dst = membership[edges[:, 0]], membership[edges[:, 1]]
    inside = np.bincount(src[src == dst], weights=weights[src == dst], minlength=n_groups)
    strength = (np.bincount(src, weights=weights, minlength=n_groups)
                + np.bincount(dst, weights=weights, minlength=n_groups))
    return float(np.sum(inside / total - (strength / (2 * total)) ** 2))


def modularity(graph: igraph.Graph, labels: Any) -> float:
    """Weighted modularity (resolution 1) of ``graph`` with the given classes as communities.

    Equal to ``networkx.community.modularity(G, communities, weight="weight")``, also for graphs
    with negative edge weights (pre-BN conv outputs produce them), which are kept as they are.

    Args:
        graph: undirected ``igraph.Graph``; edge attribute ``"weight"`` (all 1 when absent).
        labels: one class label per vertex (any hashable values), at least 2 distinct.

    Returns:
        Q as a float.

    Raises:
        ValueError: wrong number of labels, fewer than 2 classes, or a graph whose total edge
            weight is not positive (for example built from all-zero features): Q is undefined.

    Example:
        >>> import igraph
        >>> two_triangles = igraph.Graph([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
        >>> round(modularity(two_triangles, [0, 0, 0, 1, 1, 1]), 6)
        0.5
    """
    membership = class_membership(labels, graph.vcount())
    weights = edge_weights(graph)
    if weights.sum() <= 0:
        raise ValueError(f"modularity is undefined for a graph with total edge weight {weights.sum():g} "
                         f"({graph.ecount()} edges); all-zero features give no edges.")
    if weights.min() >= 0:
        return float(graph.modularity(membership.tolist(), weights=weights.tolist(), resolution=1, directed=False))
    return partition_modularity(edge_list(graph), weights, membership)


def leiden(graph: igraph.Graph, *, resolution: float = 1.0, seed: int = 0, n_iterations: int = -1) -> np.ndarray:
    """Label-free communities of ``graph`` with the Leiden algorithm (leidenalg, RB-configuration).

    Community detection needs non-negative weights, so the rare negative edges (pre-BN conv
    outputs) are left out for the detection only; score the result with :func:`modularity` on the
    full graph.

    Args:
        graph: weighted undirected graph from :func:`knn_graph`.
        resolution: resolution parameter (1 = plain modularity).
        seed: leidenalg's random seed: the same seed gives the same partition.
        n_iterations: Leiden iterations; negative runs until the partition is stable.

    Returns:
        (N,) int array of community ids.
    """
    try:
        import leidenalg
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Leiden communities need leidenalg: `pip install leidenalg` "
                          "or `conda install -c conda-forge leidenalg`.") from err
    weights = np.clip(edge_weights(graph), 0, None)
    partition = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition,
                                         weights=weights.tolist(), resolution_parameter=resolution,
                                         n_iterations=n_iterations, seed=int(seed) % 2**31)
    return np.asarray(partition.membership, dtype=np.int64)


def partition_agreement(found: Any, labels: Any) -> dict[str, float]:
    """NMI and adjusted Rand index between a found partition and the true classes (igraph's)."""
    igraph = import_igraph()
    found = np.unique(np.asarray(found), return_inverse=True)[1].tolist()
    labels = np.unique(np.asarray(labels), return_inverse=True)[1].tolist()
    return {"nmi": float(igraph.compare_communities(found, labels, method="nmi")),
            "ari": float(igraph.compare_communities(found, labels, method="adjusted_rand"))}
