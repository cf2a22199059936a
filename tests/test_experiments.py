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
