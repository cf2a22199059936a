from ..analysis import ablation_curves, asymptotic_sweep  # noqa: F401
