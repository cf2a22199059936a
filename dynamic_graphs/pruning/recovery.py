from ._legacy import FINETUNE_DEFAULTS, recover  # noqa: F401
