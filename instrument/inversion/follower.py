"""Live inversion stage: follow incoming audio and emit MIDI for the patch that matches it.

:class:`InversionFollower` is pure logic with preallocated state. ``push(block)`` copies input into
a ring holding the last ``window_seconds``; every ``every_seconds`` of input it infers the patch of
that window (the model is called through a ``tf.function``, never ``predict``) and returns only the
MIDI messages of parameters whose MIDI value changed, at most once per ``min_interval_seconds``
(input time). It allocates when it infers, so run it on a worker thread, never in the audio
callback: :class:`InversionWorker` is such a thread, fed by a bounded queue that drops blocks when
inference falls behind.

A synth that takes whole voices (``dx7``) gets one single-voice sysex dump per changed voice
instead of per-parameter messages, paced by :class:`~instrument.synths.dump_pacing.DumpPacer`: at
most one dump per ``spec.options["min_dump_interval_s"]`` seconds of wall-clock time (default
0.2 s; a DX7 needs that long to take one); a newer voice replaces one still waiting, and the
waiting voice goes out on the first ``push`` or :meth:`InversionFollower.poll` after the interval
(the worker polls when no input arrives, and sends the last one when stopped).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from instrument.errors import ConfigError
from instrument.inversion.model import fit_to_length, mask_invalid_classes, normalise_peak
from instrument.synths.dump_pacing import DumpPacer
from instrument.synths.voice_files import is_voice_synth, takes_voices

if TYPE_CHECKING:
    from instrument.synths.base import Synth


class InversionFollower:
    """Ring buffer + periodic inference + changed-parameter MIDI messages.

    Args:
        model: :class:`instrument.inversion.model.InversionModel`.
        synth_spec: the spec whose MIDI mapping is used (default: the model's spec).
        window_seconds: input analysed per inference (the model sees the synth's clip length).
        every_seconds: input time between inferences.
        min_interval_seconds: least input time between two message bursts.
        input_sample_rate: rate of pushed blocks (default: the synth rate; resampled otherwise).
        channel: MIDI channel 0..15.
        min_peak: windows whose peak is below this are treated as silence (nothing sent).
        synth: the renderer of a synth that takes voices (default: built from the registry when
            the model's synth is one, e.g. ``dx7``; None otherwise).
        clock: wall-clock seconds for pacing voice dumps (default ``time.monotonic``).
    """

    def __init__(self, model: Any, synth_spec: Any | None = None, window_seconds: float = 1.0,
                 every_seconds: float = 0.25, min_interval_seconds: float = 0.5,
                 input_sample_rate: int | None = None, channel: int = 0,
                 min_peak: float = 1e-3, synth: Synth | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import tensorflow as tf

        from instrument.synths.base import clip_features

        self.model = model
        self.spec = synth_spec if synth_spec is not None else model.spec
        if self.spec.n_params != model.config.n_params:
            raise ConfigError(f"synth spec {self.spec.name!r} has {self.spec.n_params} parameters, "
                              f"the model predicts {model.config.n_params}")
        if not window_seconds > 0 or not every_seconds > 0 or min_interval_seconds < 0:
            raise ConfigError("window_seconds and every_seconds must be > 0, "
                              f"min_interval_seconds >= 0; got {window_seconds}, {every_seconds}, "
                              f"{min_interval_seconds}")
        if not 0 <= channel <= 15:
            raise ConfigError(f"MIDI channel must be 0..15, got {channel}")
        self.sample_rate = int(input_sample_rate or self.spec.sample_rate)
        if self.sample_rate <= 0:
            raise ConfigError(f"input_sample_rate must be positive, got {input_sample_rate}")
        self.window = max(1, int(round(window_seconds * self.sample_rate)))
        self.every = max(1, int(round(every_seconds * self.sample_rate)))
        self.min_interval = int(round(min_interval_seconds * self.sample_rate))
        self.channel = channel
        self.min_peak = float(min_peak)
        self._ring = np.zeros(self.window, dtype=np.float32)
        self._linear = np.zeros(self.window, dtype=np.float32)
        self._write = 0
        self._filled = 0
        self._since_infer = 0
        self._clock = 0                      # input samples pushed so far
        self._last_send = -(10 ** 12)
        self.sent_values: np.ndarray | None = None
        self.latest_values: np.ndarray | None = None
        self.inferences = 0
        self.synth, self._pacer = self._voice_pacing(model, synth)
        self._now = clock
        self._sent_voice: np.ndarray | None = None
        self.dumps = 0
        self._features = lambda audio: clip_features(audio, self.spec)
        keras_model = model.model

        @tf.function(reduce_retracing=True)
        def _call(x: Any) -> Any:
            return keras_model(x, training=False)

        self._call = _call

    def _voice_pacing(self, model: Any, synth: Synth | None) -> tuple[Any | None, Any | None]:
        """(voice synth, pacer) when patches go as voice dumps, else (None, None)."""
        from instrument.synths.midi_send import dump_interval

        if synth is None and is_voice_synth(model.synth_name):
            from instrument.synths.registry import get_synth

            synth = get_synth(model.synth_name, spec=self.spec)
        if synth is None or not takes_voices(synth):
            return None, None
        return synth, DumpPacer(dump_interval(self.spec))

    def reset(self) -> None:
        """Forget input and the last sent patch (the next inference sends a whole patch)."""
        self._ring[:] = 0.0
        self._write = self._filled = self._since_infer = 0
        self.sent_values = self.latest_values = None
        self._sent_voice = None
        if self._pacer is not None:
            self._pacer.clear()

    def push(self, block: np.ndarray) -> list[Any]:
        """Append mono input ``(samples,)``; returns the mido messages to send now (maybe none)."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if x.size > self.window:
            skipped = x.size - self.window
            x = x[-self.window:]
            self._clock += skipped
            self._since_infer += skipped
        n = x.size
        first = min(n, self.window - self._write)
        self._ring[self._write:self._write + first] = x[:first]
        self._ring[:n - first] = x[first:]
        self._write = (self._write + n) % self.window
        self._filled = min(self.window, self._filled + n)
        self._clock += n
        self._since_infer += n
        if self._since_infer < self.every or self._filled < self.window:
            return self.poll()
        self._since_infer = 0
        return self._infer_and_diff()

    def poll(self) -> list[Any]:
        """The voice dump whose turn has come (voice synths; else nothing): a list of 0 or 1 message."""
        if self._pacer is None:
            return []
        due = self._pacer.take_due(self._now())
        if due is None:
            return []
        from instrument.synths.midi_send import voice_dump_messages

        values, voice = due
        self.sent_values, self._sent_voice = values, voice
        self._last_send = self._clock
        self.dumps += 1
        return voice_dump_messages(voice[None], self.channel)

    def poll_seconds(self) -> float | None:
        """Seconds until a waiting voice dump may go (None: nothing waits, or no voice synth)."""
        return None if self._pacer is None else self._pacer.wait_seconds(self._now())

    def window_audio(self) -> np.ndarray:
        """The last ``window`` input samples in time order (a view of a preallocated buffer)."""
        tail = self.window - self._write
        self._linear[:tail] = self._ring[self._write:]
        self._linear[tail:] = self._ring[:self._write]
        return self._linear

    def infer_values(self, audio: np.ndarray) -> np.ndarray:
        """Patch values ``(n_params,)`` for one window of input-rate audio ``(samples,)``."""
        y = np.asarray(audio, dtype=np.float32)
        if self.sample_rate != self.spec.sample_rate:
            import librosa

            y = librosa.resample(y, orig_sr=self.sample_rate, target_sr=self.spec.sample_rate)
        y, _ = fit_to_length(y, self.spec.n_samples)
        y = normalise_peak(y)[None]
        cfg = self.model.config
        x = self._features(y)
        if cfg.bins_first:
            x = np.swapaxes(x, 1, 2)
        from instrument.inversion.networks.heads import class_scores

        out = np.asarray(self._call(np.ascontiguousarray(x, dtype=np.float32)))
        scores = mask_invalid_classes(class_scores(cfg.head, out, cfg.n_classes), self.spec.levels)
        return self.spec.from_classes(scores.argmax(axis=-1))[0]

    def _infer_and_diff(self) -> list[Any]:
        from instrument.synths.midi_send import changed_messages

        audio = self.window_audio()
        if float(np.max(np.abs(audio))) < self.min_peak:
            return self.poll()
        values = self.infer_values(audio)
        self.inferences += 1
        self.latest_values = values
        if self._clock - self._last_send < self.min_interval:
            return self.poll()
        if self._pacer is not None:
            return self._offer_voice(values)
        messages = changed_messages(self.sent_values, values, self.spec, self.channel)
        self.sent_values = values
        if messages:
            self._last_send = self._clock
        return messages

    def _offer_voice(self, values: np.ndarray) -> list[Any]:
        """Queue the voice of ``values`` ``(n_params,)`` (replacing one that waits) unless the
        synth has it already; returns the dump if it may go now."""
        voice = self.synth.voices(values[None])[0]
        if self._sent_voice is not None and np.array_equal(voice, self._sent_voice):
            self._pacer.clear()  # the synth plays this voice already
            return []
        self._pacer.offer((values, voice))
        return self.poll()


class InversionWorker(threading.Thread):
    """Runs a follower off the audio thread: ``submit(block)`` never blocks; ``send`` gets messages.

    Args:
        follower: the :class:`InversionFollower`.
        send: called with each non-empty list of messages (e.g. ``midi_send.send_messages`` bound
            to an open port).
        max_blocks: queue length; when full, new blocks are dropped and counted in ``dropped``.
    """

    def __init__(self, follower: InversionFollower, send: Callable[[Sequence[Any]], Any],
                 max_blocks: int = 256) -> None:
        super().__init__(name="inversion-follower", daemon=True)
        self.follower = follower
        self.send = send
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_blocks)
        self.dropped = 0
        self.sent = 0
        self.error: BaseException | None = None

    def submit(self, block: np.ndarray) -> bool:
        """Queue a copy of ``block``; False (and counted) if the queue is full."""
        try:
            self._queue.put_nowait(np.array(block, dtype=np.float32, copy=True))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def stop(self, timeout: float | None = 5.0) -> None:
        """Finish queued blocks (and send a voice dump still waiting for its turn), then end the thread."""
        self._queue.put(None)
        self.join(timeout)

    def run(self) -> None:
        while self.error is None:
            try:
                block = self._queue.get(timeout=self.follower.poll_seconds())
            except queue.Empty:  # a voice dump waited for its turn, and it has come
                self._step(self.follower.poll)
                continue
            if block is None:
                self._step(self._last_dump)
                return
            self._step(lambda: self.follower.push(block))

    def _step(self, work: Callable[[], list[Any]]) -> None:
        """Run one follower call and send what it returns; an error ends the thread, kept in ``error``."""
        try:
            messages = work()
            if messages:
                self.send(messages)
                self.sent += len(messages)
        except Exception as exc:  # keep the error for the engine; the thread must not die silently
            self.error = exc

    def _last_dump(self) -> list[Any]:
        """At stop: the voice dump still waiting, when its turn comes."""
        wait = self.follower.poll_seconds()
        if wait is None:
            return []
        time.sleep(wait)
        return self.follower.poll()
