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
        verbosity: 0 prints warnings only; 1 (the default) also prints the epoch lines and, every
            ``progress_interval`` seconds of a long loop, one progress line; 2 draws progress bars
            instead of those lines where a terminal can (``$DG_VERBOSITY``).
        progress_interval: the least time, in seconds, between two progress lines
            (``$DG_PROGRESS_INTERVAL``; see :func:`dynamic_graphs.progress.progress`).
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    verbosity: int = int(os.environ.get("DG_VERBOSITY", "1"))
    progress_interval: float = float(os.environ.get("DG_PROGRESS_INTERVAL", "5"))

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.data_dir) / "checkpoints"

    @property
    def fig_dir(self) -> Path:
        return Path(self.data_dir) / "figures"


settings = Settings()
