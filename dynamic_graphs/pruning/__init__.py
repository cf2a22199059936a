"""Pruning with the curve: model surgery and cost, the rules that choose what to remove, recovery training.

The pipeline, one function per stage (Lu et al. 2022, Figs. 8-9 and Table 1)::

    curve = dg.modularity_curve(model, test_set)
    layers = dg.pruning.redundant_layers(curve, model)         # where the curve is flat or falls
    smaller = dg.pruning.prune(model, layers)                  # a new model without them, weights inherited
    smaller = dg.pruning.recover(smaller, "fashion-mnist")      # fine-tune (or from_scratch=True), cached
    dg.pruning.model_cost(model), dg.pruning.model_cost(smaller)        # parameters, FLOPs and MACs

:mod:`.surgery` removes units (read from the zoo's :func:`dynamic_graphs.models.layer_info`),
:mod:`.selection` holds the modularity criterion, :mod:`.baselines` the rules it is compared to, :mod:`.recovery` the training; the experiments built on them are
in :mod:`dynamic_graphs.figures.pruning`.
"""
from .recovery import FINETUNE_DEFAULTS, recover
from .baselines import (block_influence, block_influence_layers, cka_layers, cka_scores, linear_probe_accuracy,
                        probe_criterion_layers, random_layers, random_matched_layers, tail_layers)
from .selection import (DEFAULT_THRESHOLD, PAPER_VARIANTS, classify_gains, contrast_variants, layer_gains,
                        paired_gains, paper_variants, plateau_variants, redundant_layers, rising_layers)
from .surgery import model_cost, prune, removable_layers

__all__ = [
    "DEFAULT_THRESHOLD",
    "FINETUNE_DEFAULTS",
    "PAPER_VARIANTS",
    "block_influence",
    "block_influence_layers",
    "cka_layers",
    "cka_scores",
    "classify_gains",
    "contrast_variants",
    "layer_gains",
    "paired_gains",
    "linear_probe_accuracy",
    "model_cost",
    "paper_variants",
    "plateau_variants",
    "probe_criterion_layers",
    "prune",
    "random_layers",
    "random_matched_layers",
    "recover",
    "redundant_layers",
    "removable_layers",
    "rising_layers",
    "tail_layers",
]
