"""Bad input gets a clear error or a documented conversion: channels, degenerate layers, labels, sizes."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from conftest import tiny_net, tiny_resnet, tiny_synthetic
from dynamic_graphs import get_model, modularity_curve, pretrained, summarize_curve
from dynamic_graphs.curve import UndefinedModularityWarning
from dynamic_graphs.data import class_indices, labels_of, load_batch, load_images
from dynamic_graphs.features import extract_features
from dynamic_graphs.training import check_subset_sizes, train

# --------------------------------------------------------------------------- channels


def one_channel_data(n: int = 16) -> TensorDataset:
    images = torch.rand(n, 1, 8, 8)
    return TensorDataset(images, torch.arange(n) % 2)


def test_registry_model_names_both_channel_counts_before_any_forward_pass():
    model = tiny_resnet()
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    with pytest.raises(ValueError, match=r"The model \(resnet20\) takes 3-channel images but the dataset's images "
                                         r"are 1-channel.*in_channels=1"):
        modularity_curve(model, one_channel_data(), n=4, repeats=2, device="cpu")
    assert calls == []  # refused before the forward pass


def test_channel_mismatch_names_the_fix_for_each_kind_of_model():
    import torchvision

    grey = one_channel_data()
    with pytest.raises(ValueError) as own:
        modularity_curve(tiny_resnet(), grey, n=4, repeats=1, device="cpu")
    assert "dg.get_model(..., in_channels=1)" in str(own.value)  # the package's model: rebuild it, or convert
    assert "dg.get_dataset(name, split, channels=3)" in str(own.value)
    assert "dg.data.ConvertedImages(your_dataset, channels=3)" in str(own.value)
    mismatch = r"The model \(ResNet\) takes 3-channel images but the images are 1-channel"
    with pytest.raises(ValueError, match=mismatch) as other:
        modularity_curve(torchvision.models.resnet18(weights=None), grey, layers=["layer1"], n=4, repeats=1,
                         device="cpu")
    message = str(other.value)  # any other model: convert the images, as an ImageNet network wants them
    assert "dg.get_dataset(name, split, channels=3)" in message and "in_channels" not in message
    assert 'image_size=224, normalize="imagenet"' in message
    with pytest.raises(ValueError, match=r"takes 1-channel images .* dg.get_dataset\(name, split, channels=1\)"):
        extract_features(tiny_net(in_channels=1), torch.rand(2, 3, 8, 8), layers=["0"], device="cpu")


def test_plain_model_with_a_conv_stem_names_both_channel_counts():
    net = tiny_net()  # no config, no Normalize: the failed forward pass is explained
    with pytest.raises(ValueError, match=r"takes 3-channel images but the images are 1-channel") as err:
        extract_features(net, torch.rand(4, 1, 8, 8), layers=["0"], device="cpu")
    assert isinstance(err.value.__cause__, RuntimeError)  # PyTorch's own message stays in the chain


def test_matching_channels_still_run():
    frame = modularity_curve(tiny_net(in_channels=1), one_channel_data(), layers=["2", "6"], n=8, repeats=2,
                             device="cpu")
    assert frame["modularity"].notna().all()


# --------------------------------------------------------------------------- degenerate layers


class ZeroHead(nn.Module):
    """A conv body and an all-zero linear head, like torchvision's ViT ``heads`` at initialisation."""

    def __init__(self, constant: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(4 * 8 * 8, 4)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, constant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@pytest.mark.parametrize("constant, reason", [(0.0, "all zero"), (0.5, "the same output")])
def test_zero_or_constant_layer_is_nan_with_a_warning_and_the_curve_is_kept(constant, reason):
    data = tiny_synthetic(n=32)
    with pytest.warns(UndefinedModularityWarning, match=rf"Layer 'head': .*{reason}.*NaN") as record:
        frame = modularity_curve(ZeroHead(constant), data, layers=["body.1", "head"], n=12, repeats=2, device="cpu",
                                 with_leiden=True)
    assert all("'head'" in str(w.message) for w in record)
    head, body = frame[frame.layer == "head"], frame[frame.layer == "body.1"]
    assert head["modularity"].isna().all() and head["leiden_modularity"].isna().all()
    assert body["modularity"].notna().all() and len(frame) == 4
    if constant == 0.0:
        assert (head["edges"] == 0).all()
    summary = summarize_curve(frame).set_index("layer")
    assert math.isnan(summary.loc["head", "mean"]) and not math.isnan(summary.loc["body.1", "mean"])


def test_ordinary_layers_give_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedModularityWarning)
        frame = modularity_curve(tiny_net(), tiny_synthetic(n=32), layers=["2", "6"], n=12, repeats=2, device="cpu")
    assert frame["modularity"].notna().all()


