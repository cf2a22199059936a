"""Feature extraction by module name: hooks and FX, the memory budget, the restored model state."""
from __future__ import annotations

import dataclasses

import functools

import pytest
import torch
from conftest import tiny_net
from torch import nn

from dynamic_graphs import get_model, list_models, probe_layers
from dynamic_graphs.features import extract_features, iter_layer_features
from dynamic_graphs.utils import UnknownNameError, isolated_rng


LAYERS = ["0", "2", "4", "6"]
BACKENDS = ["hooks", "fx"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_extraction_captures_the_same_tensors_as_running_the_layers_by_hand(backend):
    net, images = tiny_net().eval(), torch.rand(6, 3, 8, 8)
    features = extract_features(net, images, layers=LAYERS, batch_size=4, device="cpu", backend=backend)
    with torch.no_grad():
        expected, x = {}, images
        for index, module in enumerate(net):
            x = module(x)
            expected[str(index)] = x.reshape(6, -1)
    for name in LAYERS:
        assert features[name].dtype == torch.float32 and features[name].shape == expected[name].shape
        assert torch.allclose(features[name], expected[name], atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_extraction_restores_train_mode_and_removes_hooks(backend):
    net = tiny_net().train()
    running_mean = net[1].running_mean.clone()
    extract_features(net, torch.rand(4, 3, 8, 8), layers=LAYERS, device="cpu", backend=backend)
    assert net.training and all(m.training for m in net.modules())
    assert torch.equal(net[1].running_mean, running_mean)  # ran in eval mode: BN statistics untouched
    assert all(not m._forward_hooks for m in net.modules())
    net.eval()
    extract_features(net, torch.rand(4, 3, 8, 8), layers=LAYERS, device="cpu", backend=backend)
    assert not net.training


def test_hooks_are_removed_when_the_forward_pass_fails():
    net = tiny_net()
    with pytest.raises(ValueError, match="takes 3-channel images but the images are 5-channel"):
        extract_features(net, torch.rand(4, 5, 8, 8), layers=LAYERS, device="cpu")  # wrong channel count
    assert all(not m._forward_hooks for m in net.modules())
    assert net.training


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_memory_budget_gives_identical_features_in_more_passes(backend):
    net, images = tiny_net(), torch.rand(10, 3, 8, 8)
    calls = []
    net[0].register_forward_hook(lambda *_: calls.append(1))
    one_pass = dict(iter_layer_features(net, images, layers=LAYERS, batch_size=5, device="cpu", max_bytes=2**30,
                                        backend=backend))
    assert len(calls) == 1 + 2  # a one-image pass that measures the layers, then 2 batches
    budget = dict(iter_layer_features(net, images, layers=LAYERS, batch_size=5, device="cpu", max_bytes=1,
                                      backend=backend, resume=False))
    assert len(calls) - 3 == 1 + 4 * 2  # now one group per layer, each running the 2 batches
    for name in LAYERS:
        assert torch.equal(one_pass[name], budget[name])


@pytest.mark.parametrize("backend", BACKENDS)
def test_later_passes_resume_from_the_last_layer_of_the_pass_before(backend):
    net, images = tiny_net(), torch.rand(10, 3, 8, 8)
    calls = []
    net[0].register_forward_hook(lambda *_: calls.append(1))
    one_pass = dict(iter_layer_features(net, images, layers=LAYERS, batch_size=5, device="cpu", max_bytes=2**30))
    calls.clear()
    resumed = dict(iter_layer_features(net, images, layers=LAYERS, batch_size=5, device="cpu", max_bytes=1,
                                       backend=backend))
    assert len(calls) == 2 + 2  # two one-image passes (sizes, shapes), then the first group's 2 batches only
    for name in LAYERS:
        assert torch.equal(one_pass[name], resumed[name])


class _Skip(nn.Module):
    """conv -> relu -> conv, plus the first conv's output again, into ``out``: a value that crosses the relu's cut."""

    def __init__(self):
        super().__init__()
        self.a, self.relu, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)
        self.out = nn.Identity()

    def forward(self, x):
        first = self.a(x)
        return self.out(self.b(self.relu(first)) + first)


def test_a_pass_whose_input_crosses_the_cut_or_was_modified_runs_the_images_again():
    with isolated_rng(0):
        net = _Skip()
    images, layers = torch.rand(6, 3, 8, 8), ["a", "relu", "out"]
    calls = []
    net.a.register_forward_hook(lambda *_: calls.append(1))
    one_pass = dict(iter_layer_features(net, images, layers=layers, batch_size=3, device="cpu", max_bytes=2**30))
    calls.clear()
    budget = dict(iter_layer_features(net, images, layers=layers, batch_size=3, device="cpu", max_bytes=1))
    # "relu" resumes from "a"; "out" reads "a"'s output from before the "relu" cut, so it runs the images
    assert len(calls) == 2 + 2 + 0 + 2
    for name in layers:
        assert torch.equal(one_pass[name], budget[name])
    net, calls = tiny_net(), []
    net[0].register_forward_hook(lambda *_: calls.append(1))
    expected = dict(iter_layer_features(net, images, layers=LAYERS, batch_size=3, device="cpu", max_bytes=2**30))
    calls.clear()
    for name, features in iter_layer_features(net, images, layers=LAYERS, batch_size=3, device="cpu", max_bytes=1):
        assert torch.equal(features, expected[name])
        features.zero_()  # the caller reuses the tensor: the next pass cannot start from it
    assert len(calls) == 2 + 4 * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_come_back_in_the_order_they_run(backend):
    net = tiny_net()
    names = [name for name, _ in iter_layer_features(net, torch.rand(3, 3, 8, 8), layers=["4", "0"], device="cpu",
                                                     backend=backend)]
    assert names == ["0", "4"]


def test_unknown_layer_lists_close_names():
    net = nn.Sequential()
    net.add_module("features", nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU()))
    with pytest.raises(UnknownNameError, match="Close names:.*features.0"):
        extract_features(net, torch.rand(2, 3, 4, 4), layers=["features.O"], device="cpu")


