"""Pacing of voice dumps: a hardware synth (a DX7) needs time to take each one.

:class:`DumpPacer` lets at most one item (a voice to dump) out per ``interval_s`` seconds. An
item offered while the interval runs waits; a newer offer replaces it (only the latest voice
matters, and nothing queues up). The caller supplies the time (``time.monotonic()`` seconds) to
:meth:`DumpPacer.take_due`, so the pacer is pure logic::

    pacer.offer(voice)              # the latest voice, replacing one that waits
    due = pacer.take_due(now)       # the voice if its turn has come (then it counts as sent)
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

from instrument.errors import ConfigError

Item = TypeVar("Item")
#: Seconds of slack in comparing times (so 10.2 - 10.0 counts as 0.2).
EPSILON_S = 1e-9


class DumpPacer(Generic[Item]):
    """At most one item per ``interval_s`` seconds; the latest offered item waits its turn.

    Args:
        interval_s: least seconds between two items let out (0: no pacing).
    """

    def __init__(self, interval_s: float) -> None:
        if not math.isfinite(interval_s) or interval_s < 0:
            raise ConfigError(f"dump interval must be >= 0 seconds, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self._pending: Item | None = None
        self._last = -math.inf
        self.replaced = 0

    @property
    def pending(self) -> Item | None:
        """The item waiting for its turn, if any."""
        return self._pending

    def offer(self, item: Item) -> None:
        """Make ``item`` the one to send next, replacing one that waits (:meth:`take_due` lets it out)."""
        if self._pending is not None:
            self.replaced += 1
        self._pending = item

    def take_due(self, now: float) -> Item | None:
        """The waiting item if its turn has come (it is then sent: the interval restarts), else None."""
        if self._pending is None or now - self._last < self.interval_s - EPSILON_S:
            return None
        item, self._pending = self._pending, None
        self._last = now
        return item

    def wait_seconds(self, now: float) -> float | None:
        """Seconds until the waiting item may go (0 if now), None when nothing waits."""
        if self._pending is None:
            return None
        return max(0.0, self._last + self.interval_s - now)

    def clear(self) -> None:
        """Drop the waiting item (the synth already has what it would set)."""
        self._pending = None
