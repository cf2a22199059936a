"""Tests for the model zoo (dynamic_graphs.models).

Big models (ImageNet ones, cResNet101/152, VGG19) are only built on the meta device, where a forward
pass propagates shapes without computing anything; real forwards run on the small and medium ones.
"""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import dataclasses
import math

from dynamic_graphs.models import (
    MODELS,
    LayerInfo,
    Normalize,
    get_model,
    layer_info,
    list_models,
    probe_layers,
    register_model,
)
from dynamic_graphs.data import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, dataset_info

FASHION = dataset_info("fashion-mnist")
ONE_CHANNEL = {"in_channels": 1, "mean": FASHION["mean"], "std": FASHION["std"]}

EXPECTED_PROBE_COUNTS = {
    "resnet20": 10,
    "resnet32": 16,
    "resnet44": 22,
    "resnet56": 28,
    "resnet110": 55,
    "resnet18": 9,
    "resnet34": 17,
    "resnet50": 17,
    "resnet101": 34,
    "resnet152": 51,
    "vgg11": 8,
    "vgg13": 10,
    "vgg16": 13,
    "vgg19": 16,
}
# The ImageNet variants have the same probe counts; there are no small (3-stage) ImageNet ResNets.
_SMALL = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")
EXPECTED_PROBE_COUNTS.update({f"imagenet_{k}": v for k, v in EXPECTED_PROBE_COUNTS.items() if k not in _SMALL})
# Vision transformers: one probe layer per encoder block.
EXPECTED_PROBE_COUNTS.update({"vit_tiny": 6, "imagenet_vit_b_16": 12, "imagenet_vit_b_32": 12, "imagenet_vit_l_16": 24,
                              "imagenet_vit_l_32": 24})

# The paper's probe layers (its code's hook lists): module indices of the Conv2d layers inside ``features``.
VGG_PROBES = {
    "vgg11": [0, 4, 8, 11, 15, 18, 22, 25],
    "vgg13": [0, 3, 7, 10, 14, 17, 21, 24, 28, 31],
    "vgg16": [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40],
    "vgg19": [0, 3, 7, 10, 14, 17, 20, 23, 27, 30, 33, 36, 40, 43, 46, 49],
}

# Too slow to build with real weights on a 2-core CI box; they get meta-device checks only.
BIG = {"resnet101", "resnet152", "vgg19"} | {m for m in MODELS if m.startswith("imagenet_")}
REAL = [m for m in list_models() if m not in BIG]
VITS = {m for m in MODELS if "vit_" in m}
CNNS = [m for m in list_models() if m not in VITS]  # (N, C, H, W) probe outputs, 32 x 32 inputs everywhere


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The forwards here are tiny; one thread avoids OpenMP spin-waiting when the (2-core) machine is
    # busy, which made this file several times slower. Restored afterwards for other test files.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return get_model(name, **kwargs).eval()


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------- registry


def test_list_models_is_sorted_and_complete():
    names = list_models()
    assert names == sorted(names)
    assert set(names) == set(EXPECTED_PROBE_COUNTS)


def test_duplicate_register_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet56")

    @register_model("_test_tiny")
    def build(num_classes=10, in_channels=3, mean=None, std=None):
        return nn.Linear(in_channels, num_classes)

    try:
        assert "_test_tiny" in list_models()
        with pytest.raises(ValueError, match="already registered"):
            register_model("_test_tiny")
    finally:
        MODELS.pop("_test_tiny")


def test_unknown_model_suggests_close_match():
    with pytest.raises(KeyError, match="Did you mean 'resnet56'") as info:
        get_model("resnet65")
    message = str(info.value)
    assert message.startswith("Unknown model 'resnet65'")
    assert "Available: " in message and "vgg16" in message


def test_name_lookup_is_case_insensitive():
    assert get_model("ResNet20").config["name"] == "resnet20"


@pytest.mark.parametrize("arg", ["num_classes", "in_channels"])
@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("10", TypeError),
                                        (True, TypeError), (None, TypeError)])
def test_bad_int_arguments_raise(arg, bad, error):
    with pytest.raises(error, match=arg):
        get_model("resnet20", **{arg: bad})


@pytest.mark.parametrize("name, wrong", [("resnet56", "cfg"), ("resnet18", "dropout"), ("vgg11", "blocks"),
                                         ("imagenet_resnet18", "cfg"), ("imagenet_vgg11", "blocks")])
def test_unknown_override_names_the_model(name, wrong):
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument '{wrong}'$"):
        _meta_model(name, **{wrong: None})


