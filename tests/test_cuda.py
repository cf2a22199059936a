"""On a GPU, the curve and every function built on its loop give the CPU's results (skipped without CUDA).

Run them where a GPU is: ``pytest tests/test_cuda.py``. The graphs are built from float32 products
on either device, so Q agrees to float32 rounding, and exactly where no neighbour choice is a near-tie.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import dynamic_graphs as dg
from conftest import tiny_resnet, tiny_synthetic

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

SPEC = dg.CurveSpec(n=40, repeats=2, k=3, seed=1)


@pytest.fixture(scope="module")
def data():
    return tiny_synthetic("test", n=120)


def test_the_curve_on_cuda_equals_the_cpu_curve(data):
    net = tiny_resnet()
    on_cpu = dg.modularity_curve(net, data, SPEC.replace(device="cpu"))
    on_gpu = dg.modularity_curve(net, data, SPEC.replace(device="cuda"))
    assert next(net.parameters()).device.type == "cpu"  # the model is handed back where it was
    pd.testing.assert_frame_equal(on_cpu.drop(columns="modularity"), on_gpu.drop(columns="modularity"))
    np.testing.assert_allclose(on_gpu.modularity, on_cpu.modularity, atol=1e-6)


def test_companion_metrics_and_agreement_on_cuda_equal_the_cpu(data):
    net = tiny_resnet()
    metrics = ["modularity", "knn_accuracy", "linear_cka_next", "separation_fuzziness"]
    on_cpu = dg.metrics.layer_metrics(net, data, SPEC.replace(device="cpu"), metrics=metrics)
    on_gpu = dg.metrics.layer_metrics(net, data, SPEC.replace(device="cuda"), metrics=metrics)
    np.testing.assert_allclose(on_gpu[metrics].to_numpy(), on_cpu[metrics].to_numpy(), atol=1e-5, equal_nan=True)
    agreement_cpu = dg.figures.cka_agreement(net, data, SPEC.replace(device="cpu"))
    agreement_gpu = dg.figures.cka_agreement(net, data, SPEC.replace(device="cuda"))
    np.testing.assert_allclose(agreement_gpu.spearman, agreement_cpu.spearman, atol=1e-6)


def test_knn_graph_of_cuda_features_equals_that_of_the_same_features_on_the_cpu():
    features = torch.randn(300, 64, generator=torch.Generator().manual_seed(0))
    on_cpu, on_gpu = dg.knn_graph(features, k=5), dg.knn_graph(features.cuda(), k=5)
    assert on_cpu.get_edgelist() == on_gpu.get_edgelist()
    np.testing.assert_allclose(on_gpu.es["weight"], on_cpu.es["weight"], atol=1e-6)


def test_a_training_step_on_cuda_learns(data, tmp_path):
    train_set = tiny_synthetic("train", n=128)
    model = dg.get_model("resnet20", num_classes=train_set.num_classes, in_channels=3, blocks=[1, 1, 1])
    history = dg.training.train(model, train_set, data, epochs=3, batch_size=32, device="cuda",
                                checkpoint=tmp_path / "run.pt")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["test_acc"].iloc[-1] > 1 / train_set.num_classes
    assert next(model.parameters()).device.type == "cuda"  # trained in place, and left on the GPU
    assert dg.training.finished(tmp_path / "run.pt")  # its checkpoint records the completed run
