"""Figure-level helpers: curves of trained and untrained models, the grid plot, figure files."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from dynamic_graphs import figure_name, model_curves, plot_curve_grid, save_figure, settings, summarize_curve


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    monkeypatch.setattr(settings, "verbosity", 0)
    return tmp_path


@pytest.mark.slow
def test_model_curves_with_untrained_baseline_and_grid(data_dir):
    curves = model_curves("resnet20", "synthetic", untrained_baseline=True, n=20, repeats=2, device="cpu",
                          epochs=1)
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
    from dynamic_graphs import dataset_info, get_model

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
