"""Sweep readout: class scores of each FM oscillator's note and depth read off a frequency map.

An inversynth oscillator with note ``f`` and FM depth ``B`` (Hz of peak deviation) sweeps its
instantaneous frequency through ``f + B cos(2 pi v t)``: its time-averaged spectrum is a band
from ``|f - B|`` to ``f + B`` whose density peaks at the two turning points, harmonic ``h`` of
it the same band times ``h``. A dense head has to learn this geometry at every note and depth
separately. Here a small convolution over the frequency axis of the clip's per-bin time
statistics (:class:`BinStatistics`) makes, per oscillator, a "centre" map ``C``, an "upper edge"
map ``U`` and a "lower edge" map ``L`` for each harmonic, and :class:`SweepReadout` scores every
(note, depth) pair of an oscillator as

    ``sum_h C_h(h f) + U_h(h (f + B)) + L_h(h |f - B|)``

read at the fractional bins of those frequencies (the same weights serve every note and depth),
then turns the joint scores into note and depth scores with a log-sum-exp over the other axis.
:class:`AddToRows` adds them to those parameters' rows of the network's logits.

:func:`~instrument.models.readout_geometry.sweep_geometry` derives the positions and rows from a synth that exposes FM oscillators.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np

from instrument.errors import ConfigError
from instrument.models.readout_geometry import check_geometry, check_read_inputs, sweep_positions

#: Time statistics per bin made by :class:`BinStatistics` (mean, max, standard deviation).
N_BIN_STATISTICS = 3
#: Maps per oscillator and harmonic read by :class:`SweepReadout` (centre, upper, lower edge).
MAPS_PER_HARMONIC = 3


@keras.saving.register_keras_serializable(package="latent")
class BinStatistics(keras.layers.Layer):
    """Spectrogram sequence ``(batch, frames, bins)`` -> ``(batch, bins, 3)``: every bin's mean,
    maximum and standard deviation over time (a sweep's band, its loudest moment, its motion)."""

    def call(self, x: Any) -> Any:
        ops = keras.ops
        mean = ops.mean(x, axis=1)
        spread = ops.sqrt(ops.mean(ops.square(x - mean[:, None, :]), axis=1) + 1e-6)
        return ops.stack([mean, ops.max(x, axis=1), spread], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[2], N_BIN_STATISTICS)


@keras.saving.register_keras_serializable(package="latent")
class SweepReadout(keras.layers.Layer):
    """Frequency maps ``(batch, bins, 3 * harmonics * oscillators)`` -> note and depth scores
    ``(batch, 2 * oscillators, classes)``: rows ``0 .. oscillators - 1`` score each oscillator's
    notes, the next ``oscillators`` rows its FM depths.

    Channel ``(3 * (h - 1) + m) * oscillators + w`` is map ``m`` (0 centre, 1 upper edge,
    2 lower edge) of harmonic ``h`` for oscillator ``w``; maps are read with linear interpolation.

    Args:
        note_bins: every note class's frequency in (fractional) STFT bins, ``classes`` values > 0.
        depth_bins: every depth class's FM deviation in bins, ``classes`` values >= 0.
        harmonics: harmonics read per oscillator, 1..8.
        oscillators: oscillators, >= 1.
        return_joint: also return the joint scores ``(batch, oscillators, classes, classes)``
            (:meth:`joint_scores`) as a second output.
        cell_units: 0 scores a pair by the sum of its ``3 * harmonics`` reads; > 0 adds a small
            network over the reads of all oscillators at that pair (``cell_units`` ReLU units per
            oscillator, output weights starting at zero), which can weigh one position against
            another, e.g. the level at ``3 f`` against the level at ``f`` that tells a triangle
            from a square (the maps come from convolutions that see only about 33 bins either
            side), and one oscillator's evidence against another's at the same pair.
    """

    def __init__(self, note_bins: Sequence[float], depth_bins: Sequence[float],
                 harmonics: int = 1, oscillators: int = 1, return_joint: bool = False,
                 cell_units: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note_bins, self.depth_bins = check_geometry(note_bins, depth_bins, harmonics,
                                                         oscillators)
        if not isinstance(return_joint, bool):
            raise ConfigError(f"SweepReadout return_joint must be a bool, got {return_joint!r}")
        if not isinstance(cell_units, int) or isinstance(cell_units, bool) or cell_units < 0:
            raise ConfigError(f"SweepReadout cell_units must be a non-negative integer, "
                              f"got {cell_units!r}")
        self.harmonics = harmonics
        self.oscillators = oscillators
        self.return_joint = return_joint
        self.cell_units = cell_units

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels = MAPS_PER_HARMONIC * self.harmonics * self.oscillators
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] != channels:
            raise ConfigError(f"SweepReadout needs maps (batch, bins, {channels}), got {input_shape}")
        check_geometry(self.note_bins, self.depth_bins, self.harmonics, self.oscillators,
                       int(input_shape[1]))
        position = sweep_positions(self.note_bins, self.depth_bins, self.harmonics)
        lower = np.floor(position)
        self._lower = lower.astype(np.int32)
        self._upper = np.minimum(lower + 1, input_shape[1] - 1).astype(np.int32)
        self._weight = (position - lower).astype(np.float32)
        if self.cell_units:
            shape = (self.oscillators * position.shape[0], self.oscillators * self.cell_units)
            self.cell_kernel = self.add_weight(shape=shape, initializer="glorot_uniform",
                                               name="cell_kernel")
            self.cell_bias = self.add_weight(shape=(self.oscillators * self.cell_units,),
                                             initializer="zeros", name="cell_bias")
            self.cell_output = self.add_weight(shape=(self.oscillators, self.cell_units),
                                               initializer="zeros", name="cell_output")
        super().build(input_shape)

    def joint_scores(self, maps: Any) -> Any:
        """Maps ``(batch, bins, channels)`` -> score of every (note, depth) class pair
        ``(batch, oscillators, classes, classes)`` (notes on axis 2, depths on axis 3)."""
        ops = keras.ops
        n = self.oscillators
        reads = []
        for k in range(self._lower.shape[0]):
            m = maps[..., k * n:(k + 1) * n]
            low = ops.take(m, self._lower[k], axis=1)
            high = ops.take(m, self._upper[k], axis=1)
            reads.append(low + self._weight[k][None, :, None] * (high - low))  # (batch, pairs, n)
        joint = sum(reads[1:], reads[0])
        if self.cell_units:
            # every oscillator's reads of a pair feed every oscillator's units: what one
            # oscillator's maps show at a pair can lower another's score there
            stacked = ops.reshape(ops.stack(reads, axis=-1), (-1, n * len(reads)))
            hidden = ops.relu(ops.matmul(stacked, self.cell_kernel) + self.cell_bias)
            hidden = ops.reshape(hidden, (-1, joint.shape[1], n, self.cell_units))
            joint = joint + ops.sum(hidden * self.cell_output, axis=-1)
        classes = len(self.note_bins)
        return ops.reshape(ops.transpose(joint, (0, 2, 1)), (-1, n, classes, classes))

    def call(self, maps: Any) -> Any:
        ops = keras.ops
        joint = self.joint_scores(maps)
        scores = ops.concatenate([ops.logsumexp(joint, axis=3), ops.logsumexp(joint, axis=2)],
                                 axis=1)
        return (scores, joint) if self.return_joint else scores

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        classes = len(self.note_bins)
        scores = (input_shape[0], 2 * self.oscillators, classes)
        if self.return_joint:
            return scores, (input_shape[0], self.oscillators, classes, classes)
        return scores

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "note_bins": self.note_bins, "depth_bins": self.depth_bins,
                "harmonics": self.harmonics, "oscillators": self.oscillators,
                "return_joint": self.return_joint, "cell_units": self.cell_units}


