"""The verdict paragraph of every report: its status comes from intervals, and its text carries the run's numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import dynamic_graphs as dg
from dynamic_graphs import settings
from dynamic_graphs.reports import verdicts
from dynamic_graphs.reports.verdicts import STATUSES, VERDICTS, Verdict
from dynamic_graphs.utils import UnknownNameError
from conftest import tiny_net, tiny_synthetic

HOLDS, PARTLY, FAILS, UNMEASURED = STATUSES
RISE = [[0.20, 0.40, 0.60], [0.21, 0.41, 0.62], [0.19, 0.39, 0.58]]  # three repeats, three layers
FALL = [row[::-1] for row in RISE]
# its last two gains are within ±0.0025 of 0 (flat: below verdicts' FLAT_GAIN)
PLATEAU = [[0.2, 0.6, 0.8, 0.801, 0.8], [0.21, 0.62, 0.81, 0.809, 0.81], [0.19, 0.58, 0.79, 0.79, 0.79]]


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(settings, "verbosity", 0)


def hand_curve(table, **columns) -> pd.DataFrame:
    """A modularity_curve-shaped frame from a (repeats, layers) table of Q."""
    table = np.asarray(table, dtype=float)
    return pd.DataFrame([{"layer": f"l{depth}", "depth": depth, "repeat": repeat, "modularity": table[repeat, depth - 1],
                          "edges": 30, "n": 500, "k": 3, **columns}
                         for repeat in range(table.shape[0]) for depth in range(1, table.shape[1] + 1)])


def model_frame(curves: dict) -> pd.DataFrame:
    """model_curves' frame: {(model, trained, train_seed): table}, stacked as model_curves stacks them."""
    return dg.stack_curves({("fashion-mnist", model, trained, seed): hand_curve(table, test_acc=0.9 if trained else np.nan)
                            for (model, trained, seed), table in curves.items()},
                           name=["dataset", "model", "trained", "train_seed"])


# ------------------------------------------------------------------------------ the Verdict itself


def test_verdict_markdown_metadata_and_summary():
    item = Verdict("fig3", "Q rises.", "Q 0.60 → 0.80 (rise +0.20 ± 0.01); 5 of 5 gains rise.", PARTLY)
    assert item.markdown() == ("**Partly holds.** The paper: Q rises. This run: Q 0.60 → 0.80 (rise +0.20 ± 0.01); "
                               "5 of 5 gains rise.")
    text, metadata = item._repr_markdown_()
    assert text == item.markdown()
    assert metadata == {"dynamic_graphs": {"verdict": {"figure": "fig3", "status": PARTLY, "claim": "Q rises.",
                                                       "measured": item.measured}}}
    assert item.summary() == "Partly holds: " + item.measured
    assert item.summary(words=10) == "Partly holds: Q 0.60 → 0.80 (rise +0.20 ± 0.01) …"  # whole clauses only
    assert len(item.summary(words=3).split()) == 4  # a first clause too long is cut
    assert Verdict("asymptotics", "Q ≈ p_in.", "ok.", HOLDS).markdown().startswith("**Holds.** The package's")
    with pytest.raises(ValueError, match="not one of"):
        Verdict("fig1", "c", "m", "true")


def test_dispatch_by_notebook_or_report_name_and_close_name_errors():
    assert set(VERDICTS) == {"asymptotics", "fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig9",
                             "metrics", "table1", "transfer", "data_axis"}
    agreement = pd.DataFrame({"spearman": [0.8, 0.9, 0.85]})
    assert verdicts.verdict("fig7-resnet56", agreement) == verdicts.fig7(agreement)
    with pytest.raises(UnknownNameError, match="Did you mean 'fig3'"):
        verdicts.verdict("fig33", agreement)


# ------------------------------------------------------------------------------ curves (Figs. 1-3)


def test_fig1_from_the_curve_and_each_status():
    rising = verdicts.fig1(hand_curve(RISE))
    assert rising.status == HOLDS
    # first layer 0.20 ± t(0.975, 2)·0.01/√3 = 0.025; the paired rise (0.40, 0.41, 0.39) has the same spread
    assert "Q 0.200 ± 0.025 → 0.600 ± 0.050 (rise +0.400 ± 0.025) over 3 layers (95 % intervals over 3 repeats)" \
        in rising.measured
    assert "2 rise (0 of them by less than 0.01), 0 are flat, 0 fall and 0 are unresolved" in rising.measured
    dip = np.array(RISE) + np.array([0, 0.3, 0])  # layer 2 peaks, layer 3 falls back
    assert verdicts.fig1(hand_curve(dip)).status == PARTLY
    assert verdicts.fig1(hand_curve(FALL)).status == FAILS
    one = verdicts.fig1(hand_curve(RISE[:1]))
    assert one.status == UNMEASURED and "one repeat: no interval" in one.measured
    with pytest.raises(ValueError, match="holds 2"):
        verdicts.fig1(dg.stack_curves({"a": hand_curve(RISE), "b": hand_curve(FALL)}, name="variant"))


