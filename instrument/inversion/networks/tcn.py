"""``freqtcn``: cheap and frequency-aware (for CPU training): a dense layer over all frequency bins
of every frame (shared across time, so absolute frequency is kept), residual dilated 1-D
convolutions over time, mean + max pooling over time, joined with a fixed
:class:`instrument.models.layers.inversion.SpectralSummary` (time-averaged spectrum, its spread,
frame-energy envelope and the envelope's modulation spectrum) through a dense layer. ``sweeptcn``
(:mod:`instrument.inversion.networks.sweeptcn`) builds on the same trunk."""

from __future__ import annotations

from typing import Any

import keras

from instrument.inversion.networks.config import InversionModelConfig
from instrument.inversion.networks.conv import scaled
from instrument.models.layers.inversion import SpectralSummary, SpectrogramToSequence

#: Channels at width_scale 1, and the dilations of the residual temporal convolutions.
FREQTCN_CHANNELS = 256
FREQTCN_DILATIONS = (1, 2, 4, 8)


def residual_dilated(h: Any, width: int, dilations: tuple[int, ...], conv_name: str,
                     add_name: str) -> Any:
    """Residual 1-D convolutions (kernel 3, ReLU) at the given dilations over ``(batch, steps,
    width)``; layer ``i`` (from 1) is ``{conv_name}{i}`` + ``{add_name}{i}``."""
    for i, dilation in enumerate(dilations):
        y = keras.layers.Conv1D(width, 3, dilation_rate=dilation, padding="same",
                                activation="relu", name=f"{conv_name}{i + 1}")(h)
        h = keras.layers.Add(name=f"{add_name}{i + 1}")([h, y])
    return h


def tcn_trunk(seq: Any, channels: int, summary_units: int = 0) -> list[Any]:
    """The ``freqtcn`` trunk over a ``(batch, frames, bins)`` sequence -> three clip vectors: mean
    and max over time of the residual temporal convolutions ``(batch, channels)``, and the
    :class:`SpectralSummary` of ``seq`` through a dense layer ``(batch, summary_units or
    channels)``."""
    h = keras.layers.Dense(channels, activation="relu", name="frame_dense")(seq)
    h = residual_dilated(h, channels, FREQTCN_DILATIONS, "tconv", "residual")
    pooled_mean = keras.layers.GlobalAveragePooling1D(name="time_mean")(h)
    pooled_max = keras.layers.GlobalMaxPooling1D(name="time_max")(h)
    summary = SpectralSummary(name="summary")(seq)
    summary = keras.layers.Dense(summary_units or channels, activation="relu",
                                 name="summary_dense")(summary)
    return [pooled_mean, pooled_max, summary]


def freqtcn_trunk(x: Any, config: InversionModelConfig) -> Any:
    """Standardised spectrogram -> clip vector ``(batch, 2 * channels + summary width)``."""
    seq = SpectrogramToSequence(config.bins_first, name="to_sequence")(x)
    parts = tcn_trunk(seq, scaled(FREQTCN_CHANNELS, config.width_scale), config.summary_units)
    return keras.layers.Concatenate(name="clip")(parts)
