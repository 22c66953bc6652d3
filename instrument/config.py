"""Frozen, validated configuration objects that travel with every model.

``SpectralConfig`` bundles the audio and STFT settings. It is validated on
construction, serialised to a plain dict (JSON/YAML friendly) and embedded in
every saved model, so analysis at play time always matches training.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from instrument.errors import ConfigError

WINDOWS = ("hann", "hamming", "blackman")


@dataclass(frozen=True)
class AudioConfig:
    """Audio settings.

    Attributes:
        sample_rate: samples per second every file is resampled to.
        max_seconds: longest input file accepted, in seconds.
    """

    sample_rate: int = 22050
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or isinstance(self.sample_rate, bool):
            raise ConfigError(f"sample_rate must be an integer, got {self.sample_rate!r}")
        if not 1000 <= self.sample_rate <= 384000:
            raise ConfigError(f"sample_rate must be in 1000..384000 Hz, got {self.sample_rate}")
        if not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be positive, got {self.max_seconds!r}")


@dataclass(frozen=True)
class StftConfig:
    """Short-time Fourier transform settings.

    Attributes:
        n_fft: FFT size in samples (frame length); bins = n_fft // 2 + 1.
        hop_length: samples between successive frames.
        window: analysis/synthesis window name (one of ``WINDOWS``).
    """

    n_fft: int = 1024
    hop_length: int = 256
    window: str = "hann"

    def __post_init__(self) -> None:
        for name in ("n_fft", "hop_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.n_fft % 2:
            raise ConfigError(f"n_fft must be even, got {self.n_fft}")
        if self.hop_length > self.n_fft:
            raise ConfigError(
                f"hop_length {self.hop_length} is larger than n_fft {self.n_fft}; "
                "frames would leave gaps"
            )
        if self.n_fft % self.hop_length:
            raise ConfigError(
                f"n_fft {self.n_fft} must be a multiple of hop_length {self.hop_length}"
            )
        if self.window not in WINDOWS:
            raise ConfigError(f"unknown window {self.window!r}; choose one of {', '.join(WINDOWS)}")

    @property
    def n_bins(self) -> int:
        """Number of frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def overlap(self) -> int:
        """Frames overlapping each sample, ``n_fft // hop_length``."""
        return self.n_fft // self.hop_length


@dataclass(frozen=True)
class SpectralConfig:
    """Audio + STFT settings saved with every model."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    stft: StftConfig = field(default_factory=StftConfig)

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def hop_seconds(self) -> float:
        """Duration of one hop in seconds."""
        return self.stft.hop_length / self.audio.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SpectralConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"spectral config must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {"audio", "stft"}
        if unknown:
            raise ConfigError(f"unknown spectral config sections: {sorted(unknown)}")
        try:
            return cls(audio=AudioConfig(**dict(data.get("audio", {}))),
                       stft=StftConfig(**dict(data.get("stft", {}))))
        except TypeError as exc:
            raise ConfigError(f"bad spectral config field: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SpectralConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"spectral config is not valid JSON: {exc}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "SpectralConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return cls.from_json(path.read_text())


#: The seeds' settings: Paterna used hop 512 at n_fft 1024; Sarroff & Casey 2048/1024.
PRESETS: dict[str, SpectralConfig] = {
    "default": SpectralConfig(),
    "paterna": SpectralConfig(stft=StftConfig(n_fft=1024, hop_length=512)),
    "sarroff": SpectralConfig(audio=AudioConfig(sample_rate=44100),
                              stft=StftConfig(n_fft=2048, hop_length=1024)),
}