def test_fig2_tests_the_trend_over_layers():
    table = pd.DataFrame({"depth": [1, 2, 3, 4, 5], "layer": list("abcde"), "edges": 150,
                          "modularity": [0.33, 0.38, 0.40, 0.46, 0.72]})
    rising = verdicts.fig2(table)
    assert rising.status == HOLDS
    assert "Q 0.330 at layer 1 → 0.720 at layer 5; Spearman ρ of Q with depth 1.00 over 5 layers (p < 0.001)" \
        in rising.measured
    assert verdicts.fig2(table.assign(modularity=[0.4, 0.3, 0.45, 0.35, 0.5])).status == PARTLY  # ρ 0.6, p 0.28
    assert verdicts.fig2(table.assign(modularity=table.modularity[::-1].to_numpy())).status == FAILS
    assert verdicts.fig2(table.head(2)).status == UNMEASURED


def test_fig2_with_the_graphs_adds_the_same_class_edge_share():
    data = tiny_synthetic("test", n=24)
    images = torch.stack([data[i][0] for i in range(24)])
    labels = [int(data[i][1]) for i in range(24)]
    graphs = dg.figures.layer_graphs(tiny_net(), images, labels, layers=["0", "2", "4", "6"], k=3, device="cpu")
    item = verdicts.fig2(graphs, labels)
    assert "one sample of 24 images" in item.measured and "same-class edge share" in item.measured
    table = dg.figures.layer_graph_table(graphs)
    assert f"Q {table.modularity.iloc[0]:.3f} at layer 1".replace("-", "−") in verdicts.fig2(table).measured


def test_fig3_statuses_from_rises_plateaus_and_the_untrained_baseline():
    full = verdicts.fig3(model_frame({("vgg19", True, 0): PLATEAU, ("resnet20", True, 0): RISE,
                                      ("vgg19", False, 0): FALL}))
    assert full.status == HOLDS
    # the flat gains are those of layers 4 and 5 (each labelled by its later layer): Q is flat from layer 3 to 5
    assert "vgg19 Q 0.200 ± 0.025 → 0.800 ± 0.025 (rise +0.600 ± 0.000), gains 2 up/2 flat/0 down, Q flat over " \
           "layers 3–5;" in full.measured
    assert "resnet20 Q 0.200 ± 0.025 → 0.600 ± 0.050" in full.measured
    assert "Untrained, the rise from the first to the last layer: vgg19 −0.400 ± 0.025 ('does not rise': the " \
           "whole interval below 0.05)." in full.measured
    assert full.measured.endswith("Plateau or dip in vgg19.")
    no_plateau = verdicts.fig3(model_frame({("resnet20", True, 0): RISE, ("resnet20", False, 0): FALL}))
    assert no_plateau.status == PARTLY and "No trained curve plateaus or dips" in no_plateau.measured
    untrained_rises = verdicts.fig3(model_frame({("vgg19", True, 0): PLATEAU, ("vgg19", False, 0): RISE}))
    assert untrained_rises.status == PARTLY
    assert verdicts.fig3(model_frame({("resnet20", True, 0): FALL})).status == FAILS
    assert verdicts.fig3(model_frame({("resnet20", True, 0): RISE[:1]})).status == UNMEASURED
    with pytest.raises(KeyError, match="'model' column"):
        verdicts.fig3(dg.stack_curves({"a": hand_curve(RISE)}, name="variant"))
    with pytest.raises(ValueError, match="no trained curve"):
        verdicts.fig3(model_frame({("resnet20", False, 0): RISE}))


def test_fig3_uses_the_spread_across_training_seeds():
    seeds = {("resnet20", True, seed): np.array(RISE) + 0.01 * seed for seed in range(3)}
    item = verdicts.fig3(model_frame(seeds))
    assert "95 % intervals across training seeds" in item.measured
    # per seed the mean over repeats is 0.20, 0.21, 0.22 at layer 1: 0.210 ± t(0.975, 2)·0.01/√3
    assert "Q 0.210 ± 0.025 →" in item.measured
    assert item.status == PARTLY  # rises, no plateau


