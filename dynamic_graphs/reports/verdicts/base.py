"""The verdict's parts: :class:`Verdict`, its statuses, and how numbers, intervals and statuses are written.

A status comes from an interval or a test wherever the run gives one (:func:`interval_status`,
:func:`equivalence_status`); the few parts read from a point value are named in the function that
uses them (the asymptotics' largest deviation, the narrowing of its spread over k). Numbers are
written with their intervals (:func:`interval`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ...frames import t_interval, welch_interval

__all__ = [
    "AGREEMENT",
    "FAILS",
    "HOLDS",
    "INTERVALS",
    "PARTLY",
    "SIGNIFICANCE",
    "STATUSES",
    "Q_TOLERANCE",
    "UNMEASURED",
    "Verdict",
    "combine",
    "equivalence_status",
    "interval",
    "interval_status",
    "layer_range",
    "mean_interval",
    "number",
    "p_text",
    "welch_interval",
]

STATUSES = ("holds", "partly holds", "does not hold", "not measurable")
HOLDS, PARTLY, FAILS, UNMEASURED = STATUSES
SIGNIFICANCE = 0.05  # a p-value below this counts as a difference
AGREEMENT = 0.5      # fig7: a rank correlation whose whole interval exceeds this "agrees"
Q_TOLERANCE = 0.05   # fig3 (untrained), fig6: a difference of Q whose interval stays within ± this is "none"
INTERVALS = "95 % intervals"
_SOURCES = {"asymptotics": "The package's derivation", "metrics": "The paper's assumption",
            "transfer": "The package's question"}


@dataclass(frozen=True)
class Verdict:
    """What one report shows: the paper's claim, this run's numbers, and the status they give.

    Attributes:
        figure: the notebook it belongs to (``"fig3"``, ``"table1"``...).
        claim: the paper's claim in one plain sentence.
        measured: what this run measured, with intervals, p-values and counts of seeds or repeats.
        status: one of :data:`STATUSES`.

    Example:
        >>> Verdict("fig1", "Q rises.", "Q 0.60 → 0.80.", "holds").markdown()
        '**Holds.** The paper: Q rises. This run: Q 0.60 → 0.80.'
    """

    figure: str
    claim: str
    measured: str
    status: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verdict status {self.status!r} is not one of {STATUSES}.")

    def markdown(self) -> str:
        """The paragraph under the figure: the status in bold, the claim, then this run's numbers."""
        source = _SOURCES.get(self.figure, "The paper")
        return f"**{self.status.capitalize()}.** {source}: {self.claim} This run: {self.measured}"

    def _repr_markdown_(self) -> tuple[str, dict]:
        # IPython accepts (data, metadata) from _repr_*_; the report renderer reads the metadata back
        fields = {"figure": self.figure, "status": self.status, "claim": self.claim, "measured": self.measured}
        return self.markdown(), {"dynamic_graphs": {"verdict": fields}}

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        # the plain text of the display, which `papermill --log-output` prints: the paragraph itself
        printer.text(self.markdown())

    def summary(self, words: int = 40) -> str:
        """The status and the measured numbers in at most about ``words`` words, for an index table row.

        Whole clauses (up to a ";" or a sentence's end) are kept while they fit, and a cut is marked "…".
        """
        head = f"{self.status.capitalize()}:"
        clauses, kept = re.split(r"(?<=[.;]) ", self.measured), []
        for clause in clauses:
            if len(" ".join([head, *kept, clause]).split()) > words:
                break
            kept.append(clause)
        if len(kept) == len(clauses):
            return f"{head} {self.measured}"
        text = " ".join([head, *kept]) if kept else " ".join(f"{head} {self.measured}".split()[:words])
        return text.rstrip(";,.") + " …"


# --------------------------------------------------------------------------- numbers and statuses


def number(value: float, digits: int = 3, *, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals and a true minus sign (``number(-0.5, 2)`` is ``"−0.50"``)."""
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return text.replace("-", "−")


def interval(mean: float, low: float, high: float, digits: int = 3, *, signed: bool = False) -> str:
    """``0.596 ± 0.015`` for a symmetric interval, ``0.38 [−0.06, 0.73]`` otherwise, the bare value without one.

    Example:
        >>> interval(0.5, 0.45, 0.55), interval(0.38, -0.06, 0.73, 2), interval(0.5, float("nan"), float("nan"))
        ('0.500 ± 0.050', '0.38 [−0.06, 0.73]', '0.500')
    """
    centre = number(mean, digits, signed=signed)
    if not (np.isfinite(low) and np.isfinite(high)):
        return centre
    if abs((mean - low) - (high - mean)) <= 1e-9 + 1e-6 * abs(mean):
        return f"{centre} ± {number(high - mean, digits)}"
    return f"{centre} [{number(low, digits)}, {number(high, digits)}]"


def p_text(value: float) -> str:
    """``p = 0.042``, ``p < 0.001``, or ``no p-value`` for NaN: three decimals, so that a p-value
    counted below :data:`SIGNIFICANCE` never prints as ``p = 0.05``.

    Example:
        >>> p_text(0.0496), p_text(0.0004), p_text(0.31), p_text(float("nan"))
        ('p = 0.050', 'p < 0.001', 'p = 0.310', 'no p-value')
    """
    return "no p-value" if not np.isfinite(value) else "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def mean_interval(values: Any) -> tuple[float, float, float]:
    """Mean of the finite ``values`` with its t-interval (NaN interval with fewer than two)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    low, high = t_interval(values.mean(), values.std(ddof=1) if values.size > 1 else math.nan, values.size)
    return float(values.mean()), float(low), float(high)


def interval_status(low: float, high: float, threshold: float = 0.0) -> str:
    """Holds when the whole interval lies above ``threshold``, fails when below, partly when it straddles."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNMEASURED
    return HOLDS if low > threshold else FAILS if high < threshold else PARTLY


def equivalence_status(low: float, high: float, tolerance: float) -> str:
    """An equivalence reading of a difference's interval: "no difference" within ± ``tolerance``.

    Holds when the whole interval lies inside (−``tolerance``, ``tolerance``): the difference is
    shown to be negligible; does not hold when it lies entirely beyond ``tolerance`` on either side;
    partly holds otherwise (it reaches past the tolerance: too wide to tell, or near its edge). An
    interval that merely contains 0 is not enough, so fewer repeats (a wider interval) never make
    "holds" easier.

    Example:
        >>> [equivalence_status(low, high, 0.05) for low, high in [(-0.01, 0.03), (0.06, 0.1), (-0.2, 0.2)]]
        ['holds', 'does not hold', 'partly holds']
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNMEASURED
    if -tolerance < low and high < tolerance:
        return HOLDS
    return FAILS if low > tolerance or high < -tolerance else PARTLY


def combine(statuses: Sequence[str]) -> str:
    """The status of a claim made of parts: holds when every part holds, does not hold when every
    measurable part fails, not measurable when no part is, and partly holds otherwise."""
    measured = [status for status in statuses if status != UNMEASURED]
    if not measured:
        return UNMEASURED
    if len(measured) == len(statuses) and set(measured) in ({HOLDS}, {FAILS}):
        return measured[0]
    return FAILS if set(measured) == {FAILS} else PARTLY


def layer_range(depths: Sequence[int]) -> str:
    """``layer 4`` or ``layers 4–6`` for consecutive 1-based depths."""
    return f"layer {depths[0]}" if len(depths) == 1 else f"layers {depths[0]}–{depths[-1]}"

