"""timm models without ``layers=``: their stem and every block, from timm's own structure (skipped without timm)."""
from __future__ import annotations

import pytest
import torch

import dynamic_graphs as dg

timm = pytest.importorskip("timm")

# five families, built without weights at 32 x 32 (the ViT with 4-pixel patches)
FAMILIES = {
    "resnet18": ({}, "act1", ["layer1.0", "layer1.1", "layer2.0"], 9),
    "convnext_atto": ({}, "stem", ["stages.0.blocks.0", "stages.0.blocks.1"], 13),
    "efficientnet_lite0": ({}, "bn1", ["blocks.0.0", "blocks.1.0", "blocks.1.1"], 17),
    "mobilenetv3_small_050": ({}, "bn1", ["blocks.0.0", "blocks.1.0"], 13),
    "vit_tiny_patch16_224": ({"img_size": 32, "patch_size": 4}, "patch_embed", ["blocks.0", "blocks.1"], 13),
}


def build(name: str):
    options, *_ = FAMILIES[name]
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=10, **options).eval()


@pytest.mark.parametrize("name", FAMILIES)
def test_probe_layers_are_the_stem_and_every_block_in_depth_order(name):
    _, stem, first_blocks, count = FAMILIES[name]
    model = build(name)
    layers = dg.probe_layers(model)
    assert layers[0] == stem and layers[1:1 + len(first_blocks)] == first_blocks and len(layers) == count
    modules = [module_name for module_name, _ in model.named_modules()]
    assert [modules.index(layer) for layer in layers] == sorted(modules.index(layer) for layer in layers)
    # no block is listed beside its own parent or child
    assert not any(a != b and b.startswith(a + ".") for a in layers for b in layers)


def test_efficientnet_keeps_the_stages_feature_info_leaves_out():
    model = build("efficientnet_lite0")
    listed = [entry["module"] for entry in model.feature_info]
    assert "blocks.3" not in listed and "blocks.5" not in listed  # timm lists only where the stride changes
    layers = dg.probe_layers(model)
    assert {layer.rsplit(".", 1)[0] for layer in layers if layer.startswith("blocks.")} == {f"blocks.{i}" for i in range(7)}


def test_wrapped_timm_model_gets_the_prefix():
    model = build("resnet18")
    assert dg.probe_layers(torch.nn.DataParallel(model))[:2] == ["module.act1", "module.layer1.0"]


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_a_curve_from_each_family_without_layers(name):
    data = dg.get_dataset("synthetic", n=120, num_classes=4, shape=(3, 32, 32), seed=0)
    curve = dg.modularity_curve(build(name), data, n=60, repeats=1, k=3, seed=0, device="cpu")
    assert list(curve["layer"]) == dg.probe_layers(build(name))
    assert curve["modularity"].notna().all() and curve["modularity"].between(-0.5, 1).all()


def test_layer_info_measures_channels_reduction_and_removable_blocks():
    resnet = {info.name: info for info in dg.models.layer_info(build("resnet18"))}
    assert list(resnet) == dg.probe_layers(build("resnet18"))
    assert (resnet["act1"].stage, resnet["act1"].channels, resnet["act1"].reduction, resnet["act1"].removable) == (0, 64, 2, False)
    assert (resnet["layer1.1"].channels, resnet["layer1.1"].reduction, resnet["layer1.1"].removable) == (64, 4, True)
    assert (resnet["layer2.0"].channels, resnet["layer2.0"].removable) == (128, False)  # downsamples: no identity
    assert (resnet["layer4.1"].stage, resnet["layer4.1"].channels, resnet["layer4.1"].reduction) == (4, 512, 32)
    assert resnet["layer1.1"].unit == ("layer1.1",)
    vit = dg.models.layer_info(build("vit_tiny_patch16_224"))
    assert {(info.channels, info.reduction) for info in vit} == {(192, 4)}  # tokens of 192 over 4-pixel patches
    assert [info.removable for info in vit] == [False] + [True] * 12
    efficientnet = dg.models.layer_info(build("efficientnet_lite0"))
    assert [info.stage for info in efficientnet] == sorted(info.stage for info in efficientnet)
    assert efficientnet[-1].reduction == 32
