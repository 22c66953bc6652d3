"""The engine's per-hop stages: delays, model stages, model bank and phase stages.

Every stage consumes and produces one hop (or one frame) and keeps its state
in preallocated arrays. Frames are log-magnitude features ``log1p|S|`` of shape
``(n_bins,)`` float32, the representation every latent model reads and writes.

* :class:`FrameDelay`, :class:`SampleDelay`: fixed delay lines that keep dry
  and bypass paths aligned with the model and phase look-ahead.
* :class:`LatentStage`: one latent model streamed frame by frame through
  :class:`instrument.streaming_model.StreamingLatentModel` (encode, scale each
  latent unit, decode); the same stage serves autoencoders and transfer models.
  Its output is padded to a common look-ahead so models can be switched live.
* :class:`ModelBank`: several stages loaded at start. Every hop feeds *all*
  of them (their causal caches stay current), so ``switch_model`` is
  glitch-free: the output crossfades from the old to the new model over
  ``crossfade_frames`` frames (one hop by default).
* :func:`make_phase`: streaming RTISI-LA (:class:`instrument.phase.StreamingPhase`)
  or a :class:`MagnitudeCollector` that keeps magnitudes for offline Griffin-Lim.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from instrument.config import StftConfig
from instrument.errors import ConfigError


class FrameDelay:
    """Delay ``(n_bins,)`` frames by ``frames`` pushes (0: pass through).

    State: a ring of ``frames`` frames (preallocated, zero at start).
    """

    def __init__(self, n_bins: int, frames: int) -> None:
        if frames < 0:
            raise ConfigError(f"frame delay must be >= 0, got {frames}")
        self.frames = frames
        self._ring = np.zeros((max(frames, 1), n_bins), dtype=np.float32)
        self._out = np.zeros(n_bins, dtype=np.float32)
        self._pos = 0

    def reset(self) -> None:
        self._ring[:] = 0.0
        self._pos = 0

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Returns the frame pushed ``frames`` calls ago (a view of internal state)."""
        if self.frames == 0:
            self._out[:] = frame
            return self._out
        self._out[:] = self._ring[self._pos]
        self._ring[self._pos] = frame
        self._pos = (self._pos + 1) % self.frames
        return self._out


class SampleDelay:
    """Delay a stream of ``(hop_length,)`` hops by ``delay_samples`` samples."""

    def __init__(self, hop_length: int, delay_samples: int) -> None:
        if delay_samples < 0:
            raise ConfigError(f"sample delay must be >= 0, got {delay_samples}")
        self.hop_length = hop_length
        self.delay_samples = delay_samples
        self._buffer = np.zeros(delay_samples + hop_length, dtype=np.float32)
        self._out = np.zeros(hop_length, dtype=np.float32)

    def reset(self) -> None:
        self._buffer[:] = 0.0

    def push(self, hop: np.ndarray) -> np.ndarray:
        """Returns the samples ``delay_samples`` behind ``hop`` (a view of internal state)."""
        h, d = self.hop_length, self.delay_samples
        self._buffer[d:] = hop
        self._out[:] = self._buffer[:h]
        self._buffer[:d] = self._buffer[h:h + d]
        return self._out


