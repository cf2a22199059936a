from ._legacy import model_cost, prune, removable_layers  # noqa: F401  (moved here by the refactor)
