"""HarmonicStack: what lies at f, 2f, 3f ... of every candidate fundamental."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.models.layers.harmonic_layers import HarmonicStack
from instrument.synths.spec import stft_features


def _square_wave_spectrogram(f0_hz: float) -> np.ndarray:
    """``(1, 64, 257)`` log1p magnitudes of a 1 s band-limited square wave at 16384 Hz."""
    t = np.arange(16384) / 16384.0
    audio = sum(np.sin(2 * np.pi * n * f0_hz * t) / n for n in range(1, 16, 2) if n * f0_hz < 8000)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512)).astype(np.float32)
    return stft_features(audio.astype(np.float32), 512, 256, window).astype(np.float32)


def test_channels_are_time_mean_and_max_at_each_harmonic() -> None:
    spectrogram = np.zeros((1, 4, 257), np.float32)
    spectrogram[0, :, 20] = 1.0
    spectrogram[0, 1, 40] = 2.0  # one frame only: mean 0.5, max 2
    layer = HarmonicStack(n_fundamentals=100, steps_per_bin=4, n_harmonics=3)
    stacked = np.asarray(layer(spectrogram))
    assert stacked.shape == (1, 100, 6)
    np.testing.assert_allclose(stacked[0, 80], [1.0, 0.5, 0.0, 1.0, 2.0, 0.0])  # f = bin 20
    np.testing.assert_allclose(stacked[0, 40], [0.0, 1.0, 0.0, 0.0, 1.0, 0.0])  # f = bin 10
    # f = bin 19.75: 3/4 of bin 20 at h = 1, half of bin 40 at h = 2 (39.5)
    np.testing.assert_allclose(stacked[0, 79], [0.75, 0.25, 0.0, 0.75, 1.0, 0.0])


def test_a_square_wave_shows_odd_harmonics_at_its_fundamental() -> None:
    f0_hz = 600.0  # bin 18.75: between bins, so the fractional grid matters
    stacked = np.asarray(HarmonicStack()(_square_wave_spectrogram(f0_hz)))[0]
    at_f0 = stacked[int(round(f0_hz / 32.0 * 4))]
    means = at_f0[:8]
    assert means[0] > means[1] and means[2] > means[1] and means[2] > means[3]  # odd > even
    assert means[4] > means[5]


def test_bins_past_the_top_read_as_silence() -> None:
    spectrogram = np.ones((2, 3, 10), np.float32)
    layer = HarmonicStack(n_fundamentals=8, steps_per_bin=1, n_harmonics=4)
    stacked = np.asarray(layer(spectrogram))
    assert stacked[0, 2].tolist() == [1.0, 1.0, 1.0, 1.0] * 2  # bins 2, 4, 6, 8 exist
    assert stacked[0, 5, :4].tolist() == [1.0, 0.0, 0.0, 0.0]  # bins 10, 15, 20 do not


def test_round_trips_through_a_keras_file(tmp_path: Path, rng: np.random.Generator) -> None:
    inputs = keras.Input(shape=(64, 257))
    model = keras.Model(inputs, HarmonicStack(96, 2, 5)(inputs))
    x = rng.random((2, 64, 257)).astype(np.float32)
    model.save(tmp_path / "harmonics.keras")
    loaded = keras.saving.load_model(tmp_path / "harmonics.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)))
    assert loaded.layers[-1].get_config()["n_harmonics"] == 5


@pytest.mark.parametrize("kwargs", [{"n_fundamentals": 0}, {"steps_per_bin": 1.5},
                                    {"n_harmonics": True}])
def test_bad_arguments_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        HarmonicStack(**kwargs)  # type: ignore[arg-type]


def test_input_without_bins_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="bins"):
        HarmonicStack().build((None, 257))
