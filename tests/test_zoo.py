"""The zoo table (reports/zoo.csv): rows from the training runs' own checkpoints, and its command line."""
from __future__ import annotations

import pandas as pd
import pytest

from dynamic_graphs import settings
from dynamic_graphs.cli import main
from dynamic_graphs.training import ZOO_COLUMNS, zoo_row, zoo_table

TINY = dict(model_kwargs={"blocks": [1, 1, 1]}, device="cpu", epochs=2, batch_size=32, train_size=64)


def zoo(args: list[str]) -> int:
    """``dynamic-graphs zoo ARGS``."""
    return main(["zoo", *args])


class _Trained:
    """What pretrained() attaches to a model, with the fields zoo_row reads."""

    def __init__(self, **meta):
        self.checkpoint = meta


def test_a_row_reports_what_the_run_recorded():
    model = _Trained(config={"name": "resnet20"}, dataset="fashion-mnist", seed=2, epoch=6, test_acc=0.92894,
                     hparams={"train_size": None, "schedule": "onecycle", "nesterov": True, "lr": 0.1, "epochs": 6,
                              "milestones": [], "batch_size": 128, "momentum": 0.9, "weight_decay": 5e-4,
                              "gamma": 0.1, "crop_padding": 2, "flip": True, "rotation": 0.0, "test_size": None},
                     history=[{"seconds": 90.0}, {"seconds": 30.0}], git="abc1234",
                     path="data/checkpoints/fashion-mnist/resnet20-bedaa5de6a.pt")
    row = zoo_row(model)
    assert row == {"model": "resnet20", "dataset": "fashion-mnist", "top1": 92.89, "epochs": 6,
                   "train_size": 60000, "subset": "random", "classes": "all", "seed": 2, "minutes": 2.0,
                   "recipe": "onecycle", "key": "bedaa5de6a", "git": "abc1234"}
    model.checkpoint["hparams"] = dict(model.checkpoint["hparams"], schedule="multistep", nesterov=False, lr=0.05,
                                       epochs=4, milestones=[2, 3], train_size=12000)
    row = zoo_row(model)
    assert (row["recipe"], row["train_size"]) == ("step", 12000)  # a subset is not another recipe
    model.checkpoint["hparams"] = dict(model.checkpoint["hparams"], train_size=None, classes=[0, 6])
    row = zoo_row(model)  # two classes of a balanced split: their share of its images
    assert (row["recipe"], row["train_size"], row["subset"], row["classes"]) == ("step", 12000, "random", "0,6")
    model.checkpoint["hparams"] = dict(model.checkpoint["hparams"], train_size=600, subset="per-class")
    assert (zoo_row(model)["train_size"], zoo_row(model)["subset"]) == (600, "per-class")


def test_bad_arguments_fail_before_any_training():
    with pytest.raises(KeyError, match="Unknown model 'resnet21'"):
        zoo_table("resnet21")
    with pytest.raises(KeyError, match="missing= policy"):
        zoo_table("resnet20", missing="ignore")
    with pytest.raises(ValueError, match="more than once"):
        zoo_table("resnet20", seeds=[1, 1])


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_dir", tmp_path / "data")
    monkeypatch.setattr(settings, "verbosity", 0)
    return tmp_path


def test_the_table_trains_or_skips_what_is_missing_and_reads_each_run(empty_data_dir, caplog):
    skipped = zoo_table("resnet20", "synthetic", seeds=[0, 1], missing="skip", **TINY)
    assert list(skipped.columns) == ZOO_COLUMNS and skipped.empty
    assert "resnet20 on synthetic (seed 1) is not trained yet" in caplog.text
    with pytest.raises(FileNotFoundError, match="not trained yet.*missing='train'"):
        zoo_table("resnet20", "synthetic", missing="raise", **TINY)

    trained = zoo_table("resnet20", "synthetic", seeds=[0, 1], **TINY)
    assert list(trained.seed) == [0, 1] and list(trained.epochs) == [2, 2]
    assert list(trained.train_size) == [64, 64] and (trained.minutes >= 0).all()
    assert trained.key.nunique() == 2  # one checkpoint per seed
    from dynamic_graphs import pretrained

    again = pretrained("resnet20", "synthetic", seed=1, **TINY)  # the cached run itself
    assert trained.top1.iloc[1] == round(100 * again.checkpoint["test_acc"], 2)
    assert trained.equals(zoo_table("resnet20", "synthetic", seeds=[0, 1], missing="raise", **TINY))


