"""Keras layers of the inversion networks: input standardisation, reshapes, spectral summary."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from instrument.errors import ConfigError


@keras.saving.register_keras_serializable(package="latent")
class FeatureStandardize(keras.layers.Layer):
    """``(x - mean) / std`` with scalar statistics stored as non-trainable weights.

    Input/output: any shape, float32.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not np.isfinite(mean):
            raise ConfigError(f"FeatureStandardize mean must be finite, got {mean!r}")
        if not (np.isfinite(std) and std > 0):
            raise ConfigError(f"FeatureStandardize std must be positive, got {std!r}")
        self.mean = float(mean)
        self.std = float(std)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.offset = self.add_weight(name="offset", shape=(), trainable=False,
                                      initializer=keras.initializers.Constant(self.mean))
        self.scale = self.add_weight(name="scale", shape=(), trainable=False,
                                     initializer=keras.initializers.Constant(1.0 / self.std))
        super().build(input_shape)

    def call(self, x: Any) -> Any:
        return (x - self.offset) * self.scale

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"mean": self.mean, "std": self.std})
        return config


@keras.saving.register_keras_serializable(package="latent")
class SpectrogramToImage(keras.layers.Layer):
    """Spectrogram ``(batch, n_bins, n_frames)`` (or frames first) -> image ``(batch, frames, bins, 1)``.

    Barkan's convolutions run over a time x frequency image (``C(F, K_time, K_freq, ...)``).
    """

    def __init__(self, bins_first: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(bins_first, bool):
            raise ConfigError(f"SpectrogramToImage bins_first must be a bool, got {bins_first!r}")
        self.bins_first = bins_first

    def call(self, x: Any) -> Any:
        if self.bins_first:
            x = keras.ops.transpose(x, (0, 2, 1))
        return keras.ops.expand_dims(x, -1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, a, b = input_shape
        return (batch, b, a, 1) if self.bins_first else (batch, a, b, 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"bins_first": self.bins_first})
        return config


@keras.saving.register_keras_serializable(package="latent")
class SpectrogramToSequence(keras.layers.Layer):
    """Spectrogram ``(batch, n_bins, n_frames)`` (or frames first) -> sequence ``(batch, frames, bins)``."""

    def __init__(self, bins_first: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(bins_first, bool):
            raise ConfigError(f"SpectrogramToSequence bins_first must be a bool, got {bins_first!r}")
        self.bins_first = bins_first

    def call(self, x: Any) -> Any:
        return keras.ops.transpose(x, (0, 2, 1)) if self.bins_first else x

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, a, b = input_shape
        return (batch, b, a) if self.bins_first else (batch, a, b)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"bins_first": self.bins_first})
        return config


@keras.saving.register_keras_serializable(package="latent")
class SpectralSummary(keras.layers.Layer):
    """Fixed clip-level descriptors of a spectrogram sequence (no trainable weights).

    Input ``(batch, frames, bins)`` (standardised log magnitudes). Output
    ``(batch, 2 * bins + frames + frames // 2 + 1)``: the time-averaged spectrum (FM centre,
    harmonics, filter), its standard deviation over time (FM spread), the frame-energy envelope
    (mean over bins: ADSR, gater) and the magnitude of the envelope's DFT after removing its mean
    (modulation spectrum: gater and LFO rates), scaled by ``1 / frames``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ConfigError(f"SpectralSummary needs input (batch, frames, bins), got {input_shape}")
        frames = int(input_shape[1])
        t = np.arange(frames)[:, None]
        k = np.arange(frames // 2 + 1)[None, :]
        angle = 2.0 * np.pi * t * k / frames
        self.dft_cos = self.add_weight(name="dft_cos", shape=(frames, frames // 2 + 1),
                                       trainable=False,
                                       initializer=keras.initializers.Constant(np.cos(angle) / frames))
        self.dft_sin = self.add_weight(name="dft_sin", shape=(frames, frames // 2 + 1),
                                       trainable=False,
                                       initializer=keras.initializers.Constant(np.sin(angle) / frames))
        super().build(input_shape)

    def call(self, x: Any) -> Any:
        ops = keras.ops
        mean = ops.mean(x, axis=1)
        spread = ops.sqrt(ops.mean(ops.square(x - mean[:, None, :]), axis=1) + 1e-6)
        envelope = ops.mean(x, axis=2)
        centred = envelope - ops.mean(envelope, axis=1, keepdims=True)
        re = ops.matmul(centred, self.dft_cos)
        im = ops.matmul(centred, self.dft_sin)
        modulation = ops.sqrt(ops.square(re) + ops.square(im) + 1e-8)
        return ops.concatenate([mean, spread, envelope, modulation], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, frames, bins = input_shape
        return (batch, 2 * bins + frames + frames // 2 + 1)

    def get_config(self) -> dict[str, Any]:
        return super().get_config()
