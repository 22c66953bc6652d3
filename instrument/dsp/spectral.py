"""Pure STFT and feature maths, offline and streaming.

Framing convention (shared by offline and streaming analysis): the signal is
preceded by ``n_fft - hop_length`` zeros, so frame ``t`` ends at sample
``(t + 1) * hop_length`` of the original signal. A streaming analyser that has
been pushed ``t + 1`` hops therefore holds exactly the samples of frame ``t``,
and :func:`stft` equals :class:`StreamingStft` frame for frame. The end is
zero-padded so every real sample is covered by ``n_fft // hop_length`` frames.

Arrays are time-major: spectra have shape ``(frames, n_bins)`` with
``n_bins = n_fft // 2 + 1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from instrument.config import StftConfig
from instrument.errors import ConfigError


def window(config: StftConfig) -> np.ndarray:
    """Periodic analysis window, shape ``(n_fft,)``, float32."""
    return librosa.filters.get_window(config.window, config.n_fft, fftbins=True).astype(np.float32)


def frame_count(n_samples: int, config: StftConfig) -> int:
    """Frames :func:`stft` returns for ``n_samples`` of audio."""
    return -(-(n_samples + config.n_fft - config.hop_length) // config.hop_length)


def pad_for_analysis(y: np.ndarray, config: StftConfig) -> np.ndarray:
    """Zero-pad ``y`` (shape ``(samples,)``) as :func:`stft` frames it."""
    front = config.n_fft - config.hop_length
    frames = frame_count(len(y), config)
    total = (frames - 1) * config.hop_length + config.n_fft
    return np.pad(np.asarray(y, dtype=np.float32), (front, total - front - len(y)))


def stft(y: np.ndarray, config: StftConfig) -> np.ndarray:
    """Complex STFT of mono audio.

    Args:
        y: audio, shape ``(samples,)``.
    Returns:
        complex64 array, shape ``(frames, n_bins)``.
    """
    padded = pad_for_analysis(y, config)
    spec = librosa.stft(padded, n_fft=config.n_fft, hop_length=config.hop_length,
                        window=config.window, center=False)
    return np.ascontiguousarray(spec.T.astype(np.complex64))


def istft(spectrum: np.ndarray, config: StftConfig, length: int | None = None) -> np.ndarray:
    """Inverse of :func:`stft` (weighted overlap-add).

    Args:
        spectrum: complex, shape ``(frames, n_bins)``.
        length: samples of the original signal; defaults to ``frames * hop_length``.
    Returns:
        float32 audio, shape ``(length,)``.
    """
    frames = spectrum.shape[0]
    padded_length = (frames - 1) * config.hop_length + config.n_fft
    y = librosa.istft(np.asarray(spectrum).T, hop_length=config.hop_length, n_fft=config.n_fft,
                      window=config.window, center=False, length=padded_length)
    front = config.n_fft - config.hop_length
    if length is None:
        length = frames * config.hop_length - front
    return y[front:front + length].astype(np.float32)


def log_magnitude(spectrum: np.ndarray) -> np.ndarray:
    """The model feature ``log1p(|S|)``, same shape as ``spectrum``, float32."""
    return np.log1p(np.abs(spectrum)).astype(np.float32)


def magnitude_from_log(features: np.ndarray) -> np.ndarray:
    """Exact inverse of :func:`log_magnitude` on magnitudes: ``expm1``, clipped at 0."""
    return np.maximum(np.expm1(np.asarray(features, dtype=np.float32)), 0.0)


def features(y: np.ndarray, config: StftConfig) -> np.ndarray:
    """``log1p|STFT(y)|``, shape ``(frames, n_bins)``, float32."""
    return log_magnitude(stft(y, config))


def spectral_convergence_db(target_magnitude: np.ndarray, y: np.ndarray,
                            config: StftConfig) -> float:
    """``20 log10(|| |S| - |STFT(y)| ||_F / ||S||_F)`` in dB (lower is better).

    Args:
        target_magnitude: ``|S|``, shape ``(frames, n_bins)``.
        y: reconstructed audio whose STFT is compared frame for frame.
    """
    rebuilt = np.abs(stft(y, config))
    frames = min(len(rebuilt), len(target_magnitude))
    diff = np.linalg.norm(target_magnitude[:frames] - rebuilt[:frames])
    ref = np.linalg.norm(target_magnitude[:frames])
    return float(20.0 * np.log10(max(diff, 1e-12) / max(ref, 1e-12)))


class StreamingStft:
    """Streaming analysis: push one hop of samples, get one complex frame.

    State: the last ``n_fft`` input samples (preallocated). Frame ``t`` equals
    ``stft(y)[t]`` for the same input.
    """

    def __init__(self, config: StftConfig) -> None:
        self.config = config
        self._window = window(config)
        self._buffer = np.zeros(config.n_fft, dtype=np.float32)

    def reset(self) -> None:
        self._buffer[:] = 0.0

    def push(self, hop: np.ndarray) -> np.ndarray:
        """Args: hop, shape ``(hop_length,)``. Returns complex64 ``(n_bins,)``."""
        h = self.config.hop_length
        if hop.shape != (h,):
            raise ConfigError(f"streaming STFT expects {h} samples per hop, got shape {hop.shape}")
        self._buffer[:-h] = self._buffer[h:]
        self._buffer[-h:] = hop
        return np.fft.rfft(self._buffer * self._window).astype(np.complex64)


class StreamingIstft:
    """Streaming weighted overlap-add: push one complex frame, get one hop.

    The hop returned after pushing frame ``t`` is output sample block
    ``t - (overlap - 1)`` of :func:`istft` (the first ``overlap - 1`` blocks are
    the zero padding), i.e. a latency of ``n_fft - hop_length`` samples.
    State: the overlap-add tail (preallocated).
    """

    def __init__(self, config: StftConfig) -> None:
        self.config = config
        self._window = window(config)
        self._tail = np.zeros(config.n_fft, dtype=np.float32)
        self._norm = self._window_sum_norm()

    def _window_sum_norm(self) -> np.ndarray:
        h, n = self.config.hop_length, self.config.n_fft
        w2 = self._window.astype(np.float64) ** 2
        total = np.zeros(h)
        for k in range(n // h):
            total += w2[k * h:(k + 1) * h]
        return (1.0 / np.maximum(total, 1e-8)).astype(np.float32)

    def reset(self) -> None:
        self._tail[:] = 0.0

    def push_frame(self, frame: np.ndarray) -> np.ndarray:
        """Args: frame, complex ``(n_bins,)``. Returns float32 ``(hop_length,)``."""
        return self.push_time(np.fft.irfft(frame, n=self.config.n_fft).astype(np.float32))

    def push_time(self, segment: np.ndarray) -> np.ndarray:
        """Overlap-add an already inverse-transformed, unwindowed ``(n_fft,)`` segment."""
        h = self.config.hop_length
        self._tail += segment * self._window
        out = self._tail[:h] * self._norm
        self._tail[:-h] = self._tail[h:]
        self._tail[-h:] = 0.0
        return out


@dataclass(frozen=True)
class NormStats:
    """Per-bin normalisation of log-magnitude features: ``(x - mean) / std``.

    Attributes:
        mean: shape ``(n_bins,)``.
        std: shape ``(n_bins,)``, strictly positive.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ConfigError(f"norm stats need equal 1-D mean/std, got {self.mean.shape} and {self.std.shape}")
        if not np.all(self.std > 0):
            raise ConfigError("norm stats std must be strictly positive")

    @classmethod
    def fit(cls, frames: np.ndarray, floor: float = 1e-3) -> "NormStats":
        """Fit on features of shape ``(frames, n_bins)``."""
        return cls(mean=frames.mean(axis=0).astype(np.float32),
                   std=np.maximum(frames.std(axis=0), floor).astype(np.float32))

    def normalise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def denormalise(self, x: np.ndarray) -> np.ndarray:
        return (x * self.std + self.mean).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "NormStats":
        return cls(mean=np.asarray(data["mean"], np.float32), std=np.asarray(data["std"], np.float32))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "NormStats":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"normalisation stats file not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))
