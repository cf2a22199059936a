"""Transfer: where does a network trained elsewhere separate the classes of a dataset it never saw?

A network trained on ImageNet is often used as a feature extractor for another dataset: which
block should the features come from? This experiment measures every block of such a network with
the modularity curve and its companions (:func:`dynamic_graphs.metrics.layer_metrics`: k-NN
accuracy, a linear probe) on the new dataset, beside a network trained on that dataset, on the
same images:

1. :func:`transfer_metrics`: the measures of each network at every probe layer, stacked with a
   ``network`` label;
2. :func:`best_layers`: per network and measure, the layer where the measure peaks (its mean over
   the repeats, with a 95 % t-interval), and what the linear probe reads there against its own best
   layer, as a paired difference over the repeats (the same images score both layers).

Whether the curve's peak is a good choice is then a number: the probe's loss at the layer
modularity picks. The plot is :func:`dynamic_graphs.pl.plot_layer_measures`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd
from torch import nn

from ..curve import CurveSpec
from ..frames import require_columns, stack_curves, t_interval
from ..metrics import layer_metrics

__all__ = ["TRANSFER_MEASURES", "best_layers", "transfer_metrics"]

TRANSFER_MEASURES = ("modularity", "knn_accuracy", "linear_probe")


def transfer_metrics(networks: Mapping[str, tuple[nn.Module, Any]], spec: CurveSpec | None = None, *,
                     metrics: Sequence[str] = TRANSFER_MEASURES, **options: Any) -> pd.DataFrame:
    """The layer measures of several networks, each on its view of the same images, stacked by network.

    Args:
        networks: ``{label: (model, dataset)}``; each dataset is the model's view of one split
            (``dg.get_dataset(name, "test", channels=3, image_size=224, normalize="imagenet")`` for an
            ImageNet network, the split itself for one trained on it), so that the same ``seed``
            draws the same images for every network.
        spec, **options: the curve's settings (:class:`~dynamic_graphs.CurveSpec`), the same for all.
        metrics: measures of :func:`~dynamic_graphs.metrics.layer_metrics`.

    Returns:
        :func:`~dynamic_graphs.metrics.layer_metrics`' rows of every network, with the label column
        ``network`` and ``relative_depth`` (the layer's depth over its network's number of layers).

    Raises:
        ValueError: no network, or datasets of different sizes (their samples would not be the same images).
    """
    if not networks:
        raise ValueError("transfer_metrics needs at least one network: {label: (model, dataset)}.")
    sizes = {label: len(dataset) for label, (_, dataset) in networks.items() if hasattr(dataset, "__len__")}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"The networks' datasets differ in size ({sizes}), so one seed would not draw the same "
                         "images for each; give each network a view of the same split (dg.get_dataset(name, split, "
                         "channels=..., image_size=..., normalize=...)).")
    frames = {}
    for label, (model, dataset) in networks.items():
        frame = layer_metrics(model, dataset, spec, metrics=metrics, **options)
        frames[label] = frame.assign(relative_depth=frame["depth"] / frame["depth"].max())
    return stack_curves(frames, name="network")


def best_layers(frame: pd.DataFrame, *, probe: str = "linear_probe") -> pd.DataFrame:
    """Per network and measure, the layer where the measure peaks, and the probe's accuracy there.

    Args:
        frame: :func:`transfer_metrics`' frame (``network``, ``repeat``, ``layer``, ``depth`` and the measures).
        probe: the measure that judges a layer for a transfer user (the linear probe's held-out accuracy).

    Returns:
        One row per (network, measure): ``layer`` and ``depth`` of the peak (of the mean over
        repeats), ``layers`` (the network's count), ``mean``, ``ci_low``, ``ci_high`` (the measure
        there, 95 % t-interval over repeats), ``probe_there`` (the probe's mean at that layer),
        ``probe_gap`` with ``gap_low``, ``gap_high`` (the probe's best layer minus this layer, paired
        over repeats: 0 when both are the same layer), ``repeats``.

    Raises:
        ValueError: the frame lacks a column, or the probe's measure.
    """
    require_columns(frame, ["network", "repeat", "layer", "depth", probe], source="transfer_metrics()",
                    caller="best_layers")
    measures = [column for column in TRANSFER_MEASURES if column in frame]
    if probe not in measures:
        measures.append(probe)
    rows = []
    for network, group in frame.groupby("network", sort=False):
        by_layer = group.pivot_table(index=["depth", "layer"], columns="repeat", values=measures)
        probe_values = by_layer[probe]
        probe_best = probe_values.mean(axis=1).idxmax()
        for measure in measures:
            values = by_layer[measure]
            depth, layer = values.mean(axis=1).idxmax()
            count = values.loc[(depth, layer)].count()
            low, high = t_interval(values.loc[(depth, layer)].mean(), values.loc[(depth, layer)].std(), count)
            gap = (probe_values.loc[probe_best] - probe_values.loc[(depth, layer)]).dropna()
            # the probe's own best layer has no gap, and no spread to give it an interval
            gap_low, gap_high = t_interval(gap.mean(), gap.std(), gap.count()) if gap.any() else (0.0, 0.0)
            rows.append({"network": network, "measure": measure, "layer": layer, "depth": int(depth),
                         "layers": len(values), "mean": float(values.loc[(depth, layer)].mean()),
                         "ci_low": float(low), "ci_high": float(high),
                         "probe_there": float(probe_values.loc[(depth, layer)].mean()),
                         "probe_gap": float(gap.mean()), "gap_low": float(gap_low), "gap_high": float(gap_high),
                         "repeats": int(count)})
    return pd.DataFrame(rows)
