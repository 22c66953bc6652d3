"""A preallocated single-producer / single-consumer float32 ring buffer.

The audio callback and the processing thread exchange samples only through
these buffers. Both :meth:`RingBuffer.write` and :meth:`RingBuffer.read_into`
copy between caller-owned arrays and the preallocated storage: they never
allocate array memory, never take a lock, never block and never log, so they
are safe to call from a PortAudio callback.

Thread safety: exactly one thread writes and exactly one thread reads. The
producer advances only ``_written`` (after copying), the consumer advances only
``_read`` (after copying); both are monotonically increasing Python ints whose
assignment is atomic under the GIL, so the reader never sees samples that have
not been copied in yet and the writer never overwrites unread samples.

Shapes: samples are frames of ``channels`` values; storage is
``(capacity, channels)``. 1-D arrays are accepted when ``channels == 1``.
"""

from __future__ import annotations

import numpy as np

from instrument.errors import ConfigError


class RingBuffer:
    """SPSC float32 ring of ``capacity`` frames x ``channels``.

    Counters (read by any thread, for display):
        underflows: reads that found fewer frames than asked (the rest is zero-filled).
        underflow_frames: frames zero-filled because of underflows.
        overflows: writes that found less free space than needed (the excess is dropped).
        overflow_frames: frames dropped because of overflows.
    """

    def __init__(self, capacity: int, channels: int = 1) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ConfigError(f"ring buffer capacity must be a positive integer, got {capacity!r}")
        if not isinstance(channels, int) or channels <= 0:
            raise ConfigError(f"ring buffer channels must be a positive integer, got {channels!r}")
        self.capacity = capacity
        self.channels = channels
        self._data = np.zeros((capacity, channels), dtype=np.float32)
        self._written = 0  # frames ever written (producer-owned)
        self._read = 0  # frames ever read (consumer-owned)
        self.underflows = 0
        self.underflow_frames = 0
        self.overflows = 0
        self.overflow_frames = 0

    # -- levels ---------------------------------------------------------------------------------
    def available_read(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    def available_write(self) -> int:
        """Frames that can be written without overflow."""
        return self.capacity - (self._written - self._read)

    @property
    def frames_written(self) -> int:
        return self._written

    @property
    def frames_read(self) -> int:
        return self._read

    def _as_2d(self, array: np.ndarray) -> np.ndarray:
        if array.ndim == 1:
            if self.channels != 1:
                raise ConfigError(f"1-D array given to a {self.channels}-channel ring buffer")
            return array.reshape(-1, 1)  # a view, no copy (1-D arrays are always reshapeable)
        if array.ndim != 2 or array.shape[1] != self.channels:
            raise ConfigError(f"ring buffer expects (frames, {self.channels}) arrays, got {array.shape}")
        return array

    # -- producer -------------------------------------------------------------------------------
    def write(self, source: np.ndarray) -> int:
        """Copy ``source`` (shape ``(frames,)`` or ``(frames, channels)``) in; return frames written.

        If there is not room for every frame, the frames that fit are written,
        the rest are dropped and an overflow is counted.
        """
        src = self._as_2d(source)
        n = src.shape[0]
        free = self.capacity - (self._written - self._read)
        if n > free:
            self.overflows += 1
            self.overflow_frames += n - free
            n = free
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(self._data[start:start + first], src[:first])
        if n > first:
            np.copyto(self._data[:n - first], src[first:n])
        self._written += n  # publish after the copy
        return n

    # -- consumer -------------------------------------------------------------------------------
    def read_into(self, destination: np.ndarray, fill_underflow: bool = True) -> int:
        """Copy up to ``len(destination)`` frames into ``destination``; return frames read.

        With ``fill_underflow`` (the audio-callback case) a short read zero-fills the
        rest of ``destination`` and counts an underflow. Without it, a short read
        leaves the rest untouched and counts nothing (use :meth:`available_read` first).
        """
        dst = self._as_2d(destination)
        want = dst.shape[0]
        n = min(want, self._written - self._read)
        if n > 0:
            start = self._read % self.capacity
            first = min(n, self.capacity - start)
            np.copyto(dst[:first], self._data[start:start + first])
            if n > first:
                np.copyto(dst[first:n], self._data[:n - first])
            self._read += n  # release after the copy
        if n < want and fill_underflow:
            dst[n:] = 0.0
            self.underflows += 1
            self.underflow_frames += want - n
        return n

    def clear(self) -> None:
        """Drop unread frames (consumer side only)."""
        self._read = self._written
