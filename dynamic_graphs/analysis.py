"""Beyond Fig. 3: layer similarity (D vs linear CKA), per-layer t-SNE, k and N ablations, asymptotics of Q."""
from __future__ import annotations

from numbers import Real
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from .curve import layer_scores, modularity_curve, resolve_layers, sample_indices, summarize_curve
from .frames import single_curve
from .data import labels_of, load_images
from .features import DEFAULT_FEATURE_BYTES, iter_layer_features
from .graphs import as_feature_matrix, knn_graph, modularity

__all__ = [
    "ablation_curves",
    "asymptotic_sweep",
    "centred_gram",
    "cka_matrix",
    "edge_statistics",
    "layer_embeddings",
    "linear_cka",
    "matrix_rank_correlation",
    "modularity_difference",
    "one_nn_error",
]

_EPS = 1e-8  # the row-norm floor of graphs.cosine_similarity, so both see the same cosine geometry
_GRAM_CHUNK = 2**24  # feature entries centred at once while a Gram matrix is accumulated (64 MiB of float32)


def _is_positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


def _positive_int(name: str, value: Any) -> int:
    if not _is_positive_int(value):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _positive_ints(name: str, values: Any) -> list[int]:
    values = list(values) if isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, str) else [values]
    if not values or not all(_is_positive_int(v) for v in values):
        raise ValueError(f"{name} must be a non-empty list of positive integers, got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a value more than once ({values!r}); give each value once.")
    return [int(v) for v in values]


# --------------------------------------------------------------------------- samples


# --------------------------------------------------------------------------- layer similarity (Fig. 7)


