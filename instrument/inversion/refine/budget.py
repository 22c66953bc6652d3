"""Plan render batches so a search stops within its wall-clock budget.

A render call cannot be interrupted, and for an external synth one call costs a fixed start-up
(fluidsynth: a process and the SoundFont load, several tenths of a second) plus a cost per patch.
:class:`RenderCostModel` learns ``seconds = fixed + per_patch * n`` from the calls made so far
(least squares over the recent calls; from one batch size alone it assumes no fixed cost, which
over-estimates larger batches, so the first plans are cautious) and :meth:`RenderCostModel.affordable`
says how many patches the next call may render so it ends before the deadline.
"""

from __future__ import annotations

import numpy as np

#: Predicted costs are multiplied by this (the time of a call varies with the machine's load).
SAFETY = 1.15
#: Calls remembered for the fit (recent ones describe the current load best).
HISTORY = 24


class RenderCostModel:
    """Running estimate of a synth's render-call cost: ``fixed + per_patch * n`` seconds."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.seconds: list[float] = []

    def observe(self, n: int, seconds: float) -> None:
        """Record one render call of ``n`` patches that took ``seconds`` (wall clock)."""
        if n > 0:
            self.sizes = (self.sizes + [int(n)])[-HISTORY:]
            self.seconds = (self.seconds + [max(float(seconds), 0.0)])[-HISTORY:]

    def coefficients(self) -> tuple[float, float]:
        """(fixed seconds, seconds per patch) fitted so far; (0, 0) before any call."""
        if not self.sizes:
            return 0.0, 0.0
        n = np.asarray(self.sizes, np.float64)
        t = np.asarray(self.seconds, np.float64)
        if np.ptp(n) == 0:
            return 0.0, float(t.mean() / n[0])
        slope, intercept = np.polyfit(n, t, 1)
        if intercept < 0 or slope <= 0:
            # noisy timings: fall back to the (pessimistic) cost per patch of the slowest call
            return 0.0, float(np.max(t / n))
        return float(intercept), float(slope)

    def predict(self, n: int) -> float:
        """Expected seconds of a call rendering ``n`` patches (with :data:`SAFETY`)."""
        fixed, per = self.coefficients()
        return SAFETY * (fixed + per * n)

    def affordable(self, remaining_seconds: float, limit: int) -> int:
        """Patches (``0..limit``) one call can render within ``remaining_seconds``."""
        if not self.sizes:
            return limit
        fixed, per = self.coefficients()
        if remaining_seconds <= SAFETY * (fixed + per):
            return 0
        if per <= 0:
            return limit
        return int(min(limit, (remaining_seconds / SAFETY - fixed) / per))
