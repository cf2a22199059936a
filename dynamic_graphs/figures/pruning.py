from ..pruning._legacy import PAPER_TABLE1, compare_pruning, evaluate_variants, summarize_comparison  # noqa: F401
