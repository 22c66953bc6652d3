"""``--log-events FILE.jsonl``: every applied control action, one JSON line each.

The processing thread calls :meth:`EventLog.log` with the hop index at whose
boundary the action was applied; the line's time is ``time_for_hop(hop_index)``
(``hop_index * hop_seconds``), so ``latent render --automation FILE`` applies
the action at the same hop. Writing happens on a background thread, to a
temporary name beside the target that replaces it once the log is complete
(see :class:`instrument.io.recorder.BackgroundWriter`).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from controllers.actions import Action, write_event
from instrument.errors import ConfigError
from instrument.io.recorder import BackgroundWriter


class EventLog(BackgroundWriter):
    """Append ``(time_s, action)`` records to a JSON-lines file from a background thread."""

    error_type = ConfigError

    def __init__(self, path: str | Path, hop_seconds: float) -> None:
        super().__init__(name="latent-eventlog", path=path)
        if not hop_seconds > 0:
            raise ConfigError(f"hop_seconds must be positive, got {hop_seconds!r}")
        self.hop_seconds = float(hop_seconds)
        self.events_written = 0
        self._stream: IO[str] | None = None

    def time_for_hop(self, hop_index: int) -> float:
        """Seconds from the start of the performance to the boundary before hop ``hop_index``."""
        return hop_index * self.hop_seconds

    def _open(self) -> None:
        if self.path.is_dir():
            raise ConfigError(f"{self.path}: is a folder, not a file to log events to")
        try:
            self._stream = self.partial.open("w")
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot open {self.partial} for the event log: {exc}") from exc

    def log(self, hop_index: int, action: Action) -> None:
        """Queue one applied action (never blocks)."""
        self._put((hop_index, action))

    def _write(self, item: tuple[int, Action]) -> None:
        if self._stream is None:
            return
        hop_index, action = item
        write_event(self._stream, self.time_for_hop(hop_index), action)
        self.events_written += 1

    def _flush(self) -> None:
        if self._stream is not None:
            self._stream.flush()

    def _close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()

    def _progress(self) -> str:
        return f"{self.events_written} events"