def test_the_command_line_writes_the_csv(empty_data_dir):
    out = empty_data_dir / "reports" / "zoo.csv"
    assert zoo(["resnet20", "--dataset", "synthetic", "--train-size", "64", "--device", "cpu",
                 "--missing", "skip", "--out", str(out)]) == 0
    assert pd.read_csv(out).empty
    assert zoo(["resnet20", "--dataset", "synthetic", "--epochs", "1", "--train-size", "64", "--device", "cpu",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ZOO_COLUMNS
    assert table[["model", "dataset", "epochs", "train_size", "seed"]].values.tolist() == \
        [["resnet20", "synthetic", 1, 64, 0]]
    assert zoo(["resnet20:0,1", "--dataset", "synthetic", "--epochs", "1", "--train-size", "64", "--device", "cpu",
                 "--missing", "skip", "--out", str(out)]) == 0
    assert pd.read_csv(out)[["model", "seed"]].values.tolist() == [["resnet20", 0]]  # seed 1 is not trained: no row
    for bad in (["resnet21"], ["resnet20:0,x"]):
        with pytest.raises(SystemExit):  # argparse's usage error, not a traceback
            zoo([*bad, "--out", str(out)])


def test_ship_records_the_command_that_trained_the_weights(empty_data_dir, monkeypatch, capsys):
    import dynamic_graphs.training.weights as weights_module

    monkeypatch.setattr(weights_module, "WEIGHTS_DIR", empty_data_dir / "weights")
    args = ["resnet20", "--dataset", "synthetic", "--epochs", "1", "--train-size", "64", "--device", "cpu", "--ship"]
    assert zoo(args) == 0
    entry, = weights_module.read_manifest()
    assert entry["command"] == "dynamic-graphs zoo " + " ".join(args)  # re-runs as it is written
    assert (empty_data_dir / "weights" / entry["file"]).is_file()
    assert "resnet20 synthetic" in capsys.readouterr().out  # no --out: the table is printed


def _zoo_rows(*specs):
    """A zoo table of (model, key, top1) rows, the other columns filled alike."""
    return pd.DataFrame([{"model": model, "dataset": "fashion-mnist", "top1": top1, "epochs": 6, "train_size": 60000,
                          "seed": 0, "minutes": 1.0, "recipe": "onecycle", "key": key, "git": "abc1234"}
                         for model, key, top1 in specs], columns=ZOO_COLUMNS)


def test_out_updates_the_table_and_keeps_rows_of_other_runs(tmp_path):
    from dynamic_graphs.training import updated_table

    path = tmp_path / "zoo.csv"
    new = _zoo_rows(("vgg16", "0000000123", 92.6), ("vgg19", "bbbbbbbbbb", 92.7))
    assert updated_table(path, new).equals(new)  # no file yet: this run's rows
    _zoo_rows(("resnet20", "aaaaaaaaaa", 92.9), ("vgg16", "0000000123", 89.2), ("vgg11", "cccccccccc", 92.8)) \
        .to_csv(path, index=False)
    merged = updated_table(path, new)
    # the vgg16 run is replaced in its place (its key read as text, not as the number 123); vgg19 is added
    assert merged[["model", "key", "top1"]].values.tolist() == [
        ["resnet20", "aaaaaaaaaa", 92.9], ["vgg16", "0000000123", 92.6], ["vgg11", "cccccccccc", 92.8],
        ["vgg19", "bbbbbbbbbb", 92.7]]
    assert updated_table(path, new.iloc[:0]).equals(pd.read_csv(path, dtype={"key": str, "git": str}))

    not_a_table = tmp_path / "notes.csv"
    not_a_table.write_text("model,accuracy\nresnet20,0.9\n")
    with pytest.raises(ValueError, match=r"lacks the columns \['dataset', 'top1'.*left as it is.*--replace"):
        updated_table(not_a_table, new)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="could not be read as a zoo table"):
        updated_table(empty, new)


def test_the_command_line_refuses_to_overwrite_what_it_cannot_read(empty_data_dir):
    out = empty_data_dir / "reports" / "zoo.csv"
    out.parent.mkdir(parents=True)
    out.write_text("model,accuracy\nresnet20,0.9\n")
    args = ["resnet20", "--dataset", "synthetic", "--train-size", "64", "--device", "cpu", "--missing", "skip",
            "--out", str(out)]
    with pytest.raises(SystemExit):
        zoo(args)
    assert out.read_text() == "model,accuracy\nresnet20,0.9\n"
    assert zoo([*args, "--replace"]) == 0
    assert list(pd.read_csv(out).columns) == ZOO_COLUMNS
