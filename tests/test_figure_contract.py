"""Every figure function's stacked frame keeps its curves apart in every reader, or is refused.

For each figure function that stacks curves, on tiny inputs: ``summarize_curve`` gives one row per
(curve, layer), ``plot_curve`` one line per curve, ``layer_gains`` each curve's gains as computed
directly from its values (and refuses the stack of a parent and its pruned variants, whose layers
are not the parent's), and ``redundant_layers``, which reads one curve, refuses the stack naming its label columns
and accepts one curve selected from it.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import dynamic_graphs as dg  # noqa: E402
from dynamic_graphs.frames import curve_labels, iter_curves  # noqa: E402

from conftest import tiny_resnet, tiny_synthetic  # noqa: E402

SMALL = dict(n=12, repeats=2, k=3, seed=0, device="cpu")


def model_curves_frame():
    frame = dg.figures.model_curves(["resnet20"], "synthetic", trained=False, **SMALL)
    other = dg.figures.model_curves(["resnet20"], "synthetic", trained=False, **{**SMALL, "seed": 1})
    return dg.get_model("resnet20", num_classes=4, in_channels=3), dg.stack_curves({0: frame, 1: other}, name="seed")


def ablation_frame():
    model = tiny_resnet()
    return model, dg.figures.ablation_curves(model, tiny_synthetic("test"), ks=[3, 5], ns=[12, 24], k=3, n=12,
                                     repeats=2, device="cpu")


def adversarial_frame():
    pytest.importorskip("torchattacks")
    import torch

    model = tiny_resnet()  # a few full-batch steps: accurate enough for attacks to have something to flip
    images, labels = tiny_synthetic("train").batch(slice(None))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model, dg.figures.adversarial_curves(model, tiny_synthetic("test", n=200), ["fgsm"], n=8, repeats=1, k=3,
                                        device="cpu", cache=False, eps=0.5)


def dynamics_frame():
    frame = dg.figures.training_dynamics("resnet20", "synthetic", probe=[1, 2, 3, 4], n=12, repeats=1, device="cpu", epochs=2,
                                 model_kwargs={"blocks": [1, 1, 1]}, batch_size=32)
    return tiny_resnet(), frame


def variants_frame():
    parent = dg.pretrained("resnet20", "synthetic", model_kwargs={"blocks": [2, 2, 2]}, device="cpu", epochs=1)
    _, curves = dg.figures.evaluate_variants(parent, {"one": ["layer3.1"]}, "synthetic", n=12, repeats=2, device="cpu",
                                     recovery=dict(epochs=1, batch_size=50))
    return parent, curves


def expected_gains(curve, model):
    """layer_gains of one curve, written out: per probe layer the mean and std (ddof=1) of Q over repeats, its
    difference to the previous layer's mean, and the 95 % Student-t interval of the per-repeat differences."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    layers = dg.probe_layers(model)
    q = np.array([[curve.loc[(curve.layer == layer) & (curve.repeat == repeat), "modularity"].item()
                   for layer in layers] for repeat in sorted(curve.repeat.unique())])  # (repeats, layers)
    repeats = len(q)
    mean = q.mean(axis=0)
    differences = np.diff(q, axis=1)
    if repeats > 1:
        std = q.std(axis=0, ddof=1)
        half = stats.t.ppf(0.975, repeats - 1) * differences.std(axis=0, ddof=1) / np.sqrt(repeats)
    else:  # one repeat: no spread to estimate
        std, half = np.full(len(layers), np.nan), np.full(len(layers) - 1, np.nan)
    centre, first = differences.mean(axis=0), [np.nan]  # the first layer has no previous one
    return pd.DataFrame({
        "layer": layers, "depth": np.arange(1, len(layers) + 1), "modularity": mean, "std": std,
        "delta": np.concatenate([first, np.diff(mean)]), "gain_low": np.concatenate([first, centre - half]),
        "gain_high": np.concatenate([first, centre + half]),
        # a ResNet's block can go where its shortcut is the identity: all but conv1 and the stride-2 first blocks
        "removable": [layer not in ("conv1", "layer2.0", "layer3.0") for layer in layers]})


FIGURES = [
    pytest.param(model_curves_frame, id="model_curves"),
    pytest.param(ablation_frame, id="ablation_curves"),
    pytest.param(adversarial_frame, id="adversarial_curves"),
    pytest.param(dynamics_frame, id="training_dynamics", marks=pytest.mark.slow),
    pytest.param(variants_frame, id="evaluate_variants", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("make", FIGURES)
def test_readers_keep_every_figures_curves_apart(make, data_dir):
    model, frame = make()
    labels = curve_labels(frame)
    curves = list(iter_curves(frame))
    assert labels and len(curves) > 1, "the figure function should stack several labelled curves"
    n_rows = sum(curve.layer.nunique() for _, curve in curves)

    summary = dg.summarize_curve(frame)
    assert len(summary) == n_rows
    assert set(labels) <= set(summary.columns)
    for key, curve in curves:  # each curve's own mean, not a mixture
        selected = summary.loc[(summary[list(key)] == list(key.values())).all(axis=1)]
        means = curve.groupby("layer", sort=False)["modularity"].mean()
        assert selected.set_index("layer")["mean"].loc[means.index].tolist() == pytest.approx(means.tolist())

    ax = dg.pl.plot_curve(frame)
    assert len(ax.lines) == len(curves)
    plt.close("all")

    with pytest.raises(ValueError, match="told apart by"):
        dg.pruning.redundant_layers(frame, model)

    import pandas as pd

    # layer_gains reads the curves of ``model`` only: evaluate_variants stacks the parent's curve with its pruned
    # variants' (fewer layers), which it refuses; every other figure's curves are all of the model it is given.
    probes = dg.probe_layers(model)
    of_model = [curve.sort_values("depth").layer.unique().tolist() == probes for _, curve in curves]
    columns = ["layer", "depth", "modularity", "std", "delta", "gain_low", "gain_high", "removable"]
    if make is variants_frame:
        assert of_model == [True, False]  # the unpruned parent's curve, then the pruned variant's
        with pytest.raises(ValueError, match=rf"curve's layers \({len(probes) - 1}: .*\) are not the probe layers "
                                             rf"of this resnet20 \({len(probes)}: "):
            dg.pruning.layer_gains(frame, model)
        gains_of = {0: dg.pruning.layer_gains(curves[0][1], model)}  # the parent's curve alone, selected from the stack
    else:
        assert all(of_model)
        gains = dg.pruning.layer_gains(frame, model)
        assert list(gains.columns) == labels + columns and gains.attrs["labels"] == labels
        assert len(gains) == n_rows
        gains_of = {index: gains.loc[(gains[list(key)] == list(key.values())).all(axis=1)]  # its rows, per curve
                    for index, (key, _) in enumerate(curves)}
    for index, found in gains_of.items():
        pd.testing.assert_frame_equal(found[columns].reset_index(drop=True), expected_gains(curves[index][1], model),
                                      check_dtype=False, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", FIGURES[:3])
def test_curves_concatenated_without_their_labels_are_refused_everywhere(make, data_dir):
    import pandas as pd

    model, frame = make()
    unlabelled = pd.DataFrame(frame.drop(columns=curve_labels(frame)))
    for reader in (dg.summarize_curve, dg.pl.plot_curve, lambda f: dg.pruning.layer_gains(f, model),
                   lambda f: dg.pruning.redundant_layers(f, model), dg.metrics.modularity_difference):
        with pytest.raises(ValueError, match="stack_curves"):
            reader(unlabelled)
    plt.close("all")
