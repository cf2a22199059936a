"""Adversarial sets: only successful attacks on correctly classified images, seeded, cached; their curves,
summary and figure, which keep the attacks apart."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from torch import nn

pytest.importorskip("torchattacks")

from dynamic_graphs import attacks, get_dataset, modularity_curve, settings, stack_curves, summarize_curve  # noqa: E402
from dynamic_graphs.data import dataset_info  # noqa: E402
from dynamic_graphs.attacks import AdversarialDataset, attack, attack_params, resolve_attack  # noqa: E402
from dynamic_graphs.figures.adversarial import adversarial_curves, attack_summary  # noqa: E402
from dynamic_graphs.models.common import Normalize  # noqa: E402
from dynamic_graphs.pl import plot_adversarial_curves  # noqa: E402

SYNTHETIC = dict(n=160, num_classes=4, shape=(3, 8, 8), separation=0.15, seed=0)  # hard enough to attack
FAST = {"fgsm": {}, "pgd": {"steps": 3}, "cw": {"steps": 10, "c": 5.0}, "jsma": {}, "onepixel": {"steps": 3}}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tensors this small gain nothing from threads; on a busy shared CPU their synchronisation costs 10×."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def test_set():
    return get_dataset("synthetic", "test", **SYNTHETIC)


@pytest.fixture(scope="module")
def trained():
    """A small normalising CNN trained a few full-batch steps: about 70% test accuracy."""
    torch.manual_seed(0)
    info = dataset_info("synthetic", **{k: v for k, v in SYNTHETIC.items() if k in ("num_classes", "shape", "separation")})
    net = nn.Sequential(Normalize(info["mean"], info["std"]), nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 8 * 8, 4))
    images, labels = get_dataset("synthetic", "train", **{**SYNTHETIC, "n": 400}).batch(slice(None))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(30):
        loss = nn.functional.cross_entropy(net(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad()
    return net.eval()


def predict(net, images):
    with torch.no_grad():
        return net(images).argmax(1)


@pytest.mark.parametrize("method", list(FAST))
def test_only_successful_attacks_on_correctly_classified_images_are_kept(method, trained, test_set, data_dir):
    adv = attack(trained, test_set, method, n=6, device="cpu", cache=False, **FAST[method])
    assert isinstance(adv, AdversarialDataset) and len(adv) == 6 and adv.method == method
    images, labels = test_set.batch(adv.clean_indices)
    assert torch.equal(adv.clean_images, images) and torch.equal(adv.targets, labels)
    assert torch.equal(predict(trained, adv.clean_images), adv.targets)  # the originals were classified correctly
    assert torch.equal(predict(trained, adv.images), adv.predictions)
    assert (adv.predictions != adv.targets).all()  # every kept attack changed the prediction
    assert adv.images.min() >= 0 and adv.images.max() <= 1
    assert len(set(adv.clean_indices.tolist())) == len(adv)
    c = adv.counts
    assert c["kept"] == len(adv) <= c["successful"] <= c["correct"] <= c["attempted"] <= len(test_set)
    assert adv.success_rate == pytest.approx(c["successful"] / c["correct"])
    image, label = adv[0]
    assert torch.equal(image, adv.images[0]) and label == int(adv.targets[0])


def test_views_and_distances(trained, test_set, data_dir):
    adv = attack(trained, test_set, "fgsm", n=5, device="cpu", cache=False)
    assert torch.equal(adv.clean().images, adv.clean_images) and torch.equal(adv.clean().targets, adv.targets)
    assert torch.equal(adv.with_labels("predicted").targets, adv.predictions)
    assert torch.equal(adv.with_labels("true").targets, adv.targets)
    with pytest.raises(ValueError, match="'true' or 'predicted'"):
        adv.with_labels("guessed")
    assert np.allclose(adv.distances().linf, 8 / 255, atol=1e-6)  # FGSM moves every unclamped pixel by eps
    images, labels = adv.batch([1, 0])
    assert torch.equal(images, adv.images[[1, 0]]) and torch.equal(labels, adv.targets[[1, 0]])


def test_same_seed_same_set_other_seed_other_set_and_global_rng_untouched(trained, test_set, data_dir):
    state = torch.get_rng_state()
    first = attack(trained, test_set, "pgd", n=6, seed=0, device="cpu", cache=False, steps=2)
    assert torch.equal(torch.get_rng_state(), state)
    again = attack(trained, test_set, "pgd", n=6, seed=0, device="cpu", cache=False, steps=2)
    other = attack(trained, test_set, "pgd", n=6, seed=1, device="cpu", cache=False, steps=2)
    assert torch.equal(first.images, again.images) and np.array_equal(first.clean_indices, again.clean_indices)
    assert not np.array_equal(first.clean_indices, other.clean_indices)


def test_model_mode_device_and_weights_are_left_as_they_were(trained, test_set, data_dir):
    for p in trained.parameters():
        p.grad = None
    trained.train()
    try:
        attack(trained, test_set, "cw", n=3, device="cpu", cache=False, steps=5, c=5.0)  # CW calls backward()
        assert trained.training
        assert all(p.requires_grad and p.grad is None for p in trained.parameters())
    finally:
        trained.eval()


def test_paper_compat_attacks_normalised_tensors_clamped_to_unit_range(trained, test_set, data_dir):
    pixel = attack(trained, test_set, "fgsm", n=5, device="cpu", cache=False)
    paper = attack(trained, test_set, "fgsm", n=5, device="cpu", cache=False, paper_compat=True)
    assert paper.params == {"eps": 0.3} and paper.paper_compat
    mean, std = trained[0].mean, trained[0].std
    normalised = (paper.images - mean) / std
    assert normalised.min() >= -1e-5 and normalised.max() <= 1 + 1e-5  # clamped to [0, 1] in normalised space
    assert paper.distances().linf.min() > 3 * pixel.distances().linf.max()
    assert torch.equal(predict(trained, paper.images), paper.predictions)
    with pytest.raises(ValueError, match="Normalize"):
        attack(nn.Sequential(*list(trained)[1:]), test_set, "fgsm", n=2, cache=False, paper_compat=True)


def test_unknown_method_or_parameter_errors(trained, test_set):
    with pytest.raises(attacks.UnknownAttackError, match="Unknown attack 'pdg'.*'pgd'.*fgsm, pgd, cw, jsma, onepixel"):
        attack(trained, test_set, "pdg", n=2, cache=False)
    assert resolve_attack("CW-L2") == "cw" and resolve_attack(" PGD ") == "pgd"
    with pytest.raises(TypeError, match="n must be an integer"):
        attack(trained, test_set, "fgsm", n=2.0, cache=False)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        attack(trained, test_set, "fgsm", n=2, batch_size=0, cache=False)
    with pytest.raises(TypeError, match="'eps'.*valid: c, kappa, steps, lr"):
        attack(trained, test_set, "CW", n=2, cache=False, eps=0.1)
    assert attack_params("One-Pixel") == attack_params("onepixel")
    with pytest.raises(TypeError, match="No attack among .* takes the parameter 'theta'"):
        adversarial_curves(trained, test_set, ["fgsm", "pgd"], n=4, repeats=1, theta=2.0)


def test_failure_and_exhaustion(trained, test_set, data_dir):
    with pytest.raises(RuntimeError, match="No successful FGSM attack"):
        attack(trained, test_set, "fgsm", n=3, device="cpu", cache=False, eps=0.0)
    small = torch.utils.data.Subset(test_set, list(range(12)))
    with pytest.warns(RuntimeWarning, match="ran out"):
        adv = attack(trained, small, "fgsm", n=50, device="cpu", cache=False, eps=0.5)
    assert 0 < len(adv) < 12 and adv.counts["attempted"] == 12


def test_cache_is_written_once_and_reused(trained, test_set, data_dir, monkeypatch):
    first = attack(trained, test_set, "fgsm", n=4, device="cpu")
    files = list((data_dir / "adversarial").glob("*.pt"))
    assert files == [first.cache_path]
    stamp = files[0].stat().st_mtime_ns
    monkeypatch.setattr(attacks, "_generate", lambda *a, **k: pytest.fail("the cache was not used"))
    again = attack(trained, test_set, "fgsm", n=4, device="cpu")
    assert torch.equal(first.images, again.images) and again.counts == first.counts
    assert np.array_equal(first.clean_indices, again.clean_indices) and again.classes == first.classes
    assert files[0].stat().st_mtime_ns == stamp
    monkeypatch.undo()
    monkeypatch.setattr(settings, "data_dir", data_dir)
    attack(trained, test_set, "fgsm", n=4, device="cpu", eps=4 / 255)  # other parameters: another file
    assert len(list((data_dir / "adversarial").glob("*.pt"))) == 2


def test_corrupt_cache_raises_and_is_left_alone(trained, test_set, data_dir):
    path = attack(trained, test_set, "fgsm", n=4, device="cpu").cache_path
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="(?s)unreadable.*left as it is"):
        attack(trained, test_set, "fgsm", n=4, device="cpu")
    assert path.read_bytes() == b"not a torch file"


CURVES = dict(n=8, repeats=2, k=3, device="cpu", layers=["2", "4"], pgd={"steps": 2})


@pytest.fixture(scope="module")
def curves(trained, test_set, tmp_path_factory):
    """adversarial_curves of FGSM and PGD, made with an empty cache (which it fills)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "data_dir", tmp_path_factory.mktemp("adversarial-curves"))
        patch.setattr(settings, "verbosity", 0)
        yield adversarial_curves(trained, test_set, ["fgsm", "PGD"], **CURVES)