def test_unknown_backend_is_refused():
    with pytest.raises(UnknownNameError, match="backend 'jit'.*hooks, fx"):
        extract_features(tiny_net(), torch.rand(2, 3, 8, 8), layers=["0"], device="cpu", backend="jit")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_module_that_runs_twice_is_refused(backend):
    relu = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(3, 3, 1), relu, nn.Conv2d(3, 3, 1), relu)
    with pytest.raises(ValueError, match="ran 2 times"):
        extract_features(net, torch.rand(2, 3, 4, 4), layers=["1"], device="cpu", backend=backend)


class _Wrapped(nn.Module):
    """A conv whose output comes wrapped as a transformer block's would: tuple, list, dict, dataclass."""

    def __init__(self, kind: str):
        super().__init__()
        self.conv, self.kind = nn.Conv2d(3, 3, 1), kind

    def forward(self, x):
        y = self.conv(x)
        if self.kind == "tuple":
            return y, "not a tensor", y * 2
        if self.kind == "list":
            return [None, y]
        if self.kind == "dict":
            return {"attention": None, "hidden": y, "doubled": y * 2}
        if self.kind == "dataclass":
            return _Output(hidden=y, extra=y * 2)
        return "nothing"


@dataclasses.dataclass
class _Output:
    hidden: torch.Tensor
    extra: torch.Tensor


def _wrapped_net(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(_Wrapped(kind), nn.Identity())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["tuple", "list", "dict", "dataclass"])
def test_a_wrapped_output_gives_the_features_of_its_first_tensor(kind, backend, monkeypatch):
    import dynamic_graphs.features.extract as features_module

    # FX names a traced-through module's node after its last operation; as a leaf, its output is the module's.
    monkeypatch.setattr(features_module, "FX_LEAF_MODULES", (*features_module.FX_LEAF_MODULES, _Wrapped))
    images = torch.rand(4, 3, 5, 5)
    net = _wrapped_net(kind)
    expected = net[0].conv(images).detach().reshape(4, -1)
    features = extract_features(net, images, layers=["0"], device="cpu", backend=backend)["0"]
    assert torch.equal(features, expected)


@pytest.mark.parametrize("kind, selector", [("tuple", 2), ("tuple", -1), ("dict", "doubled"),
                                            ("dataclass", "extra"), ("dict", lambda out: out["hidden"] * 2)])
def test_output_picks_another_tensor_by_index_key_attribute_or_callable(kind, selector):
    images = torch.rand(4, 3, 5, 5)
    net = _wrapped_net(kind)
    expected = (net[0].conv(images) * 2).detach().reshape(4, -1)
    features = extract_features(net, images, layers=["0"], device="cpu", output=selector)["0"]
    torch.testing.assert_close(features, expected)
    per_layer = extract_features(net, images, layers=["0", "1"], device="cpu", output={"0": selector})
    torch.testing.assert_close(per_layer["0"], expected)  # a dict: one selector per layer (others: default)


@pytest.mark.parametrize("kind, selector, message", [
    ("none", None, r"Layer '0' returned a str, with no tensor to use; pass output= an index"),
    ("tuple", 1, r"output=1 picked a str from layer '0', not a tensor"),
    ("tuple", 5, r"output=5 is out of range: layer '0' returned a tuple of 3 \(Tensor, str, Tensor\)"),
    ("dict", "missing", r"output='missing' is not a key of layer '0'.s output, a dict with keys \['attention'"),
    ("dataclass", "other", r"output='other' is neither a key nor an attribute of layer '0'.s output, a _Output"),
    ("dict", 0, r"output=0 indexes a tuple or list, but layer '0' returned a dict"),
])
def test_an_output_with_no_usable_tensor_is_named_with_the_choices(kind, selector, message):
    with pytest.raises(TypeError, match=message):
        extract_features(_wrapped_net(kind), torch.rand(2, 3, 4, 4), layers=["0"], device="cpu", output=selector)