def centred_gram(features: Any, *, name: str | None = None) -> torch.Tensor:
    """The centred linear Gram matrix H X Xᵀ H of flattened features, in float64, on their device.

    H = I − 11ᵀ/N. Computed as (HX)(HX)ᵀ, centring a block of feature columns at a time, so
    only the (N, N) result and one block are held beside the features; subtracting the means
    before the product keeps the precision that centring K afterwards would lose.

    Args:
        features: (N, ...) tensor or array, one row per sample.
        name: what the features are (a layer name), for error messages.

    Returns:
        (N, N) float64 tensor.

    Example:
        >>> gram = centred_gram(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        >>> bool(torch.allclose(gram.sum(dim=0), torch.zeros(3, dtype=torch.float64)))
        True
    """
    matrix = as_feature_matrix(features, name=name)
    n_samples, width = matrix.shape
    mean = matrix.mean(dim=0)
    gram = torch.zeros(n_samples, n_samples, dtype=torch.float64, device=matrix.device)
    step = max(1, _GRAM_CHUNK // n_samples)
    for start in range(0, width, step):
        block = matrix[:, start:start + step] - mean[start:start + step]
        gram += (block @ block.T).double()
    return gram


def _unit_gram(features: Any, name: str | None) -> torch.Tensor:
    gram = centred_gram(features, name=name)
    norm = torch.linalg.matrix_norm(gram)
    if not norm > 0:
        what = f"layer {name!r}" if name else "the features"
        raise ValueError(f"CKA is undefined for {what}: every sample has the same representation "
                         "(zero variance, e.g. a dead ReLU layer); leave this layer out.")
    return gram / norm


def linear_cka(x: Any, y: Any) -> float:
    """Linear centred kernel alignment between two representations of the same samples.

    The biased-HSIC form used by the paper's authors (PAPER.md F-difference): K = XXᵀ, L = YYᵀ,
    H = I − 11ᵀ/N, HSIC(X, Y) = tr(KHLH)/(N − 1)², and
    CKA = HSIC(X, Y) / sqrt(HSIC(X, X) · HSIC(Y, Y)). As tr(KHLH) = <HKH, HLH>_F, this is the
    cosine between the centred Gram matrices (:func:`centred_gram`). CKA is a *similarity*: 1 for
    representations equal up to rotation and isotropic scaling; compare ``1 − CKA`` with a
    difference such as :func:`modularity_difference`.

    Args:
        x: (N, ...) tensor or array; each row flattened.
        y: (N, ...) tensor or array with the same N (any width).

    Returns:
        CKA in [0, 1].

    Raises:
        ValueError: different numbers of samples, or a representation with zero variance.

    Example:
        >>> x = np.random.default_rng(0).standard_normal((20, 5))
        >>> round(linear_cka(x, 3 * x), 6)
        1.0
    """
    n_x, n_y = len(x), len(y)
    if n_x != n_y:
        raise ValueError(f"x and y must describe the same samples, got {n_x} and {n_y} rows.")
    return float((_unit_gram(x, "x") * _unit_gram(y, "y")).sum())


def cka_matrix(model: nn.Module, images: torch.Tensor, layers: Sequence[str] | None = None, *,
               device: str | torch.device = "auto", batch_size: int = 250,
               max_bytes: int = DEFAULT_FEATURE_BYTES) -> np.ndarray:
    """Linear CKA between every pair of layers, on one set of images (PAPER.md §5.1, §8 item 8).

    Layers are streamed with :func:`iter_layer_features`; of each only its unit-norm centred Gram
    matrix (N × N) is kept, so memory is O(L · N²) and independent of the layers' widths.

    Args:
        model: the network.
        images: (N, C, H, W) tensor, e.g. from :func:`draw_samples`.
        layers: module names; ``None`` uses the model's registered probe layers.
        device: where the forward passes and Gram matrices run.
        batch_size: images per forward pass.
        max_bytes: memory budget for the features held at once.

    Returns:
        (L, L) symmetric float64 array, ones on the diagonal, rows and columns in ``layers`` order.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU())
        >>> cka_matrix(net, torch.rand(8, 1, 2, 2), ["1", "2"], device="cpu").shape
        (2, 2)
    """
    layers = resolve_layers(model, layers, "cka_matrix")
    position = {name: index for index, name in enumerate(layers)}
    n_samples = len(images)
    units = torch.empty(len(layers), n_samples * n_samples, dtype=torch.float64)
    for name, features in iter_layer_features(model, images, layers, batch_size=batch_size, device=device,
                                              max_bytes=max_bytes):
        units[position[name]] = _unit_gram(features, name).reshape(-1).cpu()
        del features  # only the Gram matrix is needed from here on
    matrix = (units @ units.T).numpy()
    matrix = (matrix + matrix.T) / 2  # exactly symmetric
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _mean_curve(frame: pd.DataFrame) -> np.ndarray:
    if "mean" in frame.columns and "depth" in frame.columns:
        summary = frame
    elif "modularity" in frame.columns:
        summary = summarize_curve(frame)
    else:
        raise KeyError(f"The frame has columns {list(frame.columns)}; pass a summarize_curve() frame "
                       "(depth, mean) or a modularity_curve() frame (depth, modularity).")
    summary = single_curve(summary, value="mean", caller="modularity_difference")
    if summary["depth"].duplicated().any():
        raise ValueError("The frame has several rows per depth; pass the per-layer means of a single curve.")
    return summary.sort_values("depth")["mean"].to_numpy(dtype=np.float64)


def modularity_difference(q: Sequence[float] | np.ndarray | pd.DataFrame) -> np.ndarray:
    """The layer-difference matrix D_ij = |Q_i − Q_j| (PAPER.md §5.1, F-difference).

    D is a *difference* (0 on the diagonal); CKA is a *similarity* (1 on the diagonal), so compare
    D with ``1 − cka_matrix(...)``.

    Args:
        q: per-layer mean modularity Q_1..Q_L, or a :func:`summarize_curve` frame (``depth``,
            ``mean``), or a :func:`modularity_curve` frame (averaged over repeats here), of one curve.

    Returns:
        (L, L) symmetric float64 array, layers in depth order.

    Example:
        >>> modularity_difference([0.1, 0.4, 0.8]).round(2).tolist()
        [[0.0, 0.3, 0.7], [0.3, 0.0, 0.4], [0.7, 0.4, 0.0]]
    """
    values = _mean_curve(q) if isinstance(q, pd.DataFrame) else np.asarray(q, dtype=np.float64)
    if values.ndim != 1 or values.size < 1:
        raise ValueError(f"q must be a 1-D sequence of per-layer values, got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise ValueError(f"q has non-finite values at layers {np.flatnonzero(~np.isfinite(values)) + 1}.")
    return np.abs(values[:, None] - values[None, :])


def matrix_rank_correlation(a: Any, b: Any) -> float:
    """Spearman correlation between two layer × layer matrices, over their upper triangles.

    Only the pairs i < j enter (the diagonals are 0 or 1 by construction). Put both matrices on
    the same footing: a difference such as D against ``1 − CKA``; correlating D with CKA itself
    gives the same magnitude with the opposite sign.

    Args:
        a: (L, L) array.
        b: (L, L) array of the same shape, L >= 3.

    Returns:
        Spearman's rho; NaN when either triangle is constant.

    Example:
        >>> d = modularity_difference([0.1, 0.3, 0.2, 0.9])
        >>> matrix_rank_correlation(d, d)
        1.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ValueError(f"a and b must be square matrices of the same shape, got {a.shape} and {b.shape}.")
    if a.shape[0] < 3:
        raise ValueError(f"A rank correlation needs at least 3 layers (3 pairs), got {a.shape[0]}.")
    from scipy.stats import spearmanr

    upper = np.triu_indices(a.shape[0], k=1)
    return float(spearmanr(a[upper], b[upper])[0])


# --------------------------------------------------------------------------- t-SNE per layer (Fig. 1)


def layer_embeddings(model: nn.Module, images: torch.Tensor, labels: Any, layers: Sequence[str] | None = None, *,
                     seed: int = 0, perplexity: float = 30.0, device: str | torch.device = "auto",
                     metric: str = "euclidean", batch_size: int = 250, threads: int | None = 1) -> pd.DataFrame:
    """2-D t-SNE of each layer's flattened outputs (PAPER.md F-tSNE).

    scikit-learn's ``TSNE`` with ``init="pca"`` and ``random_state=seed``, other settings at
    their defaults, as the paper's figure (settings unknown) is described.

    Args:
        model: the network.
        images: (N, C, H, W) tensor, e.g. from :func:`draw_samples`.
        labels: N class labels (kept for colouring, not used by t-SNE).
        layers: module names; ``None`` uses the model's registered probe layers.
        seed: t-SNE's random state: the same seed gives the same embedding.
        perplexity: t-SNE perplexity, 0 < perplexity < N.
        device: where the forward passes run (t-SNE runs on the CPU).
        metric: t-SNE input metric (``"euclidean"``, ``"cosine"``...).
        batch_size: images per forward pass.
        threads: OpenMP/BLAS threads for t-SNE; ``None`` leaves the libraries' default. One
            thread is the default because t-SNE's spinning OpenMP threads slow down many times
            over on a shared or busy CPU (N = 500 takes seconds on one thread), and one thread
            gives the same embedding on every machine.

    Returns:
        Tidy frame, one row per (layer, sample): ``layer``, ``depth`` (1-based), ``sample``
        (position in ``images``), ``x``, ``y``, ``label``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> layer_embeddings(net, torch.rand(12, 1, 2, 2), [0, 1] * 6, ["1"], perplexity=3, device="cpu").shape
        (12, 6)
    """
    try:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("layer_embeddings needs scikit-learn: `pip install scikit-learn`.") from err
    layers = resolve_layers(model, layers, "layer_embeddings")
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    n_samples = len(images)
    if labels.shape != (n_samples,):
        raise ValueError(f"labels must hold one label per image ({n_samples}), got shape {labels.shape}.")
    if not 0 < perplexity < n_samples:
        raise ValueError(f"perplexity must lie in (0, N) with N = {n_samples} images, got {perplexity}; "
                         "lower the perplexity or draw more images.")
    depth = {name: position for position, name in enumerate(layers, start=1)}
    frames = []
    for name, features in iter_layer_features(model, images, layers, batch_size=batch_size, device=device):
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", metric=metric, random_state=seed)
        with threadpool_limits(limits=threads):
            points = tsne.fit_transform(features.cpu().numpy())
        del features
        frames.append(pd.DataFrame({"layer": name, "depth": depth[name], "sample": np.arange(n_samples),
                                    "x": points[:, 0], "y": points[:, 1], "label": labels}))
    frame = pd.concat(frames, ignore_index=True).sort_values(["depth", "sample"], ignore_index=True)
    frame.attrs["params"] = {"seed": seed, "perplexity": perplexity, "metric": metric, "n": n_samples}
    return frame


# --------------------------------------------------------------------------- ablation over k and N (Fig. 6)


def _k_sweep(model: nn.Module, dataset: Dataset, *, layers: list[str], ks: list[int], n: int, repeats: int,
             seed: int, device: str | torch.device, batch_size: int) -> pd.DataFrame:
    """modularity_curve for several k on the same samples, each layer's features computed once."""
    depth = {name: position for position, name in enumerate(layers, start=1)}
    all_labels = labels_of(dataset)
    rows = []
    for repeat, indices in enumerate(sample_indices(len(dataset), n=n, repeats=repeats, seed=seed)):
        labels = all_labels[indices]
        if np.unique(labels).size < 2:
            raise ValueError(f"Repeat {repeat} of the k sweep drew only one class; raise n_default.")
        for layer, features in iter_layer_features(model, load_images(dataset, indices), layers,
                                                   batch_size=batch_size, device=device):
            for k in ks:
                scores = layer_scores(features, labels, k=k, layer=layer)
                rows.append({"layer": layer, "depth": depth[layer], "repeat": repeat, **scores, "n": n, "k": k})
            del features
    return pd.DataFrame(rows)


def ablation_curves(model: nn.Module, dataset: Dataset, *, ks: Sequence[int] = (3, 5, 7, 9, 11),
                    ns: Sequence[int] = (200, 500, 1000, 2000, 5000), k_default: int = 3, n_default: int = 500,
                    repeats: int = 5, seed: int = 0, device: str | torch.device = "auto",
                    layers: Sequence[str] | None = None, batch_size: int = 250) -> pd.DataFrame:
    """Modularity curves over a sweep of k (at ``n_default``) and of N (at ``k_default``) (PAPER.md F-ablation).

    The k sweep uses the same samples for every k (those of ``modularity_curve(..., n=n_default,
    seed=seed)``) and computes each layer's features once per sample; the N sweep is
    :func:`modularity_curve` at each N. Every size is checked before any work starts.

    Args:
        model: the network.
        dataset: any torch Dataset of (image, label), e.g. the test split.
        ks: neighbour counts of the k sweep (the paper: 3, 5, 7, 9, 11).
        ns: graph sizes of the N sweep (the paper: 200 ... 5000).
        k_default: k of the N sweep.
        n_default: N of the k sweep.
        repeats: disjoint samples per graph size.
        seed: which images are drawn.
        device: where the forward passes run.
        layers: module names; ``None`` uses the model's registered probe layers.
        batch_size: images per forward pass.

    Returns:
        The stacked curves (columns of :func:`modularity_curve`) with ``sweep`` (``"k"`` or
        ``"n"``) and ``value`` (the swept k or N) in front.

    Raises:
        ValueError: the dataset has fewer than ``max(ns) × repeats`` (or ``n_default × repeats``)
            images, or a k is not below the graph size it is used with.

    Example:
        >>> from dynamic_graphs import get_dataset
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(192, 8))
        >>> frame = ablation_curves(net, get_dataset("synthetic", n=60), ks=[3, 5], ns=[10, 20], n_default=20,
        ...                         repeats=2, layers=["1"], device="cpu")
        >>> frame.groupby("sweep").value.unique().to_dict()
        {'k': array([3, 5]), 'n': array([10, 20])}
    """
    ks, ns = _positive_ints("ks", ks), _positive_ints("ns", ns)
    k_default, n_default = _positive_int("k_default", k_default), _positive_int("n_default", n_default)
    repeats = _positive_int("repeats", repeats)
    size = len(dataset)
    for sweep, largest, what in (("n", max(ns), "max(ns)"), ("k", n_default, "n_default")):
        if largest * repeats > size:
            raise ValueError(f"The {sweep} sweep needs {what} × repeats = {largest} × {repeats} = "
                             f"{largest * repeats} disjoint images, but the dataset has {size}; "
                             f"lower {what if sweep == 'k' else 'the largest n in ns'} or repeats.")
    if max(ks) >= n_default:
        raise ValueError(f"The k sweep needs every k < n_default = {n_default}, got k = {max(ks)}; "
                         "drop the largest ks or raise n_default.")
    if k_default >= min(ns):
        raise ValueError(f"The n sweep needs k_default = {k_default} < every n, got n = {min(ns)}; "
                         "drop the smallest ns or lower k_default.")
    layers = resolve_layers(model, layers, "ablation_curves")
    frames = [_k_sweep(model, dataset, layers=layers, ks=ks, n=n_default, repeats=repeats, seed=seed,
                       device=device, batch_size=batch_size)
              .sort_values(["k", "repeat", "depth"], ignore_index=True).assign(sweep="k", value=lambda f: f.k)]
    for n in ns:
        curve = modularity_curve(model, dataset, layers=layers, n=n, repeats=repeats, k=k_default, seed=seed,
                                 device=device, batch_size=batch_size)
        frames.append(curve.assign(sweep="n", value=n))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[["sweep", "value", *[c for c in frame.columns if c not in ("sweep", "value")]]]
    frame.attrs["params"] = {"ks": ks, "ns": ns, "k_default": k_default, "n_default": n_default,
                             "repeats": repeats, "seed": seed}
    return frame


# --------------------------------------------------------------------------- asymptotics (PAPER.md §4)


def edge_statistics(graph: Any, labels: Any) -> dict[str, float]:
    """The terms of PAPER.md §4 D1 for one graph, with the classes as communities.

    With W the total edge weight, W_in the weight of intra-class edges and S_c the summed
    strength of class c, Q = W_in/W − Σ_c (S_c/2W)² exactly (D1); for a symmetrised k-NN
    graph, strengths are nearly uniform and Q ≈ p_in − Σ_c π_c².

    Args:
        graph: undirected weighted ``igraph.Graph`` without self-loops, e.g. from :func:`knn_graph`.
        labels: one class label per vertex, at least 2 classes.

    Returns:
        ``modularity`` (Q), ``p_in`` (W_in/W), ``sum_pi2`` (Σ_c π_c² of the class proportions of
        the vertices), ``sum_strength2`` (Σ_c (S_c/2W)²) and ``weight`` (W).

    Example:
        >>> import igraph
        >>> stats = edge_statistics(igraph.Graph([(0, 1), (2, 3), (1, 2)]), [0, 0, 1, 1])
        >>> stats["p_in"], stats["sum_pi2"], round(stats["modularity"], 4)
        (0.6666666666666666, 0.5, 0.1667)
    """
    q = modularity(graph, labels)  # validates the labels and the total weight
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    membership = np.unique(labels, return_inverse=True)[1]
    edges = np.asarray(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    if (edges[:, 0] == edges[:, 1]).any():
        raise ValueError("edge_statistics expects a graph without self-loops (as knn_graph builds); "
                         "remove them with graph.simplify(loops=True, multiple=False).")
    weights = (np.asarray(graph.es["weight"], dtype=np.float64) if "weight" in graph.edge_attributes()
               else np.ones(len(edges)))
    total = weights.sum()
    source, target = membership[edges[:, 0]], membership[edges[:, 1]]
    n_classes = int(membership.max()) + 1
    strength = (np.bincount(source, weights=weights, minlength=n_classes)
                + np.bincount(target, weights=weights, minlength=n_classes))
    proportions = np.bincount(membership, minlength=n_classes) / membership.size
    return {"modularity": q,
            "p_in": float(weights[source == target].sum() / total),
            "sum_pi2": float(np.sum(proportions ** 2)),
            "sum_strength2": float(np.sum((strength / (2 * total)) ** 2)),
            "weight": float(total)}


def one_nn_error(features: Any, labels: Any, *, chunk_size: int = 2048) -> float:
    """Leave-one-out 1-nearest-neighbour error with cosine similarity (R_1NN of PAPER.md §4 D2).

    Each sample is classified by its most cosine-similar other sample (ties: the lower index);
    rows are L2-normalised with the same 1e-8 floor as :func:`knn_graph`.

    Args:
        features: (N, ...) tensor or array; each row flattened.
        labels: N class labels.
        chunk_size: rows compared at once (memory is chunk_size × N).

    Returns:
        The fraction of samples whose nearest neighbour has another label.

    Example:
        >>> one_nn_error(np.array([[1.0, 0.1], [1.0, 0.2], [0.1, 1.0], [0.2, 1.0]]), [0, 0, 1, 1])
        0.0
    """
    matrix = as_feature_matrix(features)
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    n_samples = matrix.shape[0]
    if labels.shape != (n_samples,):
        raise ValueError(f"labels must hold one label per sample ({n_samples}), got shape {labels.shape}.")
    unit = matrix / torch.linalg.vector_norm(matrix, dim=1, keepdim=True).clamp_min(_EPS)
    nearest = np.empty(n_samples, dtype=np.int64)
    for start in range(0, n_samples, chunk_size):
        stop = min(start + chunk_size, n_samples)
        similarity = unit[start:stop] @ unit.T
        rows = torch.arange(stop - start, device=similarity.device)
        similarity[rows, rows + start] = -torch.inf  # leave the sample itself out
        nearest[start:stop] = similarity.argmax(dim=1).cpu().numpy()
    return float(np.mean(labels[nearest] != labels))


def asymptotic_sweep(*, ns: Sequence[int], ks: Sequence[int], separation: float | Sequence[float],
                     num_classes: int = 10, dim: int = 64, offset: float = 1.0, repeats: int = 3,
                     seed: int = 0) -> pd.DataFrame:
    """Q, its D1 terms and the D2 limit on Gaussian mixtures of growing size (PAPER.md §4 D1-D3, DERIVED).

    Class means m_c ~ N(0, I_dim) are drawn once from ``seed``. A sample of size n has balanced,
    shuffled labels and features ``separation · m_c + ε + offset · 1`` with ε ~ N(0, I): the
    constant offset moves the mixture away from the origin, so cosine similarity differs from a
    plain angle around the centre, as deep features (post-ReLU) do. Each (n, repeat) sample is
    drawn from its own seed, shared by all k and separations (paired comparisons), and scored with
    the package's k-NN graph for every k.

    Args:
        ns: sample sizes, each larger than every k.
        ks: neighbour counts.
        separation: scale of the class means (0 = no class structure); one value or several.
        num_classes: number of mixture components (C).
        dim: feature dimension.
        offset: added to every coordinate.
        repeats: independent samples per n.
        seed: non-negative seed for the means and every sample.

    Returns:
        One row per (separation, n, k, repeat): ``modularity``, ``p_in``, ``sum_pi2``,
        ``sum_strength2``, ``one_nn_error`` (leave-one-out, cosine; independent of k), and
        ``limit`` = 1 − R_1NN − Σπ², estimated per separation from the mean over repeats at the
        largest n (the finite-n 1-NN error is biased upwards, so this estimate is slightly low).

    Example:
        >>> frame = asymptotic_sweep(ns=[40, 80], ks=[3], separation=3.0, num_classes=2, dim=4, repeats=2)
        >>> frame.shape, bool((frame.modularity - (frame.p_in - frame.sum_strength2)).abs().max() < 1e-12)
        ((4, 10), True)
    """
    ns, ks = _positive_ints("ns", ns), _positive_ints("ks", ks)
    num_classes, dim = _positive_int("num_classes", num_classes), _positive_int("dim", dim)
    repeats = _positive_int("repeats", repeats)
    separations = [float(s) for s in ([separation] if isinstance(separation, Real) else separation)]
    if not separations or any(not np.isfinite(s) or s < 0 for s in separations):
        raise ValueError(f"separation must be one or more finite values >= 0, got {separation!r}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 for a modularity against classes, got {num_classes}.")
    if max(ks) >= min(ns) or min(ns) < num_classes:
        raise ValueError(f"Every n must exceed every k and be at least num_classes = {num_classes}, "
                         f"got ns = {ns} and ks = {ks}; raise the smallest n or lower the ks.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    means = np.random.default_rng([seed, 0]).standard_normal((num_classes, dim))
    rows = []
    for n in ns:
        for repeat in range(repeats):
            rng = np.random.default_rng([seed, 1, n, repeat])
            labels = rng.permutation(np.arange(n) % num_classes)
            noise = rng.standard_normal((n, dim)) + offset
            for separation_value in separations:
                features = separation_value * means[labels] + noise
                error = one_nn_error(features, labels)
                for k in ks:
                    stats = edge_statistics(knn_graph(features, k=k), labels)
                    rows.append({"separation": separation_value, "n": n, "k": k, "repeat": repeat,
                                 **{key: stats[key] for key in ("modularity", "p_in", "sum_pi2", "sum_strength2")},
                                 "one_nn_error": error})
    frame = pd.DataFrame(rows).sort_values(["separation", "n", "k", "repeat"], ignore_index=True)
    largest = frame[frame.n == max(ns)].groupby("separation")[["one_nn_error", "sum_pi2"]].mean()
    frame["limit"] = frame.separation.map(1 - largest.one_nn_error - largest.sum_pi2)
    frame.attrs["params"] = {"ns": ns, "ks": ks, "separation": separations, "num_classes": num_classes,
                             "dim": dim, "offset": offset, "repeats": repeats, "seed": seed}
    return frame