# --------------------------------------------------------------------------- labels and images


def test_one_hot_labels_become_class_indices():
    labels = torch.tensor([2, 0, 1, 1, 0, 2])
    data = TensorDataset(torch.rand(6, 3, 8, 8), nn.functional.one_hot(labels, 3).float())
    assert labels_of(data).tolist() == labels.tolist()
    assert load_batch(data, [4, 0])[1].tolist() == [0, 2]
    # and through the item-by-item path of any other dataset
    items = [(image, target) for image, target in data]
    assert labels_of(items).tolist() == labels.tolist() and load_batch(items, [0, 1])[1].tolist() == [2, 0]


def test_soft_labels_are_refused():
    data = TensorDataset(torch.rand(2, 3, 8, 8), torch.tensor([[0.7, 0.3], [0.2, 0.8]]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\) but their rows are not one-hot"):
        labels_of(data)


def test_float_labels_converted_when_whole_refused_otherwise():
    whole = TensorDataset(torch.rand(4, 3, 8, 8), torch.tensor([0.0, 1.0, 2.0, 1.0]))
    assert labels_of(whole).tolist() == [0, 1, 2, 1] and labels_of(whole).dtype == np.int64
    fractional = TensorDataset(torch.rand(4, 3, 8, 8), torch.tensor([0.0, 1.5, 2.0, 1.0]))
    with pytest.raises(ValueError, match="are floats and 1.5 is not a whole number"):
        labels_of(fractional)
    with pytest.raises(ValueError, match="not a whole number"):
        load_batch(fractional, [0, 1])
    with pytest.raises(ValueError, match="not a whole number"):
        class_indices([0.0, float("nan")])


@pytest.mark.parametrize("data", [TensorDataset(torch.rand(4, 3, 8, 8)), [torch.rand(3, 8, 8)] * 4,
                                  [(torch.rand(3, 8, 8),)] * 4], ids=["TensorDataset", "tensors", "1-tuples"])
def test_images_without_labels_are_refused(data):
    with pytest.raises(ValueError, match="the dataset's items have no label"):
        labels_of(data)
    with pytest.raises(ValueError, match="the dataset's items have no label"):
        load_images(data, [0, 1])


def test_uint8_images_are_scaled_like_the_package_datasets():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).repeat(4, 1, 1, 1).reshape(4, 1, 1, 3)
    data = TensorDataset(images, torch.arange(4))
    expected = torch.tensor([0.0, 0.2, 1.0]).expand(2, 1, 1, 3)
    assert torch.allclose(load_images(data, [0, 1]), expected)
    assert torch.allclose(load_images(list(data), [0, 1]), expected)  # item-by-item path


def test_uint8_and_float_tensor_datasets_give_the_same_curve():
    base = tiny_synthetic(n=32)
    as_uint8 = TensorDataset(base.batch(range(32))[0].mul(255).round().to(torch.uint8), base.targets)
    as_float = TensorDataset(as_uint8.tensors[0].float() / 255, base.targets)
    kwargs = dict(layers=["2", "6"], n=12, repeats=2, device="cpu")
    first, second = modularity_curve(tiny_net(), as_uint8, **kwargs), modularity_curve(tiny_net(), as_float, **kwargs)
    assert first["modularity"].tolist() == second["modularity"].tolist()


# --------------------------------------------------------------------------- train_size / test_size


@pytest.mark.parametrize("value, error, message", [
    (0, ValueError, r"train_size must be from 1 to 96 \(the train split has 96 images\), got 0"),
    (-5, ValueError, r"from 1 to 96 .* got -5"),
    (97, ValueError, r"from 1 to 96 .* got 97"),
    (0.5, TypeError, r"train_size must be a whole number of images, got 0.5 \(float\); the train split has 96"),
    ("10", TypeError, r"got '10' \(str\)"),
])
def test_train_size_must_fit_the_split(value, error, message):
    model = tiny_resnet()
    with pytest.raises(error, match=message):
        train(model, tiny_synthetic("train"), tiny_synthetic("test", n=40), train_size=value, epochs=1, device="cpu")