def test_token_outputs_are_flattened_or_pooled_by_mean_or_class_token():
    tokens = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (N, T, D)
    net = nn.Sequential(nn.Identity())
    images = tokens.clone()
    flat = extract_features(net, images, layers=["0"], device="cpu")["0"]
    assert torch.equal(flat, tokens.reshape(2, 12))  # the paper's semantics: everything flattened
    mean = extract_features(net, images, layers=["0"], device="cpu", pool="mean")["0"]
    assert torch.equal(mean, tokens.mean(dim=1))
    cls = extract_features(net, images, layers=["0"], device="cpu", pool="cls")["0"]
    assert torch.equal(cls, tokens[:, 0])
    maps = torch.rand(2, 3, 4, 4)  # (N, C, H, W): mean over positions
    assert torch.equal(extract_features(net, maps, layers=["0"], device="cpu", pool="mean")["0"], maps.mean(dim=(2, 3)))
    custom = extract_features(net, maps, layers=["0"], device="cpu", pool=lambda t: t.amax(dim=(2, 3)))["0"]
    assert torch.equal(custom, maps.amax(dim=(2, 3)))
    with pytest.raises(ValueError, match=r"pool='cls' takes the first token of a \(N, T, D\) output; layer '0' "
                                         r"gives \(N, 3, 4, 4\)"):
        extract_features(net, maps, layers=["0"], device="cpu", pool="cls")
    with pytest.raises(KeyError, match="pool"):
        extract_features(net, maps, layers=["0"], device="cpu", pool="max")


class _DataDependent(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x  # control flow on values: symbolic tracing cannot follow it


def test_a_model_fx_cannot_trace_is_reported_with_the_way_out():
    net = nn.Sequential(nn.Conv2d(3, 3, 1), _DataDependent()).train()
    images = torch.rand(2, 3, 4, 4)
    with pytest.raises(TypeError, match="FX backend cannot trace Sequential.*backend='hooks'"):
        extract_features(net, images, layers=["1"], device="cpu", backend="fx")
    assert net.training
    assert extract_features(net, images, layers=["1"], device="cpu")["1"].shape == (2, 48)


def test_layers_given_as_a_string_is_refused():
    with pytest.raises(TypeError, match=r"use \['0'\]"):
        extract_features(tiny_net(), torch.rand(2, 3, 8, 8), layers="0", device="cpu")


@pytest.mark.parametrize("images, error", [([[0.0]], TypeError), (torch.rand(0, 3, 8, 8), ValueError)])
def test_bad_images_are_refused(images, error):
    with pytest.raises(error, match="images"):
        extract_features(tiny_net(), images, layers=["0"], device="cpu")


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (2.0, TypeError)])
def test_bad_batch_size_is_refused(batch_size, error):
    with pytest.raises(error, match="batch_size"):
        extract_features(tiny_net(), torch.rand(2, 3, 8, 8), layers=["0"], device="cpu", batch_size=batch_size)


def test_gradients_stay_on_between_layers_and_after_an_early_stop():
    net = tiny_net()
    layers = iter_layer_features(net, torch.rand(3, 3, 8, 8), layers=LAYERS, device="cpu")
    next(layers)
    assert torch.is_grad_enabled()  # the caller's code between layers keeps autograd
    del layers
    assert torch.is_grad_enabled()


# --- hooks and FX agree on every registered model ------------------------------------------------

# Models whose construction or 50-odd probe layers take seconds on a small CPU: in the slow tier.
_BIG = {"imagenet_resnet34", "imagenet_resnet50", "imagenet_resnet101", "imagenet_resnet152", "imagenet_vgg11",
        "imagenet_vgg13", "imagenet_vgg16", "imagenet_vgg19", "resnet34", "resnet50", "resnet101", "resnet110",
        "resnet152"}


@functools.lru_cache(maxsize=None)
def _built(name: str) -> nn.Module:
    """Each registry model once, with seeded weights (the global random state is left alone)."""
    with isolated_rng(0):
        return get_model(name)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in _BIG else name
                                  for name in list_models() if not name.startswith("imagenet_vit")])
def test_hooks_and_fx_give_identical_features_for_every_registered_model(name, device):
    model = _built(name)
    was_training = model.training
    images = torch.rand(2, model.config["in_channels"], 32, 32, generator=torch.Generator().manual_seed(0))
    layers = probe_layers(model)
    hooks = extract_features(model, images, layers=layers, device=device, backend="hooks")
    fx = extract_features(model, images, layers=layers, device=device, backend="fx")
    assert list(hooks) == list(fx) == layers
    for layer in layers:
        assert hooks[layer].dtype == torch.float32 and hooks[layer].shape[0] == 2
        assert torch.equal(hooks[layer], fx[layer]), layer
    assert model.training == was_training
    assert next(model.parameters()).device.type == "cpu"  # moved back where it was
