"""Where each oscillator is, read back: per-bin features at an oscillator's sweep positions.

The sweep readout (:mod:`instrument.models.layers.sweep_readout`) says where each FM oscillator's note and sweep
edges probably are. :class:`PosteriorRead` reads per-bin features (the bin's time statistics and
its :class:`ModulationSpectrum`) at those positions, averaged over the readout's (note, depth)
probabilities, so the head gets, per oscillator, how loud it is there and how fast its band moves
(its amplitude and FM rate). The probabilities are not trained through this path (stop-gradient):
the readout learns where the oscillators are from the note and depth targets alone.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np

from instrument.errors import ConfigError
from instrument.models.readout_geometry import check_geometry, check_read_inputs, sweep_positions
from instrument.models.layers.sweep_readout import MAPS_PER_HARMONIC


@keras.saving.register_keras_serializable(package="latent")
class ModulationSpectrum(keras.layers.Layer):
    """Spectrogram sequence ``(batch, frames, bins)`` -> ``(batch, bins, rates)``: how strongly each
    bin's value moves at ``1 .. rates`` cycles per clip (magnitude of its DFT over time, times
    ``scale / frames``; the mean, rate 0, is left out).

    Args:
        rates: modulation frequencies kept, ``1 .. frames // 2``.
        scale: output scale (8 keeps standardised log spectra at about unit size).
    """

    def __init__(self, rates: int = 24, scale: float = 8.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(rates, int) or isinstance(rates, bool) or rates < 1:
            raise ConfigError(f"ModulationSpectrum rates must be a positive integer, got {rates!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ConfigError(f"ModulationSpectrum scale must be positive, got {scale!r}")
        self.rates = rates
        self.scale = float(scale)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        frames = input_shape[1]
        if len(input_shape) != 3 or frames is None or self.rates > frames // 2:
            raise ConfigError(f"ModulationSpectrum of {self.rates} rates needs (batch, frames >= "
                              f"{2 * self.rates}, bins), got {input_shape}")
        angle = 2.0 * np.pi * np.arange(frames)[:, None] * np.arange(1, self.rates + 1)[None, :] / frames
        self._cos = (np.cos(angle) * self.scale / frames).astype(np.float32)
        self._sin = (np.sin(angle) * self.scale / frames).astype(np.float32)
        super().build(input_shape)

    def call(self, x: Any) -> Any:
        ops = keras.ops
        per_bin = ops.transpose(x, (0, 2, 1))
        re, im = ops.matmul(per_bin, self._cos), ops.matmul(per_bin, self._sin)
        return ops.sqrt(ops.square(re) + ops.square(im) + 1e-8)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[2], self.rates)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rates": self.rates, "scale": self.scale}


@keras.saving.register_keras_serializable(package="latent")
class PosteriorRead(keras.layers.Layer):
    """``[values (batch, bins, channels), joint (batch, oscillators, notes, depths)]`` ->
    ``(batch, oscillators * 3 * harmonics * channels)``: for each oscillator and each of its
    sweep positions (:func:`instrument.models.readout_geometry.sweep_positions`), the values read there
    (linear interpolation), averaged over the softmax of the joint scores (not differentiated).

    Two matrix products with a constant ``(notes * depths, positions * bins)`` interpolation
    matrix, no gathers.

    Args:
        note_bins, depth_bins, harmonics: as :class:`instrument.models.layers.sweep_readout.SweepReadout`.
    """

    def __init__(self, note_bins: Sequence[float], depth_bins: Sequence[float],
                 harmonics: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note_bins, self.depth_bins = check_geometry(note_bins, depth_bins, harmonics, 1)
        self.harmonics = harmonics

    def build(self, input_shape: Any) -> None:
        values, joint = input_shape
        classes = len(self.note_bins)
        check_read_inputs("PosteriorRead", values, joint, classes, "values (batch, bins, channels)")
        n_bins = int(values[1])
        check_geometry(self.note_bins, self.depth_bins, self.harmonics, 1, n_bins)
        position = sweep_positions(self.note_bins, self.depth_bins, self.harmonics).T  # (pairs, maps)
        lower = np.floor(position).astype(np.int64)
        weight = position - lower
        matrix = np.zeros((*position.shape, n_bins), dtype=np.float32)
        pairs, maps = np.indices(position.shape)
        np.add.at(matrix, (pairs, maps, lower), 1.0 - weight)
        np.add.at(matrix, (pairs, maps, np.minimum(lower + 1, n_bins - 1)), weight)
        self._maps = position.shape[1]
        self._interpolate = matrix.reshape(position.shape[0], -1)
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        values, joint = inputs
        oscillators, pairs = joint.shape[1], joint.shape[2] * joint.shape[3]
        probabilities = ops.softmax(ops.reshape(ops.stop_gradient(joint), (-1, oscillators, pairs)),
                                    axis=-1)
        weights = ops.reshape(ops.matmul(probabilities, self._interpolate),
                              (-1, oscillators * self._maps, values.shape[1]))
        read = ops.matmul(weights, values)  # (batch, oscillators * maps, channels)
        return ops.reshape(read, (-1, oscillators * self._maps * values.shape[2]))

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        values, joint = input_shape
        return (values[0], joint[1] * MAPS_PER_HARMONIC * self.harmonics * values[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "note_bins": self.note_bins, "depth_bins": self.depth_bins,
                "harmonics": self.harmonics}
