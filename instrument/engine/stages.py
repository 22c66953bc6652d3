"""The engine's per-hop stages: delays, model stages, model bank and phase stages.

Every stage consumes and produces one hop (or one frame) with ``process`` and
clears its state with ``reset`` (:class:`Stage`); it keeps that state in
preallocated arrays. Model stages (:class:`ModelStage`) also take the unit
scales with each frame. Frames are log-magnitude features ``log1p|S|`` of shape
``(n_bins,)`` float32, the representation every latent model reads and writes.

* :class:`FrameDelay`, :class:`SampleDelay`: fixed delay lines that keep dry
  and bypass paths aligned with the model and phase look-ahead.
* :class:`LatentStage`: one latent model streamed frame by frame through
  :class:`instrument.models.streaming.StreamingLatentModel` (encode, scale each
  latent unit, decode); the same stage serves autoencoders and transfer models.
  Non-causal models run in block mode (one model call every ``block_frames``
  hops, on a helper thread, the frames then emitted one per hop; latency
  look-ahead + block - 1 + compute hops).
  Its output is padded to a common look-ahead so models can be switched live.
* :class:`ModelBank`: several stages loaded at start. Every hop feeds *all*
  of them (their causal caches stay current), so ``switch_model`` is
  glitch-free: the output crossfades (:func:`instrument.dsp.mix.crossfade`)
  from the old to the new model over ``crossfade_frames`` frames (one hop by default).
* :func:`make_phase`: :class:`StreamingPhaseStage` (RTISI-LA,
  :class:`instrument.dsp.phase.rtisi_la.StreamingPhase`) or a
  :class:`MagnitudeCollector` that keeps magnitudes for offline Griffin-Lim.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from instrument.config import StftConfig
from instrument.dsp.mix import crossfade
from instrument.errors import ConfigError


class Stage(Protocol):
    """One per-hop step of the engine: one hop or frame in, one out; state cleared by ``reset``.

    ``process`` returns a view of internal state (valid until the next call) and
    does not allocate.
    """

    def process(self, x: np.ndarray, /) -> np.ndarray: ...

    def reset(self) -> None: ...


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

    def process(self, frame: np.ndarray, /) -> np.ndarray:
        """Returns the ``(n_bins,)`` frame given ``frames`` calls ago (a view of internal state)."""
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

    def process(self, hop: np.ndarray, /) -> np.ndarray:
        """Returns the ``(hop_length,)`` samples ``delay_samples`` behind ``hop`` (a view of internal state)."""
        h, d = self.hop_length, self.delay_samples
        self._buffer[d:] = hop
        self._out[:] = self._buffer[:h]
        self._buffer[:d] = self._buffer[h:h + d]
        return self._out


class ModelStage(Protocol):
    """What the engine needs from a model stage: a :class:`Stage` whose frames come with unit scales.

    ``process(frame, scales)`` maps a ``(n_bins,)`` frame and the effective unit
    scales ``(n_units,)`` to a ``(n_bins,)`` frame; ``process_latent`` decodes a
    latent frame (None: the held one) instead, for no-input mode.
    """

    name: str
    kind: str
    n_units: int
    latency_frames: int
    latent: np.ndarray
    mean_latent: np.ndarray

    def process(self, frame: np.ndarray, scales: np.ndarray) -> np.ndarray: ...

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class LatentStage:
    """One latent model streamed hop by hop, its output delayed to ``latency_frames``.

    Serves autoencoders and transfer models alike (encode, multiply each latent
    unit by its effective scale, decode). In no-input mode it decodes its held
    latent frame (the model's mean latent, or one captured with
    :meth:`capture`) scaled by the faders.

    Args:
        latent_model: a loaded :class:`instrument.models.latent_model.LatentModel`.
        name: display name (file stem).
        latency_frames: total frame delay of the stage's output; at least the
            model's own look-ahead, the rest is padding so that every model of a
            bank has the same latency.
        streamer: an already built :class:`~instrument.models.streaming.StreamingLatentModel`
            for the model (reused), which also exposes the latent frame and decodes held latents.
        block_frames: block length of block-mode (non-causal) models, None for
            the default (see :func:`instrument.models.streaming.default_block_frames`).
        compute_hops: hops a block-mode model call may take on its helper thread
            (0: inline), None for the default (``ceil(block / 2)``).
    Attributes:
        block_frames: frames per model call (1 for frame-by-frame models).
    """

    def __init__(self, latent_model: Any, name: str, latency_frames: int | None = None,
                 streamer: Any = None, block_frames: int | None = None,
                 compute_hops: int | None = None) -> None:
        from instrument.models.streaming import StreamingLatentModel

        self.model = latent_model
        self.name = name
        self.kind = str(getattr(latent_model, "kind", "autoencoder"))
        self.n_units = int(latent_model.n_units)
        self.n_bins = int(latent_model.n_bins)
        self.streaming = (streamer if streamer is not None
                          else StreamingLatentModel(latent_model, block_frames=block_frames,
                                                    compute_hops=compute_hops))
        self.block_frames = int(getattr(self.streaming, "block_frames", 1))
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
        return self._pad.process(out)

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray:
        """No-input mode: decode ``latent * scales`` (None: the held latent). Returns ``(n_bins,)``."""
        latent = self.held_latent if latent is None else latent
        out = self.streaming.push_latent(latent, scales)
        self._update_latent(latent)
        return self._pad.process(out)


class BypassStage:
    """``--model none``: the analysed frame passes unchanged (pure analysis/resynthesis)."""

    kind = "none"
    n_units = 0
    own_latency_frames = 0
    block_frames = 1

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
        """The ``(n_bins,)`` frame itself, delayed by ``latency_frames``; ``scales`` are ignored."""
        return self._delay.process(frame)

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray:
        """Silence (log1p magnitude 0), ``(n_bins,)``: there is no latent to decode."""
        return self._delay.process(self._silence)


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
        self._fade: np.ndarray | None = None

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
        if self._mix is None or self._fade is None:  # first hop: size the mix buffers from the frames
            self._mix = np.zeros_like(heard)
            self._fade = np.zeros_like(heard)
        if self._fade_left > 0:
            gain = 1.0 - (self._fade_left - 0.5) / self.crossfade_frames
            crossfade(outputs[self.previous], heard, gain, out=self._mix, scratch=self._fade)
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

    def process(self, magnitude: np.ndarray, /) -> np.ndarray:
        """Keep one ``(n_bins,)`` magnitude frame; returns a silent ``(hop_length,)`` hop."""
        if self._count == len(self._frames):  # grow (offline only, never in a live callback)
            self._frames = np.concatenate([self._frames, np.zeros_like(self._frames)])
        self._frames[self._count] = magnitude
        self._count += 1
        return self._silence

    def magnitudes(self) -> np.ndarray:
        """All pushed magnitudes, shape ``(frames, n_bins)``."""
        return self._frames[:self._count]


class StreamingPhaseStage:
    """Streaming RTISI-LA phase reconstruction as a :class:`Stage`: magnitude frame in, hop out.

    Wraps :class:`instrument.dsp.phase.rtisi_la.StreamingPhase`; ``latency_samples``
    is its look-ahead plus framing latency.
    """

    def __init__(self, config: StftConfig, lookahead_frames: int = 3, iterations: int = 4,
                 seed: int = 0) -> None:
        from instrument.dsp.phase.rtisi_la import StreamingPhase

        self.phase = StreamingPhase(config, lookahead_frames=lookahead_frames, iterations=iterations, seed=seed)
        self.latency_samples = int(self.phase.latency_samples)

    def reset(self) -> None:
        self.phase.reset()

    def process(self, magnitude: np.ndarray, /) -> np.ndarray:
        """One ``(n_bins,)`` magnitude frame in; the next ``(hop_length,)`` output hop (internal buffer)."""
        return self.phase.push(magnitude)


def make_phase(kind: str, config: StftConfig, lookahead_frames: int = 3, iterations: int = 4,
               seed: int = 0) -> StreamingPhaseStage | MagnitudeCollector:
    """Phase stage: ``"streaming"`` (RTISI-LA) or ``"offline"`` (collect for Griffin-Lim)."""
    if kind == "streaming":
        return StreamingPhaseStage(config, lookahead_frames=lookahead_frames, iterations=iterations, seed=seed)
    if kind == "offline":
        return MagnitudeCollector(config)
    raise ConfigError(f"unknown phase mode {kind!r}; choose streaming or offline")
