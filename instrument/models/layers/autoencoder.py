"""Registered Keras layers and regularisers of the model zoo.

Conv layout (the choice made for every conv model): a spectrogram window is
an image ``(batch, time, freq, channels)`` -- input ``(batch, T, n_bins, 1)``,
time x frequency x 1 channel -- convolved with 2-D kernels, as in Paterna's
thesis (3x3 kernels, "same" padding, no pooling in the shallow model). This
keeps the conv models faithful to the seed; the live model stays cheap by
using few channels (e.g. 16) and frequency-only pooling, and by streaming
one frame at a time with cached convolutions (:class:`CausalPad` with
``streaming=True``), so a hop costs one output row per layer.

Paterna's tensors are ``freq x time``; his dilations ``(2, 1)`` and ``(4, 2)``
are therefore written here as ``(time, freq)`` dilations ``(1, 2)`` and ``(2, 4)``.

Causal convolution: :class:`CausalPad` zero-pads the time axis on the past
side only (and the frequency axis symmetrically), followed by a ``valid``
convolution, so output frame ``t`` depends on input frames ``<= t``. In
streaming mode the zeros are replaced by a cache of the previous frames
(RAVE-style cached convolution): pushing one frame yields exactly the frame an
offline causal pass over the whole signal would produce.

All layers validate their arguments in ``__init__``, create weights in
``build`` and return every argument from ``get_config``. No Lambda layers.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from instrument.errors import ConfigError

PACKAGE = "latent"
#: Paterna's two parallel dilated branches, ``(k_time, k_freq, d_time, d_freq)``.
PATERNA_BRANCHES: tuple[tuple[int, int, int, int], ...] = ((3, 3, 1, 2), (5, 5, 2, 4))


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _non_negative(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ConfigError(f"{name} must be a positive int or a (time, freq) pair, got {value!r}")
    return int(value[0]), int(value[1])


def _kernel_regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    if l1 == 0 and l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


@keras.saving.register_keras_serializable(package=PACKAGE)
class KLSparsityRegularizer(keras.regularizers.Regularizer):
    """KL sparsity penalty on activations (Paterna eq. 2.8, Sarroff & Casey).

    ``beta * sum_j KL(rho || rho_hat_j)`` where ``rho_hat_j`` is the mean
    activation of unit ``j`` (last axis) over the batch and all other axes,
    clipped to ``(eps, 1 - eps)`` so ReLU activations above 1 stay finite.

    Args:
        rho: target mean activation, in (0, 1) (Paterna/Sarroff: 0.01).
        beta: weight of the penalty, >= 0 (Paterna: 0.5).
    """

    def __init__(self, rho: float = 0.01, beta: float = 0.5) -> None:
        if not isinstance(rho, (int, float)) or isinstance(rho, bool) or not 0.0 < rho < 1.0:
            raise ConfigError(f"sparsity rho must be in (0, 1), got {rho!r}")
        self.rho = float(rho)
        self.beta = _non_negative("sparsity beta", beta)

    def __call__(self, x: Any) -> Any:
        eps = 1e-6
        axes = tuple(range(len(x.shape) - 1))
        rho_hat = ops.clip(ops.mean(ops.cast(x, "float32"), axis=axes), eps, 1.0 - eps)
        rho = self.rho
        kl = rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat))
        return self.beta * ops.sum(kl)

    def get_config(self) -> dict[str, Any]:
        return {"rho": self.rho, "beta": self.beta}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CausalPad(keras.layers.Layer):
    """Pad ``(batch, time, freq, channels)``: time on the past side only, freq on both.

    Offline: zeros. ``streaming=True`` (batch 1): the past frames come from a
    non-trainable cache of the last ``time_pad`` input frames, updated on each
    call, so a ``valid`` conv after it computes only the new frames.

    Args:
        time_pad: frames prepended on the past side (``(k_time - 1) * d_time``).
        freq_pad: bins added on each side of the frequency axis.
        streaming: use and update the cache instead of zeros.
    Input ``(batch, t, F, C)`` -> output ``(batch, t + time_pad, F + 2 freq_pad, C)``
    (streaming: ``t`` new frames in, ``t + time_pad`` out).
    """

    def __init__(self, time_pad: int, freq_pad: int = 0, streaming: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.time_pad = _positive_int("time_pad", time_pad, minimum=0)
        self.freq_pad = _positive_int("freq_pad", freq_pad, minimum=0)
        if not isinstance(streaming, bool):
            raise ConfigError(f"streaming must be a bool, got {streaming!r}")
        self.streaming = streaming
        self.cache = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        if len(input_shape) != 4:
            raise ConfigError(f"CausalPad expects (batch, time, freq, channels), got {tuple(input_shape)}")
        if self.streaming and self.time_pad > 0:
            if input_shape[2] is None or input_shape[3] is None:
                raise ConfigError("streaming CausalPad needs known freq and channel sizes")
            self.cache = self.add_weight(
                name="cache", shape=(1, self.time_pad, int(input_shape[2]), int(input_shape[3])),
                initializer="zeros", trainable=False)

    def call(self, x: Any) -> Any:
        if self.streaming and self.time_pad > 0:
            joined = ops.concatenate([ops.cast(self.cache, x.dtype), x], axis=1)
            self.cache.assign(joined[:, -self.time_pad:])
            time_pad = 0
        else:
            joined = x
            time_pad = self.time_pad
        if time_pad == 0 and self.freq_pad == 0:
            return joined
        return ops.pad(joined, [[0, 0], [time_pad, 0], [self.freq_pad, self.freq_pad], [0, 0]])

    def reset_cache(self) -> None:
        """Zero the streaming cache (no-op offline)."""
        if self.cache is not None:
            self.cache.assign(ops.zeros(self.cache.shape, dtype=self.cache.dtype))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        b, t, f, c = input_shape
        return (b, None if t is None else t + self.time_pad,
                None if f is None else f + 2 * self.freq_pad, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "time_pad": self.time_pad,
                "freq_pad": self.freq_pad, "streaming": self.streaming}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpectroConv2D(keras.layers.Layer):
    """2-D conv over ``(time, freq)`` with "same" output size, optionally causal in time.

    Non-causal: ``Conv2D(padding="same")`` (Paterna). Causal: :class:`CausalPad`
    (past-only time padding, symmetric frequency padding) + ``valid`` conv.

    Args:
        filters: output channels.
        kernel_size: int or ``(k_time, k_freq)``, odd.
        dilation: int or ``(d_time, d_freq)``.
        activation: Keras activation name (``"relu"``, ``"linear"``, ``"sigmoid"``).
        causal, streaming: see :class:`CausalPad` (streaming requires causal).
        l1, l2: kernel regularisation.
    Input ``(batch, T, F, C_in)`` -> ``(batch, T, F, filters)``.
    """

    def __init__(self, filters: int, kernel_size: int | Sequence[int] = 3,
                 dilation: int | Sequence[int] = 1, activation: str = "relu",
                 causal: bool = False, streaming: bool = False, l1: float = 0.0,
                 l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        if self.kernel_size[0] % 2 == 0 or self.kernel_size[1] % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {self.kernel_size}")
        self.dilation = _pair("dilation", dilation)
        if not isinstance(activation, str):
            raise ConfigError(f"activation must be a name, got {activation!r}")
        keras.activations.get(activation)
        self.activation = activation
        if not isinstance(causal, bool) or not isinstance(streaming, bool):
            raise ConfigError("causal and streaming must be bools")
        if streaming and not causal:
            raise ConfigError("streaming convolution requires causal=True")
        self.causal = causal
        self.streaming = streaming
        self.l1 = _non_negative("l1", l1)
        self.l2 = _non_negative("l2", l2)
        init = "he_normal" if activation == "relu" else "glorot_uniform"
        if causal:
            self.pad = CausalPad((self.kernel_size[0] - 1) * self.dilation[0],
                                 (self.kernel_size[1] - 1) * self.dilation[1] // 2,
                                 streaming=streaming, name="pad")
        else:
            self.pad = None
        self.conv = keras.layers.Conv2D(
            self.filters, self.kernel_size, dilation_rate=self.dilation,
            padding="valid" if causal else "same", activation=activation,
            kernel_initializer=init, kernel_regularizer=_kernel_regularizer(self.l1, self.l2),
            name="conv")

    @property
    def time_past(self) -> int:
        """Past frames one output frame depends on."""
        reach = (self.kernel_size[0] - 1) * self.dilation[0]
        return reach if self.causal else reach // 2

    @property
    def time_future(self) -> int:
        """Future frames one output frame depends on (0 when causal)."""
        return 0 if self.causal else (self.kernel_size[0] - 1) * self.dilation[0] // 2

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        if self.pad is not None:
            self.pad.build(shape)
            shape = self.pad.compute_output_shape(shape)
        self.conv.build(shape)

    def call(self, x: Any) -> Any:
        if self.pad is not None:
            x = self.pad(x)
        return self.conv(x)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        b, t, f, _ = input_shape
        return (b, t, f, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "dilation": list(self.dilation),
                "activation": self.activation, "causal": self.causal,
                "streaming": self.streaming, "l1": self.l1, "l2": self.l2}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DilatedBranchBlock(keras.layers.Layer):
    """Parallel dilated conv branches merged by element-wise max (Paterna Fig. 3.2/3.4).

    Default branches: 3x3 with dilation ``(time 1, freq 2)`` and 5x5 with dilation
    ``(time 2, freq 4)`` (Paterna's ``(2, 1)`` and ``(4, 2)`` in his freq x time layout).

    Args:
        filters: channels of every branch (and of the output).
        branches: sequence of ``(k_time, k_freq, d_time, d_freq)``.
        activation, causal, streaming, l1, l2: as :class:`SpectroConv2D`.
    Input ``(batch, T, F, C_in)`` -> ``(batch, T, F, filters)``.
    """

    def __init__(self, filters: int, branches: Sequence[Sequence[int]] = PATERNA_BRANCHES,
                 activation: str = "relu", causal: bool = False, streaming: bool = False,
                 l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        if not isinstance(branches, (list, tuple)) or not branches:
            raise ConfigError(f"branches must be a non-empty list, got {branches!r}")
        parsed = []
        for spec in branches:
            if not isinstance(spec, (list, tuple)) or len(spec) != 4:
                raise ConfigError(f"each branch must be (k_time, k_freq, d_time, d_freq), got {spec!r}")
            parsed.append(tuple(_positive_int("branch value", int(v) if not isinstance(v, bool) else v)
                                for v in spec))
        self.branches = tuple(parsed)
        self.activation = activation
        self.causal = causal
        self.streaming = streaming
        self.l1 = _non_negative("l1", l1)
        self.l2 = _non_negative("l2", l2)
        self.convs = [
            SpectroConv2D(self.filters, (kt, kf), (dt, df), activation=activation, causal=causal,
                          streaming=streaming, l1=self.l1, l2=self.l2, name=f"branch_{i}")
            for i, (kt, kf, dt, df) in enumerate(self.branches)]

    @property
    def time_past(self) -> int:
        return max(c.time_past for c in self.convs)

    @property
    def time_future(self) -> int:
        return max(c.time_future for c in self.convs)

    def build(self, input_shape: Sequence[int | None]) -> None:
        for conv in self.convs:
            conv.build(tuple(input_shape))

    def call(self, x: Any) -> Any:
        out = self.convs[0](x)
        for conv in self.convs[1:]:
            out = ops.maximum(out, conv(x))
        return out

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        b, t, f, _ = input_shape
        return (b, t, f, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "branches": [list(b) for b in self.branches], "activation": self.activation,
                "causal": self.causal, "streaming": self.streaming, "l1": self.l1, "l2": self.l2}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualBlock(keras.layers.Layer):
    """Identity shortcut added after the non-linearity, then ReLU (Paterna Fig. 3.3/3.4).

    ``out = relu(relu(inner(x)) + x)``; ``inner`` is a plain conv
    (``inner="conv"``) or a :class:`DilatedBranchBlock` (``inner="dilated"``).
    A 1-channel input (the spectrogram) is broadcast over the ``filters``
    channels, as in Paterna's residual model; otherwise input channels must
    equal ``filters``.

    Args:
        filters: channels of the inner conv and of the output.
        inner: ``"conv"`` or ``"dilated"``.
        kernel_size: kernel of the plain inner conv.
        causal, streaming, l1, l2: as :class:`SpectroConv2D`.
    Input ``(batch, T, F, C_in)`` with ``C_in in (1, filters)`` -> ``(batch, T, F, filters)``.
    """

    def __init__(self, filters: int, inner: str = "conv", kernel_size: int = 3,
                 causal: bool = False, streaming: bool = False, l1: float = 0.0,
                 l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        if inner not in ("conv", "dilated"):
            raise ConfigError(f"inner must be 'conv' or 'dilated', got {inner!r}")
        self.inner = inner
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.causal = causal
        self.streaming = streaming
        self.l1 = _non_negative("l1", l1)
        self.l2 = _non_negative("l2", l2)
        if inner == "conv":
            self.body = SpectroConv2D(self.filters, self.kernel_size, activation="relu",
                                      causal=causal, streaming=streaming, l1=self.l1, l2=self.l2,
                                      name="body")
        else:
            self.body = DilatedBranchBlock(self.filters, activation="relu", causal=causal,
                                           streaming=streaming, l1=self.l1, l2=self.l2,
                                           name="body")

    @property
    def time_past(self) -> int:
        return self.body.time_past

    @property
    def time_future(self) -> int:
        return self.body.time_future

    def build(self, input_shape: Sequence[int | None]) -> None:
        channels = input_shape[-1]
        if channels not in (1, self.filters):
            raise ConfigError(
                f"ResidualBlock {self.name}: input has {channels} channels; the identity "
                f"shortcut needs 1 or {self.filters}")
        self.body.build(tuple(input_shape))

    def call(self, x: Any) -> Any:
        return ops.relu(self.body(x) + x)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        b, t, f, _ = input_shape
        return (b, t, f, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "inner": self.inner,
                "kernel_size": self.kernel_size, "causal": self.causal,
                "streaming": self.streaming, "l1": self.l1, "l2": self.l2}


def scale_latent_tensor(z: Any, scales: Any) -> Any:
    """Graph form of :func:`instrument.models.scales.scale_latent` (the numpy reference):
    ``z (..., n_units) * scales (n_units,)``, in ``z``'s dtype."""
    return z * ops.cast(scales, z.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LatentScale(keras.layers.Layer):
    """Multiply the latent units (last axis) by a non-trainable scale vector.

    The vector is all ones after building, so the layer is the identity while
    training; it marks the latent tensor (builders name it ``"latent"``). The
    faders scale the latent outside the model (numpy
    :func:`instrument.models.scales.scale_latent`, or :func:`scale_latent_tensor`
    in graphs). Input/output ``(..., units)``; weight ``scale (units,)``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        units = input_shape[-1]
        if units is None:
            raise ConfigError("LatentScale needs a known last (units) axis")
        self.scale = self.add_weight(name="scale", shape=(int(units),), initializer="ones",
                                     trainable=False)

    def call(self, x: Any) -> Any:
        return scale_latent_tensor(x, self.scale)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return super().get_config()


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrequencyBias(keras.layers.Layer):
    """Add a trainable bias per (frequency bin, channel): frequency-position awareness.

    Convolutions are translation-equivariant along frequency; this per-bin offset
    (zero at initialisation) tells later layers where on the frequency axis they are,
    like a learned coordinate channel. It acts on each frame alone (no time context),
    so causal and streaming models keep their lookahead and caches.

    Input/output ``(batch, T, F, C)`` with known ``F`` and ``C``; weight ``bias (F, C)``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bias = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        if len(input_shape) != 4 or input_shape[2] is None or input_shape[3] is None:
            raise ConfigError(f"FrequencyBias expects (batch, time, freq, channels) with known "
                              f"freq and channels, got {tuple(input_shape)}")
        self.bias = self.add_weight(name="bias", shape=(int(input_shape[2]), int(input_shape[3])),
                                    initializer="zeros", trainable=True)

    def call(self, x: Any) -> Any:
        return x + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return super().get_config()


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrequencyContext(keras.layers.Layer):
    """Whole-frame context for every bin: convolutions only see a few neighbouring bins.

    Per frame: each channel is summarised by a learned weighted sum over frequency
    (weights ``(F, C)``), mixed by ``Dense(units, relu)`` and ``Dense(C)`` (zero-initialised,
    so the layer starts as the identity) and added back to every bin:
    ``out[t, f, c] = x[t, f, c] + D2(relu(D1(sum_f' w[f', c] x[t, f', c])))[c]``.
    It acts on each frame alone (no time context), so causal and streaming models keep
    their lookahead and caches.

    With ``spectral=True`` the hidden units also decode a whole-frame spectral template
    (weights ``(units, F)``, zero-initialised) added to every channel with a per-channel
    gain: ``out[t, f, c] += (relu(...) @ template)[t, f] * gain[c]``. The constant-per-channel
    context cannot put energy where the input has none (e.g. the upper clarinet harmonics
    above a low flute note); the template can, at ``units * F`` multiply-adds per frame.

    Args:
        units: hidden units of the mixing layer.
        spectral: add the whole-frame spectral template.
    Input/output ``(batch, T, F, C)`` with known ``F`` and ``C``.
    """

    def __init__(self, units: int = 16, spectral: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)
        if not isinstance(spectral, bool):
            raise ConfigError(f"spectral must be true or false, got {spectral!r}")
        self.spectral = spectral
        self.pool = self.hidden = self.hidden_bias = self.out = self.out_bias = None
        self.template = self.template_gain = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        if len(input_shape) != 4 or input_shape[2] is None or input_shape[3] is None:
            raise ConfigError(f"FrequencyContext expects (batch, time, freq, channels) with known "
                              f"freq and channels, got {tuple(input_shape)}")
        freq, channels = int(input_shape[2]), int(input_shape[3])
        init = keras.initializers.RandomNormal(stddev=1.0 / freq ** 0.5)
        self.pool = self.add_weight(name="pool", shape=(freq, channels), initializer=init)
        self.hidden = self.add_weight(name="hidden", shape=(channels, self.units),
                                      initializer="he_normal")
        self.hidden_bias = self.add_weight(name="hidden_bias", shape=(self.units,),
                                           initializer="zeros")
        self.out = self.add_weight(name="out", shape=(self.units, channels), initializer="zeros")
        self.out_bias = self.add_weight(name="out_bias", shape=(channels,), initializer="zeros")
        if self.spectral:
            self.template = self.add_weight(name="template", shape=(self.units, freq),
                                            initializer="zeros")
            self.template_gain = self.add_weight(name="template_gain", shape=(channels,),
                                                 initializer="ones")

    def call(self, x: Any) -> Any:
        summary = ops.sum(x * ops.cast(self.pool, x.dtype), axis=2)  # (batch, T, C)
        hidden = ops.relu(ops.matmul(summary, ops.cast(self.hidden, x.dtype))
                          + ops.cast(self.hidden_bias, x.dtype))
        context = ops.matmul(hidden, ops.cast(self.out, x.dtype)) + ops.cast(self.out_bias, x.dtype)
        x = x + ops.expand_dims(context, 2)
        if self.spectral:
            template = ops.matmul(hidden, ops.cast(self.template, x.dtype))  # (batch, T, F)
            x = x + ops.expand_dims(template, 3) * ops.cast(self.template_gain, x.dtype)
        return x

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "spectral": self.spectral}


#: Every custom object registered here (for tests and documentation).
REGISTERED = (KLSparsityRegularizer, CausalPad, SpectroConv2D, DilatedBranchBlock,
              ResidualBlock, LatentScale, FrequencyBias, FrequencyContext)
