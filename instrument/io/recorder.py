"""WAV recording from a non-real-time thread.

The processing thread hands hops of output audio to :meth:`WavRecorder.push`
(which only copies and enqueues); a background thread appends them to a
``soundfile.SoundFile`` opened in write mode and flushes regularly. Closing
(on quit, ``--duration`` expiry, Ctrl-C or SIGTERM) drains the queue and closes
the file, so the WAV is valid and holds everything pushed before the stop.

Recordings are 32-bit float WAV by default, so a recording of the engine's
output hops is bit-identical to what ``latent render`` writes for the same
automation and seed.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from instrument.errors import AudioFileError

_STOP = object()


class BackgroundWriter:
    """A thread that consumes items from an unbounded queue and hands them to :meth:`_write`.

    Subclasses implement ``_open``, ``_write(item)``, ``_flush`` and ``_close``.
    ``push`` never blocks (the queue is unbounded), so the producer is never held up by disk I/O.
    """

    flush_interval_s = 0.5

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._closed = False
        self.error: BaseException | None = None

    def start(self) -> "BackgroundWriter":
        self._open()
        self._thread.start()
        self._started = True
        return self

    def _put(self, item: Any) -> None:
        if not self._closed:
            self._queue.put(item)

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self.flush_interval_s)
                except queue.Empty:
                    self._flush()
                    continue
                if item is _STOP:
                    break
                self._write(item)
                if self._queue.empty():
                    self._flush()
        except (OSError, RuntimeError, ValueError) as exc:  # disk full, file removed ...
            self.error = exc
        finally:
            self._close()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued so far, then close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    def __enter__(self) -> "BackgroundWriter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # hooks
    def _open(self) -> None:
        raise NotImplementedError

    def _write(self, item: Any) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class WavRecorder(BackgroundWriter):
    """Append float32 frames to a WAV file from a background thread.

    Args:
        path: output file (``.wav``).
        sample_rate: Hz.
        channels: 1 for mono hops of shape ``(samples,)``.
        subtype: libsndfile subtype; ``FLOAT`` keeps samples bit-exact.
        skip_frames: drop this many frames at the start (``latent perform`` drops the engine's
            latency so the recording lines up with the input and with ``latent render``).
    """

    def __init__(self, path: str | Path, sample_rate: int, channels: int = 1,
                 subtype: str = "FLOAT", skip_frames: int = 0) -> None:
        super().__init__(name="latent-recorder")
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.subtype = subtype
        self.frames_written = 0
        self.skip_frames = max(0, int(skip_frames))
        self._to_skip = self.skip_frames
        self._file: sf.SoundFile | None = None

    def _open(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            raise AudioFileError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            self._file = sf.SoundFile(str(self.path), mode="w", samplerate=self.sample_rate,
                                      channels=self.channels, subtype=self.subtype, format="WAV")
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
            raise AudioFileError(f"{self.path}: cannot open for recording: {exc}") from exc

    def push(self, frames: np.ndarray) -> None:
        """Queue a copy of ``frames`` (shape ``(samples,)`` or ``(samples, channels)``)."""
        self._put(np.array(frames, dtype=np.float32, copy=True))

    def _write(self, item: np.ndarray) -> None:
        if self._file is None:
            return
        if self._to_skip:
            drop = min(self._to_skip, len(item))
            self._to_skip -= drop
            item = item[drop:]
            if not len(item):
                return
        self._file.write(item)
        self.frames_written += len(item)

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
