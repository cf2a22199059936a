"""Layer pruning: which units can go, the pruned model's weights and outputs, the selection rules,
cost accounting, recovery, and the errors for bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import dynamic_graphs as dg
from dynamic_graphs import pruning
from dynamic_graphs.models import layer_info
from dynamic_graphs.pruning.baselines import _feature_maps
from dynamic_graphs.utils import isolated_rng

# Tests that need an empty data directory take conftest.py's ``data_dir`` fixture.
FASHION = dg.data.dataset_info("fashion-mnist")


def seeded(name: str, **kwargs):
    """A 1-channel, 4-class registry model with seed-0 weights, in eval mode."""
    with isolated_rng(0):
        return dg.get_model(name, num_classes=4, in_channels=1, mean=FASHION["mean"], std=FASHION["std"],
                            **kwargs).eval()


def fake_curve(net, values, **columns) -> pd.DataFrame:
    """A two-repeat curve for ``net`` whose per-layer mean is ``values``."""
    layers = dg.probe_layers(net)
    rows = [{"layer": layer, "depth": depth, "repeat": repeat, "modularity": value + offset, **columns}
            for repeat, offset in enumerate([-0.001, 0.001])
            for depth, (layer, value) in enumerate(zip(layers, values), start=1)]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ removable units


def test_removable_units_are_the_shape_preserving_blocks_and_convs():
    assert pruning.removable_layers(seeded("resnet20")) == [
        "layer1.0", "layer1.1", "layer1.2", "layer2.1", "layer2.2", "layer3.1", "layer3.2"]
    # VGG11: 1->64, 64->128, 128->256, 256->256, 256->512, 512->512, 512->512, 512->512
    assert pruning.removable_layers(seeded("vgg11")) == ["features.11", "features.18", "features.22", "features.25"]
    # Bottleneck ResNets: the first block of every stage changes the width.
    assert "layer1.0" not in pruning.removable_layers(seeded("resnet50"))


def test_a_pruned_resnet_computes_the_original_with_the_blocks_skipped():
    model = seeded("resnet20")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    smaller = dg.pruning.prune(model, ["layer3.2", "layer1.0", "layer2.1"])
    assert smaller.config["blocks"] == [2, 2, 2] and smaller.pruned_layers == ["layer1.0", "layer2.1", "layer3.2"]
    images = torch.rand(5, 1, 32, 32)
    with torch.no_grad():
        out = F.relu(model.bn1(model.conv1(model.normalize(images))))
        for stage, skipped in ((model.layer1, 0), (model.layer2, 1), (model.layer3, 2)):
            for index, block in enumerate(stage):
                out = out if index == skipped else block(out)
        expected = model.linear(torch.flatten(model.avgpool(out), 1))
        torch.testing.assert_close(smaller(images), expected)
    # The original is untouched, and the pruned weights are copies, not views of it.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.config["name"] == "resnet20" and "blocks" not in model.config
    smaller.layer1[0].conv1.weight.data.zero_()
    assert model.layer1[1].conv1.weight.abs().sum() > 0


def test_a_pruned_vgg_computes_the_original_with_the_convs_skipped():
    model = seeded("vgg11")
    smaller = dg.pruning.prune(model, ["features.18", "features.25"])
    assert smaller.config["cfg"] == [64, "M", 128, "M", 256, 256, "M", 512, "M", 512, "M"]  # the paper's VGG11_2
    dropped = {18, 19, 20, 25, 26, 27}  # conv, BN, ReLU of each removed unit
    images = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        out = model.normalize(images)
        for index, module in enumerate(model.features):
            out = out if index in dropped else module(out)
        torch.testing.assert_close(smaller(images), model.classifier(torch.flatten(out, 1)))


def test_a_pruned_model_saves_loads_and_has_its_own_curve(tmp_path):
    smaller = dg.pruning.prune(seeded("resnet20"), ["layer1.1"])
    torch.save({"config": smaller.config, "state_dict": smaller.state_dict()}, tmp_path / "pruned.pt")
    state = torch.load(tmp_path / "pruned.pt")
    again = dg.get_model(**state["config"]).eval()
    again.load_state_dict(state["state_dict"])
    images = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(images), smaller(images))
    assert dg.probe_layers(again) == ["conv1", "layer1.0", "layer1.1"] + [f"layer{s}.{i}" for s in (2, 3) for i in range(3)]


def test_pruning_bad_layers_fails_with_the_reason():
    model = seeded("resnet20")
    with pytest.raises(ValueError, match="'conv1'.*stem"):
        dg.pruning.prune(model, ["conv1"])
    with pytest.raises(ValueError, match=r"'layer2.0'.*changes the shape \(16 -> 32 channels, stride 2\)"):
        dg.pruning.prune(model, ["layer2.0"])
    with pytest.raises(KeyError, match="'layer4.0' is not a module.*Close names"):
        dg.pruning.prune(model, ["layer4.0"])
    with pytest.raises(ValueError, match="'linear' is not a probe layer.*removable layers: layer1.0"):
        dg.pruning.prune(model, ["linear"])
    with pytest.raises(ValueError, match="leaves stage 1 without blocks"):
        dg.pruning.prune(model, ["layer1.0", "layer1.1", "layer1.2"])
    with pytest.raises(ValueError, match="more than once"):
        dg.pruning.prune(model, ["layer1.0", "layer1.0"])
    with pytest.raises(TypeError, match="use \\['layer1.0'\\]"):
        dg.pruning.prune(model, "layer1.0")
    with pytest.raises(ValueError, match="'features.4'.*channel count \\(64 -> 128\\)"):
        dg.pruning.prune(seeded("vgg11"), ["features.4"])
    with pytest.raises(TypeError, match="CIFAR ResNets and VGGs"):
        dg.pruning.prune(torch.nn.Sequential(torch.nn.Linear(2, 2)), ["0"])


def test_prune_leaves_the_global_random_state_alone():
    model = seeded("resnet20")
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    dg.pruning.prune(model, ["layer1.1"])
    torch.testing.assert_close(torch.rand(5), expected, rtol=0, atol=0)


def test_units_come_from_the_zoo_s_layer_info_for_every_family():
    # Nothing family-specific in pruning: the ImageNet ResNets and VGGs prune through their declared units too.
    torch.manual_seed(0)
    net = dg.get_model("imagenet_resnet18", num_classes=4).eval()
    assert pruning.removable_layers(net) == ["layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"]
    smaller = dg.pruning.prune(net, ["layer1.1", "layer3.1"])
    assert smaller.config["blocks"] == [1, 2, 1, 2]
    assert torch.equal(smaller.layer2[0].conv1.weight, net.layer2[0].conv1.weight)
    assert torch.equal(smaller.layer4[1].bn2.running_var, net.layer4[1].bn2.running_var)
    with torch.device("meta"):
        vgg = dg.get_model("imagenet_vgg11")
    assert pruning.removable_layers(vgg) == ["features.11", "features.18", "features.22", "features.25"]
    # A VGG unit is whatever the zoo lists (conv, BN, ReLU), not a fixed count of modules.
    assert [info.unit for info in layer_info(vgg) if info.name == "features.18"] == [
        ("features.18", "features.19", "features.20")]


# ------------------------------------------------------------------------------ which layers


RESNET20_Q = [0.40, 0.38, 0.45, 0.452, 0.50, 0.55, 0.551, 0.60, 0.70, 0.69]
#             conv1 1.0   1.1   1.2    2.0   2.1   2.2    3.0   3.1   3.2
# ΔQ:               -.02  +.07  +.002  +.05  +.05  +.001  +.05  +.10  -.01


def test_redundant_layers_are_the_removable_ones_where_the_curve_is_flat_or_falls():
    model = seeded("resnet20")
    curve = fake_curve(model, RESNET20_Q)
    gains = dg.pruning.layer_gains(curve, model)
    np.testing.assert_allclose(gains["modularity"], RESNET20_Q, atol=1e-12)
    np.testing.assert_allclose(gains["delta"].iloc[1:], np.diff(RESNET20_Q), atol=1e-12)
    assert dg.pruning.redundant_layers(curve, model) == ["layer1.0", "layer1.2", "layer2.2", "layer3.2"]
    # A larger threshold takes in more; max_layers keeps the smallest ΔQ ones, in depth order.
    assert dg.pruning.redundant_layers(curve, model, threshold=0.06) == [
        "layer1.0", "layer1.2", "layer2.1", "layer2.2", "layer3.2"]
    assert dg.pruning.redundant_layers(curve, model, max_layers=2) == ["layer1.0", "layer3.2"]
    assert dg.pruning.rising_layers(curve, model, 2) == ["layer1.1", "layer3.1"]
    # Stage 1 keeps a block: with every unit redundant, the largest-ΔQ block of stage 1 stays.
    everything = dg.pruning.redundant_layers(curve, model, threshold=1.0)
    assert "layer1.1" not in everything and {"layer1.0", "layer1.2"} <= set(everything) and len(everything) == 6
    # layer2.0 and layer3.0 rise less than some removable layers but can never be chosen.
    assert "layer2.0" not in dg.pruning.redundant_layers(curve, model, threshold=1.0)


def test_classify_gains_is_the_one_plateau_rule():
    low = [-0.02, -0.003, 0.002, 0.004, -0.01, 0.0, np.nan]
    high = [-0.01, 0.004, 0.004, 0.05, 0.03, 0.01, np.nan]
    kinds = pruning.classify_gains(low, high)
    assert kinds.tolist() == ["down", "flat", "small", "up", "unresolved", "unresolved", "unresolved"]
    # a clearly positive gain below the threshold is a small rise, not a plateau; above it, a rise
    assert pruning.classify_gains(0.002, 0.004) == "small" and pruning.classify_gains(0.002, 0.004, 0.003) == "up"
    assert pruning.classify_gains(pd.Series([0.1]), pd.Series([0.2])).tolist() == ["up"]


def test_the_interval_rule_is_classify_gains_below_the_threshold():
    model = seeded("resnet20")
    noise = np.random.default_rng(1).normal(0, 0.003, size=(4, len(RESNET20_Q)))
    layers = dg.probe_layers(model)
    curve = pd.DataFrame([{"layer": layer, "depth": depth, "repeat": repeat, "modularity": RESNET20_Q[depth - 1]
                           + noise[repeat, depth - 1]}
                          for repeat in range(4) for depth, layer in enumerate(layers, start=1)])
    gains = dg.pruning.layer_gains(curve, model)
    kinds = pruning.classify_gains(gains.gain_low, gains.gain_high)
    expected = gains.layer[gains.removable & np.isin(kinds, ["flat", "small", "down"])].tolist()
    assert expected  # the rule is exercised, not vacuously equal
    assert dg.pruning.redundant_layers(curve, model, rule="interval") == expected
    # the paired intervals are the t-intervals of the per-repeat differences
    table = curve.pivot(index="repeat", columns="depth", values="modularity")
    for depth in (2, 5, 9):
        steps = table[depth] - table[depth - 1]
        half = stats.t.ppf(0.975, 3) * steps.std(ddof=1) / 2
        row = gains[gains.depth == depth].iloc[0]
        assert (row.gain_low, row.gain_high) == pytest.approx((steps.mean() - half, steps.mean() + half))


def test_a_curve_of_another_model_or_of_several_models_is_refused():
    model = seeded("resnet20")
    with pytest.raises(ValueError, match="curve of another model"):
        dg.pruning.layer_gains(fake_curve(seeded("resnet20", blocks=[2, 3, 3]), RESNET20_Q[:9]), model)
    with pytest.raises(ValueError, match="is of model 'resnet56'"):
        dg.pruning.layer_gains(fake_curve(model, RESNET20_Q, model="resnet56"), model)
    both = dg.stack_curves({True: fake_curve(model, RESNET20_Q), False: fake_curve(model, RESNET20_Q[::-1])},
                           name="trained")
    for rule in (dg.pruning.redundant_layers, lambda c, m: dg.pruning.rising_layers(c, m, 2)):
        with pytest.raises(ValueError, match=r"holds 2, told apart by \['trained'\]"):
            rule(both, model)
    # Two curves that no column tells apart are refused, not averaged into one.
    with pytest.raises(ValueError, match="no label column"):
        dg.pruning.layer_gains(pd.concat([fake_curve(model, RESNET20_Q), fake_curve(model, RESNET20_Q[::-1])]), model)


def test_layer_gains_keep_stacked_curves_apart():
    model = seeded("resnet20")
    ks = {3: fake_curve(model, RESNET20_Q), 5: fake_curve(model, [q / 2 for q in RESNET20_Q])}
    gains = dg.pruning.layer_gains(dg.stack_curves(ks, name="k"), model)
    assert gains.columns.tolist() == ["k", "layer", "depth", "modularity", "std", "delta", "gain_low", "gain_high",
                                    "removable"]
    for k, curve in ks.items():
        one = gains[gains.k == k].drop(columns="k").reset_index(drop=True)
        pd.testing.assert_frame_equal(one, dg.pruning.layer_gains(curve, model))
    np.testing.assert_allclose(gains[gains.k == 5].modularity, np.array(RESNET20_Q) / 2, atol=1e-12)


def test_a_model_named_in_any_case_is_the_same_model():
    model = seeded("resnet20")
    curve = fake_curve(model, RESNET20_Q, model="ResNet20")  # as get_model("ResNet20") accepts it
    assert dg.pruning.redundant_layers(curve, model) == ["layer1.0", "layer1.2", "layer2.2", "layer3.2"]
    assert dg.pruning.paper_variants("VGG11") == dg.pruning.paper_variants("vgg11") != {}
    assert dg.pruning.paper_variants("resnet56") == {}
    with pytest.raises(KeyError, match="Unknown model 'resnet65'"):
        dg.pruning.paper_variants("resnet65")


def test_baselines_pick_the_same_number_of_removable_units():
    model = seeded("resnet20")
    assert dg.pruning.tail_layers(model, 3) == ["layer1.2", "layer2.2", "layer3.2"]
    assert dg.pruning.tail_layers(model, 5) == ["layer1.2", "layer2.1", "layer2.2", "layer3.1", "layer3.2"]
    draws = [tuple(dg.pruning.random_layers(model, 3, seed=s)) for s in range(6)]
    assert draws[0] == tuple(dg.pruning.random_layers(model, 3, seed=0))  # seeded
    assert len(set(draws)) > 1
    assert all(set(d) <= set(pruning.removable_layers(model)) and len(set(d)) == 3 for d in draws)
    probe = pd.DataFrame({"layer": dg.probe_layers(model), "depth": range(1, 11),
                          "delta": [np.nan, 0.1, -0.2, 0.05, 0.3, 0.0, 0.2, 0.3, 0.01, 0.4]})
    assert dg.pruning.probe_criterion_layers(probe, model, 3) == ["layer1.1", "layer2.1", "layer3.1"]
    with pytest.raises(TypeError, match=r"\(probe, model, count\)"):
        dg.pruning.probe_criterion_layers(model, probe, 3)
    # Every block of resnet20's stage 1 is removable, but a stage keeps one: 6 of the 7 can go together.
    assert dg.pruning.tail_layers(model, 6) == ["layer1.1", "layer1.2", "layer2.1", "layer2.2", "layer3.1", "layer3.2"]
    assert all("layer1.0" not in d or "layer1.1" not in d or "layer1.2" not in d
               for d in (dg.pruning.random_layers(model, 6, seed=s) for s in range(20)))
    with pytest.raises(ValueError, match="at most 6 units"):
        dg.pruning.tail_layers(model, 7)
    with pytest.raises(ValueError, match="count must be an integer >= 0"):
        dg.pruning.tail_layers(model, -1)
    with pytest.raises(TypeError, match="count must be an integer"):
        dg.pruning.random_layers(model, 2.0)


# ------------------------------------------------------------------------------ cost and recovery


def test_model_cost_counts_macs_of_convs_and_linears_by_hand():
    model = seeded("vgg11", cfg=[8, "M", 8, "M"])
    cost = dg.pruning.model_cost(model, image_size=4)
    macs = 4 * 4 * 9 * 1 * 8 + 2 * 2 * 9 * 8 * 8 + (8 * 512 + 512 * 512 + 512 * 4)  # convs, then the classifier
    assert cost == {"params": sum(p.numel() for p in model.parameters()), "flops": 2 * macs, "macs": macs}
    assert dg.pruning.model_cost(dg.pruning.prune(seeded("resnet20"), ["layer3.1"]))["params"] == (
        dg.pruning.model_cost(seeded("resnet20"))["params"] - sum(p.numel() for p in seeded("resnet20").layer3[1].parameters()))


@pytest.mark.slow
def test_recover_fine_tunes_from_the_inherited_weights_and_caches(data_dir, monkeypatch):
    parent = dg.get_model("resnet20", num_classes=4, blocks=[2, 1, 1])
    smaller = dg.pruning.prune(parent, ["layer1.1"])
    options = dict(epochs=1, batch_size=50, lr=0.0)  # lr 0: the weights must come back unchanged
    torch.manual_seed(7)
    expected = torch.rand(3)  # the caller's stream after recover, whether it trains or not
    torch.manual_seed(7)
    recovered = dg.pruning.recover(smaller, "synthetic", device="cpu", **options)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)
    trained_keys = [k for k in smaller.state_dict() if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(smaller.state_dict()[k], recovered.state_dict()[k]) for k in trained_keys)
    assert recovered.checkpoint["complete"] and "/pruned/" in recovered.checkpoint["path"]
    assert recovered.pruned_layers == ["layer1.1"]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached recovery was trained again")

    monkeypatch.setattr(pruning.recovery, "train", no_training)
    torch.manual_seed(7)
    dg.pruning.recover(smaller, "synthetic", device="cpu", **options)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)
    with pytest.raises(AssertionError, match="trained again"):  # from scratch is another run
        dg.pruning.recover(smaller, "synthetic", device="cpu", from_scratch=True, **options)


@pytest.mark.slow
def test_recover_takes_a_dataset_object_and_caches_it_by_its_images(data_dir):
    train_set, test_set = dg.get_dataset("synthetic", "train"), dg.get_dataset("synthetic", "test")
    smaller = dg.pruning.prune(dg.get_model("resnet20", num_classes=4, blocks=[2, 1, 1]), ["layer1.1"])
    options = dict(epochs=1, batch_size=50, device="cpu")
    by_object = dg.pruning.recover(smaller, train_set, test_set=test_set, **options)
    by_name = dg.pruning.recover(smaller, "synthetic", **options)
    assert "/custom/pruned/" in by_object.checkpoint["path"] and "/synthetic/pruned/" in by_name.checkpoint["path"]
    assert by_object.checkpoint["test_acc"] == by_name.checkpoint["test_acc"]  # the same images, the same run
    other = dg.get_dataset("synthetic", "train", seed=1)
    assert dg.pruning.recover(smaller, other, test_set=test_set, **options).checkpoint["path"] != by_object.checkpoint["path"]
    with pytest.raises(TypeError, match="Dataset or a dataset name"):
        dg.pruning.recover(smaller, 3)


def test_recover_refuses_a_model_for_other_data():
    model = dg.get_model("resnet20", in_channels=1, mean=FASHION["mean"], std=FASHION["std"])
    with pytest.raises(ValueError, match="10 classes and 1 input channels; synthetic has 4 and 3"):
        dg.pruning.recover(dg.pruning.prune(model, ["layer1.0"]), "synthetic")


@pytest.mark.parametrize("name", ["resnet20", "vgg11"])
def test_probe_features_are_the_layer_outputs_reshaped_by_the_declared_info(name):
    # linear_probe_accuracy pools maps rebuilt from flattened features: they must be the hooked outputs.
    model, images = seeded(name), torch.rand(3, 1, 32, 32)
    infos = {info.name: info for info in layer_info(model)}
    outputs = {}
    handles = [model.get_submodule(layer).register_forward_hook(
        lambda _m, _i, out, layer=layer: outputs.__setitem__(layer, out.detach())) for layer in infos]
    with torch.no_grad():
        model(images)
    for handle in handles:
        handle.remove()
    features = dg.features.extract_features(model, images, layers=list(infos), device="cpu")
    for layer, info in infos.items():
        torch.testing.assert_close(_feature_maps(features[layer], info, (32, 32)), outputs[layer], rtol=0, atol=0)


def test_linear_probe_accuracy_separates_easy_classes():
    data = dg.get_dataset("synthetic", "train", n=120, num_classes=3, shape=(1, 8, 8), separation=3.0)
    info = dg.data.dataset_info("synthetic", num_classes=3, shape=(1, 8, 8), separation=3.0)
    model = dg.get_model("resnet20", num_classes=3, in_channels=1, blocks=[1, 1, 1], mean=info["mean"],
                         std=info["std"]).eval()
    probe = dg.pruning.linear_probe_accuracy(model, data, n_train=80, n_test=40, device="cpu")
    assert probe["layer"].tolist() == dg.probe_layers(model)
    assert probe["probe_acc"].between(0, 1).all() and probe["probe_acc"].iloc[0] > 0.8
    np.testing.assert_allclose(probe["delta"].iloc[1:], np.diff(probe["probe_acc"]))
    flat = dg.pruning.linear_probe_accuracy(model, data, n_train=80, n_test=40, pool=None, device="cpu")
    assert flat["layer"].tolist() == probe["layer"].tolist() and flat["probe_acc"].between(0, 1).all()
    with pytest.raises(ValueError, match="pool=None"):
        dg.pruning.linear_probe_accuracy(model, data, layers=["layer1.0.conv1"], n_train=80, n_test=40, device="cpu")


def _compare(parent, curve):
    options = dict(threshold=1.0, max_layers=2, random_seeds=[0, 1], probe_train=60, probe_test=40, device="cpu",
                   recovery=dict(epochs=1, batch_size=50))
    return dg.figures.compare_pruning(parent, curve, "synthetic", **options)


def _parent_and_curve():
    parent = dg.pretrained("resnet20", "synthetic", model_kwargs={"blocks": [2, 2, 2]}, device="cpu", epochs=1)
    curve = dg.modularity_curve(parent, dg.get_dataset("synthetic", "test"), n=40, repeats=2, device="cpu")
    return parent, curve


@pytest.mark.slow
def test_compare_pruning_removes_as_many_units_by_every_rule_under_one_budget(data_dir, monkeypatch):
    parent, curve = _parent_and_curve()
    table = _compare(parent, curve)
    assert table.method.tolist() == ["unpruned", "modularity", "tail", "linear-probe", "random", "random"]
    assert table.seed.tolist() == [0, 0, 0, 0, 0, 1]
    assert table.removed.tolist() == [0, 2, 2, 2, 2, 2]
    assert table.top1.iloc[0] == pytest.approx(100 * parent.checkpoint["test_acc"])
    assert (table.params_reduction.iloc[1:] > 0).all() and table.params_reduction.iloc[0] == 0
    assert table.layers.iloc[1] == ", ".join(dg.pruning.redundant_layers(curve, parent, threshold=1.0, max_layers=2))
    summary = dg.figures.summarize_comparison(table)
    assert summary.set_index("method").loc["random", "runs"] == 2
    # Seeded: the whole experiment again in an empty data directory (nothing served from a cache)
    # gives the same table.
    second = data_dir / "second"
    monkeypatch.setattr(dg.settings, "data_dir", second)
    again = _compare(*_parent_and_curve())
    recoveries = list((second / "checkpoints" / "synthetic" / "pruned").glob("*.pt"))
    assert len(recoveries) == table.layers.iloc[1:].nunique() > 0  # every pruned model trained again there
    pd.testing.assert_frame_equal(again, table)


@pytest.mark.slow
def test_compare_pruning_at_equal_budgets_over_recovery_seeds(data_dir):
    parent, curve = _parent_and_curve()
    table = dg.figures.compare_pruning(parent, curve, "synthetic", threshold=1.0, max_layers=2, recovery_seeds=[0, 1],
                               methods=["unpruned-finetuned", "random-matched"], device="cpu", recovery=dict(epochs=1,
                               batch_size=50))
    assert table.method.tolist() == ["unpruned"] + \
        ["modularity"] * 2 + ["unpruned-finetuned"] * 2 + ["random-matched"] * 2
    by = table.set_index(["method", "seed"])
    assert by.loc[("unpruned-finetuned", 0), "removed"] == 0 and by.loc[("unpruned-finetuned", 1), "params_reduction"] == 0
    for seed in (0, 1):  # the same units per stage: the same parameters and FLOPs removed
        assert by.loc[("random-matched", seed), "params_reduction"] == pytest.approx(
            by.loc[("modularity", seed), "params_reduction"], abs=0.005)
    recovered = list((data_dir / "checkpoints" / "synthetic" / "pruned").glob("*.pt"))
    distinct = table.iloc[1:].groupby(["layers", "seed"]).ngroups
    assert len(recovered) == distinct  # one recovery run per (units, seed), each cached
    summary = dg.figures.summarize_comparison(table).set_index("method")
    assert summary.runs.tolist() == [1, 2, 2, 2] and summary.loc["modularity", "diff"] == 0


@pytest.mark.slow
def test_evaluate_variants_reports_what_each_removal_costs(data_dir):
    parent = dg.pretrained("resnet20", "synthetic", model_kwargs={"blocks": [2, 2, 2]}, device="cpu", epochs=1)
    table, curves = dg.figures.evaluate_variants(parent, {"one": ["layer3.1"], "two": ["layer1.0", "layer3.1"]}, "synthetic",
                                         n=40, repeats=1, device="cpu", recovery=dict(epochs=1, batch_size=50))
    assert table.variant.tolist() == ["unpruned", "one", "two"]
    assert table.removed.tolist() == [0, 1, 2]
    assert table.delta_acc.iloc[0] == 0 and table.delta_q.iloc[0] == 0
    np.testing.assert_allclose(table.delta_acc, table.top1.iloc[0] - table.top1)
    last = curves[curves.variant == "two"].depth.max()
    assert last == len(dg.probe_layers(parent)) - 2  # the pruned model's own probe layers
    assert table.q_last.iloc[2] == pytest.approx(curves[(curves.variant == "two") & (curves.depth == last)].modularity.mean())
    # The curves are stacked under the contract: the variant is their declared label, and readers keep them apart.
    assert dg.curve_labels(curves)[0] == "variant"
    summary = dg.summarize_curve(curves)
    assert len(summary) == sum(len(dg.probe_layers(parent)) - r for r in (0, 1, 2))
    # A Dataset object instead of the name: the same images give the same numbers.
    by_object, _ = dg.figures.evaluate_variants(parent, {"one": ["layer3.1"]}, dg.get_dataset("synthetic", "train"),
                                        test_set=dg.get_dataset("synthetic", "test"), with_curves=False,
                                        device="cpu", recovery=dict(epochs=1, batch_size=50))
    np.testing.assert_allclose(by_object.top1, table.top1.iloc[:2])


@pytest.mark.slow
def test_evaluate_variants_over_recovery_seeds_keeps_each_run_apart(data_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parent = dg.pretrained("resnet20", "synthetic", model_kwargs={"blocks": [2, 2, 2]}, device="cpu", epochs=1)
    variants = {"one": ["layer3.1"], "two": ["layer1.0", "layer3.1"]}
    table, curves = dg.figures.evaluate_variants(parent, variants, "synthetic", n=40, repeats=1, device="cpu",
                                         recovery_seeds=[0, 1], recovery=dict(epochs=1, batch_size=50, train_size=100))
    assert table.variant.tolist() == ["unpruned", "one", "two", "one", "two"]
    assert table.recovery_seed.tolist()[1:] == [0, 0, 1, 1] and table.recovery_seed.isna().iloc[0]
    recovered = list((data_dir / "checkpoints" / "synthetic" / "pruned").glob("*.pt"))
    assert len(recovered) == 4  # one recovery run per (variant, seed)
    # The seed-0 runs are the runs of the unseeded call with seed=0 (the default).
    single, _ = dg.figures.evaluate_variants(parent, variants, "synthetic", with_curves=False, device="cpu", recovery=dict(epochs=1,
                                     batch_size=50, train_size=100))
    np.testing.assert_allclose(single.top1, table.top1.iloc[:3])
    # Each (variant, seed) is its own curve, measured on the same images (the sample seed).
    assert set(dg.curve_labels(curves)) >= {"variant", "recovery_seed"}
    assert curves.groupby(["variant", "recovery_seed"], dropna=False).ngroups == 5
    summary = dg.figures.summarize_comparison(table, by="variant", reference="one").set_index("variant")
    assert summary.runs.tolist() == [1, 2, 2]
    runs = table[table.variant == "two"].top1
    assert summary.loc["two", "top1"] == pytest.approx(runs.mean())
    assert summary.loc["two", "top1_std"] == pytest.approx(runs.std())
    assert summary.loc["two", "q_last"] == pytest.approx(table[table.variant == "two"].q_last.mean())
    assert np.isfinite(summary.loc["two", "p_value"]) and np.isnan(summary.loc["one", "p_value"])
    # The plots draw a variant's runs together (mean, spread, each run) and say so.
    ax = dg.pl.plot_variant_curves(curves)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("unpruned (") and "2 seeds" in labels[1]
    with pytest.raises(ValueError, match="plot_variant_curves.*several curves|recovery_seed"):
        dg.pl.plot_variant_curves(curves, over=None)
    ax = dg.pl.plot_removal_effects(table)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["one\n(1 removed, 2 seeds)", "two\n(2 removed, 2 seeds)"]
    with pytest.raises(ValueError, match="several rows.*recovery_seed"):
        dg.pl.plot_removal_effects(table.drop(columns="recovery_seed"))
    plt.close("all")


def test_pruning_plots_draw_their_tables_and_refuse_other_frames():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.DataFrame({"variant": ["unpruned", "a", "b"], "removed": [0, 1, 2], "delta_q": [0.0, 0.01, 0.1],
                          "delta_acc": [0.0, 0.2, 1.5]})
    ax = dg.pl.plot_removal_effects(table, title="t")
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()][0] == "a\n(1 removed)"
    comparison = pd.DataFrame({"method": ["unpruned", "tail"], "params_reduction": [0.0, 0.3], "top1": [90.0, 89.0]})
    assert dg.pl.plot_pruning_comparison(comparison).get_xlabel() == "parameters removed"
    with pytest.raises(KeyError, match="delta_q.*evaluate_variants"):
        dg.pl.plot_removal_effects(table.drop(columns="delta_q"))
    plt.close("all")