@pytest.mark.parametrize("cls_name, args", [("CifarResNetSmall", ()), ("CifarVGG", ([8, "M"],))])
def test_model_class_names_an_unknown_keyword(cls_name, args):
    from dynamic_graphs.models import resnet_cifar, vgg_cifar

    cls = getattr(resnet_cifar, cls_name, None) or getattr(vgg_cifar, cls_name)
    with pytest.raises(TypeError, match=rf"^{cls_name}\b.*unexpected keyword argument 'in_chanels'$"):
        with torch.device("meta"):
            cls(*args, in_chanels=1)


@pytest.mark.parametrize("name, architecture", [
    ("resnet56", {"blocks": (9, 9, 9)}),
    ("resnet50", {"blocks": (3, 4, 6, 3)}),
    ("vgg16", {"cfg": None}),
    ("imagenet_resnet34", {"blocks": (3, 4, 6, 3), "weights": None}),
    ("imagenet_vgg19", {"cfg": None, "dropout": 0.5, "weights": None}),
])
def test_builder_signature_shows_shared_options_and_architecture(name, architecture):
    import inspect

    params = inspect.signature(MODELS[name]).parameters
    shared = {"num_classes": 10, "in_channels": 3, "mean": None, "std": None}
    assert {k: p.default for k, p in params.items()} == {**shared, **architecture}
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in architecture)
    assert MODELS[name].__qualname__ == name


def test_register_builder_records_config_and_refuses_other_keywords():
    from dynamic_graphs.models.common import ZooModel, register_builder

    class Tiny(ZooModel, nn.Module):
        def __init__(self, width, num_classes=10, **inputs):
            super().__init__()
            self.conv = nn.Conv2d(self._add_normalize(**inputs), width, 1)
            self.fc = nn.Linear(width, num_classes)

    register_builder("_test_tiny_builder", Tiny, "A tiny test model.", width=4)
    try:
        model = get_model("_test_tiny_builder", num_classes=3, width=6)
        assert (model.conv.out_channels, model.fc.out_features) == (6, 3)
        assert model.config == {"name": "_test_tiny_builder", "num_classes": 3, "in_channels": 3,
                                "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD), "width": 6}
        assert get_model(**model.config).conv.out_channels == 6
        assert get_model("_test_tiny_builder").conv.out_channels == 4  # the declared default
        with pytest.raises(TypeError, match=r"^_test_tiny_builder\(\) got an unexpected keyword argument 'depth'$"):
            get_model("_test_tiny_builder", depth=2)
        with pytest.raises(ValueError, match="already registered"):
            register_builder("_test_tiny_builder", Tiny, "again", width=4)
    finally:
        MODELS.pop("_test_tiny_builder")


def test_explicit_none_cfg_is_the_default():
    # get_model records overrides as passed, so a stored ``cfg: None`` must keep rebuilding the default.
    assert probe_layers("vgg11", cfg=None) == probe_layers("vgg11")
    assert probe_layers("imagenet_vgg11", cfg=None) == probe_layers("imagenet_vgg11")


@pytest.mark.parametrize("blocks, error", [((9, 9), ValueError), ((9, 0, 9), ValueError), ("999", TypeError)])
def test_bad_blocks_raise(blocks, error):
    with pytest.raises(error, match="blocks"):
        get_model("resnet56", blocks=blocks)


@pytest.mark.parametrize("cfg, error", [(["M"], ValueError), ([64, "X"], ValueError), ([64, 0], ValueError),
                                        ("64M", TypeError)])
def test_bad_vgg_cfg_raise(cfg, error):
    with pytest.raises(error, match="cfg"):
        get_model("vgg11", cfg=cfg)


# ------------------------------------------------------------------------------------ forward & probes


@pytest.mark.parametrize("name", REAL)
def test_forward_shape(name):
    model = get_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in BIG else m
                                  for m in CNNS + ["vit_tiny"]])
def test_structure_on_meta(name):
    model = _meta_model(name)
    # Shape propagation only: checks every layer fits together, for the big models too.
    assert model(torch.empty(2, 3, 32, 32, device="meta")).shape == (2, 10)
    names = model.probe_layers()
    modules = dict(model.named_modules())
    assert all(n in modules for n in names)
    assert len(names) == len(set(names)) == EXPECTED_PROBE_COUNTS[name]
    assert probe_layers(name) == names == probe_layers(model)


@pytest.mark.parametrize("name", sorted(VGG_PROBES) + [f"imagenet_{k}" for k in sorted(VGG_PROBES)])
def test_vgg_probe_names_match_paper(name):
    expected = [f"features.{i}" for i in VGG_PROBES[name.removeprefix("imagenet_")]]
    assert probe_layers(name) == expected
    model = _meta_model(name)
    assert all(isinstance(model.get_submodule(n), nn.Conv2d) for n in expected)


