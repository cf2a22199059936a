"""The stacked-curve contract: readers keep curves apart by their label columns, or refuse."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynamic_graphs import stack_curves, summarize_curve
from dynamic_graphs.frames import check_curves, curve_labels, iter_curves, single_curve


def curve(values, repeats=2, **extra):
    """A hand-made curve frame: Q = values[layer] + 0.01 * repeat."""
    rows = [{"layer": f"l{depth}", "depth": depth, "repeat": repeat, "modularity": value + 0.01 * repeat,
             "edges": 10, "n": 20, "k": 3, **extra}
            for repeat in range(repeats) for depth, value in enumerate(values, start=1)]
    return pd.DataFrame(rows)


def test_labels_are_the_non_measure_columns_and_declared_ones_come_first():
    frame = curve([0.1, 0.2], model="resnet20", test_acc=0.9)
    assert curve_labels(frame) == ["n", "k", "model"]  # test_acc (a float) and edges are measures
    frame.attrs["labels"] = ["model"]
    assert curve_labels(frame) == ["model", "n", "k"]


def test_summarize_keeps_stacked_variants_apart():
    stacked = stack_curves({"base": curve([0.1, 0.2]), "pruned": curve([0.5, 0.7])}, name="variant")
    summary = summarize_curve(stacked)
    assert len(summary) == 2 * 2
    assert summary.set_index(["variant", "layer"])["mean"].round(3).to_dict() == {
        ("base", "l1"): 0.105, ("base", "l2"): 0.205, ("pruned", "l1"): 0.505, ("pruned", "l2"): 0.705}


def test_summarize_keeps_a_plain_extra_label_column_apart_too():
    # Concatenated by hand with an extra column, no stack_curves: the column still tells them apart.
    frame = pd.concat([curve([0.1, 0.2], variant="a"), curve([0.3, 0.4], variant="b")], ignore_index=True)
    assert summarize_curve(frame).groupby("variant").size().to_dict() == {"a": 2, "b": 2}


@pytest.mark.parametrize("extra", [{}, {"lr": 0.1}], ids=["no label", "float column"])
def test_curves_that_no_column_tells_apart_are_refused(extra):
    other = {key: value / 10 for key, value in extra.items()}
    frame = pd.concat([curve([0.1, 0.2], **extra), curve([0.5, 0.7], **other)], ignore_index=True)
    with pytest.raises(ValueError, match="stack_curves"):
        summarize_curve(frame)
    # Declared as a label, the float column keeps them apart.
    if extra:
        frame.attrs["labels"] = ["lr"]
        assert len(summarize_curve(frame)) == 4


def test_stack_curves_nests_and_records_every_label():
    inner = stack_curves({3: curve([0.1]), 5: curve([0.2])}, name="k_sweep")
    outer = stack_curves({("resnet20", True): inner, ("resnet20", False): inner}, name=["model", "trained"])
    assert outer.attrs["labels"][:3] == ["model", "trained", "k_sweep"]
    assert list(outer.columns[:3]) == ["model", "trained", "k_sweep"]
    assert len(list(iter_curves(outer))) == 4
    with pytest.raises(ValueError, match="one value per label column"):
        stack_curves({"a": curve([0.1])}, name=["model", "trained"])
    with pytest.raises(ValueError, match="already has the column"):
        stack_curves({"a": inner}, name="k_sweep")
    with pytest.raises(ValueError, match="at least one curve"):
        stack_curves({}, name="variant")


def test_single_curve_names_the_columns_to_select_on():
    stacked = stack_curves({"fgsm": curve([0.1]), "pgd": curve([0.2])}, name="attack")
    with pytest.raises(ValueError, match=r"holds 2, told apart by \['attack', 'n', 'k'\].*attack='fgsm'"):
        single_curve(stacked, caller="redundant_layers")
    one = single_curve(stacked[stacked.attack == "pgd"])
    assert np.allclose(one.modularity, [0.2, 0.21])


def test_check_curves_refuses_what_is_not_a_curve_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        check_curves([0.1, 0.2])
    with pytest.raises(KeyError, match=r"lacks the column\(s\) \['modularity'\]"):
        check_curves(pd.DataFrame({"layer": ["a"], "depth": [1]}))


def test_nan_labels_form_their_own_curve():
    frame = pd.concat([curve([0.3, 0.5], epoch=np.nan), curve([0.1, 0.2], epoch=1.0)], ignore_index=True)
    frame.attrs["labels"] = ["epoch"]
    summary = summarize_curve(frame)
    # per (curve, layer): Q = value + 0.01 * repeat over repeats 0, 1, so mean = value + 0.005, std = 0.01 / sqrt(2);
    # the 95 % half-width is t_{0.975, 1} * std / sqrt(2), where t with 1 dof is Cauchy: t_p = tan(pi (p - 1/2))
    std = 0.01 / np.sqrt(2)
    half = np.tan(np.pi * 0.475) * std / np.sqrt(2)
    mean = np.array([0.305, 0.505, 0.105, 0.205])
    expected = pd.DataFrame({  # the NaN curve kept, apart, in order of first appearance; label columns first
        "epoch": [np.nan, np.nan, 1.0, 1.0], "n": [20] * 4, "k": [3] * 4, "depth": [1, 2, 1, 2],
        "layer": ["l1", "l2", "l1", "l2"], "mean": mean, "std": [std] * 4, "repeats": [2] * 4,
        "ci_low": mean - half, "ci_high": mean + half})
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-12)
    assert summary.attrs["labels"] == ["epoch", "n", "k"]
