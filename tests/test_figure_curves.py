"""Figure-level helpers: curves of trained and untrained models, the grid plot, figure files."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from dynamic_graphs import settings, summarize_curve
from dynamic_graphs.figures import model_curves
from dynamic_graphs.pl import plot_curve_grid
from dynamic_graphs.reports import figure_name, save_figure


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    monkeypatch.setattr(settings, "verbosity", 0)
    return tmp_path


@pytest.mark.slow
def test_model_curves_with_untrained_baseline_and_grid(data_dir):
    curves = model_curves("resnet20", "synthetic", untrained_baseline=True, n=20, repeats=2, device="cpu",
                          training={"epochs": 1})
    assert set(curves.trained) == {True, False}
    trained = curves[curves.trained]
    assert trained.test_acc.between(0, 1).all() and curves[~curves.trained].test_acc.isna().all()
    assert len(trained) == 2 * 10  # resnet20 has 10 probe layers
    summary = summarize_curve(curves)
    assert list(summary.columns[:3]) == ["dataset", "model", "trained"] and len(summary) == 2 * 10
    figure = plot_curve_grid(curves)
    assert len(figure.axes) == 1
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels[1] == "untrained" and labels[0].startswith("trained (")
    paths = save_figure(figure, figure_name("fig3", "resnet20", ["a", "b"]), data_dir / "figs")
    assert [p.name for p in paths] == ["fig3_resnet20_a-b.png", "fig3_resnet20_a-b.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_model_curves_checks_names_before_any_work(data_dir):
    with pytest.raises(KeyError, match="Unknown model 'resnet65'"):
        model_curves(["resnet20", "resnet65"], "synthetic")
    with pytest.raises(KeyError, match="Unknown dataset"):
        model_curves("resnet20", "cifar11")


def _image_folder(root, classes=2, per_class=12):
    """A tiny ImageNet-style folder: one subfolder of PNG files per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(classes):
        (root / f"class{label}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8) // (label + 1)
            Image.fromarray(pixels).save(root / f"class{label}" / f"{i}.png")
    return root


def test_every_dataset_gets_its_trained_curves_beside_the_baseline(data_dir, monkeypatch):
    # Before the fix the loop variable shadowed `trained`, so datasets after the first got only untrained curves.
    import dynamic_graphs.figures.curves as curves_module
    from dynamic_graphs import get_model
    from dynamic_graphs.data import dataset_info

    def fake_pretrained(name, dataset, **_):
        info = dataset_info(dataset)
        model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                          mean=info["mean"], std=info["std"])
        model.checkpoint = {"test_acc": 0.5}
        return model

    monkeypatch.setattr(curves_module, "pretrained", fake_pretrained)
    folder = str(_image_folder(data_dir / "folder"))
    curves = model_curves("resnet20", ["synthetic", folder], untrained_baseline=True, n=10, repeats=1, device="cpu")
    states = curves.groupby("dataset")["trained"].apply(lambda s: sorted(set(s)))
    assert states.to_dict() == {"synthetic": [False, True], folder: [False, True]}
    assert summarize_curve(curves).groupby(["dataset", "trained"]).size().tolist() == [10, 10, 10, 10]


def test_the_untrained_baseline_leaves_the_global_random_state_alone(data_dir):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model_curves("resnet20", "synthetic", trained=False, n=10, repeats=1, device="cpu")
    assert torch.equal(torch.rand(3), expected)


def _seeded_curves():
    """Two models × two training seeds × two repeats × two layers, with values chosen by hand."""
    import pandas as pd

    from dynamic_graphs import stack_curves

    def curve(values, accuracy):
        return pd.DataFrame({"layer": ["a", "b", "a", "b"], "depth": [1, 2, 1, 2], "repeat": [0, 0, 1, 1],
                             "modularity": values, "test_acc": accuracy})

    return stack_curves({("m1", 0): curve([0.1, 0.5, 0.3, 0.7], 0.90), ("m1", 1): curve([0.2, 0.4, 0.4, 0.6], 0.94),
                         ("m2", 0): curve([0.0, 0.0, 0.0, 0.2], 0.50), ("m2", 1): curve([0.2, 0.2, 0.2, 0.2], 0.60)},
                        name=["model", "train_seed"])