def test_adversarial_curves_are_stacked_with_declared_labels(curves):
    assert list(dict.fromkeys(curves.attack)) == ["clean", "fgsm", "pgd"]
    assert set(curves.communities) == {"true", "predicted"}
    assert len(curves) == 3 * 2 * 2 * 2  # attacks × communities × repeats × layers
    assert curves.attrs["attacks"]["pgd"]["params"]["steps"] == 2
    assert curves.attrs["labels"][:2] == ["attack", "communities"]
    assert {"kept", "successful", "success_rate"} <= set(curves.attrs["measures"])
    summary = summarize_curve(curves)  # one row per (attack, communities, layer): attacks are not averaged
    assert len(summary) == 3 * 2 * 2
    pgd = curves[(curves.attack == "pgd") & (curves.communities == "true") & (curves.layer == "4")]
    assert summary.set_index(["attack", "communities", "layer"]).loc[("pgd", "true", "4"), "mean"] == \
        pytest.approx(pgd.modularity.mean())


def test_clean_curve_is_scored_on_the_first_attack_s_clean_originals(curves, trained, test_set, data_dir):
    # An independent computation: the clean originals, from the (now cached) FGSM set, measured directly;
    # the model classifies them correctly, so their predicted classes are their true classes.
    originals = attack(trained, test_set, "fgsm", n=16, device="cpu").clean()
    assert torch.equal(predict(trained, originals.images), originals.targets)
    expected = modularity_curve(trained, originals, layers=["2", "4"], n=8, repeats=2, k=3, device="cpu")
    for communities in ("true", "predicted"):
        clean = curves[(curves.attack == "clean") & (curves.communities == communities)]
        assert np.allclose(clean.modularity, expected.modularity)


