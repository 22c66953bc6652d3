"""Model zoo: spectral autoencoders built from an :class:`AutoencoderConfig`.

Every model maps log1p magnitudes to log1p magnitudes (linear output):

* dense: input ``(batch, n_bins)`` (one frame), latent ``(batch, n_units)``;
* conv:  input ``(batch, T, n_bins)``, reshaped to the image
  ``(batch, T, n_bins, 1)`` (time x freq x 1 channel, see :mod:`instrument.models.layers.autoencoder`),
  latent ``(batch, T', F', n_units)`` (``T' = T / pool_time**n_pools``).

Each model is a chain of (possibly composite) layers with one
:class:`~instrument.models.layers.autoencoder.LatentScale` layer named ``"latent"`` ending the
encoder; its last axis holds the units the faders scale. The encoder and
decoder sub-models are functional models sharing the layers (and weights)
of the full model: ``decoder(encoder(x)) == model(x)``.

Architectures (channel counts from the config):

* ``dense``: noise -> dropout -> Dense(h_i, sigmoid)... -> latent ->
  Dense(h_{i-1}, sigmoid)... -> Dense(n_bins, linear)  (Sarroff & Casey).
* ``shallow``: conv3x3(latent_channels, relu) -> latent -> conv3x3(1, linear).
* ``deep``: [conv3x3(c_i, relu) -> maxpool]*depth -> latent ->
  [upsample -> conv3x3(c_{i-1})]*depth, last conv linear 1 channel.
  ``c_i = channels`` except ``c_depth = latent_channels``.
* ``dilated``: DilatedBranchBlock(latent) -> latent -> DilatedBranchBlock(channels)
  -> conv3x3(1, linear)  (Paterna Fig. 3.2).
* ``residual``: ResidualBlock(latent, conv) -> latent -> conv3x3(1, linear) (Fig. 3.3).
* ``dilres``: ResidualBlock(channels, dilated) -> maxpool ->
  ResidualBlock(channels, dilated)*(depth-1) -> conv1x1(latent) -> latent ->
  upsample -> DilatedBranchBlock(channels) -> conv3x3(1, linear)  (Fig. 3.4);
  with ``freq_bias`` a :class:`~instrument.models.layers.autoencoder.FrequencyBias` follows every block, with
  with ``freq_context`` a :class:`~instrument.models.layers.autoencoder.FrequencyContext` too (``freq_template``:
  one that also decodes a whole-frame spectral template).

Causal models (``config.causal``) pad time on the past side only; their
lookahead is 0 and they can be streamed frame by frame with cached
convolutions (:func:`build_streaming_parts`).
"""

from __future__ import annotations

import keras

from instrument.errors import ConfigError, ModelError
from instrument.models.layers.autoencoder import (CausalPad, DilatedBranchBlock, FrequencyBias, FrequencyContext,
                             KLSparsityRegularizer, LatentScale, ResidualBlock, SpectroConv2D)
from instrument.models.config import POOLING_ARCHS, AutoencoderConfig

LATENT = "latent"


# ------------------------------------------------------------------ the chain
def _freq_padding(config: AutoencoderConfig) -> int:
    """Bins appended so the frequency axis divides by ``pool_freq**n_pools``."""
    if config.arch not in POOLING_ARCHS or config.pool_freq == 1:
        return 0
    factor = config.pool_freq ** config.n_pools
    return (-config.n_bins) % factor


def _latent_layer(config: AutoencoderConfig) -> LatentScale:
    reg = (KLSparsityRegularizer(config.sparsity_rho, config.sparsity_beta)
           if config.sparsity_beta > 0 else None)
    return LatentScale(name=LATENT, activity_regularizer=reg)


def _conv(config: AutoencoderConfig, filters: int, name: str, stream: bool,
          kernel: int | None = None, activation: str = "relu") -> SpectroConv2D:
    return SpectroConv2D(filters, kernel or config.kernel_size, activation=activation,
                         causal=config.causal, streaming=stream, l1=config.l1, l2=config.l2,
                         name=name)


