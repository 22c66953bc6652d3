"""Sound-card I/O: a sounddevice stream whose callback only copies between ring buffers.

The PortAudio callback (:meth:`AudioIO._callback_out` / :meth:`AudioIO._callback_duplex`)
runs on the audio thread. It must stay real-time safe, so it ONLY:

* copies ``blocksize`` frames from the output :class:`RingBuffer` into ``outdata``
  (zero-filling and counting an underflow if the processing thread fell behind),
* with ``--live-input``, copies ``indata`` into the input ring buffer,
* increments integer counters (status flags seen, callbacks run).

It never allocates arrays, takes locks, blocks, logs, or calls Keras. Everything
else (analysis, model, phase, recording, logging) happens on other threads.
Keep it that way when editing this file.

The audio backend can vanish under a running stream (the JACK server killed or
restarted). :meth:`AudioIO.failure` notices it from another thread: the stream
reported itself finished, PortAudio says it is no longer active, or no callback
arrived for :data:`STALL_SECONDS`. :meth:`AudioIO.close` never blocks for good:
PortAudio's stop/close run on a helper thread joined with a timeout (``abort``
rather than ``stop`` once the backend is gone); a stream that does not close in
time is abandoned, and PortAudio is then left alone at interpreter exit too.
"""

from __future__ import annotations

import atexit
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from instrument.errors import DeviceError
from instrument.io.ringbuffer import RingBuffer

NO_DEVICE_HELP = (
    "start a sound server (JACK: `jackd -d alsa`, or PulseAudio/PipeWire) or connect a sound card; "
    "PortAudio comes from the Debian package libportaudio2. `latent devices` lists what PortAudio sees. "
    "Without a sound card, render offline with `latent render` instead."
)
#: A running stream whose callback has not run for this long (seconds) has lost its backend.
STALL_SECONDS = 2.0
#: Seconds :meth:`AudioIO.close` waits for PortAudio to stop and close the stream.
CLOSE_TIMEOUT_S = 3.0


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio shared library is missing
        raise DeviceError(f"PortAudio is not available ({exc}); install libportaudio2") from exc
    return sd


def output_devices() -> list[dict[str, Any]]:
    """Every PortAudio device with at least one output channel (dicts with an added ``index``)."""
    sd = _sounddevice()
    return [dict(dev, index=i) for i, dev in enumerate(sd.query_devices())
            if dev["max_output_channels"] > 0]


def has_output_device() -> bool:
    """True when PortAudio lists at least one output device."""
    try:
        return bool(output_devices())
    except DeviceError:
        return False


def resolve_device(device: int | str | None, kind: str = "output") -> int:
    """PortAudio device index for ``device`` (index, name substring, or ``None`` = default).

    Raises:
        DeviceError: no such device, or no device of ``kind`` at all (with what to do).
    """
    sd = _sounddevice()
    channels_key = f"max_{kind}_channels"
    devices = sd.query_devices()
    candidates = [i for i, dev in enumerate(devices) if dev[channels_key] > 0]
    if not candidates:
        raise DeviceError(f"no audio {kind} device found: {NO_DEVICE_HELP}")
    if device is None:
        default = sd.default.device[0 if kind == "input" else 1]
        return int(default) if default is not None and int(default) in candidates else candidates[0]
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    try:
        info = sd.query_devices(device, kind)
    except ValueError as exc:
        names = ", ".join(f"[{i}] {devices[i]['name']}" for i in candidates)
        raise DeviceError(f"audio {kind} device {device!r} not found ({exc}); available: {names}") from exc
    return int(info["index"])


@dataclass
class IoStats:
    """Counters the window shows (copied out of :class:`AudioIO`; plain ints)."""

    callbacks: int = 0
    status_xruns: int = 0
    output_underflows: int = 0
    output_underflow_frames: int = 0
    input_overflows: int = 0

    @property
    def xruns(self) -> int:
        """PortAudio status flags plus ring-buffer underflows."""
        return self.status_xruns + self.output_underflows


