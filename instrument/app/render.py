"""Offline bounce of the live pipeline: same engine, same actions, faster than real time.

:func:`render` drives an :class:`~instrument.engine.engine.Engine` hop by hop exactly as
the live app does: before hop ``i`` it applies, in file order, every automation
action whose ``hop_index_for_time(time) == i``, then calls ``process_hop``.
With the same models and seed the hops are bit-identical to the live ones.
The returned signal has the engine latency removed, so it lines up with the
input file.

With ``phase="offline"`` the engine collects the output magnitudes instead of
running RTISI-LA, and librosa's fast Griffin-Lim reconstructs the whole file
at the end; the original (bypass) path is mixed in with the same per-hop gains,
then the master gain and the safety limiter are applied as the engine does live.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from controllers.actions import Action, read_events
from instrument.config import SpectralConfig
from instrument.engine.engine import Engine, hop_index_for_time
from instrument.engine.stages import MagnitudeCollector
from instrument.errors import ConfigError, ModelError
from instrument.io.output_paths import check_distinct, check_not_input, check_writable
from instrument.models.names import model_name
from presets import PRESETS_DIR

#: The model ``latent render`` / ``latent perform`` use when none is given.
DEFAULT_MODEL = PRESETS_DIR / "models" / "reconstruct.keras"
#: Seconds rendered in no-input mode when neither --duration nor automation says.
DEFAULT_NO_INPUT_SECONDS = 10.0
#: Longest render (the whole output is held in memory): one hour.
MAX_RENDER_SECONDS = 3600.0
#: Automation may reach this far past the longest render (actions after the end are not applied).
AUTOMATION_MARGIN_SECONDS = 60.0


def check_render_seconds(seconds: float, what: str = "--duration") -> float:
    """``seconds`` if it is a finite number in ``(0, MAX_RENDER_SECONDS]``.

    Raises:
        ConfigError: naming ``what``, the value and the limit.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or not 0 < seconds <= MAX_RENDER_SECONDS:
        raise ConfigError(f"{what} {seconds!r} s must be a number in (0, {MAX_RENDER_SECONDS:g}] s "
                          f"(render length limit)")
    return float(seconds)


def check_render_paths(output: str | Path, inputs: Sequence[str | Path | None] = (),
                       plot: str | Path | None = None) -> None:
    """Before rendering: the output (and plot) is writable, is no input, and they differ.

    Args:
        output: the WAV to write; inputs: ``--input`` and ``--automation`` files (None skipped);
        plot: the PNG to write, if any.
    Raises:
        AudioFileError: naming the path and what is wrong.
    """
    given = [Path(p) for p in inputs if p is not None]
    targets = [(Path(output), "output file")] + ([(Path(plot), "plot file")] if plot else [])
    for target, kind in targets:
        check_writable(target, kind)
        check_not_input(target, given, kind)
    if plot:
        check_distinct([("--output", output), ("--plot", plot)])


def resolve_model_paths(models: Sequence[str] | None, live: bool = True) -> list[Path]:
    """``--model`` values to model paths; ``none`` -> no model (analysis/resynthesis).

    A value that is not a file names a shipped model (``presets/models/NAME.keras``). With
    ``live`` (``latent perform`` and ``latent render``), a shipped ``NAME-live.keras`` is taken
    instead when it exists: the variant of that model that plays at low latency.

    Raises:
        ModelError: a named file does not exist, or no model was given and the
            default ``presets/models/reconstruct.keras`` is not shipped.
    """
    if not models:
        if DEFAULT_MODEL.is_file():
            return [DEFAULT_MODEL]
        raise ModelError(f"no --model given and the default model {DEFAULT_MODEL.name} is not installed; "
                         "pass --model PATH or --model none")
    if any(str(m).lower() == "none" for m in models):
        if len(models) > 1:
            raise ModelError("--model none cannot be combined with other models")
        return []
    paths = []
    for model in models:
        path = Path(model)
        if not path.is_file():
            shipped = PRESETS_DIR / "models" / f"{model}.keras"
            live_variant = PRESETS_DIR / "models" / f"{model}-live.keras"
            if live and live_variant.is_file():
                path = live_variant
            elif shipped.is_file():
                path = shipped
            else:
                raise ModelError(f"model file not found: {model}")
        paths.append(path)
    return paths


def load_models(paths: Sequence[Path]) -> tuple[list[Any], list[str], SpectralConfig]:
    """Load latent models; returns ``(models, names, spectral)`` (default spectral if none)."""
    if not paths:
        return [], [], SpectralConfig()
    from instrument.models.io import load_latent_model

    # no warm-up: the engine streams with its own graphs (or numpy) and never calls the model's
    # offline graphs, so tracing them would only delay the start (0.2-0.4 s per model)
    models = [load_latent_model(p, warm_up=False) for p in paths]
    spectral = models[0].spectral
    for path, model in zip(paths, models):
        if model.spectral != spectral:
            raise ModelError(f"{path}: spectral settings differ from {paths[0]}; "
                             "models loaded together must share them")
    return models, [model_name(p) for p in paths], spectral


