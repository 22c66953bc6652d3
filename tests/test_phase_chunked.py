"""Chunked offline Griffin-Lim: seams, equivalence with whole-file GL, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.dsp.phase.rtisi_la import griffin_lim
from instrument.dsp.phase.chunked import chunk_bounds, griffin_lim_chunked
from instrument.dsp.spectral import spectral_convergence_db, stft

CFG = StftConfig(n_fft=512, hop_length=128)
SAMPLE_RATE = 22050


def _tone_mix(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    freq = 220.0 * 2 ** (np.floor(t * 4) / 12)  # a new semitone every 250 ms
    y = 0.4 * np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) + 0.1 * np.sin(2 * np.pi * 1500 * t)
    return y.astype(np.float32)


def test_chunk_bounds_cover_every_frame_with_the_overlap() -> None:
    bounds = chunk_bounds(1000, 300, 24)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1000
    for (a0, b0), (a1, b1) in zip(bounds, bounds[1:]):
        assert b0 - a1 == 24  # neighbours share exactly the overlap
        assert b1 - a1 <= 300
    assert chunk_bounds(200, 300, 24) == [(0, 200)]


def test_warm_started_chunks_match_whole_file_griffin_lim() -> None:
    y = _tone_mix(3.0)
    spec = stft(y, CFG)
    mag = np.abs(spec)
    rng = np.random.default_rng(0)
    noisy_phase = np.angle(spec) + rng.normal(0.0, 0.6, spec.shape)  # a rough warm start
    whole = griffin_lim(mag, CFG, n_iter=30, init_phase=noisy_phase, length=len(y))
    chunked = griffin_lim_chunked(mag, CFG, n_iter=30, init_phase=noisy_phase, length=len(y),
                                  chunk_frames=160, overlap_frames=24)
    assert chunked.shape == whole.shape == y.shape
    assert chunked.dtype == np.float32
    sc_whole = spectral_convergence_db(mag, whole, CFG)
    sc_chunked = spectral_convergence_db(mag, chunked, CFG)
    assert sc_chunked < -15.0
    assert sc_chunked < sc_whole + 1.0  # the seams cost at most 1 dB


def test_true_phase_warm_start_reproduces_the_signal_across_seams() -> None:
    y = _tone_mix(2.0)
    spec = stft(y, CFG)
    out = griffin_lim_chunked(np.abs(spec), CFG, n_iter=2, init_phase=np.angle(spec), length=len(y),
                              chunk_frames=100, overlap_frames=16)
    assert np.max(np.abs(out - y)) < 1e-3


def test_short_random_start_is_whole_file_griffin_lim() -> None:
    y = _tone_mix(1.0)
    mag = np.abs(stft(y, CFG))
    np.testing.assert_array_equal(griffin_lim_chunked(mag, CFG, n_iter=5, length=len(y), seed=3),
                                  griffin_lim(mag, CFG, n_iter=5, length=len(y), seed=3))


def test_chunked_griffin_lim_bad_input() -> None:
    mag = np.ones((200, CFG.n_bins), np.float32)
    with pytest.raises(ConfigError, match="overlap_frames"):
        griffin_lim_chunked(mag, CFG, overlap_frames=2)
    with pytest.raises(ConfigError, match="chunk_frames"):
        griffin_lim_chunked(mag, CFG, init_phase=np.zeros_like(mag), chunk_frames=20, overlap_frames=24)
    with pytest.raises(ConfigError, match="init_phase"):
        griffin_lim_chunked(mag, CFG, init_phase=np.zeros((10, CFG.n_bins)))
    with pytest.raises(ConfigError, match="shape"):
        griffin_lim_chunked(np.ones((10, 7), np.float32), CFG)
