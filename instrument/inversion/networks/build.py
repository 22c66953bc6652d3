"""Build the inversion network an :class:`InversionModelConfig` describes."""

from __future__ import annotations

import keras

from instrument.inversion.networks.config import InversionModelConfig
from instrument.inversion.networks.conv import conv6xl_trunk
from instrument.inversion.networks.heads import head
from instrument.inversion.networks.sweeptcn import sweeptcn_outputs
from instrument.inversion.networks.tcn import freqtcn_trunk
from instrument.models.layers.inversion import FeatureStandardize


def build_inversion_model(config: InversionModelConfig) -> keras.Model:
    """Build (not compile) the network ``config`` describes.

    Returns:
        keras.Model: input ``(batch, *config.input_shape)`` float32 log spectrogram; output
        ``(batch, n_params, n_classes)`` scores, or ``(batch, n_params)`` values in [0, 1].
    """
    inputs = keras.Input(shape=config.input_shape, name="spectrogram")
    x = FeatureStandardize(config.feature_mean, config.feature_std, name="standardize")(inputs)
    if config.arch == "sweeptcn":
        outputs = sweeptcn_outputs(x, config)
    elif config.arch == "freqtcn":
        outputs = head(freqtcn_trunk(x, config), config)
    else:
        outputs = head(conv6xl_trunk(x, config), config)
    return keras.Model(inputs, outputs, name=f"inversion_{config.arch}_{config.head}")