def test_fig3_gains_agree_with_curve_gains_on_a_model_curves_frame():
    curves = dg.figures.model_curves("resnet20", "synthetic", trained=False, n=12, repeats=3, device="cpu")
    as_trained = curves.assign(trained=True)  # the same numbers, read as a trained curve
    gains = dg.figures.curve_gains(as_trained).dropna(subset=["delta"])
    up, down = int((gains.gain_low > 0).sum()), int((gains.gain_high < 0).sum())
    flat = int(((gains.gain_high >= 0) & (gains.gain_high < verdicts.curves.FLAT_GAIN)).sum())
    up = int(((gains.gain_low > 0) & (gains.gain_high >= verdicts.curves.FLAT_GAIN)).sum())
    unresolved = len(gains) - up - down - flat
    text = f"gains {up} up/{flat} flat/{down} down" + (f"/{unresolved} unresolved" if unresolved else "")
    assert text in verdicts.fig3(as_trained).measured


def test_tight_small_gains_are_a_slow_rise_and_gains_around_zero_a_plateau():
    layers = dg.probe_layers("resnet20")
    # gains of layers 2-10; layers 8, 9: 0.003/0.004 ± 0.0025, clearly positive and clearly below 0.01
    slow = np.array([[0.06] * 6 + [0.002, 0.003] + [0.05], [0.07] * 6 + [0.003, 0.004] + [0.06],
                     [0.05] * 6 + [0.004, 0.005] + [0.07]])
    # the same, but layers 8, 9 gain 0.000 ± 0.0025: no measurable rise
    stops = slow - np.array([0] * 6 + [0.003, 0.004] + [0])

    def frame(steps):
        table = np.cumsum(np.hstack([np.full((3, 1), 0.2), steps]), axis=1)
        curve = pd.DataFrame([{"layer": layer, "depth": depth, "repeat": repeat, "modularity": table[repeat, depth - 1]}
                              for repeat in range(3) for depth, layer in enumerate(layers, start=1)])
        return curve, dg.stack_curves({("fashion-mnist", "resnet20", True, 0): curve},
                                      name=["dataset", "model", "trained", "train_seed"])

    curve, curves = frame(slow)
    gains = dg.figures.curve_gains(curves)
    tight = gains[gains.depth.isin([8, 9])]
    assert (tight.gain_low > 0).all() and (tight.gain_high < 0.01).all()
    item = verdicts.fig3(curves)
    assert "gains 7 up/2 small/0 flat/0 down." in item.measured and "No trained curve plateaus" in item.measured
    assert dg.figures.curve_gains(curves, flat_only=True).empty  # a slow rise is not where the curve stops
    # the verdict's paired gains are layer_gains' numbers
    profile = verdicts.curves._profile(verdicts.curves._matrix(curve))
    np.testing.assert_allclose([g[2:] for g in profile["gains"]], gains[["gain_low", "gain_high"]].iloc[1:], atol=1e-12)
    np.testing.assert_allclose([g[1] for g in profile["gains"]], gains["delta"].iloc[1:], atol=1e-12)

    _, curves = frame(stops)
    item = verdicts.fig3(curves)
    assert "gains 7 up/2 flat/0 down, Q flat over layers 7–9" in item.measured
    assert item.measured.endswith("Plateau or dip in resnet20.")
    assert dg.figures.curve_gains(curves, flat_only=True).depth.tolist() == [8, 9]  # one rule for both


def test_fig3_an_untrained_rise_must_be_shown_small_not_merely_contain_zero():
    # untrained rise 0.00 ± 0.25 (three repeats): it contains 0, but also rises of 0.2
    wide = [[0.3, 0.2, 0.1], [0.3, 0.4, 0.5], [0.3, 0.3, 0.3]]
    item = verdicts.fig3(model_frame({("vgg19", True, 0): PLATEAU, ("vgg19", False, 0): wide}))
    assert item.status == PARTLY and "vgg19 +0.000 ± 0.497" in item.measured
    flat = [[0.3, 0.31, 0.3], [0.3, 0.29, 0.31], [0.3, 0.3, 0.29]]  # 0.000 ± 0.025: within 0.05
    assert verdicts.fig3(model_frame({("vgg19", True, 0): PLATEAU, ("vgg19", False, 0): flat})).status == HOLDS
    assert verdicts.fig3(model_frame({("vgg19", True, 0): PLATEAU, ("vgg19", False, 0): flat}),
                         tolerance=0.01).status == PARTLY


def test_a_wide_interval_around_zero_is_not_called_a_plateau():
    wide = [[0.2, 0.4, 0.60, 0.64], [0.21, 0.41, 0.62, 0.60], [0.19, 0.39, 0.58, 0.60]]  # last gain 0.01 ± 0.06
    item = verdicts.fig3(model_frame({("resnet56", True, 0): wide}))
    assert "gains 2 up/0 flat/0 down/1 unresolved" in item.measured
    assert "No trained curve plateaus or dips" in item.measured


# ------------------------------------------------------------------------------ training, attacks, ablation, CKA


