from ..analysis_plots import plot_ablation, plot_asymptotics, plot_convergence, plot_decomposition  # noqa: F401
