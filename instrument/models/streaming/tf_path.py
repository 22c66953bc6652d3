"""The ``"tf"`` streaming backend: Keras copies of the model behind fixed-signature ``tf.function``s.

:class:`TfFrameGraphs` builds, for one streaming mode, the encoder/decoder a push runs
(dense: the model's own; cached: a one-frame copy whose causal paddings keep caches,
:func:`instrument.models.autoencoders.build_streaming_parts`; block: a ``W``-frame copy)
and traces ``step`` and ``decode`` once, so no push traces.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from instrument.errors import ConfigError, LatentError
from instrument.models.autoencoders import (build_autoencoder_parts, build_streaming_parts, reset_streaming,
                                            transfer_weights)
from instrument.models.latent_model import LatentModel
from instrument.models.layers.autoencoder import scale_latent_tensor
from instrument.models.streaming.plan import BlockPlan


def _block_parts(latent_model: LatentModel, window_frames: int) -> tuple[Any, Any]:
    """Encoder/decoder taking ``W`` frames (the trained ones when ``W == T``)."""
    if window_frames == latent_model.frames:
        return latent_model.encoder, latent_model.decoder
    config = dataclasses.replace(latent_model.config, frames=window_frames)
    try:
        model, encoder, decoder = build_autoencoder_parts(config)
        transfer_weights(latent_model.model, model)
    except (LatentError, ValueError) as exc:
        raise ConfigError(f"cannot build a {window_frames}-frame copy of model "
                          f"{latent_model.path or config.arch} for block streaming: {exc}") from exc
    return encoder, decoder


class TfFrameGraphs:
    """``step`` and ``decode`` graphs of one streaming mode, traced and warmed up on construction.

    Args:
        latent_model: the loaded model.
        mode: ``"dense"``, ``"cached"`` or ``"block"``.
        plan: block mode's :class:`BlockPlan` (None otherwise).
    Attributes:
        input_shape: shape of ``step``'s ``x``: dense ``(1, n_bins)``, cached ``(1, 1, n_bins)``,
            block ``(1, W, n_bins)``.
    ``step(x, scales)`` with scales ``(n_units,)`` returns tensors ``(y, z)``: dense/cached one
    output frame ``(n_bins,)`` and its latent frame; block the ``B`` output rows ``(B, n_bins)`` and
    their latent rows ``(latent_rows,) + latent_frame_shape``. ``decode(z, scales)`` decodes one
    latent frame ``latent_frame_shape`` (block: repeated over the window) into ``(n_bins,)``.
    """

    def __init__(self, latent_model: LatentModel, mode: str, plan: BlockPlan | None = None) -> None:
        self.mode = mode
        self.plan = plan
        n_bins, n_units = latent_model.n_bins, latent_model.n_units
        latent_frame_shape = tuple(int(d) for d in latent_model.latent_frame_shape)
        if mode == "cached":
            self._encoder, self._decoder = build_streaming_parts(latent_model.config, trained=latent_model.model)
            self.input_shape: tuple[int, ...] = (1, 1, n_bins)
        elif mode == "block":
            self._encoder, self._decoder = _block_parts(latent_model, plan.window_frames)
            self.input_shape = (1, plan.window_frames, n_bins)
        else:
            self._encoder, self._decoder = latent_model.encoder, latent_model.decoder
            self.input_shape = (1, n_bins)
        s_spec = tf.TensorSpec((n_units,), tf.float32)
        z_spec = tf.TensorSpec(latent_frame_shape, tf.float32)
        self.step = tf.function(self._step_graph, reduce_retracing=True, input_signature=[
            tf.TensorSpec(self.input_shape, tf.float32), s_spec])
        self.decode = tf.function(self._decode_graph, reduce_retracing=True,
                                  input_signature=[z_spec, s_spec])
        ones = np.ones(n_units, np.float32)
        self.step(np.zeros(self.input_shape, np.float32), ones)  # trace + warm up
        self.decode(np.zeros(latent_frame_shape, np.float32), ones)

    def reset(self) -> None:
        """Zero the caches of the cached-mode copy (other modes keep no state)."""
        if self.mode == "cached":
            reset_streaming(self._encoder, self._decoder)

    def _step_graph(self, x: tf.Tensor, scales: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        z = self._encoder(x, training=False)
        y = self._decoder(scale_latent_tensor(z, scales), training=False)
        if self.mode == "dense":
            return y[0], z[0]
        if self.mode == "cached":
            return y[0, 0], z[0, 0]
        plan = self.plan
        first, block = plan.first_row, plan.block_frames
        return (y[0, first:first + block],
                z[0, plan.latent_first:plan.latent_first + plan.latent_rows])

    def _decode_graph(self, z: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        scaled = scale_latent_tensor(z, scales)
        if self.mode == "dense":
            return self._decoder(scaled[None], training=False)[0]
        if self.mode == "cached":
            return self._decoder(scaled[None, None], training=False)[0, 0]
        window = tf.repeat(scaled[None, None], self.plan.latent_window, axis=1)
        return self._decoder(window, training=False)[0, self.plan.first_row]