@pytest.mark.parametrize("name", ["resnet56", "resnet18", "imagenet_resnet50"])
def test_resnet_probe_names(name):
    names = probe_layers(name)
    assert names[0] == "conv1"
    last_stage = "layer3" if name == "resnet56" else "layer4"
    assert names[-1].startswith(last_stage + ".")
    if name == "resnet56":
        assert names[1:] == [f"layer{s}.{i}" for s in (1, 2, 3) for i in range(9)]


def test_probe_hooks_see_expected_shapes():
    model = get_model("resnet20").eval()
    shapes = {}
    handles = [
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape)))
        for n in probe_layers(model)
    ]
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    for h in handles:
        h.remove()
    assert shapes["conv1"] == (2, 16, 32, 32)
    assert shapes["layer2.0"] == (2, 32, 16, 16)
    assert shapes["layer3.2"] == (2, 64, 8, 8)


def test_probe_layers_of_unregistered_model_raises():
    with pytest.raises(ValueError, match=r"Model Sequential is not in the registry.*layers=\[\.\.\.\]"):
        probe_layers(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_probe_layers_look_through_data_parallel():
    model = get_model("resnet20")
    wrapped = nn.DataParallel(model)
    names = probe_layers(wrapped)
    assert names[0] == "module.conv1"
    assert all(n in dict(wrapped.named_modules()) for n in names)


# ------------------------------------------------------------------------------------------ layer info


def _probe_shapes(model: nn.Module, names: list[str], size: int) -> dict[str, tuple]:
    """Input and output shapes of each named module in one meta forward pass."""
    shapes = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, i, o, n=n: shapes.__setitem__(n, (tuple(i[0].shape), tuple(o.shape)))) for n in names]
    model(torch.empty(1, model.config["in_channels"], size, size, device="meta"))
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in BIG else m for m in CNNS])
def test_layer_info_describes_every_probe_layer(name):
    model = _meta_model(name)
    infos = layer_info(model)
    assert all(isinstance(i, LayerInfo) for i in infos)
    assert [i.name for i in infos] == probe_layers(model) == [i.name for i in layer_info(name)]
    units = [m for i in infos for m in i.unit]
    shapes = _probe_shapes(model, [i.name for i in infos] + units, 32)
    stages = [i.stage for i in infos]
    assert stages == sorted(stages) and stages[-1] >= 3
    for info in infos:
        _, out = shapes[info.name]
        assert out[1] == info.channels and out[2] == math.ceil(32 / info.reduction), info
        assert info.unit[0] == info.name or info.name in info.unit
        # A unit is removable exactly when what goes in has the shape of what comes out.
        unit_in, unit_out = shapes[info.unit[0]][0], shapes[info.unit[-1]][1]
        assert info.removable == (unit_in == unit_out and info.stage > 0), info
        assert bool(info.reason) != info.removable


@pytest.mark.parametrize("name", sorted(VITS))
def test_a_vit_probes_every_encoder_block_and_its_token_sequence(name):
    model = _meta_model(name)
    size, patch, width = model.image_size, model.patch_size, model.hidden_dim
    infos = layer_info(model)
    assert [i.name for i in infos] == [f"encoder.layers.encoder_layer_{i}" for i in range(EXPECTED_PROBE_COUNTS[name])]
    assert all((i.stage, i.channels, i.reduction, i.removable) == (1, width, patch, False) and i.reason for i in infos)
    shapes = _probe_shapes(model, [i.name for i in infos], size)
    tokens = 1 + (size // patch) ** 2  # the class token and the patches
    assert {out for _, out in shapes.values()} == {(1, tokens, width)}
    assert model(torch.empty(2, 3, size, size, device="meta")).shape == (2, 10)
    assert model.normalize.mean_values == (IMAGENET_MEAN if name.startswith("imagenet_") else CIFAR10_MEAN)


def test_a_vit_takes_other_channels_and_image_sizes():
    model = get_model("vit_tiny", **ONE_CHANNEL, image_size=16, num_layers=2).eval()
    assert model.conv_proj.in_channels == 1 and len(probe_layers(model)) == 2
    assert model(torch.rand(3, 1, 16, 16)).shape == (3, 10)
    assert get_model(**json.loads(json.dumps(model.config))).config == model.config


def test_layer_info_units_and_wrappers():
    infos = {i.name: i for i in layer_info("resnet56")}
    assert infos["conv1"] == LayerInfo("conv1", 0, 16, 1, False, ("conv1", "bn1"), "it is the stem convolution")
    assert infos["layer2.0"].removable is False and "16 -> 32 channels, stride 2" in infos["layer2.0"].reason
    assert infos["layer3.8"].unit == ("layer3.8",) and infos["layer3.8"].reduction == 4
    vgg = {i.name: i for i in layer_info("vgg11", cfg=[64, "M", 128, 128, "M"])}
    assert vgg["features.7"].unit == ("features.7", "features.8", "features.9") and vgg["features.7"].removable
    with pytest.raises(dataclasses.FrozenInstanceError):
        infos["conv1"].removable = True
    wrapped = layer_info(nn.DataParallel(get_model("resnet20")))
    assert wrapped[1].name == "module.layer1.0" and wrapped[1].unit == ("module.layer1.0",)
    with pytest.raises(ValueError, match="declares no layer info"):
        layer_info(nn.Sequential(nn.Conv2d(3, 4, 3)))


# -------------------------------------------------------------------------------- overrides & inputs


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "vgg11"])
def test_in_channels_1_real(name):
    model = get_model(name, **ONE_CHANNEL).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)
    assert model.normalize.mean_values == FASHION["mean"] and model.config["std"] == list(FASHION["std"])


