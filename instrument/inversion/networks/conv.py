"""``conv6xl``: Barkan & Tsiris's Conv6XL ("Deep Synthesizer Parameter Estimation", Table 2): six
strided 2-D convolutions (ReLU, no pooling) over the standardised spectrogram seen as a
``(frames, bins)`` image, flattened into the clip vector."""

from __future__ import annotations

from typing import Any

import keras

from instrument.inversion.networks.config import InversionModelConfig
from instrument.models.layers.inversion import SpectrogramToImage

#: Conv6XL: C(filters, k_time, k_freq, stride_time, stride_freq) per layer at width_scale 1.
CONV6XL_LAYERS: tuple[tuple[int, int, int, int, int], ...] = (
    (64, 3, 3, 2, 2), (128, 3, 3, 2, 2), (128, 3, 4, 2, 3), (128, 3, 3, 2, 2),
    (256, 3, 3, 2, 2), (256, 3, 3, 1, 2))


def scaled(filters: int, scale: float) -> int:
    """A layer width times ``width_scale``, at least 4."""
    return max(4, int(round(filters * scale)))


def conv6xl_trunk(x: Any, config: InversionModelConfig) -> Any:
    """Standardised spectrogram ``(batch, *input_shape)`` -> clip vector ``(batch, features)``."""
    x = SpectrogramToImage(config.bins_first, name="to_image")(x)
    for i, (filters, k_t, k_f, s_t, s_f) in enumerate(CONV6XL_LAYERS):
        x = keras.layers.Conv2D(scaled(filters, config.width_scale), (k_t, k_f), strides=(s_t, s_f),
                                padding="same", activation="relu", name=f"conv{i + 1}")(x)
    return keras.layers.Flatten(name="flatten")(x)
