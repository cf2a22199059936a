"""A HuggingFace vision transformer through the package: built from a tiny config (random weights, no
download), its encoder layers (which return a tuple or, in transformers 5, a tensor of tokens) are read
by the curve."""
from __future__ import annotations

import pytest
import torch

import dynamic_graphs as dg
from dynamic_graphs.utils import isolated_rng

from conftest import tiny_synthetic

transformers = pytest.importorskip("transformers")



def tiny_vit() -> torch.nn.Module:
    config = transformers.ViTConfig(image_size=8, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=32)
    with isolated_rng(0):
        return transformers.ViTModel(config).eval()


def encoder_layers(model: torch.nn.Module) -> list[str]:
    """The encoder blocks by class: their module names differ between transformers versions."""
    from transformers.models.vit.modeling_vit import ViTLayer

    return [name for name, module in model.named_modules() if isinstance(module, ViTLayer)]


LAYERS = encoder_layers(tiny_vit())


def test_its_layers_give_the_hidden_states_the_model_reports():
    model = tiny_vit()
    images = tiny_synthetic("test", n=6).batch(slice(None))[0]
    with torch.no_grad():
        hidden = model(images, output_hidden_states=True).hidden_states  # embeddings, then each layer's output
    features = dg.extract_features(model, images, layers=LAYERS, device="cpu")
    for index, layer in enumerate(LAYERS, start=1):
        torch.testing.assert_close(features[layer], hidden[index].reshape(6, -1))  # (N, 5 tokens x 16) flattened
    assert len(LAYERS) == 2
    cls = dg.extract_features(model, images, layers=LAYERS, device="cpu", pool="cls")
    torch.testing.assert_close(cls[LAYERS[1]], hidden[2][:, 0])
    mean = dg.extract_features(model, images, layers=LAYERS, device="cpu", pool="mean")
    torch.testing.assert_close(mean[LAYERS[0]], hidden[1].mean(dim=1))


def test_its_modularity_curve_is_measured_on_every_layer():
    curve = dg.modularity_curve(tiny_vit(), tiny_synthetic("test"), layers=LAYERS, n=24, repeats=2, device="cpu")
    assert curve.layer.tolist() == LAYERS * 2 and curve.modularity.notna().all()
    pooled = dg.modularity_curve(tiny_vit(), tiny_synthetic("test"), layers=LAYERS, n=24, repeats=2, device="cpu",
                                 pool="cls")
    assert pooled.modularity.notna().all() and not pooled.modularity.equals(curve.modularity)
