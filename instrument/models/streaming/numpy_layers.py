"""Numpy per-frame interpreter of an autoencoder's layers (the ``"numpy"`` streaming backend).

:func:`compile_numpy` turns the layers of a dense or causal conv autoencoder into
two lists of per-frame ops (encoder up to the ``latent`` layer, decoder), each with
``step(frame) -> frame`` and ``reset()``, running as preallocated numpy matmuls on the
model's weights: no TensorFlow dispatch per hop, which on 2 CPU cores costs more than
the maths of a small model. Frame layout: dense ``(units,)``; conv ``(F, C)``.
Anything the interpreter does not know raises :class:`UnsupportedLayer`.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from instrument.models.autoencoders import LATENT
from instrument.models.layers.autoencoder import (DilatedBranchBlock, FrequencyBias, FrequencyContext, LatentScale,
                                                  ResidualBlock, SpectroConv2D)
from instrument.models.scales import scale_latent


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
    """:class:`DilatedBranchBlock`: cached branch convs merged by element-wise max."""

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
    """:class:`ResidualBlock`: ``relu(body(x) + x)``."""

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
    """A per-frame function without state."""

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


def _frequency_context(layer: FrequencyContext) -> Callable[[np.ndarray], np.ndarray]:
    """Numpy step of a :class:`FrequencyContext` layer on one ``(F, C)`` frame."""
    pool, hidden, hidden_bias, out, out_bias = (
        np.asarray(w.numpy(), np.float32)
        for w in (layer.pool, layer.hidden, layer.hidden_bias, layer.out, layer.out_bias))

    template = gain = None
    if layer.spectral:
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


def compile_numpy(model: Any, n_bins: int) -> tuple[list, list]:
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
                ops.append(_Stateless(lambda x, s=scale: scale_latent(x, s)))
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
        elif isinstance(layer, FrequencyBias):
            fbias = np.asarray(layer.bias.numpy(), np.float32)  # (F, C)
            ops.append(_Stateless(lambda x, b=fbias: x + b))
        elif isinstance(layer, FrequencyContext):
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
