from ..plotting import plot_pruning_comparison, plot_removal_effects  # noqa: F401
