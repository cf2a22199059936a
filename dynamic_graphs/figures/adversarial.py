from ..attacks import adversarial_curves, attack_summary  # noqa: F401