@pytest.mark.parametrize("name", ["imagenet_resnet18", "imagenet_vgg11"])
def test_in_channels_1_imagenet_meta(name):
    model = _meta_model(name, **ONE_CHANNEL)
    assert model(torch.empty(2, 1, 32, 32, device="meta")).shape == (2, 10)


@pytest.mark.parametrize("name", ["resnet20", "vgg11", "imagenet_resnet18"])
@pytest.mark.parametrize("stats", [{}, {"mean": (0.5,)}, {"std": (0.2,)}])
def test_a_model_without_3_channels_needs_its_statistics(name, stats):
    # Nothing is guessed from the channel count: a 1-channel model could be Fashion-MNIST or anything else.
    with pytest.raises(ValueError, match=r"in_channels=1 needs its input statistics: pass mean= and std=.*dataset_info"):
        _meta_model(name, in_channels=1, **stats)


def test_wrong_input_channels_is_a_clear_error():
    model = get_model("resnet20", **ONE_CHANNEL)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        model(torch.rand(2, 3, 32, 32))


def test_resnet56_blocks_override():
    full, pruned = get_model("resnet56"), get_model("resnet56", blocks=(2, 3, 6))
    assert len(probe_layers(pruned)) == 12
    assert probe_layers("resnet56", blocks=(2, 3, 6)) == probe_layers(pruned)
    assert _n_params(pruned) < _n_params(full)
    with torch.no_grad():
        assert pruned.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_resnet152_stage3_pruning_on_meta():
    # The paper's R152_30: 36 -> 6 blocks in stage 3 (Lu et al. 2022, Fig. 8).
    model = _meta_model("resnet152", blocks=[3, 8, 6, 3])
    assert len(model.probe_layers()) == 1 + 3 + 8 + 6 + 3


@pytest.mark.parametrize(
    "cfg, expected",
    [  # The pruned VGG11s of Lu et al. 2022, Fig. 9 (VGG11_1/2/3), and their probe lists.
        ([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, "M"], [0, 4, 8, 11, 15, 18, 22]),
        ([64, "M", 128, "M", 256, 256, "M", 512, "M", 512, "M"], [0, 4, 8, 11, 15, 19]),
        ([64, "M", 128, "M", 256, "M", 512, "M", 512, "M"], [0, 4, 8, 12, 16]),
    ],
)
def test_vgg_cfg_override(cfg, expected):
    model = _meta_model("vgg11", cfg=cfg)
    assert model.probe_layers() == [f"features.{i}" for i in expected]


def test_vgg_cfg_last_width_sets_classifier_input():
    # cvgg16_3_plus_hrank-like widths (scaled down): last conv 112 wide -> Linear(112, 512).
    cfg = [8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 112, 112, "M", 112, "M"]
    model = get_model("vgg16", cfg=cfg).eval()
    assert model.classifier[1].in_features == 112
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_num_classes():
    assert get_model("resnet20", num_classes=100)(torch.rand(2, 3, 32, 32)).shape == (2, 100)
    assert _meta_model("imagenet_resnet18", num_classes=50).fc.out_features == 50


# ------------------------------------------------------------------------------- architecture details


