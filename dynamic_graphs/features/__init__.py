"""Layer outputs as features: extraction by module name (hooks or FX), output selection and pooling.

:mod:`.extract` runs the model and streams each probed layer's features within a memory budget;
:mod:`.selection` picks the tensor of a layer's output and pools token outputs; :mod:`.layers`
resolves and checks the layers to probe and the input channels.
"""
from .extract import BACKENDS, DEFAULT_FEATURE_BYTES, FX_LEAF_MODULES, extract_features, iter_layer_features
from .layers import check_input_channels, check_layers, input_channels, resolve_layers
from .selection import POOLS, OutputSelector, pool_features, select_output

__all__ = [
    "BACKENDS",
    "DEFAULT_FEATURE_BYTES",
    "FX_LEAF_MODULES",
    "OutputSelector",
    "POOLS",
    "check_input_channels",
    "check_layers",
    "extract_features",
    "input_channels",
    "iter_layer_features",
    "pool_features",
    "resolve_layers",
    "select_output",
]
