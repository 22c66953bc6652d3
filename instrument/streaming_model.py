"""One frame in, one frame out: the latent model at the hop rate.

:class:`StreamingLatentModel` wraps a :class:`~instrument.latent_model.LatentModel`
and picks the cheapest exact mode for it:

* ``"dense"``  -- per-frame model, latency 0.
* ``"cached"`` -- causal conv model without time pooling: RAVE-style cached
  convolution. A one-frame copy of the model is built whose causal time
  paddings are preallocated caches of the past activations of each conv
  layer; each push computes only the new frame. Output frame ``t`` equals
  frame ``t`` of an offline causal pass starting from silence
  (``LatentModel.process`` / ``transform``); latency 0.
* ``"window"`` -- any other conv model: a ring of the last ``T`` input frames
  is run through the full window each hop and the frame ``latency_frames``
  before the newest is returned (``latency_frames = min(lookahead, T - 1)``).
  Correct but costs a whole window per hop.

Scales (``(n_units,)``) multiply the latent unit axis between encoder and
decoder on every push, so faders act within one hop.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from instrument.errors import ConfigError
from instrument.latent_model import LatentModel
from training.models import build_streaming_parts, can_stream_cached, reset_streaming


class StreamingLatentModel:
    """Hop-rate inference with explicit preallocated state.

    Attributes:
        mode: ``"dense"``, ``"cached"`` or ``"window"``.
        latency_frames: output frame returned by a push corresponds to the
            input frame pushed ``latency_frames`` hops earlier.
        n_bins, n_units: frame and scale vector sizes.
    """

    def __init__(self, latent_model: LatentModel) -> None:
        if not isinstance(latent_model, LatentModel):
            raise ConfigError(f"expected a LatentModel, got {type(latent_model).__name__}")
        self.latent_model = latent_model
        config = latent_model.config
        self.config = config
        self.n_bins = latent_model.n_bins
        self.n_units = latent_model.n_units
        self._norm = latent_model.norm_stats
        self._out = np.zeros(self.n_bins, np.float32)
        self._scales = np.ones(self.n_units, np.float32)
        s_spec = tf.TensorSpec((self.n_units,), tf.float32)
        if config.arch == "dense":
            self.mode = "dense"
            self.latency_frames = 0
            self._x = np.zeros((1, self.n_bins), np.float32)
            self._step = tf.function(
                self._dense_graph, reduce_retracing=True,
                input_signature=[tf.TensorSpec((1, self.n_bins), tf.float32), s_spec])
        elif can_stream_cached(config):
            self.mode = "cached"
            self.latency_frames = 0
            self._encoder, self._decoder = build_streaming_parts(config, trained=latent_model.model)
            self._x = np.zeros((1, 1, self.n_bins), np.float32)
            self._step = tf.function(
                self._cached_graph, reduce_retracing=True,
                input_signature=[tf.TensorSpec((1, 1, self.n_bins), tf.float32), s_spec])
        else:
            self.mode = "window"
            t = latent_model.frames
            self.latency_frames = min(latent_model.lookahead_frames, t - 1)
            self._x = np.zeros((1, t, self.n_bins), np.float32)
            self._step = tf.function(
                self._window_graph, reduce_retracing=True,
                input_signature=[tf.TensorSpec((1, t, self.n_bins), tf.float32), s_spec])
        self._step(self._x, self._scales)  # trace + warm up
        self.reset()

    # ------------------------------------------------------------------ graphs
    def _dense_graph(self, x: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        lm = self.latent_model
        return lm.decoder(lm.encoder(x, training=False) * scales, training=False)[0]

    def _cached_graph(self, x: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        z = self._encoder(x, training=False) * scales
        return self._decoder(z, training=False)[0, 0]

    def _window_graph(self, x: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        lm = self.latent_model
        y = lm.decoder(lm.encoder(x, training=False) * scales, training=False)
        return y[0, x.shape[1] - 1 - self.latency_frames]

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        """Forget the past (silence): zero caches / ring."""
        self._x[:] = 0.0
        if self.mode == "window" and self._norm is not None:
            self._x[:] = self._norm.normalise(np.zeros(self.n_bins, np.float32))
        if self.mode == "cached":
            reset_streaming(self._encoder, self._decoder)

    def push(self, frame: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Push one log1p magnitude frame ``(n_bins,)``; returns one ``(n_bins,)`` frame.

        ``scales`` ``(n_units,)`` multiply the latent units (default ones).
        The returned array is a preallocated buffer overwritten by the next push.
        """
        frame = np.asarray(frame, np.float32)
        if frame.shape != (self.n_bins,):
            raise ConfigError(f"push expects a frame of shape ({self.n_bins},), got {frame.shape}")
        if scales is None:
            scales = self._scales
        elif np.shape(scales) != (self.n_units,):
            raise ConfigError(f"scales must have shape ({self.n_units},), got {np.shape(scales)}")
        if self._norm is not None:
            frame = (frame - self._norm.mean) / self._norm.std
        if self.mode == "window":
            self._x[0, :-1] = self._x[0, 1:]
            self._x[0, -1] = frame
        else:
            self._x.reshape(self.n_bins)[:] = frame
        y = self._step(self._x, np.asarray(scales, np.float32)).numpy()
        if self._norm is not None:
            np.multiply(y, self._norm.std, out=self._out)
            self._out += self._norm.mean
        else:
            self._out[:] = y
        return self._out