def dynamics_frame(deep_end: float, shallow_end: float = 0.6, repeats: int = 3) -> pd.DataFrame:
    rows = []
    for epoch, (acc, t) in enumerate([(0.715, 0.0), (0.85, 0.5), (0.929, 1.0)], start=1):
        for repeat in range(repeats):
            noise = 0.002 * (repeat - 1)
            for depth, start, end in ((1, 0.6, shallow_end), (9, 0.7, deep_end)):
                rows.append({"epoch": epoch, "layer": f"l{depth}", "depth": depth, "repeat": repeat,
                             "modularity": start + t * (end - start) + noise * (1 + t), "test_acc": acc,
                             "n": 500, "k": 3})
    return pd.DataFrame(rows)


def test_fig4_deep_layers_rise_while_shallow_ones_stay_flat():
    item = verdicts.fig4(dynamics_frame(0.77))
    assert item.status == HOLDS
    assert "test accuracy 71.5 → 92.9 %" in item.measured and "over epochs 1–3" in item.measured
    assert "L9 0.700 ± 0.005 → 0.770 ± 0.010 (change +0.070 ± 0.005)" in item.measured
    assert "Spearman ρ of L9's Q with the accuracy over epochs: 1.00" in item.measured
    assert verdicts.fig4(dynamics_frame(0.77, shallow_end=0.67)).status == PARTLY  # both rise alike
    assert verdicts.fig4(dynamics_frame(0.60)).status == FAILS
    assert verdicts.fig4(dynamics_frame(0.77, repeats=1)).status == UNMEASURED
    with pytest.raises(ValueError, match="two epochs"):
        verdicts.fig4(dynamics_frame(0.77).query("epoch == 1"))


def test_fig4_refuses_several_stacked_runs_like_fig1_and_fig5():
    runs = pd.concat([dynamics_frame(0.77).assign(model="vgg11"), dynamics_frame(0.60).assign(model="vgg16")])
    with pytest.raises(ValueError, match=r"one training run.*model \(2 values\).*dynamics\[dynamics\['model'\] =="):
        verdicts.fig4(runs)
    with pytest.raises(ValueError, match="would be averaged together"):  # two runs no column tells apart
        verdicts.fig4(pd.concat([dynamics_frame(0.77), dynamics_frame(0.60)]))
    assert verdicts.fig4(runs[runs.model == "vgg11"]).status == HOLDS


def adversarial_frame(last: dict[str, list[float]]) -> pd.DataFrame:
    """adversarial_curves-shaped: per attack a curve of two layers, its last layer's Q per repeat as given."""
    curves = {}
    for attack, values in last.items():
        for communities in ("true", "predicted"):
            table = [[0.6, value] for value in values]
            curves[attack, communities] = hand_curve(table)
    return dg.stack_curves(curves, name=["attack", "communities"]).assign(paper_compat=False)


def test_fig5_each_attack_must_lower_the_last_layer():
    clean = [0.84, 0.85, 0.86]
    item = verdicts.fig5(adversarial_frame({"clean": clean, "fgsm": [0.73, 0.74, 0.75], "pgd": [0.74, 0.75, 0.76]}))
    assert item.status == HOLDS
    assert "clean 0.850 ± 0.025" in item.measured and "FGSM 0.740 ± 0.025 (drop 0.110" in item.measured
    assert verdicts.fig5(adversarial_frame({"clean": clean, "fgsm": [0.73, 0.74, 0.75],
                                            "cw": [0.84, 0.86, 0.85]})).status == PARTLY
    assert verdicts.fig5(adversarial_frame({"clean": clean, "cw": [0.90, 0.91, 0.92]})).status == FAILS
    assert verdicts.fig5(adversarial_frame({"clean": [0.85], "fgsm": [0.74]})).status == UNMEASURED
    with pytest.raises(KeyError, match="clean"):
        verdicts.fig5(adversarial_frame({"fgsm": clean}))


def ablation_frame(last: dict[tuple[str, int], list[float]], middle_spread: float = 0.2) -> pd.DataFrame:
    curves = {}
    for index, (key, values) in enumerate(last.items()):
        curves[key] = hand_curve([[0.5 + middle_spread * index / len(last), value] for value in values])
    return dg.stack_curves(curves, name=["sweep", "value"])


