"""Keras layers that turn raw audio into spectral features inside a model.

:class:`LogSpectrogram` computes the same ``log1p|STFT|`` as
:func:`instrument.synths.spec.stft_features` (periodic Hann window, ``n_fft - hop_length`` leading
zeros, frame ``t`` ends at sample ``(t + 1) * hop_length``), so a model can take audio and look at
it at several time-frequency resolutions at once. :class:`PhaseSpectrogram` adds what the
magnitudes hide: how far each bin's phase advanced between frames beyond the bin centre's
advance, i.e. where inside its 32 Hz bin a partial sits, and how steady it is (FM).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from instrument.errors import ConfigError


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"LogSpectrogram {name} must be a positive integer, got {value!r}")
    return value


@keras.saving.register_keras_serializable(package="latent")
class LogSpectrogram(keras.layers.Layer):
    """Raw audio ``(batch, samples)`` -> ``log1p|STFT|`` ``(batch, samples // hop_length, n_bins)``.

    Args:
        n_fft: frame length and FFT size in samples.
        hop_length: samples between frames, ``1..n_fft``.
        n_bins: lowest bins kept, ``1..n_fft // 2 + 1`` (``n_bins * sample_rate / n_fft`` Hz).
    """

    def __init__(self, n_fft: int = 512, hop_length: int = 256, n_bins: int = 257,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_fft = _positive_int("n_fft", n_fft)
        self.hop_length = _positive_int("hop_length", hop_length)
        self.n_bins = _positive_int("n_bins", n_bins)
        if self.hop_length > self.n_fft:
            raise ConfigError(f"LogSpectrogram hop_length {hop_length} exceeds n_fft {n_fft}")
        if self.n_bins > self.n_fft // 2 + 1:
            raise ConfigError(f"LogSpectrogram n_bins {n_bins} exceeds n_fft // 2 + 1 = "
                              f"{self.n_fft // 2 + 1}")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 2 or input_shape[1] is None or input_shape[1] < self.hop_length:
            raise ConfigError(f"LogSpectrogram needs audio (batch, samples >= {self.hop_length}), "
                              f"got {input_shape}")
        n = np.arange(self.n_fft)
        hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / self.n_fft)
        self.window = self.add_weight(name="window", shape=(self.n_fft,), trainable=False,
                                      initializer=keras.initializers.Constant(hann))
        super().build(input_shape)

    def call(self, audio: Any) -> Any:
        ops = keras.ops
        frames = int(audio.shape[1]) // self.hop_length
        x = audio[:, :frames * self.hop_length]
        x = ops.pad(x, ((0, 0), (self.n_fft - self.hop_length, 0)))
        real, imag = ops.stft(x, self.n_fft, self.hop_length, self.n_fft,
                              window=ops.convert_to_tensor(self.window), center=False)
        magnitude = ops.sqrt(ops.square(real[..., :self.n_bins])
                             + ops.square(imag[..., :self.n_bins]))
        return ops.log1p(magnitude)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], int(input_shape[1]) // self.hop_length, self.n_bins)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"n_fft": self.n_fft, "hop_length": self.hop_length, "n_bins": self.n_bins})
        return config


@keras.saving.register_keras_serializable(package="latent")
class PhaseSpectrogram(LogSpectrogram):
    """Raw audio ``(batch, samples)`` -> ``(log1p|X|, phase advance)``, both per frame and bin.

    Outputs:
        log magnitude ``(batch, frames, n_bins)``: as :class:`LogSpectrogram`.
        phase advance ``(batch, frames, 2 * n_bins)``: ``[w cos(d), w sin(d)]`` with
        ``d = angle(X[t] conj(X[t-1])) - 2 pi k hop_length / n_fft`` the phase advance of bin
        ``k`` beyond its centre frequency's (0 for a partial on the bin centre, ``pi d_f hop / sr``
        for one ``d_f`` Hz above it) and weight ``w = log1p(sqrt(|X[t]| |X[t-1]|))``, so silent
        bins and the first frame give 0.
    """

    def call(self, audio: Any) -> Any:
        ops = keras.ops
        frames = int(audio.shape[1]) // self.hop_length
        x = audio[:, :frames * self.hop_length]
        x = ops.pad(x, ((0, 0), (self.n_fft, 0)))  # one extra frame: the "previous" of frame 0
        real, imag = ops.stft(x, self.n_fft, self.hop_length, self.n_fft,
                              window=ops.convert_to_tensor(self.window), center=False)
        real, imag = real[:, -(frames + 1):, :self.n_bins], imag[:, -(frames + 1):, :self.n_bins]
        re_now, im_now, re_before, im_before = real[:, 1:], imag[:, 1:], real[:, :-1], imag[:, :-1]
        magnitude = ops.sqrt(ops.square(re_now) + ops.square(im_now))
        # X[t] conj(X[t-1]), then rotated back by the bin centre's advance
        cross_re = re_now * re_before + im_now * im_before
        cross_im = im_now * re_before - re_now * im_before
        centre = 2.0 * np.pi * np.arange(self.n_bins) * self.hop_length / self.n_fft
        cos_c = ops.convert_to_tensor(np.cos(centre).astype("float32"))
        sin_c = ops.convert_to_tensor(np.sin(centre).astype("float32"))
        dev_re = cross_re * cos_c + cross_im * sin_c
        dev_im = cross_im * cos_c - cross_re * sin_c
        cross_abs = ops.sqrt(ops.square(dev_re) + ops.square(dev_im))
        weight = ops.log1p(ops.sqrt(cross_abs)) / (cross_abs + 1e-12)
        advance = ops.concatenate([dev_re * weight, dev_im * weight], axis=-1)
        return ops.log1p(magnitude), advance

    def compute_output_shape(self, input_shape: tuple[int | None, ...]
                             ) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
        frames = int(input_shape[1]) // self.hop_length
        return ((input_shape[0], frames, self.n_bins), (input_shape[0], frames, 2 * self.n_bins))
