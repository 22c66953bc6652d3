"""The streaming engine: one hop in, one hop out, actions applied at hop boundaries.

Pipeline per hop (every stage consumes and produces one hop or one frame)::

    source ─► StreamingStft ─► log1p|S| ─► model bank ─► wet/dry ─► expm1 ─► phase ─► synth hop
      │                          └──────── dry delay (model look-ahead) ──┘                │
      └────────────── original delay (total latency) ─────────────► source select ◄───────┘
                                                                            │
                                             out ◄── peak limiter ◄── master gain

The last stage of every hop is the master gain (``master_gain`` action, smoothed)
and the safety peak limiter (:class:`~instrument.dsp.limiter.PeakLimiter`): no
output sample reaches full scale. Loudness compensation (``auto_gain``) scales
the output magnitudes before the phase stage so their level follows the input's.

The engine is pure and stateful: no I/O, no threads, no logging; every array
is allocated at construction. The live app calls :meth:`Engine.apply_all` with
the actions received during a block, then :meth:`Engine.process_hop`; offline
``latent render`` does exactly the same, so a logged performance replays
bit-exactly (same models, same seed).

Timing rule shared by the live app and the renderer: an action applied at
the boundary before hop ``i`` is logged at ``time_for_hop(i) = i * hop_seconds``
and replayed at hop ``hop_index_for_time(time) = round(time / hop_seconds)``.

Latency (algorithmic, reported by :attr:`Engine.latency_samples`): STFT framing
and phase look-ahead (the phase stage's ``latency_samples``) plus the models'
look-ahead frames times ``hop_length`` (for a block-mode model: look-ahead +
block - 1 + compute hops). The dry path (wet/dry) is delayed by
the model look-ahead and the original (bypass) path by the total, so every
path stays aligned.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from controllers.actions import Action
from instrument.config import SpectralConfig
from instrument.dsp.gain import LoudnessFollower, SmoothedGain
from instrument.dsp.limiter import PeakLimiter
from instrument.dsp.mix import crossfade, wet_dry_mix
from instrument.dsp.spectral import StreamingStft
from instrument.engine.scenes import Scene, SceneBook, scene_from_state
from instrument.engine.sources import FileSource, LiveSource, NoInputSource, Source
from instrument.engine.stages import BypassStage, FrameDelay, LatentStage, ModelBank, SampleDelay, make_phase
from instrument.engine.unit_state import UnitState
from instrument.errors import ConfigError, LatentError
from instrument.io.scheduling import limit_blas_threads

#: Units shown per bank (8 faders on a nanoKONTROL2).
BANK_SIZE = 8
#: Per-hop processing times kept for the CPU-load display.
TIMING_HISTORY = 512
#: RTISI-LA look-ahead of the live engine: 2 frames keeps a causal model at
#: 1280 samples = 58 ms at 22050 Hz / n_fft 1024 / hop 256 (3 frames: 70 ms,
#: spectral convergence only ~0.2 dB better).
DEFAULT_PHASE_LOOKAHEAD = 2
DEFAULT_PHASE_ITERATIONS = 4
#: Bounds of the master gain in dB (the ``master_gain`` action).
MASTER_GAIN_MIN_DB, MASTER_GAIN_MAX_DB = -60.0, 12.0


def hop_index_for_time(time_s: float, spectral: SpectralConfig) -> int:
    """The hop at whose boundary an action logged at ``time_s`` is applied: ``round(time_s / hop_seconds)``."""
    return int(round(float(time_s) / spectral.hop_seconds))


def time_for_hop(hop_index: int, spectral: SpectralConfig) -> float:
    """Log time of an action applied at the boundary before hop ``hop_index``: ``hop_index * hop_seconds``."""
    return hop_index * spectral.hop_seconds


class Engine:
    """The instrument's audio pipeline, one hop at a time.

    Args:
        spectral: audio/STFT settings (every model must share them).
        models: loaded :class:`~instrument.models.latent_model.LatentModel` objects; empty
            means ``--model none`` (pure analysis/resynthesis).
        model_names: display names, one per model (default ``model0``...).
        source: input source (default: live input).
        phase: ``"streaming"`` (RTISI-LA) or ``"offline"`` (collect for Griffin-Lim).
        phase_lookahead: RTISI-LA look-ahead frames.
        phase_iterations: RTISI-LA iterations per frame.
        seed: phase initialisation seed (same seed -> bit-exact output).
        scenes: scenes for recall/next/prev (default: none).
        crossfade_frames: frames a model switch crossfades over.
        blas_threads: limit BLAS/OpenMP thread pools to this many threads
            (process-wide, see :func:`instrument.io.scheduling.limit_blas_threads`);
            None leaves them.
        block_frames: block length for block-mode (non-causal) models; None
            picks each model's default (:func:`instrument.models.streaming.default_block_frames`).
        compute_hops: hops a block-mode model call may take on its helper thread
            before the hop that emits its first frame waits for it (0: the call
            runs inside the hop); None: half a block. Adds that many hops of latency.

    A block-mode model computes ``block_frames`` frames in one call every
    ``block_frames`` hops. By default the call runs on a helper thread while
    earlier frames are emitted, so hops stay short; with ``compute_hops=0`` the
    hop that completes a block carries the whole call and the caller must keep
    more audio queued than that call takes (:attr:`model_block_frames` is the
    largest block; :meth:`timing_stats` ``max_s`` shows the cost).
    """

    def __init__(self, spectral: SpectralConfig, models: Sequence[Any] = (),
                 model_names: Sequence[str] | None = None, source: Source | None = None,
                 phase: str = "streaming", phase_lookahead: int = DEFAULT_PHASE_LOOKAHEAD,
                 phase_iterations: int = DEFAULT_PHASE_ITERATIONS,
                 seed: int = 0, scenes: SceneBook | None = None, crossfade_frames: int = 1,
                 blas_threads: int | None = 1, block_frames: int | None = None,
                 compute_hops: int | None = None) -> None:
        if blas_threads is not None:
            limit_blas_threads(blas_threads)
        self.spectral = spectral
        stft = spectral.stft
        self.hop_length = stft.hop_length
        self.n_bins = stft.n_bins
        self.hop_seconds = spectral.hop_seconds
        names = list(model_names) if model_names is not None else [f"model{i}" for i in range(len(models))]
        if len(names) != len(models):
            raise ConfigError(f"{len(models)} models but {len(names)} model names")
        for name, model in zip(names, models):
            model_spectral = getattr(model, "spectral", None)
            if model_spectral is not None and model_spectral != spectral:
                raise ConfigError(
                    f"model {name} was trained with {model_spectral.to_json()}, the engine runs "
                    f"{spectral.to_json()}; every loaded model must share the spectral settings")
        self.model_names = names
        if models:
            stages = [LatentStage(m, n, block_frames=block_frames, compute_hops=compute_hops)
                      for m, n in zip(models, names)]
            lookahead = max(s.own_latency_frames for s in stages)
            stages = [s if s.latency_frames == lookahead else s.with_latency(lookahead) for s in stages]
        else:
            stages = [BypassStage(self.n_bins)]
            lookahead = 0
        self.bank_models = ModelBank(stages, crossfade_frames=crossfade_frames)
        self.model_lookahead_frames = lookahead
        #: frames of the largest model block (1 when every model streams frame by frame)
        self.model_block_frames = max(int(getattr(s, "block_frames", 1)) for s in stages)
        self.units: list[UnitState] = [UnitState(max(s.n_units, 1)) for s in stages]

        self.phase_mode = phase
        self.phase = make_phase(phase, stft, lookahead_frames=phase_lookahead,
                                iterations=phase_iterations, seed=seed)
        self.latency_samples = int(lookahead * self.hop_length + self.phase.latency_samples)
        self.latency_ms = 1000.0 * self.latency_samples / spectral.sample_rate
        slowest = max(stages, key=lambda stage: stage.own_latency_frames)
        model_ahead = int(slowest.model.lookahead_frames) if slowest.block_frames > 1 else 0
        to_ms = 1000.0 / spectral.sample_rate
        framing = min(stft.n_fft - self.hop_length, self.phase.latency_samples)
        #: the engine latency term by term (ms); they add up to :attr:`latency_ms`
        self.latency_terms_ms: dict[str, float] = {
            "framing": framing * to_ms,
            "model look-ahead": model_ahead * self.hop_length * to_ms,
            "block": (lookahead - model_ahead) * self.hop_length * to_ms,
            "phase look-ahead": (self.phase.latency_samples - framing) * to_ms,
        }
        self.seed = seed

        self._stft = StreamingStft(stft)
        self._dry = FrameDelay(self.n_bins, lookahead)
        self._original = SampleDelay(self.hop_length, self.latency_samples)
        self.source: Source = source if source is not None else LiveSource(self.hop_length)
        self.scenes = scenes if scenes is not None else SceneBook()

        # preallocated per-hop buffers (the window reads these)
        self.input_hop = np.zeros(self.hop_length, dtype=np.float32)
        self.output_hop = np.zeros(self.hop_length, dtype=np.float32)
        self.input_magnitude = np.zeros(self.n_bins, dtype=np.float32)
        self.output_magnitude = np.zeros(self.n_bins, dtype=np.float32)
        self._input_log = np.zeros(self.n_bins, dtype=np.float32)
        self._output_log = np.zeros(self.n_bins, dtype=np.float32)
        self._dry_scaled = np.zeros(self.n_bins, dtype=np.float32)
        self._log_ceiling = float(np.log1p(stft.n_fft))
        self._zero_hop = np.zeros(self.hop_length, dtype=np.float32)
        self._ramp = ((np.arange(self.hop_length, dtype=np.float32) + 1.0) / self.hop_length)
        self._gain_curve = np.ones(self.hop_length, dtype=np.float32)
        #: gain of the synthesised path on the last hop (1 - gain went to the original path)
        self.synth_gain_curve = np.ones(self.hop_length, dtype=np.float32)
        self.hop_times = np.zeros(TIMING_HISTORY, dtype=np.float64)
        self._scale_vectors = [u.effective() for u in self.units]

        # control state
        self.wet_dry = 1.0
        #: master gain in dB (applied before the safety limiter) and loudness compensation
        self.master_gain_db = 0.0
        self.auto_gain = False
        #: the output stages: master gain, loudness compensation, safety limiter (see the module doc)
        self.master = SmoothedGain(self.hop_length, self.hop_seconds)
        self.loudness = LoudnessFollower(stft.n_fft, self.hop_seconds)
        self.limiter = PeakLimiter(self.hop_length, spectral.sample_rate)
        #: the limiter's gain reduction for meters (dB >= 0): peak-held, falling 20 dB/s
        self.limiter_meter_db = 0.0
        self._meter_fall_db = 20.0 * self.hop_seconds
        self._dry_magnitude = np.zeros(self.n_bins, dtype=np.float32)
        self.synth = True
        self._synth_gain = 1.0
        self.bank = 0
        self.hop_index = 0
        self.hops_timed = 0
        self.last_hop_seconds = 0.0
        self.quit_requested = False

    # ------------------------------------------------------------------ views
    @property
    def model_index(self) -> int:
        return self.bank_models.active

    @property
    def model_name(self) -> str:
        return self.model_names[self.model_index] if self.model_names else "none"

    @property
    def stage(self) -> Any:
        return self.bank_models.current

    @property
    def unit_state(self) -> UnitState:
        """Fader/knob/mute/solo state of the heard model."""
        return self.units[self.model_index]

    @property
    def n_units(self) -> int:
        return self.stage.n_units

    @property
    def n_banks(self) -> int:
        return max(1, -(-self.n_units // BANK_SIZE))

    @property
    def units_in_view(self) -> range:
        start = self.bank * BANK_SIZE
        return range(start, min(start + BANK_SIZE, self.n_units))

    @property
    def source_mode(self) -> str:
        return self.source.mode

    @property
    def playing(self) -> bool:
        return self.source.playing

    @property
    def time_s(self) -> float:
        """Time of the next hop boundary (where the next actions apply)."""
        return time_for_hop(self.hop_index, self.spectral)

    @property
    def cpu_load(self) -> float:
        """Last hop's processing time over the hop duration (1.0 = no headroom)."""
        return self.last_hop_seconds / self.hop_seconds

    def latent_view(self, out: np.ndarray) -> np.ndarray:
        """Copy the heard model's latent activations of the units in view into ``out`` ``(BANK_SIZE,)``.

        Units past the last one read 0. Does not allocate.
        """
        out[:] = 0.0
        view = self.units_in_view
        count = len(view)
        if count:
            out[:count] = self.stage.latent[view.start:view.stop]
        return out

    def scales_view(self, out: np.ndarray) -> np.ndarray:
        """Copy the faders of the units in view into ``out`` ``(BANK_SIZE,)`` (0 past the end)."""
        out[:] = 0.0
        view = self.units_in_view
        if len(view):
            out[:len(view)] = self.unit_state.scales[view.start:view.stop]
        return out

    def timing_stats(self) -> dict[str, float]:
        """Median, p99 and max per-hop processing time (seconds) over the recent history."""
        count = min(self.hops_timed, TIMING_HISTORY)
        if count == 0:
            return {"median_s": 0.0, "p99_s": 0.0, "max_s": 0.0}
        times = self.hop_times[:count]
        return {"median_s": float(np.median(times)), "p99_s": float(np.percentile(times, 99)),
                "max_s": float(times.max())}

    # ---------------------------------------------------------------- sources
    def set_source(self, source: Source) -> None:
        """Replace the input source (file, live, or :class:`NoInputSource`)."""
        if source.hop_length != self.hop_length:
            raise ConfigError(f"source hop {source.hop_length} != engine hop {self.hop_length}")
        self.source = source

    def capture_scene(self, name: str) -> Scene:
        """The current control state of the heard model as a scene (added to the scene book)."""
        scene = scene_from_state(name, self.unit_state, self.wet_dry, self.model_name)
        self.scenes.add(scene)
        return scene

    def _recall(self, scene: Scene) -> None:
        scene.apply_to(self.unit_state)
        self.wet_dry = float(scene.wet_dry)

    def _step_scene(self, delta: int) -> None:
        for _ in range(len(self.scenes)):
            scene = self.scenes.step(delta)
            if scene.n_units == self.unit_state.n_units:
                self._recall(scene)
                return
        raise ConfigError(f"no saved scene fits model {self.model_name} ({self.n_units} units)")

    # ---------------------------------------------------------------- actions
    # One handler per action name of controllers.actions.ACTIONS, dispatched by ACTION_HANDLERS.
    def _scale_unit(self, args: Mapping[str, Any]) -> None:
        self.unit_state.set_scale(args["unit"], args["value"])

    def _knob_unit(self, args: Mapping[str, Any]) -> None:
        self.unit_state.set_knob(args["unit"], args["value"])

    def _wet_dry(self, args: Mapping[str, Any]) -> None:
        value = args["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"wet_dry must be a number in 0..1, got {value!r}")
        self.wet_dry = float(value)

    def _bank(self, args: Mapping[str, Any]) -> None:
        bank = args["bank"]
        if isinstance(bank, bool) or not isinstance(bank, int):
            raise ConfigError(f"bank must be an integer, got {bank!r}")
        self.bank = bank % self.n_banks

    def _zero_all(self, args: Mapping[str, Any]) -> None:
        self.unit_state.zero_all()

    def _reset_all(self, args: Mapping[str, Any]) -> None:
        self.unit_state.reset_all()

    def _reset_unit(self, args: Mapping[str, Any]) -> None:
        self.unit_state.reset_unit(args["unit"])

    def _solo(self, args: Mapping[str, Any]) -> None:
        self.unit_state.set_solo(args["unit"], args["on"])

    def _mute(self, args: Mapping[str, Any]) -> None:
        self.unit_state.set_mute(args["unit"], args["on"])

    def _toggle_source(self, args: Mapping[str, Any]) -> None:
        self.synth = not self.synth

    def _set_source(self, args: Mapping[str, Any]) -> None:
        self.synth = bool(args["synth"])

    def _play_pause(self, args: Mapping[str, Any]) -> None:
        self.source.play_pause()

    def _stop(self, args: Mapping[str, Any]) -> None:
        self.source.stop()

    def _recall_scene(self, args: Mapping[str, Any]) -> None:
        self._recall(self.scenes.get(str(args["scene"])))

    def _next_scene(self, args: Mapping[str, Any]) -> None:
        self._step_scene(1)

    def _prev_scene(self, args: Mapping[str, Any]) -> None:
        self._step_scene(-1)

    def _switch_model(self, args: Mapping[str, Any]) -> None:
        self.bank_models.switch(args["model"])
        self.bank = min(self.bank, self.n_banks - 1)

    def _next_model(self, args: Mapping[str, Any]) -> None:
        self._switch_model({"model": (self.model_index + 1) % len(self.bank_models.stages)})

    def _prev_model(self, args: Mapping[str, Any]) -> None:
        self._switch_model({"model": (self.model_index - 1) % len(self.bank_models.stages)})

    def _master_gain(self, args: Mapping[str, Any]) -> None:
        value = args["db"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not MASTER_GAIN_MIN_DB <= value <= MASTER_GAIN_MAX_DB:
            raise ConfigError(f"master_gain must be a number of dB in {MASTER_GAIN_MIN_DB:g}.."
                              f"{MASTER_GAIN_MAX_DB:g}, got {value!r}")
        self.master_gain_db = float(value)
        self.master.set_db(self.master_gain_db, immediate=self.hop_index == 0)  # no fade-in from 0 dB

    def _auto_gain(self, args: Mapping[str, Any]) -> None:
        self.auto_gain = bool(args["on"])

    def _capture_latent(self, args: Mapping[str, Any]) -> None:
        if self.source.mode != "none" and hasattr(self.stage, "capture"):
            self.stage.capture()

    def _quit(self, args: Mapping[str, Any]) -> None:
        self.quit_requested = True

    #: Action name -> handler ``(engine, args)``; every name of ``controllers.actions.ACTIONS``.
    ACTION_HANDLERS: dict[str, Callable[["Engine", Mapping[str, Any]], None]] = {
        "scale_unit": _scale_unit, "knob_unit": _knob_unit, "wet_dry": _wet_dry, "bank": _bank,
        "zero_all": _zero_all, "reset_all": _reset_all, "reset_unit": _reset_unit, "solo": _solo,
        "mute": _mute, "toggle_source": _toggle_source, "set_source": _set_source,
        "play_pause": _play_pause, "stop": _stop, "recall_scene": _recall_scene,
        "next_scene": _next_scene, "prev_scene": _prev_scene, "switch_model": _switch_model,
        "next_model": _next_model, "prev_model": _prev_model, "master_gain": _master_gain,
        "auto_gain": _auto_gain, "capture_latent": _capture_latent, "quit": _quit,
    }

    def apply(self, action: Action) -> None:
        """Apply one action now (between hops). Raises :class:`ConfigError` on bad arguments."""
        handler = self.ACTION_HANDLERS.get(action.name)
        if handler is None:  # Action validates names; a new schema entry needs a handler above
            raise ConfigError(f"engine does not handle action {action.name!r}")
        handler(self, action.args)

    def apply_all(self, actions: Iterable[Action], strict: bool = True) -> list[tuple[Action, LatentError]]:
        """Apply every action in order at this hop boundary.

        Args:
            strict: raise on the first bad action; otherwise skip it and go on.
        Returns:
            the skipped ``(action, error)`` pairs (always empty when ``strict``).
        """
        failed: list[tuple[Action, LatentError]] = []
        for action in actions:
            try:
                self.apply(action)
            except LatentError as exc:
                if strict:
                    raise
                failed.append((action, exc))
        return failed

    # ------------------------------------------------------------- processing
    def reset(self) -> None:
        """Clear every streaming state (analysis, models, phase, delays) and the hop counter."""
        self._stft.reset()
        self.bank_models.reset()
        self.phase.reset()
        self._dry.reset()
        self._original.reset()
        self.master.reset()
        self.loudness.reset()
        self.limiter.reset()
        self.limiter_meter_db = 0.0
        self.hop_index = 0

    def process_hop(self, input_hop: np.ndarray | None = None) -> np.ndarray:
        """Run one hop through the pipeline.

        Args:
            input_hop: ``(hop_length,)`` float32 from the live input (ignored by
                file and no-input sources; None means silence for a live source).
        Returns:
            the output hop ``(hop_length,)`` float32 (an internal buffer: copy it
            before the next call).
        """
        start = time.perf_counter()
        no_input = self.source.mode == "none"
        if no_input:
            hop = self._zero_hop
        else:
            hop = self.source.read(self.input_hop, input_hop)
            if not np.isfinite(hop.sum()):  # a broken input hop must not poison every stage's state
                np.nan_to_num(hop, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        frame = self._stft.push(hop)
        np.abs(frame, out=self.input_magnitude)
        np.log1p(self.input_magnitude, out=self._input_log)

        scale_vectors = self._scale_vectors
        for k, units in enumerate(self.units):
            scale_vectors[k] = units.effective()
        if no_input:
            if self.source.playing:
                heard = self.bank_models.process(None, scale_vectors)
            else:  # paused: silence (log1p magnitude 0)
                heard = self._input_log
        else:
            heard = self.bank_models.process(self._input_log, scale_vectors)
        dry = self._dry.process(self._input_log)
        wet_dry_mix(dry, heard, self.wet_dry, out=self._output_log, scratch=self._dry_scaled)
        # safety: a model pushed far outside its range (faders x knobs up to 64) must not blow up
        # the phase state with inf/NaN; the ceiling is |S| = n_fft, 4x a full-scale sine
        if not np.isfinite(self._output_log.sum()):
            np.nan_to_num(self._output_log, copy=False, nan=0.0, posinf=self._log_ceiling, neginf=0.0)
        np.clip(self._output_log, 0.0, self._log_ceiling, out=self._output_log)
        np.expm1(self._output_log, out=self.output_magnitude)
        np.expm1(dry, out=self._dry_magnitude)
        self.loudness.process(self._dry_magnitude, self.output_magnitude, self.auto_gain)
        synth_hop = self.phase.process(self.output_magnitude)
        original = self._original.process(hop)

        target = 1.0 if self.synth else 0.0
        gain = self.synth_gain_curve
        if target == self._synth_gain:
            gain[:] = target
            if target == 1.0:
                self.output_hop[:] = synth_hop
            else:
                self.output_hop[:] = original
        else:  # one-hop linear crossfade between synthesised and original audio
            np.multiply(self._ramp, target - self._synth_gain, out=gain)
            gain += self._synth_gain
            crossfade(original, synth_hop, gain, out=self.output_hop, scratch=self._gain_curve)
            self._synth_gain = target
        if self.phase_mode != "offline":  # offline: the renderer applies both after Griffin-Lim
            self.master.process(self.output_hop)
            self.limiter.process(self.output_hop)
            self.limiter_meter_db = max(self.limiter.gain_reduction_db,
                                        self.limiter_meter_db - self._meter_fall_db, 0.0)
        self.hop_index += 1
        elapsed = time.perf_counter() - start
        self.last_hop_seconds = elapsed
        self.hop_times[self.hops_timed % TIMING_HISTORY] = elapsed
        self.hops_timed += 1
        return self.output_hop


def latency_breakdown(terms_ms: Mapping[str, float]) -> str:
    """``Engine.latency_terms_ms`` as text, e.g. ``framing 34.8 + phase look-ahead 23.2 ms``
    (terms of 0 ms left out)."""
    shown = [f"{name} {ms:.1f}" for name, ms in terms_ms.items() if ms > 0.05]
    return (" + ".join(shown) or "none") + " ms"


def make_source(mode: str, hop_length: int, audio: np.ndarray | None = None, loop: bool = False) -> Source:
    """Source by mode: ``"file"`` (needs ``audio``), ``"live"`` or ``"none"`` (no input)."""
    if mode == "file":
        if audio is None:
            raise ConfigError("file source needs audio")
        return FileSource(audio, hop_length, loop=loop)
    if mode == "live":
        return LiveSource(hop_length)
    if mode == "none":
        return NoInputSource(hop_length)
    raise ConfigError(f"unknown source mode {mode!r}; choose file, live or none")