def layer_chain(config: AutoencoderConfig, stream: bool = False,
           stage: int | None = None) -> tuple[list[keras.layers.Layer], list[keras.layers.Layer]]:
    """Fresh encoder and decoder layer lists (encoder ends with ``latent``).

    ``stage`` (1-based, ``dense``/``deep`` only) builds the truncated model of
    greedy layer-wise pretraining (:mod:`training.pretrain`): the first ``stage`` encoder layers and the
    mirrored decoder. Layer names match the full model's.
    """
    enc: list[keras.layers.Layer] = []
    dec: list[keras.layers.Layer] = []
    if config.noise_stddev > 0:
        enc.append(keras.layers.GaussianNoise(config.noise_stddev, name="noise"))
    if config.arch == "dense":
        hidden = config.hidden_units
        depth = len(hidden) if stage is None else stage
        if config.dropout > 0:
            enc.append(keras.layers.Dropout(config.dropout, name="dropout"))
        reg = (keras.regularizers.L1L2(config.l1, config.l2)
               if config.l1 or config.l2 else None)
        for i in range(1, depth + 1):
            enc.append(keras.layers.Dense(hidden[i - 1], activation="sigmoid",
                                          kernel_regularizer=reg, name=f"enc_dense_{i}"))
        enc.append(_latent_layer(config))
        for i in range(depth, 0, -1):
            units, act = (hidden[i - 2], "sigmoid") if i > 1 else (config.n_bins, "linear")
            dec.append(keras.layers.Dense(units, activation=act, kernel_regularizer=reg,
                                          name=f"dec_dense_{i}"))
        return enc, dec

    n_bins = config.n_bins
    enc.append(keras.layers.Reshape((-1, n_bins, 1), name="to_image"))
    fpad = _freq_padding(config)
    if fpad:
        enc.append(keras.layers.ZeroPadding2D(((0, 0), (0, fpad)), name="freq_pad"))
    if config.dropout > 0:
        enc.append(keras.layers.Dropout(config.dropout, name="dropout"))
    pool = (config.pool_time, config.pool_freq)
    pooling = pool != (1, 1)
    c, z = config.channels, config.latent_channels
    arch = config.arch
    if arch == "shallow":
        enc.append(_conv(config, z, "enc_conv_1", stream))
        dec.append(_conv(config, 1, "dec_out", stream, activation="linear"))
    elif arch == "deep":
        depth = config.depth if stage is None else stage
        widths = [c] * (config.depth - 1) + [z]
        for i in range(1, depth + 1):
            enc.append(_conv(config, widths[i - 1], f"enc_conv_{i}", stream))
            if pooling:
                enc.append(keras.layers.MaxPooling2D(pool, name=f"enc_pool_{i}"))
        for i in range(depth, 0, -1):
            if pooling:
                dec.append(keras.layers.UpSampling2D(pool, name=f"dec_up_{i}"))
            if i > 1:
                dec.append(_conv(config, widths[i - 2], f"dec_conv_{i}", stream))
            else:
                dec.append(_conv(config, 1, f"dec_conv_{i}", stream, activation="linear"))
    elif arch == "dilated":
        enc.append(DilatedBranchBlock(z, causal=config.causal, streaming=stream, l1=config.l1,
                                      l2=config.l2, name="enc_block_1"))
        dec.append(DilatedBranchBlock(c, causal=config.causal, streaming=stream, l1=config.l1,
                                      l2=config.l2, name="dec_block_1"))
        dec.append(_conv(config, 1, "dec_out", stream, activation="linear"))
    elif arch == "residual":
        enc.append(ResidualBlock(z, inner="conv", kernel_size=config.kernel_size,
                                 causal=config.causal, streaming=stream, l1=config.l1,
                                 l2=config.l2, name="enc_block_1"))
        dec.append(_conv(config, 1, "dec_out", stream, activation="linear"))
    elif arch == "dilres":
        for i in range(1, config.depth + 1):
            enc.append(ResidualBlock(c, inner="dilated", causal=config.causal, streaming=stream,
                                     l1=config.l1, l2=config.l2, name=f"enc_block_{i}"))
            if config.freq_bias:
                enc.append(FrequencyBias(name=f"enc_freq_bias_{i}"))
            if config.freq_context:
                enc.append(FrequencyContext(config.freq_context, spectral=config.freq_template,
                                            name=f"enc_freq_context_{i}"))
            if i == 1 and pooling:
                enc.append(keras.layers.MaxPooling2D(pool, name="enc_pool_1"))
        enc.append(_conv(config, z, "enc_proj", stream, kernel=1))
        if pooling:
            dec.append(keras.layers.UpSampling2D(pool, name="dec_up_1"))
        dec.append(DilatedBranchBlock(c, causal=config.causal, streaming=stream, l1=config.l1,
                                      l2=config.l2, name="dec_block_1"))
        if config.freq_bias:
            dec.append(FrequencyBias(name="dec_freq_bias"))
        if config.freq_context:
            dec.append(FrequencyContext(config.freq_context, spectral=config.freq_template,
                                        name="dec_freq_context"))
        dec.append(_conv(config, 1, "dec_out", stream, activation="linear"))
    else:  # pragma: no cover - AutoencoderConfig validates arch
        raise ConfigError(f"unknown arch {arch!r}")
    enc.append(_latent_layer(config))
    if fpad:
        dec.append(keras.layers.Cropping2D(((0, 0), (0, fpad)), name="freq_crop"))
    dec.append(keras.layers.Reshape((-1, n_bins), name="to_frames"))
    return enc, dec


