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
    features = dg.features.extract_features(model, images, layers=LAYERS, device="cpu")
    for index, layer in enumerate(LAYERS, start=1):
        torch.testing.assert_close(features[layer], hidden[index].reshape(6, -1))  # (N, 5 tokens x 16) flattened
    assert len(LAYERS) == 2
    cls = dg.features.extract_features(model, images, layers=LAYERS, device="cpu", pool="cls")
    torch.testing.assert_close(cls[LAYERS[1]], hidden[2][:, 0])
    mean = dg.features.extract_features(model, images, layers=LAYERS, device="cpu", pool="mean")
    torch.testing.assert_close(mean[LAYERS[0]], hidden[1].mean(dim=1))


POOLS = {  # each pool written out on the (N, 5 tokens, 16) hidden states
    "flatten": lambda hidden: hidden.reshape(len(hidden), -1),
    "cls": lambda hidden: hidden[:, 0],
    "mean": lambda hidden: hidden.mean(dim=1),
}


def reference_curve(pool: str, *, n: int, repeats: int, k: int = 3, seed: int = 0) -> list[tuple[str, int, float, int]]:
    """``(layer, repeat, Q, edges)`` from the model's own hidden states, pooled by hand, on the paper's graph."""
    from dynamic_graphs.curve import sample_indices
    from dynamic_graphs.reference import paper_graph, paper_modularity

    model, dataset = tiny_vit(), tiny_synthetic("test")
    images, labels = dataset.batch(slice(None))
    samples = sample_indices(len(dataset), n=n, repeats=repeats, seed=seed)
    torch.testing.assert_close(images[samples[0]], dg.draw_samples(dataset, n=n, seed=seed)[0])  # repeat 0's images
    rows = []
    for repeat, indices in enumerate(samples):
        with torch.no_grad():
            hidden = model(images[indices], output_hidden_states=True).hidden_states
        for index, layer in enumerate(LAYERS, start=1):
            pooled = POOLS[pool](hidden[index])
            assert tuple(pooled.shape) == ((n, 5 * 16) if pool == "flatten" else (n, 16))
            rows.append((layer, repeat, paper_modularity(pooled, labels[indices].numpy(), k=k),
                         paper_graph(pooled, k).number_of_edges()))
    return rows


@pytest.mark.parametrize("pool", list(POOLS))
def test_its_modularity_curve_is_that_of_its_pooled_hidden_states(pool):
    curve = dg.modularity_curve(tiny_vit(), tiny_synthetic("test"), layers=LAYERS, n=24, repeats=2, device="cpu",
                                pool=pool)
    assert list(curve.columns) == ["layer", "depth", "repeat", "modularity", "edges", "n", "k"]
    assert curve.layer.tolist() == LAYERS * 2 and curve.depth.tolist() == [1, 2] * 2
    assert curve.repeat.tolist() == [0, 0, 1, 1] and (curve.n == 24).all() and (curve.k == 3).all()
    expected = reference_curve(pool, n=24, repeats=2)
    assert list(zip(curve.layer, curve.repeat)) == [(layer, repeat) for layer, repeat, _, _ in expected]
    assert curve.modularity.tolist() == pytest.approx([q for _, _, q, _ in expected], abs=1e-6)
    assert curve.edges.tolist() == [edges for *_, edges in expected]


def test_the_pools_give_different_graphs():
    """So that the test above tells a pool that is ignored from one that is applied."""
    flatten, cls, mean = ([q for _, _, q, _ in reference_curve(pool, n=24, repeats=2)] for pool in POOLS)
    for one, other in ((flatten, cls), (flatten, mean), (cls, mean)):
        assert max(abs(a - b) for a, b in zip(one, other)) > 1e-3  # far beyond the 1e-6 tolerance above
