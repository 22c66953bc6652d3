"""Plan render batches so a search stops within its wall-clock budget.

A render call cannot be interrupted, and for an external synth one call costs a fixed start-up
(fluidsynth: a process and the SoundFont load, several tenths of a second) plus a cost per patch.
:class:`RenderCostModel` learns ``seconds = fixed + per_patch * n`` from the calls made so far
(least squares over the recent calls; from one batch size alone it splits the time evenly between
the two terms) and :meth:`RenderCostModel.affordable` says how many patches the next call may render
so it ends before the deadline. A call renders at most :data:`GROWTH` times the largest batch
measured, so the fit is never extrapolated far. :func:`cost_model_for` keeps one model per synth
object, so the searches after the first in a process (a benchmark, a batch of sounds) plan from the
timings of the earlier ones.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from instrument.synths.base import Synth

#: Predicted costs are multiplied by at least this (the time of a call varies with the machine's
#: load) ...
SAFETY = 1.15
#: ... and by at most this: the factor follows the largest overrun of a recent call against its
#: prediction (fluidsynth's process start-up jitters more than 15 %; a pure-numpy synth's does not).
MAX_SAFETY = 2.0
#: Calls remembered for the fit (recent ones describe the current load best).
HISTORY = 24
#: A call renders at most this many times the largest batch measured so far.
GROWTH = 4


class RenderCostModel:
    """Running estimate of a synth's render-call cost: ``fixed + per_patch * n`` seconds."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.seconds: list[float] = []
        self.overruns: list[float] = []   # observed / fitted seconds of recent calls

    def observe(self, n: int, seconds: float) -> None:
        """Record one render call of ``n`` patches that took ``seconds`` (wall clock)."""
        if n > 0:
            seconds = max(float(seconds), 0.0)
            if len(self.sizes) >= 2:
                fixed, per = self.coefficients()
                expected = fixed + per * n
                if expected > 0:
                    self.overruns = (self.overruns + [seconds / expected])[-HISTORY:]
            self.sizes = (self.sizes + [int(n)])[-HISTORY:]
            self.seconds = (self.seconds + [seconds])[-HISTORY:]

    @property
    def safety(self) -> float:
        """The factor predictions are multiplied by: the largest recent overrun of a call against
        its fitted cost, within :data:`SAFETY` .. :data:`MAX_SAFETY`."""
        return float(np.clip(max(self.overruns, default=SAFETY), SAFETY, MAX_SAFETY))

    def coefficients(self) -> tuple[float, float]:
        """(fixed seconds, seconds per patch) fitted so far; (0, 0) before any call."""
        if not self.sizes:
            return 0.0, 0.0
        n = np.asarray(self.sizes, np.float64)
        t = np.asarray(self.seconds, np.float64)
        if np.ptp(n) == 0:
            return 0.5 * float(t.mean()), 0.5 * float(t.mean() / n[0])
        slope, intercept = np.polyfit(n, t, 1)
        if slope < 0:              # timing noise above the per-patch cost: all fixed
            return float(t.mean()), 0.0
        if intercept < 0:          # no measurable start-up
            return 0.0, float(np.mean(t / n))
        return float(intercept), float(slope)

    def predict(self, n: int) -> float:
        """Expected seconds of a call rendering ``n`` patches, times :attr:`safety`."""
        fixed, per = self.coefficients()
        return self.safety * (fixed + per * n)

    def affordable(self, remaining_seconds: float, limit: int) -> int:
        """Patches (``0..limit``, at most :data:`GROWTH` x the largest batch measured) one call
        can render within ``remaining_seconds``."""
        if not self.sizes:
            return limit
        top = min(limit, GROWTH * max(self.sizes))
        fixed, per = self.coefficients()      # one fit per call, not one per candidate size
        budget = remaining_seconds / self.safety - fixed
        if budget < 0:
            return 0
        return top if per <= 0 else int(min(top, np.floor(budget / per)))


_MODELS: "weakref.WeakKeyDictionary[Any, RenderCostModel]" = weakref.WeakKeyDictionary()


def cost_model_for(synth: Synth) -> RenderCostModel:
    """The render-cost model of one synth object (created on first use, dropped with the synth)."""
    model = _MODELS.get(synth)
    if model is None:
        model = _MODELS[synth] = RenderCostModel()
    return model
