"""WAV recording from a non-real-time thread.

The processing thread hands hops of output audio to :meth:`WavRecorder.push`
(which only copies and enqueues); a background thread appends them to a
``soundfile.SoundFile`` opened in write mode and flushes regularly. Closing
(on quit, ``--duration`` expiry, Ctrl-C or SIGTERM) drains the queue and closes
the file, so the WAV is valid and holds everything pushed before the stop.

Every background writer writes to a temporary name beside its target
(``.OUT.wav.partial``) and renames it onto the target only when the file is
complete and closed, so an existing file is never truncated by a run that fails.
A write error (disk full, file too large, device gone) is kept in
:attr:`BackgroundWriter.error` at once, as a one-line :class:`LatentError` that
names the target, how much was written and the partial file that keeps it; the
target is then left untouched and nothing more is queued.

Recordings are 32-bit float WAV by default, so a recording of the engine's
output hops is bit-identical to what ``latent render`` writes for the same
automation and seed.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from instrument.errors import AudioFileError, LatentError

_STOP = object()


def partial_path(path: str | Path) -> Path:
    """The temporary name a writer uses beside ``path`` until the file is complete (``.NAME.partial``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


class BackgroundWriter:
    """A thread that consumes items from an unbounded queue and hands them to :meth:`_write`.

    Subclasses implement ``_open`` (of :attr:`partial`), ``_write(item)``, ``_flush``, ``_close``
    and ``_progress`` (how much was written, for messages). ``push`` never blocks (the queue is
    unbounded), so the producer is never held up by disk I/O. The file is written as
    :attr:`partial` and renamed onto :attr:`path` when closed without error.
    """

    flush_interval_s = 0.5
    #: The LatentError raised / kept for this kind of file.
    error_type: type[LatentError] = AudioFileError

    def __init__(self, name: str, path: str | Path) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._closed = False
        self.error: LatentError | None = None
        self.completed = False  # True once the file is complete under its own name

    def start(self) -> "BackgroundWriter":
        self._open()
        self._thread.start()
        self._started = True
        return self

    def _put(self, item: Any) -> None:
        if not self._closed and self.error is None:
            self._queue.put(item)

    def _failed(self, exc: BaseException) -> LatentError:
        reason = self._reason(exc)
        return self.error_type(f"{self.path}: writing failed after {self._progress()} ({reason}); "
                               f"what was written is kept in {self.partial}, {self.path} is left as it was")

    def _reason(self, exc: BaseException) -> str:
        return str(exc) or type(exc).__name__

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
        except (OSError, RuntimeError, ValueError) as exc:  # disk full, file too large, removed ...
            self.error = self._failed(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        """Close the file; rename it onto the target if everything was written."""
        try:
            self._close()
        except (OSError, RuntimeError, ValueError) as exc:
            if self.error is None:
                self.error = self._failed(exc)
        if self.error is None:
            try:
                os.replace(self.partial, self.path)
            except OSError as exc:
                self.error = self.error_type(f"{self.path}: cannot move the finished file {self.partial} "
                                             f"into place ({exc}); it is kept under that name")
            else:
                self.completed = True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued so far, close the file and move it into place (idempotent).

        Errors are kept in :attr:`error` (not raised); a writer still busy after ``timeout_s``
        gets an error too (its partial file is kept).
        """
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            if self._thread.is_alive() and self.error is None:
                self.error = self.error_type(f"{self.path}: still writing after {timeout_s:g} s at exit; "
                                             f"what was written is kept in {self.partial}")

    def __enter__(self) -> "BackgroundWriter":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close()
        if kind is None and self.error is not None:
            raise self.error

    # hooks
    def _open(self) -> None:
        raise NotImplementedError

    def _write(self, item: Any) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _progress(self) -> str:
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
        super().__init__(name="latent-recorder", path=path)
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
        if self.path.is_dir():
            raise AudioFileError(f"{self.path}: is a folder, not a file to record to")
        try:
            self._file = sf.SoundFile(str(self.partial), mode="w", samplerate=self.sample_rate,
                                      channels=self.channels, subtype=self.subtype, format="WAV")
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
            raise AudioFileError(f"{self.path}: cannot open {self.partial} for recording: {exc}") from exc

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
            file, self._file = self._file, None
            file.close()

    def _progress(self) -> str:
        return f"{self.frames_written} frames ({self.frames_written / self.sample_rate:.2f} s)"

    def _reason(self, exc: BaseException) -> str:
        """libsndfile's own words for a failed write (its exception text is often empty)."""
        file = self._file
        handle = getattr(file, "_file", None) if file is not None else None
        if isinstance(exc, sf.LibsndfileError) and handle is not None:
            text = sf._ffi.string(sf._snd.sf_strerror(handle)).decode(errors="replace")
            return text.removeprefix("System error : ").rstrip(".") or super()._reason(exc)
        return super()._reason(exc)