class AudioIO:
    """A mono sounddevice output stream (optionally full duplex) fed from ring buffers.

    Args:
        sample_rate: Hz (from the model's config).
        blocksize: frames per callback (0 lets PortAudio choose).
        ring_frames: capacity of each ring buffer in frames.
        device: PortAudio device index or name substring; ``None`` = default.
        latency: ``"low"``, ``"high"`` or seconds.
        live_input: open a full-duplex stream and fill :attr:`in_ring` from the input.
    """

    def __init__(self, sample_rate: int, blocksize: int, ring_frames: int,
                 device: int | str | None = None, latency: str | float = "low",
                 live_input: bool = False) -> None:
        self.sample_rate = int(sample_rate)
        self.blocksize = int(blocksize)
        self.latency = latency
        self.live_input = live_input
        self.out_ring = RingBuffer(ring_frames)
        self.in_ring = RingBuffer(ring_frames)
        self.device = resolve_device(device, "output")
        self.input_device = resolve_device(device, "input") if live_input else None
        self._stream: Any = None
        self._callbacks = 0
        self._status_xruns = 0
        self._finished = False  # set by PortAudio's finished callback (stream ended or aborted)
        self._seen_callbacks = 0  # watchdog state (read by failure(), never by the callback)
        self._seen_at = 0.0
        self.started = False
        self.abandoned = False  # the stream did not close within the timeout (backend gone)

    # -- the real-time callbacks: copy only ------------------------------------------------------
    def _callback_out(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self._status_xruns += 1
        self.out_ring.read_into(outdata[:, 0])
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]
        self._callbacks += 1

    def _callback_duplex(self, indata: np.ndarray, outdata: np.ndarray, frames: int,
                         time_info: Any, status: Any) -> None:
        if status:
            self._status_xruns += 1
        self.in_ring.write(indata[:, 0])
        self.out_ring.read_into(outdata[:, 0])
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]
        self._callbacks += 1

    def _on_finished(self) -> None:
        """PortAudio's finished callback: the stream stopped (by close, or because the backend went)."""
        self._finished = True

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        sd = _sounddevice()
        try:
            if self.live_input:
                self._stream = sd.Stream(
                    device=(self.input_device, self.device), samplerate=self.sample_rate,
                    blocksize=self.blocksize, latency=self.latency, channels=1, dtype="float32",
                    callback=self._callback_duplex, finished_callback=self._on_finished)
            else:
                self._stream = sd.OutputStream(
                    device=self.device, samplerate=self.sample_rate, blocksize=self.blocksize,
                    latency=self.latency, channels=1, dtype="float32", callback=self._callback_out,
                    finished_callback=self._on_finished)
            self._seen_callbacks, self._seen_at = self._callbacks, time.monotonic()
            self._stream.start()
        except sd.PortAudioError as exc:
            raise DeviceError(f"cannot open audio device {self.device} at {self.sample_rate} Hz, "
                              f"blocksize {self.blocksize}: {exc}. {NO_DEVICE_HELP}") from exc
        self.started = True

    def failure(self, stall_s: float = STALL_SECONDS) -> str | None:
        """Why the running stream has lost its audio backend, or None while it plays (any thread).

        Call it regularly (a few times a second): a stall is measured between calls.
        """
        stream = self._stream
        if not self.started or stream is None:
            return None
        if self._finished:
            return f"the stream on device {self.device} ended by itself"
        try:
            active = bool(stream.active)
        except _sounddevice().PortAudioError as exc:
            return f"PortAudio error on device {self.device}: {exc}"
        if not active:
            return f"the stream on device {self.device} is no longer active"
        now = time.monotonic()
        count = self._callbacks
        if count != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = count, now
            return None
        stall_s = max(stall_s, 4.0 * self.blocksize / self.sample_rate)
        if now - self._seen_at > stall_s:
            return f"no audio callback from device {self.device} for {now - self._seen_at:.1f} s"
        return None

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Stop and close the stream, waiting at most ``timeout_s``; True if it closed (idempotent).

        A healthy stream is stopped (the queued blocks play out); one whose backend is gone is
        aborted. PortAudio can block for good on a dead JACK server, so this runs on a helper
        thread: past the timeout the stream is abandoned (:attr:`abandoned`) and PortAudio is not
        terminated at interpreter exit either (that would block the same way).
        """
        dead = self.failure() is not None
        stream, self._stream = self._stream, None
        if stream is None:
            return not self.abandoned

        def shut() -> None:
            if dead:
                stream.abort(ignore_errors=True)
            else:
                stream.stop(ignore_errors=True)
            stream.close(ignore_errors=True)

        closer = threading.Thread(target=shut, name="latent-audio-close", daemon=True)
        closer.start()
        closer.join(timeout_s)
        if closer.is_alive():
            self.abandoned = True
            handler = getattr(_sounddevice(), "_exit_handler", None)
            if handler is not None:
                atexit.unregister(handler)
            return False
        return True

    @property
    def output_latency_s(self) -> float:
        """The device's reported output latency in seconds (0 before start)."""
        if self._stream is None:
            return 0.0
        latency = self._stream.latency
        return float(latency[1] if isinstance(latency, tuple) else latency)

    def stats(self) -> IoStats:
        return IoStats(callbacks=self._callbacks, status_xruns=self._status_xruns,
                       output_underflows=self.out_ring.underflows,
                       output_underflow_frames=self.out_ring.underflow_frames,
                       input_overflows=self.in_ring.overflows)