def load_automation(path: str | Path | None, spectral: SpectralConfig,
                    max_seconds: float | None = None) -> list[tuple[int, Action]]:
    """Read an event log as ``(hop_index, action)`` pairs in application order.

    Args:
        max_seconds: latest event time allowed (default: the render length limit plus
            :data:`AUTOMATION_MARGIN_SECONDS`); pass the render length plus a margin when known.
    Raises:
        ControllerMapError: the file is missing or a line is not a valid action.
        ConfigError: a time is negative, not finite or later than ``max_seconds``.
    """
    if path is None:
        return []
    limit = MAX_RENDER_SECONDS + AUTOMATION_MARGIN_SECONDS if max_seconds is None else max_seconds
    events = []
    for number, (time_s, action) in enumerate(read_events(path), 1):
        if not np.isfinite(time_s) or time_s < 0:
            raise ConfigError(f"{path}: event {number}: time must be a finite number >= 0, got {time_s}")
        if time_s > limit:
            raise ConfigError(f"{path}: event {number}: time {time_s:g} s is later than the "
                              f"{limit:g} s limit" + ("" if max_seconds is not None else
                                                      f" (render length limit {MAX_RENDER_SECONDS:g} s"
                                                      f" + {AUTOMATION_MARGIN_SECONDS:g} s)"))
        events.append((hop_index_for_time(time_s, spectral), action))
    events.sort(key=lambda item: item[0])  # stable: same-hop actions keep file order
    return events


@dataclass
class RenderResult:
    """What :func:`render` produced.

    Attributes:
        audio: float32 ``(samples,)``, latency removed.
        hops: hops processed.
        actions_applied: automation actions applied.
        latency_samples: the engine's algorithmic latency (removed from ``audio``).
        elapsed_s: wall time of the bounce.
        real_time_factor: ``elapsed_s`` over the rendered duration.
        output_magnitudes: ``(hops, n_bins)`` magnitudes given to Griffin-Lim (offline phase
            only; None with the streaming phase).
    """

    audio: np.ndarray
    hops: int
    actions_applied: int
    latency_samples: int
    elapsed_s: float
    real_time_factor: float
    output_magnitudes: np.ndarray | None


def render(engine: Engine, n_samples: int, automation: Sequence[tuple[int, Action]] = (),
           progress: bool = False, gl_iterations: int = 100) -> RenderResult:
    """Bounce ``n_samples`` of output through ``engine``.

    Args:
        engine: a fresh engine with its source set (file or no-input).
        n_samples: output length after the latency is removed.
        automation: ``(hop_index, action)`` pairs sorted by hop (see :func:`load_automation`).
        progress: show a tqdm bar.
        gl_iterations: Griffin-Lim iterations when the engine's phase mode is ``"offline"``.
    Returns:
        :class:`RenderResult`; rendering stops early at a ``quit`` action.
    Raises:
        ConfigError: an automation action has bad arguments (names its hop).
    """
    if n_samples <= 0:
        raise ConfigError(f"nothing to render: {n_samples} samples")
    rate = engine.spectral.sample_rate
    if n_samples > MAX_RENDER_SECONDS * rate:
        raise ConfigError(f"render length {n_samples / rate:g} s is above the limit of "
                          f"{MAX_RENDER_SECONDS:g} s")
    hop = engine.hop_length
    latency = engine.latency_samples
    n_hops = -(-(n_samples + latency) // hop)
    timeline = np.zeros(n_hops * hop, dtype=np.float32)
    gains = np.ones(n_hops * hop, dtype=np.float32)
    offline_phase = isinstance(engine.phase, MagnitudeCollector)
    master_gains = np.ones(n_hops * hop, dtype=np.float32) if offline_phase else None
    cursor = 0
    applied = 0
    start = time.perf_counter()
    hops_done = 0
    for i in tqdm(range(n_hops), desc="render", unit="hop", disable=not progress, leave=False):
        while cursor < len(automation) and automation[cursor][0] <= i:
            action = automation[cursor][1]
            try:
                engine.apply(action)
            except ConfigError as exc:
                raise ConfigError(f"automation action {action.name} at hop {i}: {exc}") from exc
            cursor += 1
            applied += 1
        if engine.quit_requested:  # like the live app: quit at a boundary ends before that hop
            break
        timeline[i * hop:(i + 1) * hop] = engine.process_hop()
        gains[i * hop:(i + 1) * hop] = engine.synth_gain_curve
        if master_gains is not None:  # the engine leaves the output stages to us (after Griffin-Lim)
            if engine.master.step():
                master_gains[i * hop:(i + 1) * hop] = engine.master.curve
        hops_done = i + 1
    magnitudes = None
    if master_gains is not None:
        magnitudes = engine.phase.magnitudes()[:hops_done]
        timeline = _offline_phase(engine, timeline, gains, magnitudes, hops_done, gl_iterations)
        timeline *= master_gains
        for i in range(hops_done):
            engine.limiter.process(timeline[i * hop:(i + 1) * hop])
    elapsed = time.perf_counter() - start
    end = min(hops_done * hop, n_samples + latency)
    audio = np.zeros(n_samples if not engine.quit_requested else max(0, end - latency), dtype=np.float32)
    body = timeline[latency:end]
    audio[:len(body)] = body[:len(audio)]
    duration = max(len(audio), 1) / engine.spectral.sample_rate
    return RenderResult(audio=audio, hops=hops_done, actions_applied=applied, latency_samples=latency,
                        elapsed_s=elapsed, real_time_factor=elapsed / duration,
                        output_magnitudes=magnitudes)


def _offline_phase(engine: Engine, timeline: np.ndarray, gains: np.ndarray, magnitudes: np.ndarray,
                   hops: int, n_iter: int = 100) -> np.ndarray:
    """Griffin-Lim the collected magnitudes and mix them in where the synth path was heard."""
    from instrument.dsp.phase.chunked import griffin_lim_chunked

    hop = engine.hop_length
    stft = engine.spectral.stft
    synth = griffin_lim_chunked(magnitudes, stft, n_iter=n_iter, seed=engine.seed)  # bounded memory
    offset = engine.phase.latency_samples
    out = timeline.copy()
    stop = min(len(out), offset + len(synth), hops * hop)
    out[offset:stop] += gains[offset:stop] * synth[:stop - offset]
    return out
