"""One frame in, one frame out: the latent model at the hop rate.

:class:`StreamingLatentModel` wraps a :class:`~instrument.latent_model.LatentModel`
and picks the cheapest exact mode for it:

* ``"dense"``  -- per-frame model, latency 0.
* ``"cached"`` -- causal conv model without time pooling: RAVE-style cached
  convolution. Each causal conv keeps a preallocated history of its past
  input activations; each push computes only the new frame. Output frame
  ``t`` equals frame ``t`` of an offline causal pass starting from silence
  (``LatentModel.process`` / ``transform``); latency 0.
* ``"window"`` -- any other conv model: a ring of the last ``T`` input frames
  is run through the full window each hop and the frame ``latency_frames``
  before the newest is returned (``latency_frames = min(lookahead, T - 1)``).
  Correct but costs a whole window per hop.

Backends: ``"numpy"`` (default when every layer is supported) runs the
per-frame step as preallocated numpy matmuls on the model's weights -- no
TensorFlow dispatch per hop, which on 2 CPU cores costs more than the maths
of a small model; ``"tf"`` runs a one-frame Keras copy of the model
(:func:`training.models.build_streaming_parts`, caches inside
:class:`~training.layers.CausalPad`) through a fixed-signature ``tf.function``.
Both give the same frames (tested).

Scales (``(n_units,)``) multiply the latent unit axis between encoder and
decoder on every push, so faders act within one hop.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
import threadpoolctl

from instrument.errors import ConfigError
from instrument.latent_model import LatentModel
from training.layers import DilatedBranchBlock, LatentScale, ResidualBlock, SpectroConv2D
from training.models import LATENT, build_streaming_parts, can_stream_cached, reset_streaming

BACKENDS = ("auto", "numpy", "tf")


class UnsupportedLayer(Exception):
    """Internal: a layer the numpy streaming executor cannot run (falls back to TF)."""


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name == "linear":
        return lambda x: x
    if name == "relu":
        return lambda x: np.maximum(x, 0.0, out=x)
    if name == "sigmoid":
        def sigmoid(x: np.ndarray) -> np.ndarray:
            np.negative(x, out=x)
            np.exp(x, out=x)
            x += 1.0
            np.reciprocal(x, out=x)
            return x
        return sigmoid
    if name == "tanh":
        return lambda x: np.tanh(x, out=x)
    raise UnsupportedLayer(f"activation {name!r}")


class _CachedConv:
    """One causal conv, one frame per step, with a ring of pending outputs.

    Each new input frame is unfolded along frequency (``(F, k_f C_in)``) and
    multiplied once by all kernel taps (``@ (k_f C_in, k_t C_out)``); the part
    of time tap ``i`` is added to the output of the frame ``pad_t - i d_t``
    hops later, held in a preallocated ring ``(pad_t + 1, F, C_out)``. The
    output of the current frame is then complete, so the past activations
    are cached as partial sums (same result as caching past inputs).
    ``step((F, C_in)) -> (F, C_out)``.
    """

    def __init__(self, layer: SpectroConv2D, n_freq: int) -> None:
        if not layer.causal:
            raise UnsupportedLayer("non-causal conv")
        conv = layer.conv
        kernel = np.asarray(conv.kernel.numpy(), np.float32)  # (k_t, k_f, C_in, C_out)
        kt, kf, cin, cout = kernel.shape
        dt, df = layer.dilation
        self.kt, self.dt = kt, dt
        self.pad_t = (kt - 1) * dt
        self.pad_f = (kf - 1) * df // 2
        self.n_freq = n_freq
        self.cout = cout
        self.weight = np.ascontiguousarray(kernel.transpose(1, 2, 0, 3).reshape(kf * cin, kt * cout))
        self.bias = (np.zeros(cout, np.float32) if conv.bias is None
                     else np.asarray(conv.bias.numpy(), np.float32))
        self._f_idx = np.arange(n_freq)[:, None] + np.arange(kf)[None, :] * df
        self._padded = np.zeros((n_freq + 2 * self.pad_f, cin), np.float32)
        self._ring = np.zeros((self.pad_t + 1, n_freq, cout), np.float32)
        self._slots = [(self.pad_t - i * dt) for i in range(kt)]
        self._pos = 0
        self.out_channels = cout
        self._act = _activation(layer.activation)

    def reset(self) -> None:
        self._ring[:] = 0.0
        self._pos = 0

    def step(self, x: np.ndarray) -> np.ndarray:
        f = self.n_freq
        self._padded[self.pad_f:self.pad_f + f] = x
        cols = self._padded[self._f_idx].reshape(f, -1)
        prod = (cols @ self.weight).reshape(f, self.kt, self.cout)
        n = self.pad_t + 1
        pos = self._pos
        for i, ahead in enumerate(self._slots):
            self._ring[(pos + ahead) % n] += prod[:, i]
        out = self._ring[pos] + self.bias
        self._ring[pos] = 0.0
        self._pos = (pos + 1) % n
        return self._act(out)


class _Branches:
    def __init__(self, layer: DilatedBranchBlock, n_freq: int) -> None:
        self.convs = [_CachedConv(c, n_freq) for c in layer.convs]
        self.out_channels = self.convs[0].out_channels

    def reset(self) -> None:
        for c in self.convs:
            c.reset()

    def step(self, x: np.ndarray) -> np.ndarray:
        y = self.convs[0].step(x)
        for conv in self.convs[1:]:
            np.maximum(y, conv.step(x), out=y)
        return y


class _Residual:
    def __init__(self, layer: ResidualBlock, n_freq: int) -> None:
        body = layer.body
        self.body = (_Branches(body, n_freq) if isinstance(body, DilatedBranchBlock)
                     else _CachedConv(body, n_freq))
        self.out_channels = self.body.out_channels

    def reset(self) -> None:
        self.body.reset()

    def step(self, x: np.ndarray) -> np.ndarray:
        y = self.body.step(x)
        y += x
        return np.maximum(y, 0.0, out=y)


class _Stateless:
    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.fn = fn

    def reset(self) -> None:
        pass

    def step(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)


class _FreqPad:
    """Zero-pad the frequency axis of a ``(F, C)`` frame into a preallocated buffer."""

    def __init__(self, before: int, after: int, n_freq: int) -> None:
        self.before = before
        self.n_freq = n_freq
        self._buffer = np.zeros((before + n_freq + after, 1), np.float32)

    def reset(self) -> None:
        pass

    def step(self, x: np.ndarray) -> np.ndarray:
        if self._buffer.shape[1] != x.shape[1]:
            self._buffer = np.zeros((self._buffer.shape[0], x.shape[1]), np.float32)
        self._buffer[self.before:self.before + self.n_freq] = x
        return self._buffer


def _compile_numpy(model: Any, n_bins: int) -> tuple[list, list]:
    """Numpy per-frame ops for the encoder (up to ``latent``) and the decoder.

    Frame layout: dense ``(units,)``; conv ``(F, C)``. Raises
    :class:`UnsupportedLayer` for anything the executor does not know.
    """
    enc: list = []
    dec: list = []
    ops = enc
    n_freq = n_bins
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, (keras.layers.GaussianNoise, keras.layers.Dropout)):
            continue
        if isinstance(layer, LatentScale):
            scale = np.asarray(layer.scale.numpy(), np.float32)
            if not np.all(scale == 1.0):
                ops.append(_Stateless(lambda x, s=scale: x * s))
            if layer.name == LATENT:
                ops = dec
            continue
        if isinstance(layer, keras.layers.Reshape):
            shape = tuple(layer.target_shape)
            if shape == (-1, n_bins, 1):
                ops.append(_Stateless(lambda x: x.reshape(-1, 1)))
            elif shape == (-1, n_bins):
                ops.append(_Stateless(lambda x: x.reshape(-1)))
            else:
                raise UnsupportedLayer(f"reshape {shape}")
        elif isinstance(layer, keras.layers.ZeroPadding2D):
            (t0, t1), (f0, f1) = layer.padding
            if t0 or t1:
                raise UnsupportedLayer("time padding")
            ops.append(_FreqPad(f0, f1, n_freq))
            n_freq += f0 + f1
        elif isinstance(layer, keras.layers.Cropping2D):
            (t0, t1), (f0, f1) = layer.cropping
            if t0 or t1:
                raise UnsupportedLayer("time cropping")
            ops.append(_Stateless(lambda x, a=f0, b=f1: x[a:x.shape[0] - b]))
            n_freq -= f0 + f1
        elif isinstance(layer, keras.layers.MaxPooling2D):
            pt, pf = layer.pool_size
            if pt != 1 or tuple(layer.strides) != (pt, pf) or layer.padding != "valid":
                raise UnsupportedLayer("time pooling")
            out_f = n_freq // pf
            ops.append(_Stateless(lambda x, p=pf, o=out_f:
                                  x[:o * p].reshape(o, p, -1).max(axis=1)))
            n_freq = out_f
        elif isinstance(layer, keras.layers.UpSampling2D):
            st, sf = layer.size
            if st != 1 or layer.interpolation != "nearest":
                raise UnsupportedLayer("time up-sampling")
            ops.append(_Stateless(lambda x, p=sf: np.repeat(x, p, axis=0)))
            n_freq *= sf
        elif isinstance(layer, SpectroConv2D):
            ops.append(_CachedConv(layer, n_freq))
        elif isinstance(layer, DilatedBranchBlock):
            ops.append(_Branches(layer, n_freq))
        elif isinstance(layer, ResidualBlock):
            ops.append(_Residual(layer, n_freq))
        elif isinstance(layer, keras.layers.Dense):
            w = np.asarray(layer.kernel.numpy(), np.float32)
            b = (np.zeros(w.shape[1], np.float32) if layer.bias is None
                 else np.asarray(layer.bias.numpy(), np.float32))
            act = _activation(layer.get_config()["activation"])
            ops.append(_Stateless(lambda x, w=w, b=b, act=act: act(x @ w + b)))
        else:
            raise UnsupportedLayer(type(layer).__name__)
    if ops is not dec:
        raise UnsupportedLayer("no latent layer")
    return enc, dec


class StreamingLatentModel:
    """Hop-rate inference with explicit preallocated state.

    Args:
        latent_model: the loaded model.
        backend: ``"auto"`` (numpy when possible), ``"numpy"`` or ``"tf"``.
        blas_threads: with the numpy backend, limit BLAS to this many threads
            (process-wide, via threadpoolctl). Per-frame matmuls are tiny:
            on 2 busy cores a multi-threaded BLAS costs 5-10x more CPU than one
            thread. None leaves the BLAS setting alone.
    Attributes:
        mode: ``"dense"``, ``"cached"`` or ``"window"``.
        backend: ``"numpy"`` or ``"tf"`` (window mode is always ``"tf"``).
        latency_frames: output frame returned by a push corresponds to the
            input frame pushed ``latency_frames`` hops earlier.
        n_bins, n_units: frame and scale vector sizes.
        latent_frame_shape: one latent frame, conv ``(F', n_units)``, dense ``(n_units,)``.
        latent_frame: the unscaled latent frame of the last push (window
            mode: the latent frame aligned with the returned output frame).
    """

    def __init__(self, latent_model: LatentModel, backend: str = "auto",
                 blas_threads: int | None = 1) -> None:
        if not isinstance(latent_model, LatentModel):
            raise ConfigError(f"expected a LatentModel, got {type(latent_model).__name__}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.latent_model = latent_model
        config = latent_model.config
        self.config = config
        self.n_bins = latent_model.n_bins
        self.n_units = latent_model.n_units
        self._norm = latent_model.norm_stats
        self._out = np.zeros(self.n_bins, np.float32)
        self._frame = np.zeros(self.n_bins, np.float32)
        self._scales = np.ones(self.n_units, np.float32)
        self.latent_frame_shape = tuple(int(d) for d in latent_model.latent_frame_shape)
        self.latent_frame = np.zeros(self.latent_frame_shape, np.float32)
        if config.arch == "dense":
            self.mode = "dense"
        elif can_stream_cached(config):
            self.mode = "cached"
        else:
            self.mode = "window"
        self.latency_frames = 0
        self._enc_ops: list = []
        self._dec_ops: list = []
        self.backend = "tf"
        if self.mode != "window" and backend in ("auto", "numpy"):
            try:
                self._enc_ops, self._dec_ops = _compile_numpy(latent_model.model, self.n_bins)
                self.backend = "numpy"
            except UnsupportedLayer as exc:
                if backend == "numpy":
                    raise ConfigError(f"numpy streaming cannot run this model: {exc}") from exc
        elif backend == "numpy":
            raise ConfigError("numpy streaming needs a dense or causal conv model without time pooling")
        if self.backend == "tf":
            self._build_tf()
        elif blas_threads is not None:
            threadpoolctl.threadpool_limits(limits=int(blas_threads), user_api="blas")
        self.reset()

    def _build_tf(self) -> None:
        s_spec = tf.TensorSpec((self.n_units,), tf.float32)
        z_spec = tf.TensorSpec(self.latent_frame_shape, tf.float32)
        lm = self.latent_model
        if self.mode == "cached":
            self._encoder, self._decoder = build_streaming_parts(self.config, trained=lm.model)
        else:
            self._encoder, self._decoder = lm.encoder, lm.decoder
        if self.mode == "dense":
            self._x = np.zeros((1, self.n_bins), np.float32)
        elif self.mode == "cached":
            self._x = np.zeros((1, 1, self.n_bins), np.float32)
        else:
            t = lm.frames
            self.latency_frames = min(lm.lookahead_frames, t - 1)
            self._x = np.zeros((1, t, self.n_bins), np.float32)
            self._index = t - 1 - self.latency_frames
            self._latent_frames = int(lm.latent_shape[0])
            self._latent_index = self._index // (t // self._latent_frames)
        self._step = tf.function(self._step_graph, reduce_retracing=True, input_signature=[
            tf.TensorSpec(self._x.shape, tf.float32), s_spec])
        self._decode = tf.function(self._decode_graph, reduce_retracing=True,
                                   input_signature=[z_spec, s_spec])
        self._step(self._x, self._scales)  # trace + warm up
        self._decode(self.latent_frame, self._scales)

    # ------------------------------------------------------------------ graphs
    def _step_graph(self, x: tf.Tensor, scales: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        z = self._encoder(x, training=False)
        y = self._decoder(z * scales, training=False)
        if self.mode == "dense":
            return y[0], z[0]
        if self.mode == "cached":
            return y[0, 0], z[0, 0]
        return y[0, self._index], z[0, self._latent_index]

    def _decode_graph(self, z: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        scaled = z * scales
        if self.mode == "dense":
            return self._decoder(scaled[None], training=False)[0]
        if self.mode == "cached":
            return self._decoder(scaled[None, None], training=False)[0, 0]
        window = tf.repeat(scaled[None, None], self._latent_frames, axis=1)
        return self._decoder(window, training=False)[0, self._index]

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        """Forget the past (silence): zero caches / ring."""
        for op in self._enc_ops + self._dec_ops:
            op.reset()
        if self.backend != "tf":
            return
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
        x = self._frame
        if self._norm is not None:
            np.subtract(frame, self._norm.mean, out=x)
            x /= self._norm.std
        else:
            x[:] = frame
        scales = np.asarray(scales, np.float32)
        if self.backend == "numpy":
            z = x
            for op in self._enc_ops:
                z = op.step(z)
            self.latent_frame[...] = z
            y = z * scales
            for op in self._dec_ops:
                y = op.step(y)
        else:
            if self.mode == "window":
                self._x[0, :-1] = self._x[0, 1:]
                self._x[0, -1] = x
            else:
                self._x.reshape(self.n_bins)[:] = x
            y, z = self._step(self._x, scales)
            self.latent_frame[...] = z.numpy()
            y = y.numpy()
        return self._finish(y)

    def push_latent(self, latent: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Decode one latent frame (no-input mode): ``latent * scales`` -> ``(n_bins,)``.

        ``latent`` has shape :attr:`latent_frame_shape` (e.g. ``mean_latent``).
        Cached decoders advance one hop, like :meth:`push`; window mode decodes
        the frame repeated over the window. Returns the preallocated output buffer.
        """
        latent = np.asarray(latent, np.float32)
        if latent.shape != self.latent_frame_shape:
            raise ConfigError(f"latent frame must have shape {self.latent_frame_shape}, got {latent.shape}")
        if scales is None:
            scales = self._scales
        elif np.shape(scales) != (self.n_units,):
            raise ConfigError(f"scales must have shape ({self.n_units},), got {np.shape(scales)}")
        scales = np.asarray(scales, np.float32)
        if self.backend == "numpy":
            y = latent * scales
            for op in self._dec_ops:
                y = op.step(y)
        else:
            y = self._decode(latent, scales).numpy()
        return self._finish(y)

    def _finish(self, y: np.ndarray) -> np.ndarray:
        if self._norm is not None:
            np.multiply(y, self._norm.std, out=self._out)
            self._out += self._norm.mean
        else:
            self._out[:] = y
        return self._out
