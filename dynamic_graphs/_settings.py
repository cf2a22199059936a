"""Where the package keeps its data and how much it prints."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Settings",
    "settings",
]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    return Path(os.environ.get("DG_DATA_DIR", _REPO_ROOT / "data")).expanduser()


@dataclass
class Settings:
    """Global, mutable settings: change them in a notebook's first cells.

    Attributes:
        data_dir: root of all caches (datasets, checkpoints). Defaults to ``<repo>/data`` or
            ``$DG_DATA_DIR``, resolved from the package location, not the working directory.
        verbosity: 0 is silent, 1 prints one line per training epoch, 2 adds progress bars
            (``$DG_VERBOSITY``).
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    verbosity: int = int(os.environ.get("DG_VERBOSITY", "2"))

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.data_dir) / "checkpoints"

    @property
    def fig_dir(self) -> Path:
        return Path(self.data_dir) / "figures"


settings = Settings()
