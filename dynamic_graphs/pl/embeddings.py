from ..analysis_plots import plot_embedding, plot_embeddings  # noqa: F401
