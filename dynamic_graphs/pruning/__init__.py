"""Pruning with the curve: model surgery and cost, the rules that choose what to remove, recovery training."""
from .recovery import FINETUNE_DEFAULTS, recover
from .selection import (contrast_variants, layer_gains, linear_probe_accuracy, paper_variants, plateau_variants,
                        probe_criterion_layers, random_layers, redundant_layers, rising_layers, tail_layers)
from .surgery import model_cost, prune, removable_layers
