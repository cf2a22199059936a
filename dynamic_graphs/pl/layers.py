from ..analysis_plots import plot_layer_matrix  # noqa: F401