def test_same_seed_gives_the_same_curves_cold_and_warm_cache(curves, trained, test_set, data_dir):
    cold = adversarial_curves(trained, test_set, ["fgsm", "PGD"], cache=False, **CURVES)  # recomputed here
    pd.testing.assert_frame_equal(cold, curves)
    assert not (data_dir / "adversarial").exists()
    warm = adversarial_curves(trained, test_set, ["fgsm", "PGD"], **CURVES)  # fills data_dir's cache...
    again = adversarial_curves(trained, test_set, ["fgsm", "PGD"], **CURVES)  # ...and reads it back
    assert len(list((data_dir / "adversarial").glob("*.pt"))) == 2
    pd.testing.assert_frame_equal(warm, curves)
    pd.testing.assert_frame_equal(again, curves)
    other = adversarial_curves(trained, test_set, ["fgsm", "PGD"], cache=False, **{**CURVES, "seed": 1})
    assert not np.allclose(other.modularity, curves.modularity)


def test_a_dataset_name_means_its_test_split(trained, data_dir):
    by_name = attack(trained, "synthetic", "fgsm", n=3, device="cpu", cache=False, eps=0.5)
    by_set = attack(trained, get_dataset("synthetic", "test"), "fgsm", n=3, device="cpu", cache=False, eps=0.5)
    assert torch.equal(by_name.images, by_set.images)


