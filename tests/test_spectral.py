"""Spectral core: framing, exact inverses, features, spectral convergence and NormStats."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.dsp.spectral import (STFT_CHUNK_CLIPS, NormStats, features, frame_count, istft,
                                     log_magnitude, magnitude_from_log, spectral_convergence_db,
                                     stft, stft_magnitude, window)

CFG = StftConfig()


def test_stft_shape_dtype_and_framing(rng: np.random.Generator) -> None:
    y = rng.standard_normal(10_000).astype(np.float32)
    spec = stft(y, CFG)
    assert spec.shape == (frame_count(len(y), CFG), CFG.n_bins) and spec.dtype == np.complex64
    # Frame t ends at sample (t + 1) * hop: frame 5 is the windowed samples [6*256-1024, 6*256).
    end = 6 * CFG.hop_length
    expected = np.fft.rfft(y[end - CFG.n_fft:end] * window(CFG))
    np.testing.assert_allclose(spec[5], expected, rtol=1e-4, atol=1e-3)


def test_every_sample_covered_by_overlap_frames() -> None:
    n = 3000
    impulse_at_end = np.zeros(n, np.float32)
    impulse_at_end[-1] = 1.0
    spec = stft(impulse_at_end, CFG)
    # The last sample (2999) lies in frames 11..14, all of which stft returns.
    assert len(spec) == 15
    assert np.flatnonzero(np.abs(spec).sum(axis=1) > 0).tolist() == [11, 12, 13, 14]


@pytest.mark.parametrize("cfg", [CFG, StftConfig(n_fft=2048, hop_length=1024),
                                 StftConfig(n_fft=512, hop_length=128, window="blackman")])
def test_istft_is_exact_inverse(cfg: StftConfig, rng: np.random.Generator) -> None:
    y = rng.standard_normal(7777).astype(np.float32)
    np.testing.assert_allclose(istft(stft(y, cfg), cfg, length=len(y)), y, atol=1e-5)


def test_log_magnitude_inverse_is_exact(rng: np.random.Generator) -> None:
    spec = (rng.standard_normal((20, 513)) + 1j * rng.standard_normal((20, 513))) * 10
    logmag = log_magnitude(spec)
    assert logmag.dtype == np.float32 and np.all(logmag >= 0)
    np.testing.assert_allclose(magnitude_from_log(logmag), np.abs(spec), rtol=1e-5, atol=1e-6)
    # and the other way round: log_magnitude(magnitude_from_log(x)) == x for x >= 0
    x = np.abs(rng.standard_normal((4, 513))).astype(np.float32)
    np.testing.assert_allclose(log_magnitude(magnitude_from_log(x)), x, rtol=1e-6, atol=1e-7)


def test_magnitude_from_log_clips_negative_features() -> None:
    assert np.all(magnitude_from_log(np.array([-3.0, -0.1, 0.0], np.float32)) == 0.0)


def test_features_are_log1p_of_stft(rng: np.random.Generator) -> None:
    y = rng.standard_normal(4000).astype(np.float32)
    np.testing.assert_allclose(features(y, CFG), np.log1p(np.abs(stft(y, CFG))), rtol=1e-6)


def test_spectral_convergence(rng: np.random.Generator) -> None:
    y = rng.standard_normal(8000).astype(np.float32)
    mag = np.abs(stft(y, CFG))
    assert spectral_convergence_db(mag, y, CFG) < -100.0
    assert spectral_convergence_db(mag, 0.5 * y, CFG) == pytest.approx(20 * np.log10(0.5), abs=1e-3)
    assert spectral_convergence_db(mag, np.zeros_like(y), CFG) == pytest.approx(0.0, abs=1e-6)


def test_norm_stats_round_trip(tmp_path, rng: np.random.Generator) -> None:
    frames = rng.standard_normal((200, 513)).astype(np.float32) * 3 + 1
    frames[:, 0] = 5.0  # constant bin: std floored, not zero
    stats = NormStats.fit(frames)
    assert stats.std[0] == pytest.approx(1e-3)
    norm = stats.normalise(frames)
    assert abs(float(norm[:, 1:].mean())) < 1e-4 and float(norm[:, 1:].std()) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(stats.denormalise(norm), frames, rtol=1e-5, atol=1e-5)
    path = tmp_path / "norm.json"
    stats.save(path)
    loaded = NormStats.load(path)
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.std, stats.std)


def test_norm_stats_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="missing.json"):
        NormStats.load(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="positive"):
        NormStats(mean=np.zeros(3, np.float32), std=np.array([1.0, 0.0, 1.0], np.float32))
    with pytest.raises(ConfigError, match="mean/std"):
        NormStats(mean=np.zeros(3, np.float32), std=np.ones(4, np.float32))


CLIP = StftConfig(n_fft=512, hop_length=256)


def _fixed_clips(count: int, samples: int) -> np.ndarray:
    """A small fixed batch: chirps of different rates plus seeded noise, ``(count, samples)``."""
    t = np.arange(samples) / 16384.0
    noise = np.random.default_rng(1234).standard_normal((count, samples))
    clips = [np.sin(2 * np.pi * (200 + 150 * k) * t * (1 + 2 * t)) + 0.1 * noise[k]
             for k in range(count)]
    return np.asarray(clips, dtype=np.float32)


def _frozen_synth_features(clips: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """The synth feature maths the shipped inversion models were trained on, frame by frame:
    ``n_fft - hop`` leading zeros, the ``samples // hop`` frames ending inside the clip,
    periodic Hann, ``log1p|rfft|``, all in float32 with a single-precision FFT as then."""
    import scipy.fft

    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    out = []
    for clip in clips.astype(np.float32):
        padded = np.concatenate([np.zeros(n_fft - hop_length, np.float32), clip])
        frames = np.stack([padded[t * hop_length:t * hop_length + n_fft] * hann
                           for t in range(len(clip) // hop_length)])
        out.append(np.log1p(np.abs(scipy.fft.rfft(frames, axis=-1))))
    return np.asarray(out)


def test_clip_features_equal_the_frozen_synth_feature_maths() -> None:
    clips = _fixed_clips(STFT_CHUNK_CLIPS + 3, 4096)  # a full chunk and a partial one
    got = stft_magnitude(clips, CLIP, pad_end=False, log=True)
    assert got.shape == (len(clips), 16, 257) and got.dtype == np.float32
    np.testing.assert_allclose(got, _frozen_synth_features(clips, 512, 256), rtol=0, atol=1e-6)


def test_clip_features_of_a_length_off_the_hop_grid_drop_the_partial_hop() -> None:
    clips = _fixed_clips(2, 1000)
    got = stft_magnitude(clips, CLIP, pad_end=False, log=True)
    assert got.shape == (2, frame_count(1000, CLIP, pad_end=False), 257) == (2, 3, 257)
    np.testing.assert_allclose(got, _frozen_synth_features(clips, 512, 256), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cfg", [CFG, CLIP, StftConfig(n_fft=512, hop_length=128, window="blackman")])
@pytest.mark.parametrize("samples", [100, 700, 4096, 7777])
def test_batched_magnitude_equals_stft_magnitude_clip_by_clip(cfg: StftConfig, samples: int,
                                                               rng: np.random.Generator) -> None:
    clips = rng.standard_normal((3, samples)).astype(np.float32)
    got = stft_magnitude(clips, cfg)
    assert got.shape == (3, frame_count(samples, cfg), cfg.n_bins)
    for clip, mag in zip(clips, got):
        np.testing.assert_allclose(mag, np.abs(stft(clip, cfg)), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(stft_magnitude(clips[1], cfg), got[1])


def test_scale_gives_the_magnitudes_of_the_scaled_clips(rng: np.random.Generator) -> None:
    clips = rng.standard_normal((3, 4096)).astype(np.float32)
    gains = np.array([0.5, 0.0, 3.0], np.float32)
    got = stft_magnitude(clips, CLIP, pad_end=False, log=True, scale=gains)
    want = stft_magnitude(clips * gains[:, None], CLIP, pad_end=False, log=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)   # float32 FFT rounding
    assert not got[1].any()
    with pytest.raises(ConfigError):
        stft_magnitude(clips, CLIP, scale=np.ones(2))


def test_log_magnitude_is_log1p_within_float32_precision(rng: np.random.Generator) -> None:
    y = rng.standard_normal(5000).astype(np.float32)
    np.testing.assert_allclose(stft_magnitude(y, CFG, log=True), features(y, CFG), rtol=0, atol=2e-6)


def test_stft_magnitude_rejects_other_shapes() -> None:
    with pytest.raises(ConfigError, match=r"\(2, 3, 4\)"):
        stft_magnitude(np.zeros((2, 3, 4), np.float32), CFG)


def test_window_is_a_fresh_copy() -> None:
    w = window(CLIP)
    w[:] = 0.0
    assert window(CLIP)[256] == pytest.approx(1.0)
