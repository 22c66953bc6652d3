"""LogSpectrogram and PhaseSpectrogram: the in-model log1p|STFT| equals the synth's numpy features,
the phase advance locates a partial inside its bin, and both round-trip."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.models.layers.spectral_layers import LogSpectrogram, PhaseSpectrogram
from instrument.synths.registry import get_synth
from instrument.synths.spec import stft_features


@pytest.fixture(scope="module")
def synth_audio() -> np.ndarray:
    synth = get_synth("inversynth")
    return synth.render(synth.random_patches(np.random.default_rng(3), 4)).astype(np.float32)


def test_coarse_spectrogram_equals_the_synth_features(synth_audio: np.ndarray) -> None:
    expected = get_synth("inversynth").features(synth_audio)
    got = np.asarray(LogSpectrogram(512, 256, 257)(synth_audio))
    assert got.shape == expected.shape == (4, 64, 257)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_fine_spectrogram_equals_numpy_framing_and_keeps_low_bins(synth_audio: np.ndarray) -> None:
    n = np.arange(2048)
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * n / 2048)).astype(np.float32)
    expected = stft_features(synth_audio, 2048, 512, hann)[..., :384]
    got = np.asarray(LogSpectrogram(2048, 512, 384)(synth_audio))
    assert got.shape == (4, 32, 384)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_fine_bins_resolve_a_semitone_that_coarse_bins_blur() -> None:
    sample_rate, t = 16384, np.arange(16384) / 16384
    tones = np.stack([np.sin(2 * np.pi * f * t) for f in (440.0, 466.16)]).astype(np.float32)
    fine = np.asarray(LogSpectrogram(2048, 512, 384)(tones)).mean(axis=1)
    peaks_hz = fine.argmax(axis=-1) * sample_rate / 2048
    np.testing.assert_allclose(peaks_hz, [440.0, 464.0], atol=8.0)
    assert peaks_hz[1] - peaks_hz[0] >= 16.0


def test_layer_round_trips_through_a_keras_file(tmp_path: Path, synth_audio: np.ndarray) -> None:
    inputs = keras.Input(shape=(16384,))
    model = keras.Model(inputs, LogSpectrogram(1024, 512, 100)(inputs))
    expected = np.asarray(model(synth_audio))
    model.save(tmp_path / "spec.keras")
    loaded = keras.saving.load_model(tmp_path / "spec.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(synth_audio)), expected)
    assert loaded.layers[-1].get_config()["n_fft"] == 1024


@pytest.mark.parametrize("kwargs", [{"n_fft": 0}, {"n_fft": 256, "hop_length": 512},
                                    {"n_fft": 256, "n_bins": 130}, {"hop_length": 1.5}])
def test_bad_arguments_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LogSpectrogram(**kwargs)  # type: ignore[arg-type]


def test_audio_shorter_than_a_hop_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="samples"):
        LogSpectrogram(512, 256, 257).build((None, 100))


def test_phase_spectrogram_magnitudes_equal_the_log_spectrogram(synth_audio: np.ndarray) -> None:
    magnitude, advance = PhaseSpectrogram(512, 256, 257)(synth_audio)
    expected = np.asarray(LogSpectrogram(512, 256, 257)(synth_audio))
    np.testing.assert_allclose(np.asarray(magnitude), expected, atol=1e-5)
    assert np.asarray(advance).shape == (4, 64, 514)


def test_phase_advance_locates_a_tone_inside_its_32_hz_bin() -> None:
    sample_rate, t = 16384, np.arange(16384) / 16384
    tones_hz = np.array([440.0, 448.0, 456.0])  # bin 14 is centred on 448 Hz
    tones = np.stack([np.sin(2 * np.pi * f * t) for f in tones_hz]).astype(np.float32)
    magnitude, advance = (np.asarray(a) for a in PhaseSpectrogram(512, 256, 257)(tones))
    peak = magnitude[:, 10:].mean(axis=1).argmax(axis=-1)
    assert (peak == 14).all()
    rows = np.arange(3)
    deviation = np.arctan2(advance[rows, 10:, 257 + peak], advance[rows, 10:, peak]).mean(axis=1)
    estimate_hz = peak * sample_rate / 512 + deviation * sample_rate / (2 * np.pi * 256)
    np.testing.assert_allclose(estimate_hz, tones_hz, atol=0.1)


def test_phase_advance_is_zero_for_silence_and_the_first_frame(synth_audio: np.ndarray) -> None:
    audio = np.concatenate([np.zeros((1, 16384), np.float32), synth_audio[:1]])
    _, advance = PhaseSpectrogram(512, 256, 257)(audio)
    advance = np.asarray(advance)
    assert np.abs(advance[0]).max() == 0.0
    assert np.abs(advance[1, 0]).max() == 0.0 and np.abs(advance[1, 10:]).max() > 0.1


def test_phase_spectrogram_round_trips_through_a_keras_file(tmp_path: Path,
                                                            synth_audio: np.ndarray) -> None:
    inputs = keras.Input(shape=(16384,))
    model = keras.Model(inputs, PhaseSpectrogram(512, 256, 100)(inputs))
    expected = [np.asarray(a) for a in model(synth_audio)]
    model.save(tmp_path / "phase.keras")
    loaded = keras.saving.load_model(tmp_path / "phase.keras", safe_mode=True)
    for got, want in zip(loaded(synth_audio), expected):
        np.testing.assert_allclose(np.asarray(got), want)
    with pytest.raises(ConfigError):
        PhaseSpectrogram(256, 512)