def test_fig6_curves_must_meet_in_the_last_layer():
    meeting = ablation_frame({("k", 3): [0.78, 0.79, 0.80, 0.79, 0.79], ("k", 11): [0.77, 0.78, 0.79, 0.78, 0.78]})
    item = verdicts.fig6(meeting)
    assert item.status == HOLDS  # spread 0.010 ± 0.010 (Welch's, 5 + 5 repeats): within ±0.05
    assert "k 3 → 11: last-layer Q k = 3: 0.790 ± 0.009, k = 11: 0.780 ± 0.009 (spread 0.010 ± 0.010, Welch's; " \
           "widest 0.100 at layer 1)" in item.measured and "over 5 repeats" in item.measured
    assert "'meet' = the spread's interval within ±0.05" in item.measured
    apart = {("n", 200): [0.70, 0.701], ("n", 5000): [0.80, 0.801]}  # spread 0.100 ± 0.003: beyond 0.05
    assert verdicts.fig6(ablation_frame(apart, middle_spread=0.4)).status == FAILS  # narrowing is not meeting
    assert verdicts.fig6(ablation_frame(apart, middle_spread=0.0)).status == FAILS
    assert verdicts.fig6(ablation_frame(apart), tolerance=0.2).status == HOLDS
    assert verdicts.fig6(ablation_frame({("k", 3): [0.8], ("k", 5): [0.79]})).status == UNMEASURED


def test_fig6_few_repeats_never_make_curves_meet_more_easily():
    # two repeats, the means 0.1 apart: their wide intervals overlap, which the old rule read as "meet"
    wide = ablation_frame({("k", 3): [0.70, 0.90], ("k", 11): [0.80, 1.00]})
    item = verdicts.fig6(wide)
    assert item.status == PARTLY and "spread 0.100 ± 0." in item.measured
    # the same means, measured tightly, are shown apart
    tight = ablation_frame({("k", 3): [0.799, 0.800, 0.801], ("k", 11): [0.899, 0.900, 0.901]})
    assert verdicts.fig6(tight).status == FAILS


def test_fig7_agreement_from_the_per_repeat_correlations():
    item = verdicts.fig7(pd.DataFrame({"repeat": [0, 1, 2], "spearman": [0.8, 0.9, 0.85], "pairs": 378, "n": 500,
                                       "k": 3}))
    assert item.status == HOLDS
    assert "over 378 layer pairs, per disjoint sample of 500 images: 0.850 ± 0.124 (95 % t-interval over 3 " \
           "repeats;" in item.measured
    assert "'agrees' = the interval above 0.5" in item.measured
    assert verdicts.fig7(pd.DataFrame({"spearman": [0.2, 0.3, 0.25]})).status == FAILS  # 0.25 ± 0.12: below 0.5
    assert verdicts.fig7(pd.DataFrame({"spearman": [0.4, 0.6, 0.5]})).status == PARTLY  # 0.50 ± 0.25 contains 0.5
    assert verdicts.fig7(pd.DataFrame({"spearman": [-0.1, 0.1, 0.0]})).status == FAILS
    assert verdicts.fig7(pd.DataFrame({"spearman": [0.9]})).status == UNMEASURED
    summary = dg.figures.summarize_agreement(pd.DataFrame({"spearman": [0.8, 0.9, 0.85]}))
    assert verdicts.fig7(summary).status == HOLDS


def test_fig7_on_a_real_cka_agreement_frame():
    agreement = dg.figures.cka_agreement(tiny_net(), tiny_synthetic("test", n=48), n=12, repeats=2,
                                         layers=["0", "2", "4", "6"], device="cpu")
    item = verdicts.fig7(agreement)
    assert "over 6 layer pairs, per disjoint sample of 12 images" in item.measured
    low = dg.figures.summarize_agreement(agreement).ci_low.iloc[0]
    assert low > 0.5 and item.status == HOLDS  # both repeats give ρ = 0.771: a zero-width interval above 0.5


def test_fig7_two_repeats_of_strong_agreement_partly_hold():
    # 0.75 ± 1.91 (t with 1 degree of freedom): its interval reaches below 0, but also above 0.5
    item = verdicts.fig7(pd.DataFrame({"spearman": [0.6, 0.9]}))
    assert item.status == PARTLY and "over 2 repeats" in item.measured


# ------------------------------------------------------------------------------ pruning and metrics


def variants_table(top1: dict[str, list[float]], unpruned: float = 93.39, delta_q=None) -> pd.DataFrame:
    """evaluate_variants' table with recovery seeds: one row per (variant, seed), the unpruned row first."""
    rows = [{"variant": "unpruned", "recovery_seed": pd.NA, "removed": 0, "top1": unpruned, "params_reduction": 0.0,
             "flops_reduction": 0.0, "q_last": 0.80}]
    for variant, values in top1.items():
        rows += [{"variant": variant, "recovery_seed": seed, "removed": 4, "top1": value, "params_reduction": 0.1,
                  "flops_reduction": 0.15, "q_last": 0.80 - (delta_q or {}).get(variant, 0.0)}
                 for seed, value in enumerate(values)]
    table = pd.DataFrame(rows)
    table["recovery_seed"] = table["recovery_seed"].astype("Int64")
    table["delta_acc"] = unpruned - table.top1
    table["delta_q"] = table.q_last.iloc[0] - table.q_last
    return table


