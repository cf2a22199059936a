from ..analysis import layer_embeddings  # noqa: F401
