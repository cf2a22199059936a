"""Fig. 7: does the modularity difference D_ij = |Q_i − Q_j| agree with linear CKA, and how surely?

The paper compares the two layer × layer matrices by eye. :func:`cka_agreement` puts a number on
it, once per repeat: on each repeat's images, the Spearman correlation of D (from that repeat's
Q) with 1 − CKA (on the same images). The repeats are disjoint samples, so
:func:`summarize_agreement` gives their mean with a Student-t interval.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..curve import CurveSpec, iter_curve, layer_scores
from ..features import resolve_layers
from ..frames import require_columns, t_interval
from ..metrics import cka_of_grams, matrix_rank_correlation, modularity_difference, unit_gram

__all__ = ["cka_agreement", "summarize_agreement"]


def cka_agreement(model: nn.Module, dataset: Dataset | str, spec: CurveSpec | None = None, *,
                  layers: Sequence[str] | None = None, **options: Any) -> pd.DataFrame:
    """Per repeat, the Spearman correlation of ``D_ij = |Q_i − Q_j|`` with 1 − linear CKA (Fig. 7).

    Each repeat is one of :func:`~dynamic_graphs.modularity_curve`'s disjoint samples (the same
    spec): D comes from that sample's Q per layer, CKA from the same images and the same feature
    pass (:func:`~dynamic_graphs.metrics.cka_matrix`), and the correlation runs over the
    L(L − 1)/2 layer pairs (:func:`~dynamic_graphs.metrics.matrix_rank_correlation`).

    Args:
        model, dataset, spec, layers, **options: as for :func:`~dynamic_graphs.modularity_curve`;
            at least 3 layers.

    Returns:
        One row per repeat: ``repeat``, ``spearman``, ``pairs``, ``n``, ``k``.

    Example:
        >>> from dynamic_graphs import get_dataset, get_model
        >>> net = get_model("resnet20", num_classes=4, in_channels=3)
        >>> frame = cka_agreement(net, get_dataset("synthetic", n=40), n=12, repeats=2, device="cpu")
        >>> list(frame.columns), len(frame)
        (['repeat', 'spearman', 'pairs', 'n', 'k'], 2)
    """
    spec = CurveSpec.build(spec, **options)
    layers = resolve_layers(model, layers, "cka_agreement")
    if len(layers) < 3:
        raise ValueError(f"cka_agreement needs at least 3 layers (3 layer pairs), got {len(layers)}: {layers}.")
    q = np.empty(len(layers))
    units = torch.empty(len(layers), spec.n ** 2, dtype=torch.float64)
    rows, done = [], 0
    for sample in iter_curve(model, dataset, spec, layers=layers, caller="cka_agreement"):
        q[sample.depth - 1] = layer_scores(sample.features, sample.labels, k=spec.k, layer=sample.layer,
                                           seed=spec.seed + sample.repeat, rows=spec.graph_rows,
                                           method=spec.graph_method, dim=spec.graph_dim,
                                           precision=spec.graph_precision)["modularity"]
        units[sample.depth - 1] = unit_gram(sample.features, sample.layer).reshape(-1).cpu()
        done += 1
        if done % len(layers) == 0:  # the repeat's last layer: both matrices are complete
            correlation = matrix_rank_correlation(modularity_difference(q), 1 - cka_of_grams(units))
            rows.append({"repeat": sample.repeat, "spearman": correlation,
                         "pairs": len(layers) * (len(layers) - 1) // 2})
    return pd.DataFrame(rows).assign(n=spec.n, k=spec.k)


def summarize_agreement(agreement: pd.DataFrame) -> pd.DataFrame:
    """The mean of :func:`cka_agreement`'s per-repeat correlations, with a 95 % t-interval over repeats.

    Returns:
        One row: ``mean``, ``std``, ``ci_low``, ``ci_high``, ``repeats`` (NaN interval with one repeat).

    Example:
        >>> summarize_agreement(pd.DataFrame({"spearman": [0.8, 0.9, 0.85]})).round(3)["mean"].item()
        0.85
    """
    require_columns(agreement, ["spearman"], source="cka_agreement()", caller="summarize_agreement")
    values = agreement["spearman"].to_numpy(dtype=float)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else np.nan
    low, high = t_interval(values.mean(), std, len(values))
    return pd.DataFrame([{"mean": values.mean(), "std": std, "ci_low": float(low), "ci_high": float(high),
                          "repeats": len(values)}])