def test_summary_has_a_row_per_attack_and_keeps_stacked_runs_apart(curves):
    summary = attack_summary(curves)
    assert list(summary.index) == ["clean", "fgsm", "pgd"]
    assert (summary.loc[["fgsm", "pgd"], "kept"] == 16).all() and summary.loc["pgd", "success_rate"] <= 1
    assert {"q_last_true", "q_last_predicted", "repeats"} <= set(summary.columns)
    last = curves[(curves.attack == "fgsm") & (curves.communities == "true") & (curves.depth == 2)]
    assert summary.loc["fgsm", "q_last_true"] == pytest.approx(last.modularity.mean())
    # the interval over repeats, computed directly: mean ± t(0.975, r - 1) · std / sqrt(r)
    values = last.modularity.to_numpy()
    half = scipy.stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    assert len(values) >= 2 and half > 0
    assert summary.loc["fgsm", "q_last_true_low"] == pytest.approx(values.mean() - half)
    assert summary.loc["fgsm", "q_last_true_high"] == pytest.approx(values.mean() + half)
    assert (summary["q_last_predicted_low"] <= summary["q_last_predicted"]).all()
    one_repeat = attack_summary(curves[curves.repeat == 0])
    assert one_repeat["q_last_true_low"].isna().all() and one_repeat["q_last_true"].notna().all()
    shifted = curves.assign(modularity=curves.modularity + 1.0)
    runs = attack_summary(stack_curves({"a": curves, "b": shifted}, name="run"))
    assert list(runs.index) == [(run, name) for run in "ab" for name in ("clean", "fgsm", "pgd")]
    assert runs.loc[("b", "fgsm"), "q_last_true"] == pytest.approx(summary.loc["fgsm", "q_last_true"] + 1.0)
    with pytest.raises(ValueError, match="attack_summary: .*stack_curves"):  # not averaged together
        attack_summary(pd.concat([curves, shifted], ignore_index=True))


def test_figure_draws_each_curve_once_and_refuses_mixed_runs(curves):
    figure = plot_adversarial_curves(curves)
    assert len(figure.axes) == 2
    assert figure.axes[0].get_legend_handles_labels()[1][0] == "Normal (clean)"
    assert [len(ax.get_lines()) for ax in figure.axes] == [3, 3]
    # an attack whose predicted-classes curve was left out (one predicted class) has no line there
    partial = curves[~((curves.attack == "pgd") & (curves.communities == "predicted"))]
    figure = plot_adversarial_curves(partial)
    assert [len(ax.get_lines()) for ax in figure.axes] == [3, 2]
    twice = stack_curves({"a": curves, "b": curves}, name="run")
    with pytest.raises(ValueError, match=r"plot_adversarial_curves: each line reads one curve.*'run'"):
        plot_adversarial_curves(twice)
    plt.close("all")


def test_an_attack_that_never_succeeds_is_left_out_of_the_curves(trained, test_set, data_dir):
    with pytest.warns(RuntimeWarning, match="No successful FGSM attack.*left out"):
        curves = adversarial_curves(trained, test_set, ["fgsm", "pgd"], n=6, repeats=1, device="cpu",
                                    layers=["4"], with_predicted=False, fgsm={"eps": 0.0}, pgd={"steps": 2})
    assert curves.attrs["skipped"] == ["fgsm"] and list(dict.fromkeys(curves.attack)) == ["clean", "pgd"]
    with pytest.raises(RuntimeError, match="No successful"):
        adversarial_curves(trained, test_set, "fgsm", n=6, repeats=1, device="cpu", layers=["4"], eps=0.0)
