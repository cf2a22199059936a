from ..attacks import plot_adversarial_curves  # noqa: F401
from ..dynamics import plot_training_dynamics  # noqa: F401
from ..plotting import plot_curve, plot_curve_grid, plot_variant_curves  # noqa: F401
