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
"""

from __future__ import annotations

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
        self.started = False

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

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        sd = _sounddevice()
        try:
            if self.live_input:
                self._stream = sd.Stream(
                    device=(self.input_device, self.device), samplerate=self.sample_rate,
                    blocksize=self.blocksize, latency=self.latency, channels=1, dtype="float32",
                    callback=self._callback_duplex)
            else:
                self._stream = sd.OutputStream(
                    device=self.device, samplerate=self.sample_rate, blocksize=self.blocksize,
                    latency=self.latency, channels=1, dtype="float32", callback=self._callback_out)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise DeviceError(f"cannot open audio device {self.device} at {self.sample_rate} Hz, "
                              f"blocksize {self.blocksize}: {exc}. {NO_DEVICE_HELP}") from exc
        self.started = True

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

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