def test_fig8_plateau_pruning_costs_little():
    item = verdicts.fig8(variants_table({"8 removed": [92.53, 92.73, 92.74], "16 removed": [90.1, 90.3, 90.5]}))
    assert item.status == PARTLY  # 8 blocks: loss below 1 point; 16: far beyond
    assert "unpruned 93.39 %" in item.measured and "8 removed (4 units) 92.67 ± 0.12 %, loss 0.72 ± 0.29 points" \
        in item.measured and "mean ± std over 3 recovery seeds" in item.measured
    assert verdicts.fig8(variants_table({"8 removed": [92.9, 93.0, 93.1]})).status == HOLDS
    assert verdicts.fig8(variants_table({"16 removed": [90.1, 90.3, 90.5]})).status == FAILS
    assert verdicts.fig8(variants_table({"8 removed": [92.9, 93.5, 92.0]})).status == PARTLY  # straddles 1 point
    single = verdicts.fig8(variants_table({"8 removed": [92.9]}))
    assert single.status == UNMEASURED and "one recovery seed: no interval" in single.measured
    with pytest.raises(ValueError, match="no pruned variant.*only the 'unpruned' row"):
        verdicts.fig8(variants_table({}))


def test_fig9_contrast_and_paper_variants():
    contrast = variants_table({"plateau-4": [93.08, 93.27, 93.19], "rising-4": [92.57, 92.83, 92.71]})
    item = verdicts.fig9(contrast)
    assert item.status == HOLDS
    p_value = dg.figures.summarize_comparison(contrast, by="variant", reference="plateau-4").p_value.iloc[-1]
    assert "plateau-4 93.18 ± 0.10 % against rising-4 92.70 ± 0.13 %: the rising units cost 0.48" in item.measured
    assert f"Welch's p = {p_value:.3f}" in item.measured
    reversed_ = variants_table({"plateau-4": [92.57, 92.83, 92.71], "rising-4": [93.08, 93.27, 93.19]})
    assert verdicts.fig9(reversed_).status == FAILS
    paper = variants_table({"VGG11_1": [92.45], "VGG11_3": [88.17]}, unpruned=92.84, delta_q={"VGG11_3": 0.071})
    single = verdicts.fig9(paper)
    assert single.status == UNMEASURED and "VGG11_3 88.17 %, ΔAcc 4.67, ΔQ 0.071" in single.measured
    seeded = variants_table({"VGG11_3": [88.1, 88.2, 88.3]}, unpruned=92.84)
    assert verdicts.fig9(seeded).status == HOLDS
    with pytest.raises(ValueError, match="neither"):
        verdicts.fig9(variants_table({"plateau-4": [93.0, 93.1]}).query("variant != 'unpruned'"))


def test_p_values_print_with_three_decimals_and_welch_gives_scipys():
    from scipy import stats

    from dynamic_graphs.reports.verdicts.base import p_text, welch_interval

    assert p_text(0.0496) == "p = 0.050" and p_text(0.05) == "p = 0.050" and p_text(0.0004) == "p < 0.001"
    assert p_text(float("nan")) == "no p-value"
    a, b = [93.08, 93.27, 93.19, 93.3], [92.57, 92.83, 92.71]
    diff, low, high, p_value = welch_interval(a, b)
    assert p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    assert diff == pytest.approx(np.mean(a) - np.mean(b)) and low < diff < high
    assert np.isnan(welch_interval([1.0], b)[3])