def test_test_size_names_the_test_split():
    with pytest.raises(ValueError, match=r"test_size must be from 1 to 40 \(the test split has 40 images\), got 41"):
        train(tiny_resnet(), tiny_synthetic("train"), tiny_synthetic("test", n=40), test_size=41, epochs=1,
              device="cpu")


def test_pretrained_checks_sizes_against_the_known_split_before_loading(monkeypatch):
    import dynamic_graphs.training.weights as weights

    monkeypatch.setattr(weights, "get_dataset", lambda *a, **k: pytest.fail("loaded data before checking"))
    with pytest.raises(ValueError, match=r"train_size must be from 1 to 50000 \(the train split has 50000 images\)"):
        pretrained("resnet20", "cifar10", train_size=60000)
    with pytest.raises(ValueError, match=r"test_size must be from 1 to 10000 .* got 0"):
        pretrained("resnet20", "fashion-mnist", test_size=0)


def test_subset_sizes_within_the_split_pass():
    check_subset_sizes({"train_size": 96, "test_size": None}, {"train": 96, "test": 40})
    check_subset_sizes({"train_size": 10**6}, None)  # an image folder's sizes are checked once it is loaded
    with pytest.raises(ValueError, match=r"train_size must be >= 1 \(the train split's size is not known yet\)"):
        check_subset_sizes({"train_size": 0}, None)


def test_unknown_model_name_suggests():
    with pytest.raises(KeyError, match=r"Unknown model 'resnet65'\. Did you mean"):
        get_model("resnet65")


# --------------------------------------------------------------------------- the troubleshooting page quotes these messages


def _message(call) -> str:
    try:
        call()
    except Exception as err:  # noqa: BLE001 - any error: its text is what the troubleshooting page must quote
        return str(err)
    raise AssertionError("no error raised")


def test_troubleshooting_page_quotes_the_real_messages(tmp_path, monkeypatch):
    import re
    import urllib.error
    import urllib.request
    from pathlib import Path

    from dynamic_graphs import data
    from dynamic_graphs.curve import layer_scores

    section = (Path(__file__).resolve().parent.parent / "docs" / "guide" / "troubleshooting.md").read_text()

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    cifar = _message(lambda: data.registry.get_dataset("cifar10", root=tmp_path))
    cifar = re.sub(r"\(URLError: [^)]*\)", "(URLError: ...)", cifar.replace(str(tmp_path), "<data_dir>"))
    monkeypatch.setattr(data.readers, "FASHION_MNIST_IDX_DIR", tmp_path / "none")
    fashion = _message(lambda: data.registry.get_dataset("fashion-mnist", root=tmp_path))
    fashion = re.sub(r"\(RuntimeError: .*?>\)", "(...)", fashion).replace(str(tmp_path / "none"),
                                                                            "/usr/share/datasets/fashion-mnist")
    with pytest.warns(UndefinedModularityWarning) as record:
        layer_scores(torch.zeros(6, 4), np.arange(6) % 2, k=2, layer="heads")
    fashion_like = TensorDataset(torch.rand(4, 1, 32, 32), torch.arange(4) % 2)
    quoted = [
        cifar.split(" The data directory is")[0],
        fashion,
        _message(lambda: get_model("resnet65")).split(" Available:")[0],
        _message(lambda: modularity_curve(get_model("resnet20", num_classes=2), fashion_like, n=4, repeats=1,
                                          device="cpu")),
        str(record[0].message),
        _message(lambda: labels_of(TensorDataset(torch.rand(4, 3, 8, 8)))),
        _message(lambda: labels_of(TensorDataset(torch.rand(2, 1), torch.tensor([[0.7, 0.3], [0.2, 0.8]])))
                 ).split("; ")[0],
        _message(lambda: labels_of(TensorDataset(torch.rand(2, 1), torch.tensor([0.0, 1.5])))),
        _message(lambda: check_subset_sizes({"train_size": 0}, {"train": 50000})),
        _message(lambda: check_subset_sizes({"train_size": 0.5}, {"train": 50000})).split("; ")[0],
    ]
    for message in quoted:
        assert message in section, message
