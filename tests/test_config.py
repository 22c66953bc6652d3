"""Validated configuration objects: bad values raise ConfigError naming the value; dict/JSON round trips."""

from __future__ import annotations

import pytest

from instrument.config import PRESETS, AudioConfig, SpectralConfig, StftConfig
from instrument.errors import ConfigError


def test_defaults() -> None:
    cfg = SpectralConfig()
    assert (cfg.sample_rate, cfg.stft.n_fft, cfg.stft.hop_length, cfg.stft.window) == (22050, 1024, 256, "hann")
    assert cfg.stft.n_bins == 513 and cfg.stft.overlap == 4
    assert cfg.hop_seconds == pytest.approx(256 / 22050)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_fft": 512, "hop_length": 1024}, "1024"),
    ({"n_fft": 0}, "n_fft must be positive, got 0"),
    ({"n_fft": -1024}, "-1024"),
    ({"hop_length": 0}, "hop_length must be positive, got 0"),
    ({"n_fft": 1023, "hop_length": 1}, "1023"),
    ({"n_fft": 1024, "hop_length": 300}, "300"),
    ({"n_fft": 1024.0}, "1024.0"),
    ({"window": "kaiser"}, "'kaiser'"),
])
def test_bad_stft_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StftConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"sample_rate": 500}, "500"),
    ({"sample_rate": 22050.5}, "22050.5"),
    ({"sample_rate": True}, "True"),
    ({"max_seconds": 0}, "max_seconds"),
])
def test_bad_audio_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AudioConfig(**kwargs)


def test_configs_are_frozen() -> None:
    cfg = StftConfig()
    with pytest.raises(AttributeError):
        cfg.n_fft = 2048  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dict_and_json_round_trip(name: str, tmp_path) -> None:
    cfg = PRESETS[name]
    assert SpectralConfig.from_dict(cfg.to_dict()) == cfg
    assert SpectralConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "spectral.json"
    cfg.save(path)
    assert SpectralConfig.load(path) == cfg


def test_presets_of_the_seeds() -> None:
    assert (PRESETS["paterna"].stft.n_fft, PRESETS["paterna"].stft.hop_length) == (1024, 512)
    assert (PRESETS["sarroff"].stft.n_fft, PRESETS["sarroff"].stft.hop_length) == (2048, 1024)
    assert PRESETS["default"] == SpectralConfig()


@pytest.mark.parametrize("data, match", [
    ({"stft": {"n_fft": 1024, "hop_length": 2048}}, "2048"),
    ({"stft": {"window": "triangle"}}, "triangle"),
    ({"stft": {"nfft": 1024}}, "nfft"),
    ({"audio": {}, "model": {}}, "model"),
    (["not", "a", "mapping"], "mapping"),
])
def test_from_dict_rejects_bad_data(data, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SpectralConfig.from_dict(data)


def test_from_json_and_load_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="JSON"):
        SpectralConfig.from_json("{not json")
    with pytest.raises(ConfigError, match="missing.json"):
        SpectralConfig.load(tmp_path / "missing.json")
