"""Inference wrapper around a trained spectral autoencoder.

:class:`LatentModel` holds the full model and its encoder/decoder, calls
them through fixed-signature ``tf.function``s (never ``predict``) and is
warmed up on construction, so the first real call does not trace.

Feature convention: callers always pass and receive raw ``log1p`` magnitudes
(``instrument.dsp.spectral.features``), shape ``(frames, n_bins)``. When the model
was trained on normalised features, its :class:`~instrument.dsp.spectral.NormStats`
is applied inside (normalise before encoding, denormalise after decoding).

Shapes (``T = config.frames``, latent ``(T', F', n_units)`` for conv models):

* conv  ``encode (T, n_bins) -> (T', F', n_units)``; ``decode`` the reverse;
  ``process (T, n_bins) -> (T, n_bins)``. A leading batch axis is accepted.
* dense ``encode (N, n_bins) -> (N, n_units)`` for any ``N``.
* ``transform (frames, n_bins) -> (frames, n_bins)`` for any length, sliding
  overlapping windows so memory stays bounded. Conv models slide a copy of the
  model with a longer time axis (up to :data:`TRANSFORM_FRAMES`, same weights): fewer
  overlapping frames are recomputed than with the training window.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from instrument.config import SpectralConfig
from instrument.errors import ConfigError
from instrument.dsp.spectral import NormStats
from instrument.models.config import AutoencoderConfig
from instrument.models.autoencoders import (build_autoencoder, lookahead_frames, past_frames, receptive_field_frames,
                                            split_autoencoder)
from instrument.models.layers.autoencoder import scale_latent_tensor
from instrument.models.scales import check_scales

KINDS = ("autoencoder", "transfer")
#: Longest time window (frames) of the offline ``transform`` copies of a conv model.
TRANSFORM_FRAMES = 256
#: ``transform`` copies come in multiples of this many frames: a short file runs the smallest
#: copy that holds it (a 2 s note, 172 frames, runs 192 frames instead of 256).
TRANSFORM_STEP = 64


class LatentModel:
    """A loaded (or freshly trained) latent autoencoder ready for inference.

    Attributes:
        model, encoder, decoder: Keras models (weights shared).
        config: :class:`AutoencoderConfig`; ``spectral``: its :class:`SpectralConfig`.
        kind: ``"autoencoder"`` or ``"transfer"``.
        n_units: latent units (faders).
        latent_shape: latent shape without batch (conv ``(T', F', n_units)``, dense ``(n_units,)``).
        mean_latent: mean latent frame (conv ``(F', n_units)``, dense ``(n_units,)``) or None.
        lookahead_frames, past_frames, receptive_field_frames: time extents in frames.
        norm_stats: :class:`NormStats` or None; notes: free JSON-able training notes.
        path: file the model was loaded from (or None).
    """

    def __init__(self, model: Any, config: AutoencoderConfig, kind: str = "autoencoder",
                 mean_latent: np.ndarray | None = None, norm_stats: NormStats | None = None,
                 notes: Any = None, path: str | Path | None = None,
                 encoder: Any = None, decoder: Any = None, warm_up: bool = True) -> None:
        if kind not in KINDS:
            raise ConfigError(f"model kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.model = model
        self.config = config
        self.spectral: SpectralConfig = config.spectral
        self.kind = kind
        self.norm_stats = norm_stats
        self.notes = notes
        self.path = None if path is None else Path(path)
        if encoder is None or decoder is None:
            encoder, decoder = split_autoencoder(model)
        self.encoder = encoder
        self.decoder = decoder
        self.n_bins = config.n_bins
        self.n_units = config.n_units
        self.frames = config.frames if config.is_conv else 1
        self.latent_shape: tuple[int, ...] = tuple(int(d) for d in encoder.output.shape[1:])
        self.lookahead_frames = lookahead_frames(config)
        self.past_frames = past_frames(config)
        self.receptive_field_frames = receptive_field_frames(config)
        self.mean_latent = None if mean_latent is None else np.asarray(mean_latent, np.float32)
        if self.mean_latent is not None and self.mean_latent.shape != self.latent_frame_shape:
            raise ConfigError(f"mean latent has shape {self.mean_latent.shape}, "
                              f"expected {self.latent_frame_shape}")
        if norm_stats is not None and norm_stats.mean.shape != (self.n_bins,):
            raise ConfigError(f"norm stats have {norm_stats.mean.shape[0]} bins, model {self.n_bins}")
        self._ones = np.ones(self.n_units, np.float32)
        in_spec = tf.TensorSpec((None,) + tuple(config.input_shape), tf.float32)
        z_spec = tf.TensorSpec((None,) + self.latent_shape, tf.float32)
        s_spec = tf.TensorSpec((self.n_units,), tf.float32)
        self._encode_fn = tf.function(self._encode_graph, input_signature=[in_spec],
                                      reduce_retracing=True)
        self._decode_fn = tf.function(self._decode_graph, input_signature=[z_spec],
                                      reduce_retracing=True)
        self._process_fn = tf.function(self._process_graph, input_signature=[in_spec, s_spec],
                                       reduce_retracing=True)
        self._transform_fns: dict[int, Any] = {}  # window frames -> function, built on first use
        if warm_up:
            self.warm_up()

    # ------------------------------------------------------------- graphs
    def _encode_graph(self, x: tf.Tensor) -> tf.Tensor:
        return self.encoder(x, training=False)

    def _decode_graph(self, z: tf.Tensor) -> tf.Tensor:
        return self.decoder(z, training=False)

    def _process_graph(self, x: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        return self.decoder(scale_latent_tensor(self.encoder(x, training=False), scales), training=False)

    def warm_up(self) -> None:
        """Trace and run every graph once on silence."""
        x = np.zeros((1,) + tuple(self.config.input_shape), np.float32)
        z = self._encode_fn(x)
        self._decode_fn(z)
        self._process_fn(x, self._ones)

    # ------------------------------------------------------------- shapes
    @property
    def latent_frame_shape(self) -> tuple[int, ...]:
        """Shape of one latent frame: conv ``(F', n_units)``, dense ``(n_units,)``."""
        return self.latent_shape[1:] if self.config.is_conv else self.latent_shape

    def _scales(self, scales: np.ndarray | None) -> np.ndarray:
        return self._ones if scales is None else check_scales(scales, self.n_units)

    def _batch_frames(self, frames: np.ndarray) -> tuple[np.ndarray, bool]:
        """Validate ``frames`` and add a batch axis; returns (batch, had_batch)."""
        x = np.asarray(frames, np.float32)
        want = tuple(self.config.input_shape)
        if self.config.is_conv:
            if x.shape == want:
                return x[None], False
            if x.ndim == 3 and x.shape[1:] == want:
                return x, True
            raise ConfigError(f"model expects frames of shape {want} (or batched), got {x.shape}")
        if x.ndim == 1 and x.shape == want:
            return x[None], False
        if x.ndim == 2 and x.shape[1] == self.n_bins:
            return x, True
        raise ConfigError(f"model expects frames of shape (N, {self.n_bins}), got {x.shape}")

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        return x if self.norm_stats is None else self.norm_stats.normalise(x)

    def _denormalise(self, y: np.ndarray) -> np.ndarray:
        return y if self.norm_stats is None else self.norm_stats.denormalise(y)

    # ------------------------------------------------------------- public API
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """log1p frames ``(T, n_bins)`` -> latent ``(T', F', n_units)`` (dense ``(N, n_units)``)."""
        x, batched = self._batch_frames(frames)
        z = self._encode_fn(self._normalise(x)).numpy()
        return z if batched else z[0]

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """Latent ``(T', F', n_units)`` -> log1p frames ``(T, n_bins)``.

        Dense: ``(N, n_units) -> (N, n_bins)`` or one ``(n_units,) -> (n_bins,)``.
        """
        z = np.asarray(latent, np.float32)
        if z.shape == self.latent_shape:
            z, batched = z[None], False
        elif z.shape[1:] == self.latent_shape and (z.ndim == len(self.latent_shape) + 1):
            batched = True
        else:
            raise ConfigError(f"latent must have shape {self.latent_shape} (or batched), got {z.shape}")
        y = self._denormalise(self._decode_fn(z).numpy())
        return y if batched else y[0]

    def process(self, frames: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Encode, multiply the latent unit axis by ``scales`` ``(n_units,)``, decode.

        ``frames`` ``(T, n_bins)`` (dense: ``(N, n_bins)``) -> same shape.
        """
        x, batched = self._batch_frames(frames)
        y = self._denormalise(self._process_fn(self._normalise(x), self._scales(scales)).numpy())
        return y if batched else y[0]

    def transform(self, features: np.ndarray, scales: np.ndarray | None = None,
                  batch_windows: int = 16) -> np.ndarray:
        """Process an arbitrarily long feature matrix with bounded memory.

        Conv models slide windows of ``T`` frames: the first window starts at
        frame 0 (so a causal model matches streaming from silence), and each
        following window overlaps the previous one by enough frames that
        every kept output frame sees ``min(past_frames, ...)`` frames of real
        past and ``min(lookahead_frames, ...)`` of future context (exact for
        causal models with ``past_frames <= T - pool``). Windows past the end are
        zero-padded. At most ``batch_windows`` windows are run per call.

        Args:
            features: log1p magnitudes ``(frames, n_bins)``.
            scales: ``(n_units,)`` latent scales, default ones.
        Returns:
            ``(frames, n_bins)`` float32.
        """
        x = np.asarray(features, np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_bins:
            raise ConfigError(f"features must have shape (frames, {self.n_bins}), got {x.shape}")
        if not isinstance(batch_windows, int) or batch_windows < 1:
            raise ConfigError(f"batch_windows must be a positive integer, got {batch_windows!r}")
        scales = self._scales(scales)
        n = len(x)
        out = np.zeros_like(x)
        if n == 0:
            return out
        if not self.config.is_conv:
            step = 4096
            for start in range(0, n, step):
                out[start:start + step] = self.process(x[start:start + step], scales)
            return out
        t, transform_fn = self._transform_for(n)
        plan = self._window_plan(n, t)
        for first in range(0, len(plan), batch_windows):
            group = plan[first:first + batch_windows]
            batch = np.zeros((len(group), t, self.n_bins), np.float32)
            for i, (start, _, _) in enumerate(group):
                chunk = x[start:start + t]
                batch[i, :len(chunk)] = chunk
            y = self._denormalise(transform_fn(self._normalise(batch), scales).numpy())
            for i, (start, keep_from, keep_to) in enumerate(group):
                out[keep_from:keep_to] = y[i, keep_from - start:keep_to - start]
        return out

    def _transform_for(self, n: int) -> tuple[int, Any]:
        """``(frames, function)`` of the transform copy for an ``n``-frame input: the smallest
        multiple of :data:`TRANSFORM_STEP` that holds ``n`` plus the model's context, at most
        :data:`TRANSFORM_FRAMES`, at least the training window."""
        q = self.config.pool_time ** self.config.n_pools
        step = -(-TRANSFORM_STEP // q) * q
        wanted = n + self.past_frames + self.lookahead_frames
        frames = min(-(-wanted // step) * step, -(-TRANSFORM_FRAMES // step) * step)
        frames = max(self.frames, frames)
        if frames not in self._transform_fns:
            self._transform_fns[frames] = self._build_transform_model(frames)
        return frames, self._transform_fns[frames]

    def _build_transform_model(self, frames: int) -> Any:
        """A copy of the conv model with a ``frames`` time axis and the same weights.

        Convolutions, pooling and the per-frame layers do not depend on the window length,
        so kept frames equal the training-window results (up to float rounding).
        """
        if frames == self.frames:
            return self._process_fn
        wide = build_autoencoder(dataclasses.replace(self.config, frames=frames))
        wide.set_weights(self.model.get_weights())
        encoder, decoder = split_autoencoder(wide)

        def run(x: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
            return decoder(scale_latent_tensor(encoder(x, training=False), scales), training=False)

        spec = tf.TensorSpec((None, frames, self.n_bins), tf.float32)
        return tf.function(run, input_signature=[spec, tf.TensorSpec((self.n_units,), tf.float32)])

    def _window_plan(self, n: int, t: int | None = None) -> list[tuple[int, int, int]]:
        """``(start, keep_from, keep_to)`` per window of ``t`` frames (default the training
        window) covering frames ``0..n``."""
        t = self.frames if t is None else t
        q = self.config.pool_time ** self.config.n_pools
        right = min(self.lookahead_frames, (t - q) // 2)
        left = min(self.past_frames, t - q - right)
        plan = []
        start, keep_from = 0, 0
        while keep_from < n:
            keep_to = n if start + t >= n else start + t - right
            plan.append((start, keep_from, keep_to))
            keep_from = keep_to
            start = max(0, (keep_from - left) // q * q)
        return plan

    def __repr__(self) -> str:
        return (f"LatentModel(arch={self.config.arch!r}, kind={self.kind!r}, n_units={self.n_units}, "
                f"n_bins={self.n_bins}, frames={self.frames}, causal={self.config.causal}, "
                f"path={str(self.path) if self.path else None!r})")