@keras.saving.register_keras_serializable(package="latent")
class AddToRows(keras.layers.Layer):
    """``[logits (batch, n_rows, classes), extra (batch, len(rows), classes)]`` -> logits with
    ``extra[:, i]`` added to row ``rows[i]``.

    Args:
        rows: distinct target rows, each in ``0 .. n_rows - 1``.
        n_rows: rows of the logits.
    """

    def __init__(self, rows: Sequence[int], n_rows: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(n_rows, int) or isinstance(n_rows, bool) or n_rows < 1:
            raise ConfigError(f"AddToRows n_rows must be a positive integer, got {n_rows!r}")
        rows = [int(r) for r in rows]
        if not rows or len(set(rows)) != len(rows) or min(rows) < 0 or max(rows) >= n_rows:
            raise ConfigError(f"AddToRows rows must be distinct indices in 0..{n_rows - 1}, got {rows}")
        self.rows = rows
        self.n_rows = n_rows

    def build(self, input_shape: Any) -> None:
        logits, extra = input_shape
        if logits[1] != self.n_rows or extra[1] != len(self.rows) or logits[2] != extra[2]:
            raise ConfigError(f"AddToRows needs logits (batch, {self.n_rows}, C) and extra "
                              f"(batch, {len(self.rows)}, C), got {logits} and {extra}")
        scatter = np.zeros((len(self.rows), self.n_rows), dtype=np.float32)
        scatter[np.arange(len(self.rows)), self.rows] = 1.0
        self._scatter = scatter
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        logits, extra = inputs
        return logits + keras.ops.einsum("bkc,kp->bpc", extra, self._scatter)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rows": self.rows, "n_rows": self.n_rows}
