"""The paper's Fig. 1 (arXiv 2111.12485): a 2-D t-SNE of every probe layer's outputs, for one set of images."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..features import iter_layer_features, resolve_layers
from ..utils import as_labels

__all__ = [
    "layer_embeddings",
]


def layer_embeddings(model: nn.Module, images: torch.Tensor, labels: Any, *, layers: Sequence[str] | None = None,
                     seed: int = 0, perplexity: float = 30.0, device: str | torch.device = "auto",
                     metric: str = "euclidean", batch_size: int = 250, threads: int | None = 1) -> pd.DataFrame:
    """2-D t-SNE of each layer's flattened outputs (arXiv 2111.12485, Fig. 1).

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
        (position in ``images``), ``x``, ``y``, ``label``; ``attrs["params"]`` records the settings.

    Raises:
        ValueError: not one label per image, or a perplexity outside (0, N).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> layer_embeddings(net, torch.rand(12, 1, 2, 2), [0, 1] * 6, layers=["1"], perplexity=3,
        ...                  device="cpu").shape
        (12, 6)
    """
    try:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("layer_embeddings needs scikit-learn: `pip install scikit-learn`.") from err
    layers = resolve_layers(model, layers, "layer_embeddings")
    n_samples = len(images)
    labels = as_labels(labels, n_samples)
    if not 0 < perplexity < n_samples:
        raise ValueError(f"perplexity must lie in (0, N) with N = {n_samples} images, got {perplexity}; "
                         "lower the perplexity or draw more images.")
    depth = {name: position for position, name in enumerate(layers, start=1)}
    frames = []
    for name, features in iter_layer_features(model, images, layers=layers, batch_size=batch_size, device=device):
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", metric=metric, random_state=seed)
        with threadpool_limits(limits=threads):
            points = tsne.fit_transform(features.cpu().numpy())
        del features
        frames.append(pd.DataFrame({"layer": name, "depth": depth[name], "sample": np.arange(n_samples),
                                    "x": points[:, 0], "y": points[:, 1], "label": labels}))
    frame = pd.concat(frames, ignore_index=True).sort_values(["depth", "sample"], ignore_index=True)
    frame.attrs["params"] = {"seed": seed, "perplexity": perplexity, "metric": metric, "n": n_samples}
    return frame
