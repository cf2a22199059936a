from ._legacy import (contrast_variants, layer_gains, linear_probe_accuracy, paper_variants, plateau_variants,  # noqa: F401
                      probe_criterion_layers, random_layers, redundant_layers, rising_layers, tail_layers)