def test_summarize_seeds_pools_only_the_seed_column_over_per_seed_means():
    import numpy as np
    from scipy import stats

    from dynamic_graphs import summarize_seeds

    summary = summarize_seeds(_seeded_curves())
    assert summary[["model", "layer", "seeds"]].values.tolist() == [["m1", "a", 2], ["m1", "b", 2],
                                                                    ["m2", "a", 2], ["m2", "b", 2]]
    # m1, layer a: per-seed means 0.2 and 0.3 -> mean 0.25, std across seeds 0.0707...
    row = summary.iloc[0]
    assert row["mean"] == pytest.approx(0.25) and row["std"] == pytest.approx(np.std([0.2, 0.3], ddof=1))
    assert (row["min"], row["max"]) == (pytest.approx(0.2), pytest.approx(0.3))
    half = stats.t.ppf(0.975, 1) * row["std"] / np.sqrt(2)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))
    assert row["test_acc"] == pytest.approx(0.92) and row["test_acc_std"] == pytest.approx(np.std([0.9, 0.94], ddof=1))
    # m2, layer b: per-seed means 0.1 and 0.2 -> 0.15; the models stay apart
    assert summary.iloc[3]["mean"] == pytest.approx(0.15)
    with pytest.raises(ValueError, match="'seed', but it is not a label column.*labels: \\['model', 'train_seed'\\]"):
        summarize_seeds(_seeded_curves(), column="seed")


def test_the_grid_draws_the_spread_across_training_seeds():
    import numpy as np

    frame = _seeded_curves().assign(dataset="d", trained=True)
    figure = plot_curve_grid(frame, over="train_seed")
    left = figure.axes[0]
    assert left.get_title() == "m1"
    assert left.get_legend_handles_labels()[1] == ["trained (92.0% ± 2.8%, 2 seeds)"]
    mean_line, *seed_lines = left.lines
    assert np.allclose(mean_line.get_ydata(), [0.25, 0.55]) and len(seed_lines) == 2
    assert sorted(tuple(np.round(line.get_ydata(), 6)) for line in seed_lines) == [(0.2, 0.6), (0.3, 0.5)]
    with pytest.raises(ValueError, match="each line reads one curve.*train_seed"):
        plot_curve_grid(frame)  # without over=, two seeds in one line are refused, never averaged


def test_model_curves_gives_one_curve_per_training_seed_on_the_same_images(data_dir, monkeypatch):
    import dynamic_graphs.figures.curves as curves_module
    from dynamic_graphs import get_model
    from dynamic_graphs.data import dataset_info
    from dynamic_graphs.utils import isolated_rng

    seen = []

    def fake_pretrained(name, dataset, *, seed, **_):
        seen.append(seed)
        info = dataset_info(dataset)
        with isolated_rng(seed):
            model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                              mean=info["mean"], std=info["std"])
        model.checkpoint = {"test_acc": 0.5 + seed / 100}
        return model

    monkeypatch.setattr(curves_module, "pretrained", fake_pretrained)
    curves = model_curves("resnet20", "synthetic", train_seeds=[3, 5], n=10, repeats=1, seed=0, device="cpu")
    assert seen == [3, 5]
    assert curves.groupby("train_seed").test_acc.first().to_dict() == {3: 0.53, 5: 0.55}
    first, second = (curves[curves.train_seed == s].modularity.to_numpy() for s in (3, 5))
    assert not (first == second).all()  # other weights, other curves
    # The images are drawn with seed=0 whatever the training seed: model 3 alone gives the same curve.
    alone = model_curves("resnet20", "synthetic", train_seeds=[3], n=10, repeats=1, seed=0, device="cpu")
    assert (alone.modularity.to_numpy() == first).all()
    default = model_curves("resnet20", "synthetic", n=10, repeats=1, seed=5, device="cpu")
    assert set(default.train_seed) == {5}  # None: the sample's seed trains the model, as before


def test_train_options_reach_only_the_model_they_name(data_dir, monkeypatch):
    import dynamic_graphs.figures.curves as curves_module
    from dynamic_graphs import get_model
    from dynamic_graphs.data import dataset_info

    seen = {}

    def fake_pretrained(name, dataset, *, seed, device, **overrides):
        seen[name] = overrides
        info = dataset_info(dataset)
        model = get_model(name, num_classes=info["num_classes"], in_channels=info["in_channels"],
                          mean=info["mean"], std=info["std"])
        model.checkpoint = {"test_acc": 0.5}
        return model

    monkeypatch.setattr(curves_module, "pretrained", fake_pretrained)
    model_curves(["resnet20", "resnet32"], "synthetic", n=10, repeats=1, device="cpu", training={"epochs": 2},
                 train_options={"resnet32": {"precision": "bf16", "epochs": 3}})
    assert seen == {"resnet20": {"epochs": 2}, "resnet32": {"epochs": 3, "precision": "bf16"}}
    seen.clear()
    with pytest.raises(ValueError, match=r"train_options names \['vgg16'\], which are not among the models"):
        model_curves("resnet20", "synthetic", train_options={"vgg16": {"precision": "bf16"}})
    with pytest.raises(KeyError, match="training precision"):
        model_curves("resnet20", "synthetic", train_options={"resnet20": {"precision": "fp16"}})
    with pytest.raises(TypeError, match="Unknown training option"):
        model_curves("resnet20", "synthetic", train_options={"resnet20": {"precison": "bf16"}})
    with pytest.raises(TypeError, match="must map model names to dicts"):
        model_curves("resnet20", "synthetic", train_options={"resnet20": "bf16"})
    assert seen == {}  # every refusal came before any training


