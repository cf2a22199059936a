"""Progress of long loops: a line every few seconds, or a bar on a terminal, as ``settings.verbosity`` says.

Every loop that can run longer than a few seconds (the curve's repeats and layers, feature
batches, training batches, attacks) goes through :func:`progress`. The active loops form one
stack, outermost first, and a single line describes all of them::

    curve resnet110 · repeat 2/5 · layer 14/55 · features 1/2 — 0:42 elapsed, ~1:35 left

At verbosity 1 (the default), and at verbosity 2 where no terminal can draw a bar (a notebook
kernel, ``papermill --log-output``, a pipe or a log file), such a line is printed at most once per
``settings.progress_interval`` seconds, whichever loop ticks, and never for work that ends within
that interval: a short script prints nothing, a long run never stays silent much longer than the
interval. Lines go through the package's logger to stdout, flushed, like the epoch lines. At
verbosity 2 on a terminal each loop is a ``tqdm`` bar instead; at verbosity 0 nothing is shown
(warnings still are).
"""
from __future__ import annotations

import logging
import sys
import threading
from time import monotonic
from typing import Any, Iterable, Iterator

from ._settings import settings

__all__ = ["format_duration", "progress"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_active: list[_Loop] = []  # the loops running now, outermost first
_last_line = 0.0  # when the last progress line was printed, or the work started
_idle_since = float("-inf")  # when the last loop ended


def progress(iterable: Iterable | None = None, *, desc: str, total: int | None = None):
    """Report the progress of a loop over ``iterable``, or of a count of ``total`` units.

    Args:
        iterable: the items to loop over; ``None`` for a counter advanced by ``update(n)``.
        desc: what the loop does, as the line shows it (``"curve resnet20 · repeat"``).
        total: how many items or units there are; by default ``len(iterable)`` where it has one.

    Returns:
        An object to iterate over (yielding ``iterable``'s items) that also has ``update(n)`` and
        ``close()`` and is a context manager; ``close`` (or leaving the ``with`` block) ends the
        loop. A loop iterated to its end, broken out of, or left by an exception ends by itself.
        ``update(0)`` counts nothing but lets a line come, when due, in the middle of a long item.
        At verbosity 2 on a terminal this is a ``tqdm`` bar (the same methods).

    Raises:
        TypeError: ``desc`` is not a string.

    Example:
        >>> [item for item in progress(range(3), desc="items")]
        [0, 1, 2]
        >>> with progress(total=10, desc="attack") as counter:
        ...     counter.update(4)
    """
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a string naming what the loop does, got {type(desc).__name__}.")
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if settings.verbosity >= 2 and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False)
    return _Loop(iterable, desc=desc, total=total, shown=settings.verbosity >= 1)


class _Loop:
    """One loop on the stack of active loops (see :func:`progress`, which makes them)."""

    def __init__(self, iterable: Iterable | None, *, desc: str, total: int | None, shown: bool) -> None:
        self.iterable, self.desc, self.total, self.shown = iterable, desc, total, shown
        self.completed = 0
        self.started = self.last_done = monotonic()
        self.open = False
        if iterable is None:  # a counter runs from the moment it is made
            self._enter()

    def __iter__(self) -> Iterator[Any]:
        self._enter()
        try:
            for item in self.iterable:
                _tick()
                yield item
                self.completed += 1
                self.last_done = monotonic()
        finally:  # exhausted, broken out of (the generator is closed) or left by an exception
            self.close()

    def update(self, count: int = 1) -> None:
        """Count ``count`` more units done; ``update(0)`` lets a line come, when due, within a long step."""
        if count:
            self.completed += count
            self.last_done = monotonic()
        _tick()

    def close(self) -> None:
        """End the loop: it leaves the stack (closing twice is harmless)."""
        global _idle_since
        if self.open:
            with _lock:
                if self in _active:
                    _active.remove(self)
                if not _active:
                    _idle_since = monotonic()
            self.open = False

    def __enter__(self) -> _Loop:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def _enter(self) -> None:
        global _last_line
        if self.open:
            return
        self.started = self.last_done = monotonic()
        with _lock:
            # New work after a pause: its first line comes one interval from now. A loop that follows
            # another at once (training, then its evaluation) continues the same work: its line is due
            # one interval after the last line, so the hand-over adds no silence.
            if not _active and self.started - _idle_since >= settings.progress_interval:
                _last_line = self.started
            _active.append(self)
        self.open = True
        _tick()

    def text(self) -> str:
        """This loop's part of the line: ``"layer 14/55"`` (the item being worked on, or units done)."""
        position = self.completed
        if self.iterable is not None and (self.total is None or position < self.total):
            position += 1  # an item loop works on the next item
        return f"{self.desc} {position}/{self.total}" if self.total else f"{self.desc} {position}"


def _tick() -> None:
    """Print the stack's line if at least the interval has passed since the last one."""
    global _last_line
    now = monotonic()
    with _lock:
        shown = [loop for loop in _active if loop.shown]
        if not shown or now - _last_line < settings.progress_interval:
            return
        _last_line = now
        line = _stack_line(shown, now)
    logger.info(line)


def _stack_line(loops: list[_Loop], now: float) -> str:
    """The line for ``loops`` (outermost first) at time ``now``: their positions, the time since the
    outermost started and, once it has finished an item, what is left of the outermost loop of
    several items. Only whole items count: the items of an inner loop can differ in cost (a curve's
    first layer waits for the forward pass of all of them), which would make a finer estimate wild."""
    line = " · ".join(loop.text() for loop in loops) + f" — {format_duration(now - loops[0].started)} elapsed"
    timed = next((loop for loop in loops if loop.total and loop.total > 1), None)
    if timed is None or not 0 < timed.completed < timed.total:
        return line
    per_item = (timed.last_done - timed.started) / timed.completed
    items_left = timed.total - timed.completed
    # the current item at the mean pace, or, once it runs longer, about to end
    left = max(per_item * items_left - (now - timed.last_done), per_item * (items_left - 1))
    return line + f", ~{format_duration(left)} left"


def format_duration(seconds: float) -> str:
    """A duration as ``m:ss`` or ``h:mm:ss`` (negative durations count as 0).

    Example:
        >>> format_duration(42), format_duration(3725)
        ('0:42', '1:02:05')
    """
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
