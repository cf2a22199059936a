"""``python -m dynamic_graphs`` (and ``torchrun ... -m dynamic_graphs train``): the ``dynamic-graphs`` command."""
import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main(prog="python -m dynamic_graphs"))