def comparison(top1: dict[str, list[float]]) -> pd.DataFrame:
    """compare_pruning's runs: the unpruned row, then each method's runs."""
    rows = [{"method": "unpruned", "seed": 0, "removed": 0, "top1": 93.39, "params_reduction": 0.0,
             "flops_reduction": 0.0}]
    rows += [{"method": method, "seed": seed, "removed": 16, "top1": value, "params_reduction": 0.7,
              "flops_reduction": 0.6} for method, values in top1.items() for seed, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_table1_from_welch_tests_against_the_modularity_row():
    own = [90.1, 90.3, 90.5]
    beaten = comparison({"modularity": own, "linear-probe": [91.2, 91.3, 91.4], "random": [89.9, 90.2, 90.5]})
    item = verdicts.table1(dg.figures.summarize_comparison(beaten))
    assert item.status == FAILS
    assert "modularity removes 16 units and keeps 90.30 ± 0.20 % (mean ± std over 3 runs)" in item.measured
    assert "linear-probe +1.00 (p = " in item.measured and "random −0.10 (p = " in item.measured
    assert verdicts.table1(beaten).status == FAILS  # compare_pruning's runs are summarised first
    chance = comparison({"modularity": own, "random-matched": [90.0, 90.3, 90.6], "tail": [89.0, 89.1, 89.2]})
    assert verdicts.table1(chance).status == PARTLY  # no better than random units
    better = comparison({"modularity": own, "random-matched": [88.0, 88.3, 88.6], "tail": [89.0, 89.1, 89.2]})
    assert verdicts.table1(better).status == HOLDS
    assert verdicts.table1(comparison({"modularity": [90.3], "tail": [89.0]})).status == UNMEASURED
    with pytest.raises(KeyError, match="'modularity' row"):
        verdicts.table1(dg.figures.summarize_comparison(chance, reference="tail").query("method != 'modularity'"))


def test_metrics_reads_the_modularity_correlation():
    frame = pd.DataFrame({"metric": ["block_influence", "modularity"], "spearman": [0.83, 0.38],
                          "ci_low": [0.63, -0.06], "ci_high": [0.93, 0.73], "p_value": [3e-7, 0.06], "units": 25})
    item = verdicts.metrics(frame)
    assert item.status == PARTLY
    assert "over 25 units: 0.38 [−0.06, 0.73] (95 % bootstrap interval, p = 0.060); the best of 2 measures, " \
           "block_influence: 0.83 [0.63, 0.93]" in item.measured
    assert verdicts.metrics(frame.assign(ci_low=[0.63, 0.1])).status == HOLDS
    assert verdicts.metrics(frame.assign(ci_high=[0.93, -0.01])).status == FAILS
    assert verdicts.metrics(frame.assign(ci_low=np.nan, ci_high=np.nan)).status == UNMEASURED
    with pytest.raises(KeyError, match="include 'modularity'"):
        verdicts.metrics(frame.head(1))


def test_asymptotics_on_a_real_sweep_and_a_broken_identity():
    frame = dg.figures.asymptotic_sweep(ns=[20, 200], ks=[3, 5], separation=[0.0, 1.5], num_classes=2, dim=4,
                                        repeats=3)
    item = verdicts.asymptotics(frame)
    deviation = (frame.modularity - (frame.p_in - frame.sum_pi2)).abs().max()
    assert f"max abs(Q − (p_in − Σπ²)) = {deviation:.4f} over 24 graphs" in item.measured
    assert "from N = 20 to 200, Q rises for" in item.measured and "of 2 (separation, k) pairs" in item.measured
    assert "at separation 1.5 Q rises by" in item.measured
    # the deviation (0.0148) exceeds the default tolerance 0.01, no rise is resolved with 3 repeats, the spread narrows
    assert item.status == PARTLY
    assert verdicts.asymptotics(frame.assign(p_in=frame.p_in + 0.1)).status in (PARTLY, FAILS)
    assert verdicts.asymptotics(frame, tolerance=0.0).status != HOLDS


def _transfer_frame(probe_by_repeat: dict[str, list[float]], q_by_repeat: dict[str, list[float]]):
    """transfer_metrics' frame of one network from per-layer values over repeats."""
    rows = [{"network": "net", "repeat": r, "layer": layer, "depth": depth, "modularity": q_by_repeat[layer][r],
             "linear_probe": probe_by_repeat[layer][r]}
            for depth, layer in enumerate(probe_by_repeat, start=1) for r in range(len(probe_by_repeat[layer]))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("probe, status", [
    ({"a": [0.5, 0.6, 0.55], "b": [0.9, 0.92, 0.91]}, "holds"),              # Q and the probe both peak at b
    ({"a": [0.95, 0.96, 0.97], "b": [0.90, 0.92, 0.91]}, "does not hold"),   # the probe is surely worse at b
    ({"a": [0.95, 0.89, 0.94], "b": [0.90, 0.92, 0.91]}, "partly holds"),    # worse at b, within the noise
])
def test_transfer_verdict_reads_the_probe_at_the_peak_of_q(probe, status):
    from dynamic_graphs.figures import best_layers

    best = best_layers(_transfer_frame(probe, {"a": [0.2, 0.25, 0.22], "b": [0.5, 0.55, 0.52]}))
    verdict = verdicts.transfer(best)
    assert verdict.status == status, verdict.measured
    assert "Q peaks at b" in verdict.measured
    peak = best.set_index("measure").loc["modularity"]
    gap = np.max(np.mean(list(probe.values()), axis=1)) - np.mean(probe["b"])
    assert peak.probe_gap == pytest.approx(gap) and peak.probe_there == pytest.approx(np.mean(probe["b"]))


def _shares(cells: dict[tuple, list[tuple[float, float]]], gains: dict[str, int]) -> pd.DataFrame:
    """Per-seed rows from {(model, size[, classes]): [(plateau share, rise depth) per seed]}."""
    return pd.DataFrame([{"model": key[0], "train_size": key[1], "classes": key[2] if len(key) > 2 else "all",
                          "train_seed": seed, "plateau_share": share, "rise_depth": rise, "gains": gains[key[0]]}
                         for key, values in cells.items() for seed, (share, rise) in enumerate(values)])


SHALLOW = {("resnet20", 600): [(0.3, 0.5), (0.3, 0.55), (0.4, 0.5)],      # more stops, and sooner, on less data
           ("resnet20", 60000): [(0.1, 0.9), (0.2, 1.0), (0.1, 0.95)]}


@pytest.mark.parametrize("deep_small, status", [
    ([(0.5, 0.4), (0.55, 0.45), (0.6, 0.5)], "holds"),             # the deeper one's too
    ([(0.5, 0.9), (0.55, 1.0), (0.6, 0.95)], "partly holds"),      # a larger share, the same rise depth: flatter
    ([(0.0, 1.0), (0.05, 1.0), (0.1, 0.95)], "partly holds"),      # the deeper one's shares fall
    ([(0.1, 0.4), (0.4, 1.0), (0.25, 0.7)], "partly holds"),       # within its seeds' noise
])
def test_data_axis_verdict_combines_both_measures_of_the_models_with_seeds(deep_small, status):
    shares = _shares({**SHALLOW, ("resnet110", 600): deep_small,
                      ("resnet110", 60000): [(0.2, 0.9), (0.25, 0.95), (0.2, 1.0)]}, {"resnet20": 9, "resnet110": 54})
    verdict = verdicts.data_axis(shares)
    assert verdict.status == status, verdict.measured
    assert "The status reads the changes with an interval (resnet20, resnet110)" in verdict.measured
    assert "resnet20 from 60,000 to 600 images: share 0.13 → 0.33 (+0.20 ± 0." in verdict.measured
    assert "rise depth 0.95 → 0.52 (−0.43 ± 0." in verdict.measured  # the change itself, falling as predicted
    with pytest.raises(ValueError, match="at least two sizes"):
        verdicts.data_axis(shares[shares["train_size"] == 600])
    with pytest.raises(KeyError, match="rise_depth"):
        verdicts.data_axis(shares.drop(columns="rise_depth"))


def test_data_axis_verdict_gives_a_model_with_one_seed_as_a_point_value():
    shares = _shares({**SHALLOW, ("resnet110", 600): [(0.1, 1.0)], ("resnet110", 60000): [(0.6, 0.5)]},
                     {"resnet20": 9, "resnet110": 54})
    verdict = verdicts.data_axis(shares)
    assert verdict.status == "holds"  # resnet20's intervals; resnet110's contrary change is one seed's, not counted
    assert "resnet110 from 60,000 to 600 images: share 0.60 → 0.10 (−0.50, one seed), rise depth 0.50 → 1.00 " \
        "(+0.50, one seed)" in verdict.measured
    assert "(resnet20); a point value, from one seed, is not counted" in verdict.measured
    alone = verdicts.data_axis(shares[shares["model"] == "resnet110"])
    assert alone.status == "not measurable" and "No change has two seeds in both cells" in alone.measured


def test_data_axis_verdict_reads_the_class_axis_and_names_the_cells_not_trained():
    shares = _shares({**SHALLOW, ("resnet20", 12000, "0,6"): [(0.6, 0.3), (0.5, 0.35), (0.55, 0.3)],
                      ("resnet56", 6000): [(0.5, 0.6)], ("resnet56", 60000): [(0.3, 0.8)],
                      ("resnet56", 12000, "0,6"): [(0.1, 1.0)], ("resnet110", 60000): [(0.6, 0.9)]},
                     {"resnet20": 9, "resnet56": 27, "resnet110": 54})
    cells = pd.DataFrame({"model": ["resnet20", "resnet56", "resnet110"], "train_size": [60000, 600, 600],
                          "classes": ["all", "all", "0,6"], "train_seed": [0, 0, 1], "trained": [True, False, False]})
    verdict = verdicts.data_axis(shares, cells)
    assert verdict.status == "holds", verdict.measured
    assert "resnet56 from 60,000 to 6,000 images: share 0.30 → 0.50 (+0.20, one seed)" in verdict.measured
    assert "with one training-set size, not compared: resnet110 (60,000 images only)" in verdict.measured
    assert ("From every class to classes 0,6 alone (each at its largest training set): resnet20 share 0.13 → 0.55 "
            "(+0.42 ± 0.") in verdict.measured
    assert "resnet56 share 0.30 → 0.10 (−0.20, one seed)" in verdict.measured
    assert "(resnet20, resnet20 on classes 0,6)" in verdict.measured
    assert ("Not trained yet, so not read (2 of 3 cells): resnet56:0 on 600 images, resnet110:1 on 600 images of "
            "classes 0,6") in verdict.measured