def test_small_resnet_matches_akamaster():
    model = get_model("resnet56")
    # akamaster's README: resnet20 0.27M, resnet56 0.85M parameters; option-A shortcuts have none.
    assert _n_params(model) == 853018
    assert _n_params(get_model("resnet20")) == 269722
    keys = set(model.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer3.8.bn2.weight", "linear.weight"} <= keys
    assert not any("shortcut" in k for k in keys)


def test_cifar_resnet_layout():
    model = _meta_model("resnet50")
    assert isinstance(model.fc, nn.Conv2d) and model.fc.kernel_size == (1, 1)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert model.layer4[-1].conv3.out_channels == 2048


def test_imagenet_models_are_torchvision():
    import torchvision

    resnet, vgg = _meta_model("imagenet_resnet50"), _meta_model("imagenet_vgg16")
    assert isinstance(resnet, torchvision.models.ResNet) and isinstance(vgg, torchvision.models.VGG)
    with torch.device("meta"):
        reference = torchvision.models.vgg16_bn(num_classes=10)
    # Same parameter names and shapes, so torchvision checkpoints load strictly.
    vgg.load_state_dict(reference.state_dict(), strict=True)


def test_imagenet_bad_weights_name_fails_before_download():
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        get_model("imagenet_resnet18", weights="NOT_A_WEIGHT")


# -------------------------------------------------------------------------------------- normalisation


def test_normalize_output():
    norm = Normalize(CIFAR10_MEAN, CIFAR10_STD)
    x = torch.rand(2, 3, 4, 4)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(norm(x), (x - mean) / std)
    assert norm.state_dict() == {}
    assert norm.half().mean.dtype == torch.float16  # buffers follow dtype/device moves


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "vgg11"])
def test_normalisation_is_inside_the_model(name):
    model = get_model(name).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        norm = model.normalize
        model.normalize = nn.Identity()  # the bare architecture, fed pre-normalised input
        expected = model((x - norm.mean) / norm.std)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in BIG else m for m in list_models()])
def test_normalize_buffers_not_in_state_dict(name):
    model = _meta_model(name)
    assert isinstance(model.normalize, Normalize)
    assert not any(k.startswith("normalize") for k in model.state_dict())


def test_default_stats():
    assert get_model("resnet20").normalize.mean_values == CIFAR10_MEAN
    imagenet = _meta_model("imagenet_resnet18")
    assert imagenet.normalize.mean_values == IMAGENET_MEAN and imagenet.normalize.std_values == IMAGENET_STD
    with pytest.raises(ValueError, match="in_channels=2"):
        _meta_model("resnet20", in_channels=2)
    assert _meta_model("resnet20", in_channels=2, mean=0.5, std=0.25).normalize.std_values == (0.25, 0.25)
    custom = get_model("resnet20", mean=0.5, std=(0.25,))
    assert custom.normalize.mean_values == (0.5,) * 3 and custom.normalize.std_values == (0.25,) * 3


@pytest.mark.parametrize("kwargs", [{"mean": (0.1, 0.2)}, {"std": (0.1, 0.2, 0.3, 0.4)}, {"std": 0.0}])
def test_bad_stats_raise(kwargs):
    with pytest.raises(ValueError, match="mean|std"):
        get_model("resnet20", **kwargs)


# ------------------------------------------------------------------------------------- config rebuild


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in BIG else m for m in list_models()])
def test_config_rebuilds_on_meta(name):
    model = _meta_model(name)
    assert model.config["name"] == name
    assert json.loads(json.dumps(model.config)) == model.config  # plain python types only
    with torch.device("meta"):
        rebuilt = get_model(**model.config)
    rebuilt.load_state_dict(model.state_dict(), strict=True)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("resnet56", {"blocks": (2, 3, 6)}),
        ("vgg11", {"cfg": [32, "M", 64, "M", 64, "M", 128, "M", 128, "M"], **ONE_CHANNEL, "num_classes": 5}),
        ("resnet18", {"mean": (0.5, 0.5, 0.5), "std": (0.2, 0.2, 0.2)}),
    ],
)
def test_config_rebuild_real_weights(name, kwargs):
    model = get_model(name, **kwargs).eval()
    rebuilt = get_model(**json.loads(json.dumps(model.config))).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(2, model.config["in_channels"], 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))


def test_imagenet_weights_loading_without_download(monkeypatch):
    import torchvision

    # Stand-in for the download: a 1000-class torchvision ResNet18's state_dict.
    pretrained = torchvision.models.resnet18().state_dict()
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", lambda self, *a, **k: pretrained)
    with pytest.warns(UserWarning, match="fc.weight"):
        model = get_model("imagenet_resnet18", num_classes=10, weights="DEFAULT")
    torch.testing.assert_close(model.layer4[1].conv2.weight, pretrained["layer4.1.conv2.weight"])
    assert model.fc.out_features == 10
    assert "weights" not in model.config  # rebuilding from a checkpoint must not download