@pytest.mark.slow
def test_model_curves_on_an_executor_give_the_serial_frame(data_dir):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    options = dict(trained=False, train_seeds=[0, 1], n=10, repeats=1, device="cpu")
    serial = model_curves(["resnet20", "resnet32"], "synthetic", **options)
    # processes, not threads: weights are drawn in torch's global random stream, which threads would share
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = model_curves(["resnet20", "resnet32"], "synthetic", executor=pool, **options)
    import pandas as pd

    pd.testing.assert_frame_equal(pooled, serial)


@pytest.mark.slow
def test_model_curves_as_dask_tasks_give_the_serial_frame(data_dir):
    distributed = pytest.importorskip("distributed")
    import pandas as pd

    options = dict(trained=False, train_seeds=[0, 1], n=10, repeats=1, device="cpu")
    serial = model_curves("resnet20", "synthetic", **options)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            distributed.Client(cluster) as client:
        tasks = model_curves("resnet20", "synthetic", executor=client, **options)
    pd.testing.assert_frame_equal(tasks, serial)


def _resnet20_curves():
    """model_curves-shaped curves of resnet20 on "synthetic": trained (layer1.2 repeats layer1.1's Q
    in every repeat, so its paired gain is exactly 0; layer2.0 falls) and untrained (rising)."""
    import numpy as np
    import pandas as pd

    from dynamic_graphs import probe_layers, stack_curves

    layers = probe_layers("resnet20")
    rising = np.linspace(0.3, 0.8, len(layers))
    noise = np.random.default_rng(0).normal(0, 0.01, size=(3, len(layers)))
    trained = rising + noise
    trained[:, 3] = trained[:, 2]  # layer1.2: no gain in any repeat
    trained[:, 4] = trained[:, 3] - [0.05, 0.04, 0.06]  # layer2.0: a fall in every repeat

    def frame(table, accuracy):
        return pd.DataFrame([{"layer": layer, "depth": depth, "repeat": repeat, "modularity": table[repeat, depth - 1],
                              "test_acc": accuracy}
                             for repeat in range(3) for depth, layer in enumerate(layers, start=1)])

    return stack_curves({("synthetic", "resnet20", True, 0): frame(trained, 0.9),
                         ("synthetic", "resnet20", False, 0): frame(rising + 5 * noise, float("nan"))},
                        name=["dataset", "model", "trained", "train_seed"])


def test_curve_gains_is_layer_gains_per_curve_with_the_labels_kept():
    import pandas as pd

    from dynamic_graphs import get_model
    from dynamic_graphs.data import dataset_info
    from dynamic_graphs.figures import curve_gains
    import numpy as np

    from dynamic_graphs.pruning import classify_gains, layer_gains

    curves = _resnet20_curves()
    gains = curve_gains(curves)
    assert list(gains.columns[:4]) == ["dataset", "model", "trained", "train_seed"] and len(gains) == 2 * 10
    info = dataset_info("synthetic")
    model = get_model("resnet20", num_classes=info["num_classes"], in_channels=info["in_channels"],
                      mean=info["mean"], std=info["std"])
    for state in (True, False):
        one = curves[curves.trained == state].drop(columns=["dataset", "model", "trained", "train_seed"])
        expected = layer_gains(one, model).reset_index(drop=True)
        got = gains[gains.trained == state].reset_index(drop=True)[expected.columns]
        pd.testing.assert_frame_equal(got, expected)
    flat = curve_gains(curves, flat_only=True)
    assert flat[flat.trained].layer.tolist() == ["layer1.2", "layer2.0"]
    row = flat.iloc[0]
    assert row.delta == pytest.approx(0) and row.gain_low == pytest.approx(0) and row.gain_high == pytest.approx(0)
    assert (flat.gain_high < 0.01).all() and flat.delta.notna().all()  # no first layer: it has no gain
    kinds = classify_gains(gains.gain_low, gains.gain_high)
    assert len(flat) == int(np.isin(kinds, ["flat", "down"]).sum())  # unresolved and rising gains are left out
    one_repeat = curve_gains(curves[curves.repeat == 0], flat_only=True)  # no interval: nothing measurably rises
    assert len(one_repeat) == 2 * 9 and one_repeat.gain_low.isna().all()
    with pytest.raises(ValueError, match="no 'dataset'.*dg.pruning.layer_gains\\(curve, model\\)"):
        curve_gains(curves.drop(columns="dataset"))
