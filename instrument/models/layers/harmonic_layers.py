"""A harmonic view of a spectrogram: what lies at f, 2f, 3f ... for every candidate fundamental f.

Which oscillator of a four-oscillator synth plays which note is told by harmonic patterns: a sine
has one partial, a square the odd ones falling as 1/n, a saw all of them. A dense layer over the
bins of a frame has to learn every such pattern at every pitch separately; after
:class:`HarmonicStack` a small convolution over the fundamental axis sees the pattern of one pitch
in its channels, the same weights at every pitch (the harmonic CQT idea of Bittner et al. 2017,
here on linear STFT bins, where harmonic ``h`` of bin ``k`` is simply bin ``h * k``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from instrument.errors import ConfigError


@keras.saving.register_keras_serializable(package="latent")
class HarmonicStack(keras.layers.Layer):
    """Spectrogram ``(batch, frames, bins)`` -> ``(batch, n_fundamentals, 2 * n_harmonics)``.

    For each candidate fundamental ``k = i / steps_per_bin`` (in bins, ``i = 0 .. n_fundamentals
    - 1``) and harmonic ``h = 1 .. n_harmonics``, the time mean and the time max of the input,
    linearly interpolated at fractional bin ``h * k`` (0 beyond the last bin, which for
    ``log1p`` magnitudes is silence). Channels: the ``n_harmonics`` means, then the maxima.

    Args:
        n_fundamentals: candidate fundamentals, >= 1.
        steps_per_bin: candidates per STFT bin, >= 1 (the fundamental grid is finer than the bins
            because harmonic ``h`` multiplies the offset of a partial inside its bin by ``h``).
        n_harmonics: harmonics per candidate, >= 1.
    """

    def __init__(self, n_fundamentals: int = 192, steps_per_bin: int = 4, n_harmonics: int = 8,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value in (("n_fundamentals", n_fundamentals), ("steps_per_bin", steps_per_bin),
                            ("n_harmonics", n_harmonics)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"HarmonicStack {name} must be a positive integer, got {value!r}")
        self.n_fundamentals = n_fundamentals
        self.steps_per_bin = steps_per_bin
        self.n_harmonics = n_harmonics

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[2] is None:
            raise ConfigError(f"HarmonicStack needs (batch, frames, bins), got {input_shape}")
        n_bins = int(input_shape[2])
        harmonics = np.arange(1, self.n_harmonics + 1, dtype=np.float64)
        fundamentals = np.arange(self.n_fundamentals, dtype=np.float64) / self.steps_per_bin
        position = fundamentals[:, None] * harmonics[None, :]  # (n_fundamentals, n_harmonics)
        lower = np.floor(position)
        # Index n_bins is a zero column appended in call(): everything past the last bin is silent.
        self._lower = np.minimum(lower, n_bins).astype(np.int32).reshape(-1)
        self._upper = np.minimum(lower + 1, n_bins).astype(np.int32).reshape(-1)
        self._weight = (position - lower).astype(np.float32).reshape(-1)
        super().build(input_shape)

    def call(self, spectrogram: Any) -> Any:
        ops = keras.ops
        pooled = ops.stack([ops.mean(spectrogram, axis=1), ops.max(spectrogram, axis=1)], axis=1)
        pooled = ops.pad(pooled, [[0, 0], [0, 0], [0, 1]])  # (batch, 2, bins + 1)
        low = ops.take(pooled, self._lower, axis=2)
        high = ops.take(pooled, self._upper, axis=2)
        stacked = low + self._weight * (high - low)  # (batch, 2, n_fundamentals * n_harmonics)
        stacked = ops.reshape(stacked, (-1, 2, self.n_fundamentals, self.n_harmonics))
        stacked = ops.transpose(stacked, (0, 2, 1, 3))
        return ops.reshape(stacked, (-1, self.n_fundamentals, 2 * self.n_harmonics))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.n_fundamentals, 2 * self.n_harmonics)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_fundamentals": self.n_fundamentals,
                "steps_per_bin": self.steps_per_bin, "n_harmonics": self.n_harmonics}
