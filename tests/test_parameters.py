"""check_parameters: each rule with good and bad values, the rules across parameters, and the notebooks' calls."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import torch
import yaml

import dynamic_graphs as dg
from dynamic_graphs import settings
from dynamic_graphs.reports import RULES, check_parameters
from dynamic_graphs.utils import UnknownNameError

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CI_PARAMETERS = yaml.safe_load((NOTEBOOK_DIR / "ci-parameters.yml").read_text())
# Declared only because every notebook shares these names; the notebook does not use them.


@pytest.fixture(autouse=True)
def keep_verbosity(monkeypatch):
    """A test that changes settings.verbosity (check_parameters must not) leaves it as it found it."""
    monkeypatch.setattr(settings, "verbosity", settings.verbosity)


# --------------------------------------------------------------------------- one parameter

GOOD = [
    ("model", "resnet20"), ("model", "ResNet56"), ("model", ["resnet20", "vgg11"]),
    ("dataset", "fashion-mnist"), ("dataset", "cifar10"), ("dataset", ["fashion-mnist", "cifar100"]),
    ("dataset", "synthetic"), ("methods", ["fgsm", "pgd", "CW-L2"]), ("methods", "onepixel"),
    ("device", "auto"), ("device", "cpu"), ("layout", "fr"),
    ("n", 1), ("repeats", 5), ("k", 3), ("seed", 0), ("epochs", None), ("epochs", 2), ("train_size", None),
    ("train_size", 2048), ("test_size", 500), ("recovery_epochs", 1), ("recovery_train_size", None),
    ("probe_train", 200), ("probe_test", 100), ("max_layers", None), ("max_layers", 2), ("ncols", 5),
    ("col_wrap", None), ("col_wrap", 3), ("train_options", None), ("train_options", {}),
    ("num_classes", 2), ("dim", 64), ("verbosity", 0), ("verbosity", 2),
    ("ns", [30, 60]), ("ks", 3), ("counts", [1]), ("counts", []), ("random_seeds", [0, 1]), ("train_seeds", [0, 1, 2]),
    ("train_seeds", None), ("recovery_seeds", [0, 1, 2]), ("random_seeds", None),
    ("baselines", ["unpruned-finetuned", "random-matched", "cka"]), ("baselines", []), ("probe", [1, 2, 5]),
    ("rule", "mean"), ("rule", "Interval"),
    ("layers_to_draw", [1, 4]), ("threshold", 0.01), ("threshold", 1), ("threshold", -0.5), ("recovery_lr", None),
    ("recovery_lr", 0.01), ("perplexity", 30), ("fps", 0.5), ("offset", -1.0), ("separations", [0, 0.3]),
    ("separations", 0.6), ("compare_untrained", False), ("paper_compat", True), ("from_scratch", False),
    ("fig_dir", None), ("fig_dir", "/tmp/figures"), ("report_dir", Path("reports")),
    ("metrics", ["modularity", "linear_probe"]), ("metric_split", "train"), ("metric_split", "test"), ("missing", "skip"), ("missing", "Train"), ("n_boot", 200),
    ("network", "efficientnet_lite0"), ("network", "EfficientNet_Lite0"), ("image_size", 224),
    ("steps", None), ("steps", 20), ("train_sizes", [600, 6000, None]), ("class_sets", [None, [6, 0]]),
    ("class_train_sizes", None), ("class_train_sizes", [None]), ("train_seeds", [0, 1]), ("train_seeds", None),
    ("train_seeds", {"resnet20": [0, 1, 2], "resnet110": [0]}),
]


@pytest.mark.parametrize("name, value", GOOD, ids=lambda v: repr(v))
def test_good_values_pass(name, value):
    assert check_parameters(**{name: value}) is None


BAD = [
    # papermill's -p passes "abc" as a string and -5 as an int
    ("k", "abc", TypeError, "k must be an integer, got 'abc' (str)."),
    ("n", -5, ValueError, "n must be an integer >= 1, got -5."),
    ("repeats", 0, ValueError, "repeats must be an integer >= 1, got 0."),
    ("n", 2.0, TypeError, "n must be an integer, got 2.0 (float)."),
    ("k", True, TypeError, "k must be an integer, got True (bool)."),
    ("seed", -1, ValueError, "seed must be an integer >= 0, got -1."),
    ("epochs", 0, ValueError, "epochs must be an integer >= 1, got 0."),
    ("epochs", "ten", TypeError, "epochs must be an integer or None, got 'ten' (str)."),
    ("train_size", 0, ValueError, "train_size must be an integer >= 1, got 0."),
    ("train_size", -5, ValueError, "train_size must be an integer >= 1, got -5."),
    ("train_size", 0.5, TypeError, "train_size must be an integer or None, got 0.5 (float)."),
    ("test_size", "None ", TypeError, "test_size must be an integer or None"),
    ("recovery_epochs", 0, ValueError, "recovery_epochs must be an integer >= 1"),
    ("recovery_train_size", -1, ValueError, "recovery_train_size must be an integer >= 1"),
    ("probe_train", None, TypeError, "probe_train must be an integer, got None"),
    ("probe_test", 0, ValueError, "probe_test must be an integer >= 1"),
    ("max_layers", 0, ValueError, "max_layers must be an integer >= 1"),
    ("ncols", 0, ValueError, "ncols must be an integer >= 1"),
    ("col_wrap", "3x", TypeError, "col_wrap must be an integer"),
    ("train_options", "bf16", TypeError, "train_options must be a mapping"),
    ("num_classes", 1, ValueError, "num_classes must be an integer >= 2"),
    ("dim", "64", TypeError, "dim must be an integer, got '64' (str)."),
    ("verbosity", 3, ValueError, "verbosity must be an integer between 0 and 2, got 3."),
    ("verbosity", -1, ValueError, "verbosity must be an integer between 0 and 2, got -1."),
    ("ns", "[30, 60]", TypeError, "ns must be a list of integers, got the string '[30, 60]'; on the command line "
                                  "give a list as YAML: -y \"ns: [3, 5]\"."),
    ("ks", [3, 0], ValueError, "ks[1] must be an integer >= 1, got 0."),
    ("ks", [3, "5"], TypeError, "ks[1] must be an integer, got '5' (str)."),
    ("ns", [], ValueError, "ns must list at least one integer"),
    ("counts", [2, 2], ValueError, "counts lists a value more than once"),
    ("random_seeds", [0, -1], ValueError, "random_seeds[1] must be an integer >= 0"),
    ("train_seeds", "[0, 1]", TypeError, "train_seeds must be a list of integers, got the string"),
    ("train_seeds", [1, 1], ValueError, "train_seeds lists a value more than once"),
    ("recovery_seeds", [], ValueError, "recovery_seeds must list at least one integer"),
    ("baselines", ["cka", "ckb"], KeyError, "Unknown pruning method 'ckb'"),
    # compare_pruning refuses a bare string only after training: refused here, not wrapped in a list
    ("baselines", "tail", TypeError, "baselines must be a list of method names, got the string 'tail'; use ['tail']"),
    ("baselines", ["cka", "CKA"], ValueError, "baselines lists a method more than once"),
    ("rule", "intervals", KeyError, "Unknown redundancy rule 'intervals'"),
    ("rule", None, TypeError, "rule must be one of mean, interval, got None (NoneType)."),
    ("metrics", "modularity", TypeError, "metrics must be a list of names, got the string"),
    ("metrics", ["modularity", "modularity"], ValueError, "metrics must list each measure"),
    ("metrics", ["modularty"], KeyError, "Unknown layer metric 'modularty'"),
    ("metric_split", "val", ValueError, "metric_split must be 'train' or 'test', got 'val'."),
    ("missing", "skp", KeyError, "Unknown missing= policy 'skp'. Did you mean 'skip'?"),
    ("n_boot", 0, ValueError, "n_boot must be an integer >= 1, got 0."),
    ("probe", [0, 1], ValueError, "probe[0] must be an integer >= 1"),
    ("layers_to_draw", 1.5, TypeError, "layers_to_draw[0] must be an integer"),
    ("threshold", "0.01", TypeError, "threshold must be a number, got '0.01' (str)."),
    ("threshold", float("nan"), ValueError, "threshold must be a number, got nan."),
    ("threshold", None, TypeError, "threshold must be a number, got None"),
    ("recovery_lr", 0, ValueError, "recovery_lr must be a number > 0, got 0."),
    ("recovery_lr", "fast", TypeError, "recovery_lr must be a number or None, got 'fast' (str)."),
    ("perplexity", 0, ValueError, "perplexity must be a number > 0, got 0."),
    ("fps", -1, ValueError, "fps must be a number > 0, got -1."),
    ("offset", float("inf"), ValueError, "offset must be a finite number, got inf."),
    ("separations", [0.3, -0.1], ValueError, "separations[1] must be a number >= 0, got -0.1."),
    ("separations", "0.3", TypeError, "separations must be a number or a non-empty list of numbers"),
    ("separations", [], TypeError, "separations must be a number or a non-empty list of numbers"),
    ("compare_untrained", "yes", TypeError, "compare_untrained must be True or False, got 'yes' (str)."),
    ("from_scratch", 1, TypeError, "from_scratch must be True or False, got 1 (int)."),
    ("paper_compat", None, TypeError, "paper_compat must be True or False, got None (NoneType)."),
    ("report_dir", ["reports"], TypeError, "report_dir must be a directory path or None"),
    ("fig_dir", 5, TypeError, "fig_dir must be a directory path or None, got 5 (int)."),
    ("layout", "", TypeError, "layout must be a non-empty string"),
    ("device", "tpu", ValueError, "Unknown device 'tpu'; use 'auto', 'cpu' or 'cuda[:i]'."),
    ("device", 0, TypeError, "device must be 'auto', 'cpu' or 'cuda[:i]', got 0 (int)."),
    ("methods", [], ValueError, "methods is empty; pass at least one attack name"),
    ("methods", ["fgsm", "FGSM"], ValueError, "methods lists an attack more than once: ['fgsm', 'fgsm']"),
    ("model", [], ValueError, "model must name at least one model"),
    ("model", 56, TypeError, "A model name must be a string, got int."),
    ("dataset", [], ValueError, "dataset must name at least one dataset"),
    ("network", "efficientnet_lite", KeyError, "Unknown ImageNet network 'efficientnet_lite'. Did you mean "
                                               "'efficientnet_lite0'?"),
    ("network", None, TypeError, "network must be one of efficientnet_lite0, got None"),
    ("image_size", 0, ValueError, "image_size must be an integer >= 1, got 0."),
    ("steps", 0, ValueError, "steps must be an integer >= 1, got 0."),
    ("train_sizes", "600", TypeError, "train_sizes must be a non-empty list of image counts"),
    ("train_sizes", [600, 0], ValueError, "train_sizes[1] must be an integer >= 1, got 0."),
    ("train_sizes", [600, 600], ValueError, "train_sizes lists a size more than once"),
    ("class_sets", [None, [3]], ValueError, "classes must list at least two distinct class indices"),
    ("class_sets", None, TypeError, "class_sets must be a non-empty list of class sets"),
    ("class_train_sizes", [], TypeError, "class_train_sizes must be a non-empty list of image counts"),
    ("train_seeds", {"resnet20": [0, -1]}, ValueError, "train_seeds['resnet20'][1] must be an integer >= 0"),
]


@pytest.mark.parametrize("name, value, error, message", BAD, ids=lambda v: repr(v))
def test_bad_values_fail_naming_the_parameter(name, value, error, message):
    with pytest.raises(error) as caught:
        check_parameters(**{name: value})
    assert str(caught.value).startswith(message), str(caught.value)


def test_every_rule_is_tested_with_a_good_and_a_bad_value():
    assert set(RULES) <= {name for name, _ in GOOD}
    assert set(RULES) <= {name for name, *_ in BAD}


def test_an_unknown_model_gets_the_message_of_get_model():
    with pytest.raises(KeyError) as from_api:
        dg.get_model("resnet65")
    with pytest.raises(type(from_api.value)) as checked:
        check_parameters(model=["resnet20", "resnet65"])
    assert str(checked.value) == str(from_api.value)
    assert "Did you mean 'resnet56'" in str(checked.value) and "Available:" in str(checked.value)


def test_an_unknown_attack_gets_the_message_of_attack():
    from dynamic_graphs.attacks import resolve_attack

    with pytest.raises(KeyError) as from_api:
        resolve_attack("pdg")
    with pytest.raises(type(from_api.value)) as checked:
        check_parameters(methods=["fgsm", "pdg"])
    assert str(checked.value) == str(from_api.value) and "'pgd'" in str(checked.value)


def test_datasets_are_checked_without_loading_or_downloading(data_dir, tmp_path_factory, monkeypatch):
    import torchvision

    def no_download(*args, **kwargs):
        raise AssertionError("check_parameters must not load a dataset")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", no_download)
    monkeypatch.setattr(dg.data.registry, "get_dataset", no_download)
    with pytest.raises(UnknownNameError, match=r"Unknown dataset 'cifar1'\. Did you mean 'cifar10'.*image folder"):
        check_parameters(dataset="cifar1")
    check_parameters(dataset=["cifar10", "fashion-mnist"], n=500, repeats=5)
    folder = tmp_path_factory.mktemp("images")
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
    check_parameters(dataset=str(folder), n=10**6, train_size=10**7)  # a folder's images are not counted
    assert not list(data_dir.iterdir()), "a check wrote into the data directory"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_where_there_is_none_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available; use device='auto' or 'cpu'"):
        check_parameters(device="cuda")


# --------------------------------------------------------------------------- across parameters


def test_dataset_info_gives_the_split_sizes():
    assert dg.data.dataset_info("fashion-mnist")["split_sizes"] == {"train": 60000, "test": 10000}
    assert dg.data.dataset_info("cifar10")["split_sizes"] == {"train": 50000, "test": 10000}
    assert dg.data.dataset_info("cifar100")["split_sizes"] == {"train": 50000, "test": 10000}
    assert dg.data.dataset_info("synthetic", n=64)["split_sizes"] == {"train": 64, "test": 64}
    assert dg.data.dataset_info("synthetic")["split_sizes"] == {"train": 200, "test": 200}  # get_dataset's default n


@pytest.mark.parametrize("parameters, message", [
    (dict(n=5, k=5), "k must satisfy 1 <= k < n (n = 5 images per graph), got k = 5"),
    (dict(n=500, k=3, ks=[3, 500]), "The k sweep needs every k < n = 500, got k = 500"),
    (dict(n=500, k=30, ns=[30, 60]), "The n sweep needs k = 30 < every n, got n = 30"),
    (dict(ns=[10, 100], ks=[3, 11]), "Every n must exceed every k, got ns = [10, 100] and ks = [3, 11]"),
    (dict(ns=[5, 100], ks=[3], num_classes=10), "Every n must be at least num_classes = 10, got n = 5"),
    (dict(n=20, perplexity=30), "perplexity must lie in (0, n) with n = 20 images, got 30"),
    (dict(dataset="fashion-mnist", n=6000, repeats=2),
     "fashion-mnist's test split has 10000 images but n × repeats = 6000 × 2 = 12000 disjoint samples"),
    (dict(dataset=["fashion-mnist", "synthetic"], n=60, repeats=5),
     "synthetic's test split has 200 images but n × repeats = 60 × 5 = 300"),
    (dict(dataset="cifar10", n=500, repeats=2, ns=[1000, 6000], k=3),
     "cifar10's test split has 10000 images but max(ns) × repeats = 6000 × 2 = 12000"),
    (dict(dataset="fashion-mnist", n=10001), "fashion-mnist's test split has 10000 images but n × repeats = "
                                             "10001 × 1"),
    (dict(dataset="fashion-mnist", n=2500, repeats=5, metric_split="test"),
     "fashion-mnist's test split has 10000 images but n × repeats = 2500 × 5 = 12500"),
    (dict(dataset="cifar10", n=20000, repeats=3, metric_split="train"),
     "cifar10's training split has 50000 images but n × repeats = 20000 × 3 = 60000"),
    (dict(dataset="cifar10", train_size=60000), "train_size = 60000 is more than the 50000 images of cifar10's "
                                                "training split; lower it, or None for all of them."),
    (dict(dataset="cifar10", test_size=10001), "test_size = 10001 is more than the 10000 images of cifar10's test"),
    (dict(dataset="fashion-mnist", recovery_train_size=60001), "recovery_train_size = 60001 is more than the 60000"),
    (dict(dataset="cifar100", probe_train=40000, probe_test=20000),
     "probe_train + probe_test = 40000 + 20000 = 60000 disjoint images are more than the 50000"),
    (dict(random_seeds=[0], recovery_seeds=[0, 1, 2]), "random_seeds [0] and recovery_seeds [0, 1, 2] pair up run by"),
    (dict(rule="interval", repeats=1), "rule='interval' needs the gain's 95 % interval, which takes repeats >= 2"),
    (dict(dataset=["fashion-mnist", "synthetic"], col_wrap=3),
     "col_wrap wraps the model panels of one dataset, but 2 were given (fashion-mnist, synthetic)"),
    (dict(model=["resnet20"], dataset="fashion-mnist", train_options={"vgg16": {"precision": "bf16"}}),
     "train_options names ['vgg16'], which are not among the models ['resnet20']"),
])
def test_parameters_are_checked_against_each_other_and_the_dataset(parameters, message):
    with pytest.raises(ValueError) as caught:
        check_parameters(**parameters)
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_largest_values_that_fit_pass():
    check_parameters(dataset="fashion-mnist", n=5000, repeats=2, k=4999, train_size=60000, test_size=10000,
                     recovery_train_size=60000, probe_train=50000, probe_test=10000)
    check_parameters(dataset="fashion-mnist", n=500, k=3, ks=[3, 499], ns=[4, 5000], repeats=2)  # fig6's sweeps
    check_parameters(ns=[12, 5000], ks=[3, 11], repeats=3, num_classes=12)  # asymptotics: no dataset to fit
    check_parameters(dataset="fashion-mnist", model=["resnet20", "vgg11"], col_wrap=3,
                     train_options={"vgg11": {"precision": "bf16"}})
    # the metrics notebook draws its samples from metric_split: the training split's 60000 images
    check_parameters(dataset="fashion-mnist", n=2500, repeats=5, metric_split="train")
    check_parameters(dataset="fashion-mnist", n=12000, repeats=5, metric_split="train")


def test_checking_the_verbosity_does_not_set_it():
    """A check has no side effect: dg.reports.start sets the verbosity (tests/test_notebook_run.py)."""
    for before, value in [(0, 2), (2, 0), (1, 0)]:
        settings.verbosity = before
        check_parameters(verbosity=value, n=5)
        assert settings.verbosity == before
    with pytest.raises(ValueError, match="verbosity must be an integer between 0 and 2"):
        check_parameters(verbosity=3)


def test_a_name_without_a_rule_is_logged_and_ignored(capsys):
    check_parameters(verbosity=1, colour="red", n=5)
    assert "check_parameters has no rule for colour: not checked." in capsys.readouterr().out


# --------------------------------------------------------------------------- the notebooks' calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_parameter_has_a_rule(path):
    """dg.reports.start checks every declared parameter: none may go unchecked."""
    declared = set(papermill.inspect_notebook(str(path)))
    assert declared <= set(RULES), f"{path.name}: no rule for {declared - set(RULES)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_passes_at_its_defaults_and_at_the_ci_preset(path):
    declared = papermill.inspect_notebook(str(path))
    defaults = {name: ast.literal_eval(declared[name]["default"]) for name in declared}
    check_parameters(**defaults)
    check_parameters(**{name: CI_PARAMETERS.get(name, default) for name, default in defaults.items()})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_sets_the_verbosity_itself(path):
    source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert not re.search(r"settings\.verbosity\s*=", source), f"{path.name}: dg.reports.start sets the verbosity"
