"""``sweeptcn``: ``freqtcn`` plus a sweep readout for synths with FM oscillators
(:mod:`instrument.models.layers.sweep_readout`).

Dilated convolutions over the frequency axis of every bin's time statistics make centre and
sweep-edge maps per oscillator, read at each (note, depth) class pair's frequencies; the resulting
note and depth scores are added to those parameters' logits. Options
(:class:`instrument.inversion.networks.config.SweepReadoutConfig`):

* ``sweep_cell_units``: a small network over all oscillators' reads at each (note, depth) pair
  joins the readout's sum.
* ``sweep_read``: every bin's time statistics and modulation spectrum, read at each oscillator's
  probable sweep positions (:class:`instrument.models.layers.sweep_pointer.PosteriorRead`), join
  the clip vector (amplitude and FM-rate evidence per oscillator).
* ``trajectory_read``: each oscillator's FM rate scored along its frame-by-frame path
  (:mod:`instrument.models.layers.trajectory_read`), added to the rate parameters' logits, and
  level features join the clip vector.
"""

from __future__ import annotations

from typing import Any

import keras

from instrument.errors import ConfigError
from instrument.inversion.networks.config import InversionModelConfig
from instrument.inversion.networks.conv import scaled
from instrument.inversion.networks.heads import activate, logits
from instrument.inversion.networks.tcn import FREQTCN_CHANNELS, residual_dilated, tcn_trunk
from instrument.models.layers.inversion import SpectrogramToSequence
from instrument.models.layers.sweep_pointer import ModulationSpectrum, PosteriorRead
from instrument.models.layers.sweep_readout import MAPS_PER_HARMONIC, AddToRows, BinStatistics, SweepReadout
from instrument.models.layers.trajectory_read import RateScores, TrajectoryRead

#: Frequency convolutions: channels at width_scale 1, first kernel, dilations.
SWEEP_CHANNELS, SWEEP_KERNEL, SWEEP_DILATIONS = 64, 5, (1, 2, 4, 8, 16)
#: ``sweep_read``: modulation rates (cycles per clip) read per bin.
SWEEP_RATES = 24
#: ``trajectory_read``: (note, depth) cells read per oscillator, scoring units.
TRAJECTORY_TOP_K, TRAJECTORY_UNITS = 3, 16


def sweeptcn_outputs(x: Any, config: InversionModelConfig) -> Any:
    """Standardised spectrogram -> class scores ``(batch, n_params, n_classes)``: the ``freqtcn``
    head's logits plus the sweep readout's note and depth scores (and rate scores)."""
    sweep = config.sweep
    if sweep is None:
        raise ConfigError(f"arch {config.arch!r} has no sweep readout config")
    seq = SpectrogramToSequence(config.bins_first, name="to_sequence")(x)
    channels = scaled(FREQTCN_CHANNELS, config.width_scale)
    parts = tcn_trunk(seq, channels, config.summary_units)
    width = scaled(SWEEP_CHANNELS, config.width_scale)
    statistics = BinStatistics(name="bin_statistics")(seq)
    h = keras.layers.Conv1D(width, SWEEP_KERNEL, padding="same", activation="relu",
                            name="fconv0")(statistics)
    h = residual_dilated(h, width, SWEEP_DILATIONS, "fconv", "fresidual")
    maps = keras.layers.Conv1D(MAPS_PER_HARMONIC * sweep.sweep_harmonics * sweep.oscillators, 1,
                               name="sweep_maps")(h)
    scores, joint = SweepReadout(sweep.sweep_note_bins, sweep.sweep_depth_bins,
                                 sweep.sweep_harmonics, sweep.oscillators, return_joint=True,
                                 cell_units=sweep.sweep_cell_units, name="sweep_readout")(maps)
    if sweep.sweep_read:
        values = keras.layers.Concatenate(name="bin_features")(
            [statistics, ModulationSpectrum(min(SWEEP_RATES, config.n_frames // 2),
                                            name="modulation_spectrum")(seq)])
        read = PosteriorRead(sweep.sweep_note_bins, sweep.sweep_depth_bins,
                             sweep.sweep_harmonics, name="posterior_read")([values, joint])
        parts.append(keras.layers.Dense(channels, activation="relu", name="read_dense")(read))
    if sweep.trajectory_read:
        reads, cells = TrajectoryRead(sweep.sweep_note_bins, sweep.sweep_depth_bins,
                                      sweep.trajectory_rates, sweep.sweep_harmonics,
                                      TRAJECTORY_TOP_K, name="trajectory_read")([seq, joint])
        rate_scores, levels = RateScores(TRAJECTORY_UNITS, name="rate_scores")([reads, cells])
        parts.append(keras.layers.Dense(channels // 2, activation="relu", name="level_dense")(levels))
    clip = keras.layers.Concatenate(name="clip")(parts)
    class_logits = AddToRows(sweep.rows, config.n_params, name="add_sweep")([logits(clip, config), scores])
    if sweep.trajectory_read:
        class_logits = AddToRows(sweep.trajectory_rate_rows, config.n_params,
                                 name="add_rates")([class_logits, rate_scores])
    return activate(class_logits, config)