def assemble_model(config: AutoencoderConfig, enc: list, dec: list, input_shape: tuple[int, ...],
              batch_size: int | None = None,
              name: str | None = None) -> tuple[keras.Model, keras.Model, keras.Model]:
    inp = keras.Input(shape=input_shape, batch_size=batch_size, name="features")
    x = inp
    for layer in enc:
        x = layer(x)
    latent = x
    for layer in dec:
        x = layer(x)
    model = keras.Model(inp, x, name=name or f"{config.arch}_autoencoder")
    encoder = keras.Model(inp, latent, name="encoder")
    z_in = keras.Input(shape=tuple(latent.shape[1:]), batch_size=batch_size, name="latent_input")
    y = z_in
    for layer in dec:
        y = layer(y)
    decoder = keras.Model(z_in, y, name="decoder")
    return model, encoder, decoder


# ------------------------------------------------------------------ builders
def build_autoencoder_parts(config: AutoencoderConfig) -> tuple[keras.Model, keras.Model, keras.Model]:
    """``(model, encoder, decoder)`` sharing layers; input ``config.input_shape``."""
    if not isinstance(config, AutoencoderConfig):
        raise ConfigError(f"expected an AutoencoderConfig, got {type(config).__name__}")
    enc, dec = layer_chain(config)
    return assemble_model(config, enc, dec, config.input_shape)


def build_autoencoder(config: AutoencoderConfig) -> keras.Model:
    """Build the (uncompiled) autoencoder for ``config.arch``.

    Input/output shape ``(batch, *config.input_shape)``; layer ``"latent"``
    holds the units. Use :func:`split_autoencoder` for encoder/decoder.
    """
    return build_autoencoder_parts(config)[0]


