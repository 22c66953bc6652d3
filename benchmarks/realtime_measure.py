"""Timing measurements of ``latent bench realtime``: per-hop cost, paced hops, inversion follower cost.

Each runs in this process without a sound card: :func:`time_engine` (per-hop
time and real-time factor), :func:`paced_hops` (hops started on a real-time
schedule, for block-mode models) and :func:`time_inversion` (one follower
inference). :func:`test_signal` is the looping input they play.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from instrument.config import SpectralConfig
from instrument.engine.engine import Engine
from instrument.errors import LatentError
from instrument.inversion.follower import InversionFollower
from instrument.inversion.model import load_inversion_model
from instrument.io.audio_files import load_audio
from presets import PRESETS_DIR

#: seconds of input between two inversion follower inferences (as ``latent perform --invert-model``)
INVERSION_EVERY_S = 0.25


def test_signal(spectral: SpectralConfig, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A looping test input: the shipped demo loop if present, else harmonic glides plus noise."""
    demo = PRESETS_DIR / "audio" / "demo-loop.wav"
    if demo.is_file():
        try:
            return load_audio(demo, spectral.audio)
        except LatentError:
            pass
    sr = spectral.sample_rate
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110.0 * 2 ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    y = y + 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    return (y * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def find_latent_models(folder: Path) -> tuple[list[tuple[Path, Any]], list[str]]:
    """Load every ``*.keras`` in ``folder`` that is a latent model; returns (models, skipped notes)."""
    found: list[tuple[Path, Any]] = []
    skipped: list[str] = []
    try:
        from instrument.models.io import load_latent_model
    except ModuleNotFoundError as exc:
        return found, [f"latent models not loadable in this installation ({exc})"]
    for path in sorted(folder.glob("*.keras")):
        try:
            found.append((path, load_latent_model(path)))
        except LatentError as exc:
            skipped.append(f"{path.name}: skipped ({str(exc)[:80]})")
    return found, skipped


def block_text(engine: Engine) -> str:
    """``B`` frames per model call and ``K`` compute hops of the engine's block-mode stage (``1`` otherwise)."""
    for stage in getattr(engine.bank_models, "stages", []):
        streaming = getattr(stage, "streaming", None)
        if streaming is not None and getattr(streaming, "mode", "") == "block":
            return f"{streaming.block_frames} (K {streaming.compute_hops})"
    return "1"


def time_engine(engine: Engine, hops: int, warmup: int = 20) -> dict[str, float]:
    """Per-hop processing times of ``hops`` hops after ``warmup`` hops."""
    for _ in range(warmup):
        engine.process_hop()
    times = np.empty(hops)
    cpu0 = time.process_time()
    for i in range(hops):
        t0 = time.perf_counter()
        engine.process_hop()
        times[i] = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    audio_s = hops * engine.hop_seconds
    return {"median_ms": 1000 * float(np.median(times)), "p99_ms": 1000 * float(np.percentile(times, 99)),
            "max_ms": 1000 * float(times.max()), "rtf": float(times.sum() / audio_s),
            "rtf_median": float(np.median(times) / engine.hop_seconds), "rtf_cpu": cpu / audio_s,
            "latency_ms": engine.latency_ms, "latency_terms_ms": dict(engine.latency_terms_ms),
            "block": block_text(engine)}


def paced_hops(engine: Engine, hops: int, warmup: int = 40) -> dict[str, float]:
    """Per-hop wall time with hops started on a real-time schedule (one per hop period).

    Shows how a block-mode model's calls land on the processing thread: inline
    (``compute_hops=0``) the hop that completes a block carries the whole call;
    on the helper thread every hop stays short while the call fits in ``K`` hops.
    """
    for _ in range(warmup):
        engine.process_hop()
    times = np.empty(hops)
    late = 0
    next_start = time.perf_counter()
    for i in range(hops):
        now = time.perf_counter()
        if now < next_start:
            time.sleep(next_start - now)
        elif now - next_start > engine.hop_seconds:
            late += 1
        t0 = time.perf_counter()
        engine.process_hop()
        times[i] = time.perf_counter() - t0
        next_start += engine.hop_seconds
    return {"median_ms": 1000 * float(np.median(times)), "p99_ms": 1000 * float(np.percentile(times, 99)),
            "max_ms": 1000 * float(times.max()), "late_hops": late}


def load_follower(path: Path, sample_rate: int) -> Any:
    """The live inversion follower for ``path`` at the engine's sample rate (as ``latent perform``)."""
    return InversionFollower(load_inversion_model(path), input_sample_rate=sample_rate,
                             every_seconds=INVERSION_EVERY_S)


def time_inversion(follower: Any, audio: np.ndarray, calls: int = 20) -> dict[str, float]:
    """Wall and CPU time of one follower inference on 1 s windows of ``audio``."""
    window = follower.window
    starts = np.linspace(0, max(0, len(audio) - window), calls + 2).astype(int)
    follower.infer_values(audio[:window])  # trace
    wall = np.empty(calls)
    cpu0 = time.process_time()
    for i, start in enumerate(starts[1:-1]):
        chunk = np.zeros(window, np.float32)
        piece = audio[start:start + window]
        chunk[:len(piece)] = piece
        t0 = time.perf_counter()
        follower.infer_values(chunk)
        wall[i] = time.perf_counter() - t0
    cpu = (time.process_time() - cpu0) / calls
    return {"median_ms": 1000 * float(np.median(wall)), "p99_ms": 1000 * float(np.percentile(wall, 99)),
            "max_ms": 1000 * float(wall.max()), "cpu_ms": 1000 * cpu,
            "core_share": cpu / INVERSION_EVERY_S, "wall_share": float(np.median(wall)) / INVERSION_EVERY_S}