class ModelStage(Protocol):
    """What the engine needs from a model stage."""

    name: str
    kind: str
    n_units: int
    latency_frames: int
    latent: np.ndarray
    mean_latent: np.ndarray

    def process(self, frame: np.ndarray, scales: np.ndarray) -> np.ndarray: ...

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class LatentStreamer:
    """Hop-rate inference that also exposes the latent frame and decodes held latents.

    Built on :class:`instrument.streaming_model.StreamingLatentModel`, with the
    same modes (``dense``, ``cached`` causal conv, ``window``) and latency. When
    that model runs on its numpy backend (preallocated per-frame ops, no
    TensorFlow dispatch per hop) the streamer runs the same encoder ops, keeps
    the latent frame, scales it and runs the decoder ops; otherwise one
    ``tf.function`` call per hop returns both the output frame and the latent
    frame (cached convolutions from :func:`training.models.build_streaming_parts`).
    The latent frame feeds the window's activity meters and ``capture_latent``;
    :meth:`push_latent` decodes a held latent frame for no-input mode. Output
    frames equal ``StreamingLatentModel.push`` (tested).

    Args:
        latent_model: a loaded :class:`instrument.latent_model.LatentModel`.
    """

    def __init__(self, latent_model: Any) -> None:
        from instrument.streaming_model import StreamingLatentModel

        reference = StreamingLatentModel(latent_model)
        self.mode = reference.mode
        self.backend = getattr(reference, "backend", "tf")
        self.latency_frames = int(reference.latency_frames)
        self.model = latent_model
        self.n_bins = int(latent_model.n_bins)
        self.n_units = int(latent_model.n_units)
        self.latent_frame_shape = tuple(int(d) for d in latent_model.latent_frame_shape)
        self._norm = latent_model.norm_stats
        self._frame = np.zeros(self.n_bins, np.float32)
        self._out = np.zeros(self.n_bins, np.float32)
        self._scaled = np.zeros(self.latent_frame_shape, np.float32)
        self.latent_frame = np.zeros(self.latent_frame_shape, np.float32)
        if self.backend == "numpy":
            self._enc_ops = list(reference._enc_ops)
            self._dec_ops = list(reference._dec_ops)
            self._reference = reference
        else:
            self._build_tf(latent_model)
        self.reset()

    def _build_tf(self, latent_model: Any) -> None:
        import tensorflow as tf

        from training.models import build_streaming_parts, reset_streaming

        self._reset_streaming = reset_streaming
        s_spec = tf.TensorSpec((self.n_units,), tf.float32)
        z_spec = tf.TensorSpec(self.latent_frame_shape, tf.float32)
        if self.mode == "cached":
            self._encoder, self._decoder = build_streaming_parts(latent_model.config,
                                                                 trained=latent_model.model)
            self._x = np.zeros((1, 1, self.n_bins), np.float32)
        else:
            self._encoder, self._decoder = latent_model.encoder, latent_model.decoder
            self._x = np.zeros((1,) + tuple(latent_model.config.input_shape), np.float32)
        if self.mode == "window":
            frames = int(latent_model.frames)
            latent_frames = int(latent_model.latent_shape[0])
            self._index = frames - 1 - self.latency_frames
            self._latent_index = self._index // (frames // latent_frames)
            self._latent_frames = latent_frames
        x_spec = tf.TensorSpec(self._x.shape, tf.float32)
        self._step = tf.function(self._step_graph, input_signature=[x_spec, s_spec], reduce_retracing=True)
        self._decode = tf.function(self._decode_graph, input_signature=[z_spec, s_spec],
                                   reduce_retracing=True)
        ones = np.ones(self.n_units, np.float32)
        self._step(self._x, ones)
        self._decode(self.latent_frame, ones)

    # ------------------------------------------------------------------ graphs
    def _step_graph(self, x: Any, scales: Any) -> tuple[Any, Any]:
        z = self._encoder(x, training=False)
        y = self._decoder(z * scales, training=False)
        if self.mode == "dense":
            return y[0], z[0]
        if self.mode == "cached":
            return y[0, 0], z[0, 0]
        return y[0, self._index], z[0, self._latent_index]

    def _decode_graph(self, z: Any, scales: Any) -> Any:
        import tensorflow as tf

        scaled = z * scales
        if self.mode == "dense":
            return self._decoder(scaled[None], training=False)[0]
        if self.mode == "cached":
            return self._decoder(scaled[None, None], training=False)[0, 0]
        window = tf.repeat(scaled[None, None], self._latent_frames, axis=1)
        return self._decoder(window, training=False)[0, self._index]

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        self.latent_frame[:] = 0.0
        if self.backend == "numpy":
            for op in self._enc_ops + self._dec_ops:
                op.reset()
            return
        self._x[:] = 0.0
        if self.mode == "window" and self._norm is not None:
            self._x[:] = self._norm.normalise(np.zeros(self.n_bins, np.float32))
        if self.mode == "cached":
            self._reset_streaming(self._encoder, self._decoder)

    def _finish(self, y: np.ndarray) -> np.ndarray:
        if self._norm is not None:
            np.multiply(y, self._norm.std, out=self._out)
            self._out += self._norm.mean
        else:
            self._out[:] = y
        return self._out

    def _decode_numpy(self, latent: np.ndarray, scales: np.ndarray) -> np.ndarray:
        y = np.multiply(latent, scales, out=self._scaled)
        for op in self._dec_ops:
            y = op.step(y)
        return self._finish(y)

    def push(self, frame: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """One log1p frame ``(n_bins,)`` and scales ``(n_units,)`` -> output frame ``(n_bins,)``.

        Also updates :attr:`latent_frame` (unscaled, ``latent_frame_shape``).
        """
        if self._norm is not None:
            np.subtract(frame, self._norm.mean, out=self._frame)
            np.divide(self._frame, self._norm.std, out=self._frame)
        else:
            self._frame[:] = frame
        if self.backend == "numpy":
            z = self._frame
            for op in self._enc_ops:
                z = op.step(z)
            self.latent_frame[:] = z
            return self._decode_numpy(self.latent_frame, scales)
        if self.mode == "window":
            self._x[0, :-1] = self._x[0, 1:]
            self._x[0, -1] = self._frame
        else:
            self._x.reshape(self.n_bins)[:] = self._frame
        y, z = self._step(self._x, scales)
        self.latent_frame[:] = z.numpy()
        return self._finish(y.numpy())

    def push_latent(self, latent: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Decode ``latent * scales`` (``latent_frame_shape``, ``(n_units,)``) -> ``(n_bins,)``."""
        if self.backend == "numpy":
            return self._decode_numpy(latent, scales)
        return self._finish(self._decode(latent, scales).numpy())


class LatentStage:
    """One latent model streamed hop by hop, its output delayed to ``latency_frames``.

    Serves autoencoders and transfer models alike (encode, multiply each latent
    unit by its effective scale, decode). In no-input mode it decodes its held
    latent frame (the model's mean latent, or one captured with
    :meth:`capture`) scaled by the faders.

    Args:
        latent_model: a loaded :class:`instrument.latent_model.LatentModel`.
        name: display name (file stem).
        latency_frames: total frame delay of the stage's output; at least the
            model's own look-ahead, the rest is padding so that every model of a
            bank has the same latency.
        streamer: an already built :class:`LatentStreamer` for the model (reused).
    """

    def __init__(self, latent_model: Any, name: str, latency_frames: int | None = None,
                 streamer: LatentStreamer | None = None) -> None:
        self.model = latent_model
        self.name = name
        self.kind = str(getattr(latent_model, "kind", "autoencoder"))
        self.n_units = int(latent_model.n_units)
        self.n_bins = int(latent_model.n_bins)
        self.streaming = streamer if streamer is not None else LatentStreamer(latent_model)
        own = self.streaming.latency_frames
        self.own_latency_frames = own
        self.latency_frames = own if latency_frames is None else int(latency_frames)
        if self.latency_frames < own:
            raise ConfigError(f"model {name}: latency {self.latency_frames} < its look-ahead {own}")
        self._pad = FrameDelay(self.n_bins, self.latency_frames - own)
        shape = self.streaming.latent_frame_shape
        mean = getattr(latent_model, "mean_latent", None)
        self.mean_latent = np.zeros(shape, np.float32) if mean is None else np.asarray(mean, np.float32).copy()
        #: the latent frame no-input mode decodes, shape ``latent_frame_shape``
        self.held_latent = self.mean_latent.copy()
        #: per-unit activation of the last frame (mean over frequency for conv models), ``(n_units,)``
        self.latent = np.zeros(self.n_units, dtype=np.float32)
        self._reduce_axes = tuple(range(len(shape) - 1))

    @property
    def latent_frame(self) -> np.ndarray:
        """The last unscaled latent frame, shape ``latent_frame_shape``."""
        return self.streaming.latent_frame

    def with_latency(self, latency_frames: int) -> "LatentStage":
        """The same model (sharing the streamer) padded to ``latency_frames``."""
        return LatentStage(self.model, self.name, latency_frames, streamer=self.streaming)

    def reset(self) -> None:
        self.streaming.reset()
        self._pad.reset()
        self.latent[:] = 0.0

    def capture(self) -> None:
        """Hold the last latent frame for no-input mode."""
        self.held_latent[:] = self.streaming.latent_frame

    def _update_latent(self, frame: np.ndarray) -> None:
        if self._reduce_axes:
            np.mean(frame, axis=self._reduce_axes, out=self.latent)
        else:
            self.latent[:] = frame

    def process(self, frame: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Encode one log-magnitude frame, scale its latent, decode. Returns ``(n_bins,)``."""
        out = self.streaming.push(frame, scales)
        self._update_latent(self.streaming.latent_frame)
        return self._pad.push(out)

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray:
        """No-input mode: decode ``latent * scales`` (None: the held latent). Returns ``(n_bins,)``."""
        latent = self.held_latent if latent is None else latent
        out = self.streaming.push_latent(latent, scales)
        self._update_latent(latent)
        return self._pad.push(out)


class BypassStage:
    """``--model none``: the analysed frame passes unchanged (pure analysis/resynthesis)."""

    kind = "none"
    n_units = 0
    own_latency_frames = 0

    def __init__(self, n_bins: int, latency_frames: int = 0) -> None:
        self.name = "none"
        self.latency_frames = latency_frames
        self._delay = FrameDelay(n_bins, latency_frames)
        self._silence = np.zeros(n_bins, dtype=np.float32)
        self.latent = np.zeros(0, dtype=np.float32)
        self.mean_latent = np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        self._delay.reset()

    def process(self, frame: np.ndarray, scales: np.ndarray) -> np.ndarray:
        return self._delay.push(frame)

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray:
        return self._delay.push(self._silence)


class ModelBank:
    """Several model stages fed together; one is heard, switching crossfades.

    Args:
        stages: the model stages (same ``n_bins`` and ``latency_frames``).
        crossfade_frames: frames over which a switch fades old -> new (>= 1).
    """

    def __init__(self, stages: Sequence[ModelStage], crossfade_frames: int = 1) -> None:
        if not stages:
            raise ConfigError("a model bank needs at least one model stage")
        latencies = {s.latency_frames for s in stages}
        if len(latencies) != 1:
            raise ConfigError(f"model stages must share one latency, got {sorted(latencies)}")
        if crossfade_frames < 1:
            raise ConfigError(f"crossfade_frames must be >= 1, got {crossfade_frames}")
        self.stages = list(stages)
        self.latency_frames = latencies.pop()
        self.active = 0
        self.previous = 0
        self.crossfade_frames = crossfade_frames
        self._fade_left = 0
        self._outputs: list[np.ndarray | None] = [None] * len(self.stages)
        self._mix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.stages)

    @property
    def current(self) -> ModelStage:
        return self.stages[self.active]

    def switch(self, index: Any) -> None:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ConfigError(f"model index must be an integer, got {index!r}")
        if not 0 <= int(index) < len(self.stages):
            raise ConfigError(f"model {index} out of range 0..{len(self.stages) - 1}")
        if int(index) == self.active:
            return
        self.previous = self.active
        self.active = int(index)
        self._fade_left = self.crossfade_frames

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()
        self._fade_left = 0

    def process(self, frame: np.ndarray | None, scale_vectors: Sequence[np.ndarray]) -> np.ndarray:
        """Feed every stage one frame (or, with ``frame=None``, its held latent).

        Args:
            frame: log-magnitude ``(n_bins,)``, or None in no-input mode.
            scale_vectors: per stage, the effective unit scales ``(n_units,)``.
        Returns:
            the heard log-magnitude frame ``(n_bins,)`` (internal buffer).
        """
        outputs = self._outputs
        for k, stage in enumerate(self.stages):
            if frame is None:
                outputs[k] = stage.process_latent(None, scale_vectors[k])
            else:
                outputs[k] = stage.process(frame, scale_vectors[k])
        heard = outputs[self.active]
        if self._mix is None:  # first hop: size the mix buffers from the stages' frames
            self._mix = np.zeros_like(heard)
            self._fade = np.zeros_like(heard)
        if self._fade_left > 0:
            gain = 1.0 - (self._fade_left - 0.5) / self.crossfade_frames
            np.multiply(heard, gain, out=self._mix)
            np.multiply(outputs[self.previous], 1.0 - gain, out=self._fade)
            self._mix += self._fade
            self._fade_left -= 1
        else:
            self._mix[:] = heard
        return self._mix


class MagnitudeCollector:
    """A phase stage for offline rendering: keeps each magnitude, returns silence.

    ``latency_samples`` is the overlap-add latency ``n_fft - hop_length``, so the
    Griffin-Lim signal of :meth:`magnitudes` delayed by it lines up with the
    streaming timeline.
    """

    def __init__(self, config: StftConfig, capacity_frames: int = 1024) -> None:
        self.config = config
        self.latency_samples = config.n_fft - config.hop_length
        self._frames = np.zeros((capacity_frames, config.n_bins), dtype=np.float32)
        self._count = 0
        self._silence = np.zeros(config.hop_length, dtype=np.float32)

    def reset(self) -> None:
        self._count = 0

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        if self._count == len(self._frames):  # grow (offline only, never in a live callback)
            self._frames = np.concatenate([self._frames, np.zeros_like(self._frames)])
        self._frames[self._count] = magnitude
        self._count += 1
        return self._silence

    def magnitudes(self) -> np.ndarray:
        """All pushed magnitudes, shape ``(frames, n_bins)``."""
        return self._frames[:self._count]


def make_phase(kind: str, config: StftConfig, lookahead_frames: int = 3, iterations: int = 4,
               seed: int = 0) -> Any:
    """Phase stage: ``"streaming"`` (RTISI-LA) or ``"offline"`` (collect for Griffin-Lim)."""
    if kind == "streaming":
        from instrument.phase import StreamingPhase

        return StreamingPhase(config, lookahead_frames=lookahead_frames, iterations=iterations, seed=seed)
    if kind == "offline":
        return MagnitudeCollector(config)
    raise ConfigError(f"unknown phase mode {kind!r}; choose streaming or offline")