def split_autoencoder(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """``(encoder, decoder)`` of a chain autoencoder (e.g. one loaded from disk).

    The encoder ends at layer ``"latent"``; the decoder re-applies the layers
    after it to a new input of the latent shape (weights shared).
    Raises :class:`ModelError` when there is no ``latent`` layer.
    """
    names = [layer.name for layer in model.layers]
    if LATENT not in names:
        raise ModelError(f"model {model.name!r} has no layer named {LATENT!r}")
    index = names.index(LATENT)
    latent_layer = model.layers[index]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    encoder = keras.Model(inputs, latent_layer.output, name="encoder")
    z_in = keras.Input(shape=tuple(latent_layer.output.shape[1:]), name="latent_input")
    y = z_in
    for layer in model.layers[index + 1:]:
        y = layer(y)
    return encoder, keras.Model(z_in, y, name="decoder")


# --------------------------------------------------------- receptive field
def _time_extent(config: AutoencoderConfig) -> tuple[int, int]:
    """(past, future) input frames one output frame depends on (upper bounds)."""
    if config.arch == "dense":
        return 0, 0
    enc, dec = layer_chain(config)
    past = future = 0
    jump = 1
    for layer in enc + dec:
        if isinstance(layer, (SpectroConv2D, DilatedBranchBlock, ResidualBlock)):
            past += layer.time_past * jump
            future += layer.time_future * jump
        elif isinstance(layer, keras.layers.MaxPooling2D):
            p = int(layer.pool_size[0])
            past += (p - 1) * jump
            future += (p - 1) * jump
            jump *= p
        elif isinstance(layer, keras.layers.UpSampling2D):
            jump //= int(layer.size[0])
    return past, future


def receptive_field_frames(config: AutoencoderConfig) -> int:
    """Input frames that can influence one output frame (1 for dense)."""
    past, future = _time_extent(config)
    return past + future + 1


def lookahead_frames(config: AutoencoderConfig) -> int:
    """Future input frames one output frame depends on (0 when causal or dense)."""
    return _time_extent(config)[1]


def past_frames(config: AutoencoderConfig) -> int:
    """Past input frames one output frame depends on."""
    return _time_extent(config)[0]


# ------------------------------------------------------------ weight copies
def transfer_weights(source: keras.Model, target: keras.Model,
                     names: list[str] | tuple[str, ...] | None = None,
                     freeze: bool = False) -> list[str]:
    """Copy weights of same-named layers from ``source`` to ``target``.

    Streaming caches (variables named ``cache``) are skipped. ``names``
    restricts the copy; ``freeze`` marks the copied layers non-trainable.
    Returns the copied layer names. Raises :class:`ModelError` on shape mismatch.
    """
    copied = []
    src_layers = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if names is not None and layer.name not in names:
            continue
        src = src_layers.get(layer.name)
        dst_vars = [v for v in layer.weights if not v.path.endswith("cache")]
        if src is None or not dst_vars:
            continue
        src_vars = [v for v in src.weights if not v.path.endswith("cache")]
        if len(src_vars) != len(dst_vars):
            raise ModelError(f"layer {layer.name!r}: {len(src_vars)} weights in source, "
                             f"{len(dst_vars)} in target")
        for s, d in zip(src_vars, dst_vars):
            if tuple(s.shape) != tuple(d.shape):
                raise ModelError(f"layer {layer.name!r}: weight {d.path} has shape "
                                 f"{tuple(d.shape)}, source {tuple(s.shape)}")
            d.assign(s.value)
        if freeze:
            layer.trainable = False
        copied.append(layer.name)
    return copied



# ------------------------------------------------------------------ streaming
def can_stream_cached(config: AutoencoderConfig) -> bool:
    """True when the model can run one frame in / one frame out with caches."""
    return config.arch == "dense" or (config.causal and config.pool_time == 1)


def build_streaming_parts(config: AutoencoderConfig,
                          trained: keras.Model | None = None) -> tuple[keras.Model, keras.Model]:
    """Stateful one-frame ``(encoder, decoder)`` for cached-convolution streaming.

    Input ``(1, 1, n_bins)`` (dense: ``(1, n_bins)``); every causal time
    padding is replaced by a cache of past activations, so calling the encoder
    then decoder on successive frames equals a causal offline pass. Weights
    are copied from ``trained`` when given. Reset with :func:`reset_streaming`.
    """
    if not can_stream_cached(config):
        raise ConfigError(f"cached streaming needs a causal model with pool_time 1 "
                          f"(arch {config.arch!r}, causal={config.causal}, "
                          f"pool_time={config.pool_time})")
    enc, dec = layer_chain(config, stream=config.arch != "dense")
    shape = (config.n_bins,) if config.arch == "dense" else (1, config.n_bins)
    model, encoder, decoder = assemble_model(config, enc, dec, shape, batch_size=1,
                                        name=f"{config.arch}_streaming")
    if trained is not None:
        transfer_weights(trained, model)
    return encoder, decoder


def reset_streaming(*models: keras.Model) -> None:
    """Zero every streaming cache of the given models."""
    for model in models:
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, CausalPad):
                layer.reset_cache()
