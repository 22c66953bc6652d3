"""Trajectory read: each oscillator's FM rate scored along its path through the frames.

An inversynth oscillator with note ``f``, FM depth ``B`` and FM rate ``v`` has the instantaneous
frequency ``f + B cos(2 pi v t)``, and its LFO starts at ``t = 0`` in a known phase, so every
(note, depth, rate) triple names one exact path through the spectrogram's frames. The sweep
readout (:mod:`instrument.models.layers.sweep_readout`) already says which (note, depth) cells each oscillator
probably occupies; :class:`TrajectoryRead` takes each oscillator's ``top_k`` cells and, for every
rate class, reads the spectrogram along harmonics ``1 .. harmonics`` of that path (linear
interpolation between bins), one value per frame. Where the path is right, the read stays on the
oscillator's ridge the whole clip; a wrong rate leaves it. The mean, spread and minimum of each
read over the frames are a phase-aware matched filter that the time-averaged statistics and the
modulation spectrum of the sweep read cannot be: other oscillators' sweeps cross a bin at other
times. :class:`RateScores` turns them into rate scores (added to the ``v_*`` logits) and, from
the best-scoring paths, per-oscillator level features for the clip vector (the amplitudes).

Neither the spectrogram nor the cells are trained through this path (stop-gradient), so the
reads are a fixed, cheap computation: ``batch x oscillators x top_k x rates x harmonics x
frames`` gathers, run as one XLA-compiled function on the TensorFlow backend.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np

from instrument.errors import ConfigError
from instrument.models.readout_geometry import check_geometry, check_rates, check_read_inputs

#: Statistics over frames of every trajectory read (mean, standard deviation, minimum).
N_TRAJECTORY_STATISTICS = 3


@keras.saving.register_keras_serializable(package="latent")
class TrajectoryRead(keras.layers.Layer):
    """``[sequence (batch, frames, bins), joint (batch, oscillators, notes, depths)]`` ->
    ``[statistics (batch, oscillators, top_k, rates, harmonics, 3), cell log-probabilities
    (batch, oscillators, top_k)]``.

    ``statistics[b, o, k, r, h]`` are the mean, standard deviation and minimum over frames ``t`` of
    ``sequence[b, t, h |f + B cos(2 pi rates[r] t)|]`` for the ``k``-th most probable (note ``f``,
    depth ``B``) cell of oscillator ``o`` under the softmax of ``joint`` (positions in bins,
    linear interpolation; positions past the top bin read the top bin).

    Args:
        note_bins, depth_bins: every note and depth class in STFT bins (as
            :class:`instrument.models.layers.sweep_readout.SweepReadout`).
        rates: every FM rate class in cycles per frame hop (``v * hop / sample_rate``), 0..0.5.
        harmonics: harmonics read, 1..8.
        top_k: cells read per oscillator, 1..notes * depths.
    """

    def __init__(self, note_bins: Sequence[float], depth_bins: Sequence[float],
                 rates: Sequence[float], harmonics: int = 3, top_k: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note_bins, self.depth_bins = check_geometry(note_bins, depth_bins, harmonics, 1)
        self.rates = check_rates(rates)
        cells = len(self.note_bins) * len(self.depth_bins)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= cells:
            raise ConfigError(f"TrajectoryRead top_k must be an integer in 1..{cells}, got {top_k!r}")
        self.harmonics = harmonics
        self.top_k = top_k

    def build(self, input_shape: Any) -> None:
        sequence, joint = input_shape
        classes = len(self.note_bins)
        check_read_inputs("TrajectoryRead", sequence, joint, classes,
                          "sequence (batch, frames, bins)")
        self._frames, self._bins = int(sequence[1]), int(sequence[2])
        frame = np.arange(self._frames)
        self._cos = np.cos(2.0 * np.pi * np.asarray(self.rates)[:, None] * frame).astype(np.float32)
        self._harmonic = np.arange(1, self.harmonics + 1, dtype=np.float32)[:, None]
        self._frame_offset = (frame * self._bins).astype(np.int32)
        self._notes = np.asarray(self.note_bins, dtype=np.float32)
        self._depths = np.asarray(self.depth_bins, dtype=np.float32)
        self._compiled = None
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        sequence, joint = (keras.ops.stop_gradient(x) for x in inputs)
        if keras.backend.backend() != "tensorflow":
            return self.read(sequence, joint)
        if self._compiled is None:
            import tensorflow as tf

            # XLA fuses the position arithmetic, gather and statistics: about 4x faster.
            self._compiled = tf.function(self.read, jit_compile=True)
        return self._compiled(sequence, joint)

    def read(self, sequence: Any, joint: Any) -> tuple[Any, Any]:
        """The layer's computation (uncompiled; see the class docstring for shapes)."""
        ops = keras.ops
        oscillators, depths = joint.shape[1], joint.shape[3]
        cells = ops.reshape(joint, (-1, oscillators, joint.shape[2] * depths))
        log_probabilities = cells - ops.logsumexp(cells, axis=-1, keepdims=True)
        top_log_probabilities, index = ops.top_k(log_probabilities, self.top_k)
        note = ops.take(self._notes, index // depths)[..., None, None]     # (b, o, k, 1, 1)
        depth = ops.take(self._depths, index % depths)[..., None, None]
        path = ops.abs(note + depth * self._cos)[..., None, :] * self._harmonic  # (b,o,k,r,h,t)
        position = ops.clip(path, 0.0, self._bins - 1.001)
        lower = ops.floor(position)
        weight = position - lower
        flat_index = ops.cast(lower, "int32") + self._frame_offset
        shape = ops.shape(flat_index)
        # each bin beside its upper neighbour: one gather reads both interpolation ends
        pairs = ops.stack([sequence, ops.concatenate([sequence[..., 1:], sequence[..., -1:]],
                                                     axis=-1)], axis=-1)
        pairs = ops.reshape(pairs, (-1, self._frames * self._bins, 2))
        both = ops.take_along_axis(pairs, ops.reshape(flat_index, (shape[0], -1, 1)), axis=1)
        both = ops.reshape(both, (*shape, 2))
        values = both[..., 0] + weight * (both[..., 1] - both[..., 0])
        statistics = ops.stack([ops.mean(values, axis=-1), ops.std(values, axis=-1),
                                ops.min(values, axis=-1)], axis=-1)
        return statistics, top_log_probabilities

    def compute_output_shape(self, input_shape: Any) -> Any:
        sequence, joint = input_shape
        return ((sequence[0], joint[1], self.top_k, len(self.rates), self.harmonics,
                 N_TRAJECTORY_STATISTICS), (sequence[0], joint[1], self.top_k))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "note_bins": self.note_bins, "depth_bins": self.depth_bins,
                "rates": self.rates, "harmonics": self.harmonics, "top_k": self.top_k}


