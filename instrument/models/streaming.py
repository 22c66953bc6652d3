"""One frame in, one frame out: the latent model at the hop rate.

:class:`StreamingLatentModel` wraps a :class:`~instrument.models.latent_model.LatentModel`
and picks the cheapest exact mode for it:

* ``"dense"``  -- per-frame model, latency 0.
* ``"cached"`` -- causal conv model without time pooling: RAVE-style cached
  convolution. Each causal conv keeps a preallocated history of its past
  input activations; each push computes only the new frame. Output frame
  ``t`` equals frame ``t`` of an offline causal pass starting from silence
  (``LatentModel.process`` / ``transform``); latency 0.
* ``"block"`` -- any other conv model (non-causal, or with time pooling):
  every ``B = block_frames`` hops the model runs once on a window of
  ``W = left + B + lookahead`` input frames (``left >= past_frames``; ``W``
  and ``B`` multiples of the time-pooling factor) and the ``B`` output frames
  whose receptive field the window covers are emitted one per hop afterwards.
  Cost per hop is about ``W / B`` frames of the model instead of a whole
  window per hop. The call is bursty (one every ``B`` hops): with
  ``compute_hops = K > 0`` (default ``ceil(B / 2)``) it runs on a helper
  thread while the previous block is emitted, and its first frame comes out
  ``K`` pushes after the push that completed the block; with ``K = 0`` that
  push runs the call itself (the caller's output queue must then hold more
  audio than one call takes). ``latency_frames = lookahead + B - 1 + K``.
  Output frames whose receptive field lies after the reset equal
  :meth:`LatentModel.transform` (tested), for every ``K``. Faders (scales)
  are read once per block. Defaults: :func:`default_block_frames`,
  :func:`default_compute_hops`.

Backends: ``"numpy"`` (default when every layer is supported) runs the
per-frame step as preallocated numpy matmuls on the model's weights -- no
TensorFlow dispatch per hop, which on 2 CPU cores costs more than the maths
of a small model; ``"tf"`` runs a one-frame Keras copy of the model
(:func:`instrument.models.autoencoders.build_streaming_parts`, caches inside
:class:`~instrument.models.layers.autoencoder.CausalPad`) through a fixed-signature ``tf.function``.
Both give the same frames (tested).

Scales (``(n_units,)``) multiply the latent unit axis between encoder and
decoder on every push, so faders act within one hop (block mode: within one block).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
import threadpoolctl

from instrument.errors import ConfigError, LatentError
from instrument.models.latent_model import LatentModel
from instrument.models.layers import autoencoder as _layers
from instrument.models.layers.autoencoder import DilatedBranchBlock, LatentScale, ResidualBlock, SpectroConv2D
from instrument.models.autoencoders import (LATENT, build_autoencoder_parts, build_streaming_parts, can_stream_cached,
                             reset_streaming, transfer_weights)

BACKENDS = ("auto", "numpy", "tf")
MODES = ("dense", "cached", "block")
#: per-frame frequency layers of newer models (absent in older code)
_FrequencyBias = getattr(_layers, "FrequencyBias", None)
_FrequencyContext = getattr(_layers, "FrequencyContext", None)


def time_pool_factor(latent_model: LatentModel) -> int:
    """Frames per latent frame: ``pool_time ** n_pools`` for pooling archs, else 1."""
    config = latent_model.config
    if not config.is_conv:
        return 1
    return max(1, int(latent_model.frames) // max(1, int(latent_model.latent_shape[0])))


def default_block_frames(latent_model: LatentModel) -> int:
    """Default block length ``B`` (frames) for block-mode streaming.

    ``B`` = the model's receptive field ``R`` (past + 1 + look-ahead frames),
    capped so the block window ``W = B + past + look-ahead`` stays within the
    window ``T`` the model was trained on (when that leaves at least one frame),
    rounded up to a multiple of the time-pooling factor. With ``B = R`` each
    block computes about ``2 B`` frames for ``B`` outputs, so cost per hop is
    about twice one frame of the model plus ``1 / R`` of the per-call overhead,
    while latency grows by ``R - 1`` frames only.
    """
    q = time_pool_factor(latent_model)
    past, ahead = int(latent_model.past_frames), int(latent_model.lookahead_frames)
    block = int(latent_model.receptive_field_frames)
    room = int(latent_model.frames) - past - ahead
    if room >= 1:
        block = min(block, room)
    return max(q, -(-block // q) * q)


def default_compute_hops(block_frames: int) -> int:
    """Default ``K``: half a block (rounded up), so a block's model call may take
    half a block period (10 hops = 116 ms for ``B = 19`` at hop 256 / 22050 Hz) on the helper
    thread before the processing thread has to wait for it; latency grows by ``K``."""
    return (int(block_frames) + 1) // 2


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


def _frequency_context(layer: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Numpy step of a ``FrequencyContext`` layer on one ``(F, C)`` frame."""
    pool, hidden, hidden_bias, out, out_bias = (
        np.asarray(w.numpy(), np.float32)
        for w in (layer.pool, layer.hidden, layer.hidden_bias, layer.out, layer.out_bias))

    template = gain = None
    if getattr(layer, "spectral", False):
        template = np.asarray(layer.template.numpy(), np.float32)  # (units, F)
        gain = np.asarray(layer.template_gain.numpy(), np.float32)  # (C,)

    def step(x: np.ndarray) -> np.ndarray:
        summary = np.einsum("fc,fc->c", x, pool)
        h = np.maximum(summary @ hidden + hidden_bias, 0.0)
        y = x + (h @ out + out_bias)
        if template is not None:
            y = y + np.outer(h @ template, gain)
        return y

    return step


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
        elif _FrequencyBias is not None and isinstance(layer, _FrequencyBias):
            fbias = np.asarray(layer.bias.numpy(), np.float32)  # (F, C)
            ops.append(_Stateless(lambda x, b=fbias: x + b))
        elif _FrequencyContext is not None and isinstance(layer, _FrequencyContext):
            ops.append(_Stateless(_frequency_context(layer)))
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
        block_frames: block mode only (models that cannot stream frame by
            frame): frames ``B`` computed per model call; None picks
            :func:`default_block_frames`. Must be a multiple of the time-pooling
            factor. Ignored by dense and cached models.
        compute_hops: block mode only: ``K`` in ``0..B``. 0 runs the model call
            inside the push that completes a block (that push then takes the
            whole call; the caller's output queue must cover it). ``K > 0`` runs
            it on a helper thread while the previous block is emitted and waits
            for it ``K`` pushes later, so pushes stay short as long as a call
            takes less than ``K`` hops; latency grows by ``K``. None:
            :func:`default_compute_hops`. The helper thread is created by the
            first push that starts a block and inherits that thread's
            scheduling (a real-time processing thread keeps its model calls
            real-time: measured, fewer underflows than a normal-priority helper).
    Attributes:
        mode: ``"dense"``, ``"cached"`` or ``"block"``.
        backend: ``"numpy"`` or ``"tf"`` (block mode is always ``"tf"``).
        latency_frames: output frame returned by a push corresponds to the
            input frame pushed ``latency_frames`` hops earlier.
        block_frames: ``B`` (1 for dense and cached models).
        compute_hops: ``K`` (0 for dense and cached models).
        window_frames: ``W``, the frames one block-mode model call sees (1 otherwise).
        n_bins, n_units: frame and scale vector sizes.
        latent_frame_shape: one latent frame, conv ``(F', n_units)``, dense ``(n_units,)``.
        latent_frame: the unscaled latent frame of the last push (block
            mode: the latent frame aligned with the returned output frame).
    """

    def __init__(self, latent_model: LatentModel, backend: str = "auto",
                 blas_threads: int | None = 1, block_frames: int | None = None,
                 compute_hops: int | None = None) -> None:
        if not isinstance(latent_model, LatentModel):
            raise ConfigError(f"expected a LatentModel, got {type(latent_model).__name__}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if block_frames is not None and (isinstance(block_frames, bool)
                                         or not isinstance(block_frames, (int, np.integer))
                                         or block_frames < 1):
            raise ConfigError(f"block_frames must be a positive integer, got {block_frames!r}")
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
            self.mode = "block"
        self.latency_frames = 0
        self.block_frames = 1
        self.compute_hops = 0
        self.window_frames = 1
        self._enc_ops: list = []
        self._dec_ops: list = []
        self.backend = "tf"
        if self.mode != "block" and backend in ("auto", "numpy"):
            try:
                self._enc_ops, self._dec_ops = _compile_numpy(latent_model.model, self.n_bins)
                self.backend = "numpy"
            except UnsupportedLayer as exc:
                if backend == "numpy":
                    raise ConfigError(f"numpy streaming cannot run this model: {exc}") from exc
        elif backend == "numpy":
            raise ConfigError("numpy streaming needs a dense or causal conv model without time pooling")
        if self.mode == "block":
            self._plan_blocks(block_frames, compute_hops)
        if self.backend == "tf":
            self._build_tf()
        elif blas_threads is not None:
            threadpoolctl.threadpool_limits(limits=int(blas_threads), user_api="blas")
        self.reset()

    # ------------------------------------------------------------------ block plan
    def _plan_blocks(self, block_frames: int | None, compute_hops: int | None) -> None:
        """Block length ``B``, window ``W``, the rows of a block inside the window, double buffers."""
        lm = self.latent_model
        q = time_pool_factor(lm)
        block = default_block_frames(lm) if block_frames is None else int(block_frames)
        if block % q:
            raise ConfigError(f"block_frames {block} must be a multiple of the model's time pooling {q}")
        spread = default_compute_hops(block) if compute_hops is None else int(compute_hops)
        if not 0 <= spread <= block:
            raise ConfigError(f"compute_hops must be in 0..block_frames ({block}), got {compute_hops!r}")
        ahead = int(lm.lookahead_frames)
        window = -(-(block + int(lm.past_frames) + ahead) // q) * q
        self.block_frames = block
        self.compute_hops = spread
        self.window_frames = window
        self.latency_frames = ahead + block - 1 + spread
        self._pool = q
        self._first_row = window - ahead - block  # window row of the block's first output frame
        self._latent_first = self._first_row // q
        self._latent_rows = (self._first_row + block - 1) // q - self._latent_first + 1
        self._latent_window = window // q
        self._count = 0
        # the block being emitted and the next one (computed from the job inputs), swapped by reference
        self._block_out = np.zeros((block, self.n_bins), np.float32)
        self._block_latent = np.zeros((self._latent_rows,) + self.latent_frame_shape, np.float32)
        self._block_held = False  # decoded from a held latent (no input): no latent frames to show
        self._next_out = np.zeros_like(self._block_out)
        self._next_latent = np.zeros_like(self._block_latent)
        self._next_held = False
        self._job_x = np.zeros((1, window, self.n_bins), np.float32)
        self._job_scales = np.ones(self.n_units, np.float32)
        self._job_latent = np.zeros(self.latent_frame_shape, np.float32)
        self._job_held = False
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future | None = None
        self._silence = np.zeros(self.n_bins, np.float32)
        if self._norm is not None:
            self._silence[:] = self._norm.normalise(np.zeros(self.n_bins, np.float32))

    def _block_parts(self) -> tuple[Any, Any]:
        """Encoder/decoder taking ``W`` frames (the trained ones when ``W == T``)."""
        lm = self.latent_model
        if self.window_frames == lm.frames:
            return lm.encoder, lm.decoder
        config = dataclasses.replace(self.config, frames=self.window_frames)
        try:
            model, encoder, decoder = build_autoencoder_parts(config)
            transfer_weights(lm.model, model)
        except (LatentError, ValueError) as exc:
            raise ConfigError(f"cannot build a {self.window_frames}-frame copy of model "
                              f"{lm.path or config.arch} for block streaming: {exc}") from exc
        return encoder, decoder

    def _build_tf(self) -> None:
        s_spec = tf.TensorSpec((self.n_units,), tf.float32)
        z_spec = tf.TensorSpec(self.latent_frame_shape, tf.float32)
        lm = self.latent_model
        if self.mode == "cached":
            self._encoder, self._decoder = build_streaming_parts(self.config, trained=lm.model)
        elif self.mode == "block":
            self._encoder, self._decoder = self._block_parts()
        else:
            self._encoder, self._decoder = lm.encoder, lm.decoder
        if self.mode == "dense":
            self._x = np.zeros((1, self.n_bins), np.float32)
        elif self.mode == "cached":
            self._x = np.zeros((1, 1, self.n_bins), np.float32)
        else:
            self._x = np.zeros((1, self.window_frames, self.n_bins), np.float32)
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
        first, block = self._first_row, self.block_frames
        return (y[0, first:first + block],
                z[0, self._latent_first:self._latent_first + self._latent_rows])

    def _decode_graph(self, z: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
        scaled = z * scales
        if self.mode == "dense":
            return self._decoder(scaled[None], training=False)[0]
        if self.mode == "cached":
            return self._decoder(scaled[None, None], training=False)[0, 0]
        window = tf.repeat(scaled[None, None], self._latent_window, axis=1)
        return self._decoder(window, training=False)[0, self._first_row]

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        """Forget the past (silence): zero caches / window.

        Block mode also recomputes the block of a silent window, which the
        pushes before the first full block return.
        """
        for op in self._enc_ops + self._dec_ops:
            op.reset()
        if self.backend != "tf":
            return
        self._x[:] = 0.0
        if self.mode == "cached":
            reset_streaming(self._encoder, self._decoder)
        if self.mode == "block":
            self._wait_job()
            self._x[0] = self._silence
            self._count = 0
            self._launch(self._scales, None, inline=True)
            self._swap()

    # ------------------------------------------------------------------ block jobs
    def _launch(self, scales: np.ndarray, held: np.ndarray | None, inline: bool = False) -> None:
        """Start the block of the current window (a copy), then slide the window by ``B``.

        ``held``: decode this latent frame repeated over the window instead (no input).
        Runs inline, or on the helper thread when ``compute_hops > 0``.
        """
        self._job_x[:] = self._x
        self._job_scales[:] = scales
        self._job_held = held is not None
        if held is not None:
            self._job_latent[:] = held
        b = self.block_frames
        self._x[0, :-b] = self._job_x[0, b:]
        if inline or self.compute_hops == 0:
            self._compute_job()
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latent-block")
        self._future = self._executor.submit(self._compute_job)

    def _compute_job(self) -> None:
        """One model call on the job inputs into the next-block buffers."""
        if self._job_held:
            self._next_out[:] = self._decode(self._job_latent, self._job_scales).numpy()
        else:
            y, z = self._step(self._job_x, self._job_scales)
            self._next_out[:] = y.numpy()
            self._next_latent[:] = z.numpy()
        self._next_held = self._job_held

    def _wait_job(self) -> None:
        if self._future is not None:
            future, self._future = self._future, None
            future.result()  # re-raises an error of the model call here

    def _swap(self) -> None:
        """The next block (waited for) becomes the emitted one."""
        self._wait_job()
        self._block_out, self._next_out = self._next_out, self._block_out
        self._block_latent, self._next_latent = self._next_latent, self._block_latent
        self._block_held = self._next_held

    def _validated(self, scales: np.ndarray | None) -> np.ndarray:
        if scales is None:
            return self._scales
        if np.shape(scales) != (self.n_units,):
            raise ConfigError(f"scales must have shape ({self.n_units},), got {np.shape(scales)}")
        return np.asarray(scales, np.float32)

    def push(self, frame: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Push one log1p magnitude frame ``(n_bins,)``; returns one ``(n_bins,)`` frame.

        ``scales`` ``(n_units,)`` multiply the latent units (default ones; block
        mode reads them on the push that completes a block).
        The returned array is a preallocated buffer overwritten by the next push.
        """
        frame = np.asarray(frame, np.float32)
        if frame.shape != (self.n_bins,):
            raise ConfigError(f"push expects a frame of shape ({self.n_bins},), got {frame.shape}")
        scales = self._validated(scales)
        x = self._frame
        if self._norm is not None:
            np.subtract(frame, self._norm.mean, out=x)
            x /= self._norm.std
        else:
            x[:] = frame
        if self.mode == "block":
            return self._push_block(x, scales, held=None)
        if self.backend == "numpy":
            z = x
            for op in self._enc_ops:
                z = op.step(z)
            self.latent_frame[...] = z
            y = z * scales
            for op in self._dec_ops:
                y = op.step(y)
        else:
            self._x.reshape(self.n_bins)[:] = x
            y, z = self._step(self._x, scales)
            self.latent_frame[...] = z.numpy()
            y = y.numpy()
        return self._finish(y)

    def _push_block(self, x: np.ndarray, scales: np.ndarray, held: np.ndarray | None) -> np.ndarray:
        """Block mode: store the (normalised) frame, start/collect blocks on their hops, emit a row.

        A block starts on the push that completes its ``B`` frames (count
        ``c % B == 0``) and is emitted from ``compute_hops`` pushes later.
        """
        b, k = self.block_frames, self.compute_hops
        self._x[0, self.window_frames - b + self._count % b] = x
        self._count += 1
        c = self._count
        if k == 0:
            if c % b == 0:
                self._launch(scales, held)
                self._swap()
        else:
            if c > k and (c - k) % b == 0:
                self._swap()
            if c % b == 0:
                self._launch(scales, held)
        row = (c - k) % b
        if not self._block_held:
            self.latent_frame[...] = self._block_latent[(self._first_row + row) // self._pool
                                                        - self._latent_first]
        return self._finish(self._block_out[row])

    def push_latent(self, latent: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Decode one latent frame (no-input mode): ``latent * scales`` -> ``(n_bins,)``.

        ``latent`` has shape :attr:`latent_frame_shape` (e.g. ``mean_latent``).
        Cached decoders advance one hop, like :meth:`push`; block mode decodes
        the frame repeated over the window once per block (the input window
        meanwhile receives silence). Returns the preallocated output buffer.
        """
        latent = np.asarray(latent, np.float32)
        if latent.shape != self.latent_frame_shape:
            raise ConfigError(f"latent frame must have shape {self.latent_frame_shape}, got {latent.shape}")
        scales = self._validated(scales)
        if self.mode == "block":
            return self._push_block(self._silence, scales, held=latent)
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
