from ..dynamics import training_dynamics  # noqa: F401