@keras.saving.register_keras_serializable(package="latent")
class RateScores(keras.layers.Layer):
    """``[statistics (batch, oscillators, top_k, rates, harmonics, 3), cell log-probabilities
    (batch, oscillators, top_k)]`` -> ``[rate scores (batch, oscillators, rates), level features
    (batch, oscillators * harmonics * 3)]``.

    A small per-oscillator network (``units`` ReLU units, one output) scores every (cell, rate)
    read; a rate's score is the log-sum-exp over cells of cell log-probability plus read score.
    The level features are the reads' statistics averaged over the softmax of those joint scores
    (not differentiated through the weights).

    Args:
        units: hidden units of the per-oscillator scoring network, >= 1.
    """

    def __init__(self, units: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ConfigError(f"RateScores units must be a positive integer, got {units!r}")
        self.units = units

    def build(self, input_shape: Any) -> None:
        statistics, cells = input_shape
        if len(statistics) != 6 or len(cells) != 3 or tuple(statistics[1:3]) != tuple(cells[1:]) \
                or None in statistics[1:]:
            raise ConfigError(f"RateScores needs statistics (batch, oscillators, top_k, rates, "
                              f"harmonics, stats) and cells (batch, oscillators, top_k), got "
                              f"{statistics}, {cells}")
        oscillators, features = statistics[1], statistics[4] * statistics[5]
        self.hidden_kernel = self.add_weight(shape=(oscillators, features, self.units),
                                             initializer="glorot_uniform", name="hidden_kernel")
        self.hidden_bias = self.add_weight(shape=(oscillators, self.units), initializer="zeros",
                                           name="hidden_bias")
        self.score_kernel = self.add_weight(shape=(oscillators, self.units),
                                            initializer="glorot_uniform", name="score_kernel")
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        statistics, cells = inputs
        oscillators, top_k, rates = statistics.shape[1], statistics.shape[2], statistics.shape[3]
        features = statistics.shape[4] * statistics.shape[5]
        reads = ops.reshape(statistics, (-1, oscillators, top_k, rates, features))
        hidden = ops.relu(ops.einsum("bokrf,ofu->bokru", reads, self.hidden_kernel)
                          + self.hidden_bias[None, :, None, None, :])
        joint = ops.einsum("bokru,ou->bokr", hidden, self.score_kernel) + cells[..., None]
        rate_scores = ops.logsumexp(joint, axis=2)
        weights = ops.softmax(ops.reshape(ops.stop_gradient(joint), (-1, oscillators, top_k * rates)),
                              axis=-1)
        levels = ops.einsum("bom,bomf->bof", weights,
                            ops.reshape(reads, (-1, oscillators, top_k * rates, features)))
        return rate_scores, ops.reshape(levels, (-1, oscillators * features))

    def compute_output_shape(self, input_shape: Any) -> Any:
        statistics, _ = input_shape
        return ((statistics[0], statistics[1], statistics[3]),
                (statistics[0], statistics[1] * statistics[4] * statistics[5]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}
