"""Streaming STFT contract and phase reconstruction (offline Griffin-Lim, streaming RTISI-LA)."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.dsp.phase.rtisi_la import StreamingPhase, griffin_lim, reconstruct_streaming
from instrument.dsp.spectral import (StreamingIstft, StreamingStft, istft, spectral_convergence_db,
                                 stft)

SR = 22050
CFG = StftConfig(n_fft=1024, hop_length=256)


def harmonic_tone(seconds: float = 0.6, f0_hz: float = 220.0, sample_rate: int = SR) -> np.ndarray:
    """A decaying harmonic tone with slight vibrato, shape ``(samples,)``."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f = f0_hz * (1.0 + 0.003 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 8))
    env = np.minimum(1.0, t / 0.02) * np.exp(-1.5 * t)
    return (y * env).astype(np.float32)


@pytest.mark.parametrize("cfg", [CFG, StftConfig(n_fft=512, hop_length=128, window="hamming"),
                                 StftConfig(n_fft=1024, hop_length=512)])
def test_streaming_stft_equals_offline(cfg: StftConfig, rng: np.random.Generator) -> None:
    y = rng.standard_normal(cfg.hop_length * 20).astype(np.float32)
    offline = stft(y, cfg)
    analyser = StreamingStft(cfg)
    hops = np.concatenate([y, np.zeros(cfg.n_fft, np.float32)])
    streamed = np.stack([analyser.push(hops[i * cfg.hop_length:(i + 1) * cfg.hop_length])
                         for i in range(len(offline))])
    np.testing.assert_allclose(streamed, offline, atol=2e-4, rtol=1e-4)


def test_streaming_stft_rejects_wrong_hop() -> None:
    with pytest.raises(ConfigError, match="256"):
        StreamingStft(CFG).push(np.zeros(100, np.float32))


def test_streaming_analysis_synthesis_true_phase_is_exact(rng: np.random.Generator) -> None:
    h = CFG.hop_length
    y = (0.5 * rng.standard_normal(h * 40)).astype(np.float32)
    analyser, synth = StreamingStft(CFG), StreamingIstft(CFG)
    latency = CFG.n_fft - h
    padded = np.concatenate([y, np.zeros(latency, np.float32)])
    out = np.concatenate([synth.push_frame(analyser.push(padded[i * h:(i + 1) * h]))
                          for i in range(len(padded) // h)])
    np.testing.assert_allclose(out[latency:latency + len(y)], y, atol=1e-5)


def test_offline_istft_inverts_stft(rng: np.random.Generator) -> None:
    y = rng.standard_normal(5000).astype(np.float32)
    np.testing.assert_allclose(istft(stft(y, CFG), CFG, length=len(y)), y, atol=1e-5)


def test_streaming_phase_contract() -> None:
    proc = StreamingPhase(CFG, lookahead_frames=3, iterations=2)
    assert proc.latency_frames == 3 + CFG.overlap - 1
    assert proc.latency_samples == 3 * CFG.hop_length + CFG.n_fft - CFG.hop_length
    out = proc.push(np.ones(CFG.n_bins, np.float32))
    assert out.shape == (CFG.hop_length,) and out.dtype == np.float32
    # Frame 0 is committed after look-ahead frames: before that the output is silent, and
    # the hop after pushing frame 3 is frame 0's first hop (the front padding, block -3).
    silent = [proc.push(np.ones(CFG.n_bins, np.float32)).copy() for _ in range(2)]
    assert all(np.abs(h).max() == 0.0 for h in [out, *silent])
    assert np.abs(proc.push(np.ones(CFG.n_bins, np.float32))).max() > 0.0
    with pytest.raises(ConfigError, match="513"):
        proc.push(np.ones(10, np.float32))


def test_streaming_phase_reset_and_determinism() -> None:
    mag = np.abs(stft(harmonic_tone(0.3), CFG))
    a = reconstruct_streaming(mag, CFG, lookahead_frames=2, iterations=2, seed=3)
    proc = StreamingPhase(CFG, lookahead_frames=2, iterations=2, seed=3)
    for frame in mag[:5]:
        proc.push(frame)
    proc.reset()
    h = CFG.hop_length
    frames = len(mag) + proc.latency_frames
    pushed = [proc.push(mag[t] if t < len(mag) else np.zeros(CFG.n_bins, np.float32)).copy()
              for t in range(frames)]
    b = np.concatenate(pushed)[proc.latency_samples:proc.latency_samples + len(a)]
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(mag) * h - (CFG.n_fft - h),)


def test_streaming_output_is_aligned_with_the_original() -> None:
    y = harmonic_tone(0.6)
    rebuilt = reconstruct_streaming(np.abs(stft(y, CFG)), CFG, length=len(y))
    assert rebuilt.shape == y.shape
    # Same envelope timing: the energy onset is in the same hop (alignment, not just magnitude).
    env_true = np.abs(y).reshape(-1, 147).max(axis=1)
    env_rt = np.abs(rebuilt).reshape(-1, 147).max(axis=1)
    assert np.argmax(env_true > 0.1) == pytest.approx(np.argmax(env_rt > 0.1), abs=1)


def test_rtisi_la_beats_gl_with_same_iterations() -> None:
    y = harmonic_tone(0.8)
    mag = np.abs(stft(y, CFG))
    streamed = reconstruct_streaming(mag, CFG, lookahead_frames=3, iterations=4, length=len(y))
    sc_stream = spectral_convergence_db(mag, streamed, CFG)
    sc_gl = spectral_convergence_db(mag, griffin_lim(mag, CFG, n_iter=4, length=len(y)), CFG)
    assert sc_stream < -15.0
    assert sc_stream < sc_gl - 3.0


def test_griffin_lim_improves_with_iterations_and_shape() -> None:
    y = harmonic_tone(0.5)
    mag = np.abs(stft(y, CFG))
    few = griffin_lim(mag, CFG, n_iter=2, length=len(y))
    many = griffin_lim(mag, CFG, n_iter=30, length=len(y))
    assert many.shape == y.shape and many.dtype == np.float32
    assert spectral_convergence_db(mag, many, CFG) < spectral_convergence_db(mag, few, CFG) - 3.0


def test_griffin_lim_warm_start_from_true_phase() -> None:
    y = harmonic_tone(0.5)
    spec = stft(y, CFG)
    rebuilt = griffin_lim(np.abs(spec), CFG, n_iter=5, init_phase=np.angle(spec), length=len(y))
    np.testing.assert_allclose(rebuilt, y, atol=2e-3)
    assert spectral_convergence_db(np.abs(spec), rebuilt, CFG) < -40.0


@pytest.mark.parametrize("kwargs, match", [
    ({"lookahead_frames": -1}, "lookahead_frames"),
    ({"iterations": 0}, "iterations"),
    ({"iterations": 2.5}, "iterations"),
    ({"momentum": 1.5}, "momentum"),
])
def test_streaming_phase_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StreamingPhase(CFG, **kwargs)


def test_griffin_lim_bad_input() -> None:
    with pytest.raises(ConfigError, match="513"):
        griffin_lim(np.ones((10, 100), np.float32), CFG)
    with pytest.raises(ConfigError, match="n_iter"):
        griffin_lim(np.ones((10, CFG.n_bins), np.float32), CFG, n_iter=0)
    with pytest.raises(ConfigError, match="non-negative"):
        griffin_lim(-np.ones((10, CFG.n_bins), np.float32), CFG)
    with pytest.raises(ConfigError, match="init_phase"):
        griffin_lim(np.ones((10, CFG.n_bins), np.float32), CFG, init_phase=np.zeros((9, CFG.n_bins)))
