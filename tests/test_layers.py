"""Registered Keras layers: validation, maths, causality, .keras round trips."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.models.layers.autoencoder import (REGISTERED, CausalPad, DilatedBranchBlock, FrequencyBias,
                                                  FrequencyContext, KLSparsityRegularizer, LatentScale, ResidualBlock,
                                                  SpectroConv2D)

F = 11  # frequency bins of the tiny test images


def _image(rng: np.random.Generator, frames: int = 8, channels: int = 1) -> np.ndarray:
    return rng.standard_normal((2, frames, F, channels)).astype(np.float32)


def _assert_round_trip(layer: keras.layers.Layer, x: np.ndarray, tmp_path: Path) -> None:
    inp = keras.Input(shape=x.shape[1:])
    model = keras.Model(inp, layer(inp))
    before = model(x, training=False).numpy()
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = loaded(x, training=False).numpy()
    np.testing.assert_array_equal(before, after)
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == layer.get_config()


ROUND_TRIP_LAYERS = {
    "causal_pad": lambda: CausalPad(2, 1, name="causal_pad"),
    "conv_same": lambda: SpectroConv2D(3, 3, name="conv_same"),
    "conv_causal": lambda: SpectroConv2D(3, (3, 5), (2, 1), causal=True, l2=1e-4, name="conv_causal"),
    "branches": lambda: DilatedBranchBlock(3, name="branches"),
    "branches_causal": lambda: DilatedBranchBlock(3, causal=True, name="branches_causal"),
    "res_conv": lambda: ResidualBlock(4, "conv", name="res_conv"),
    "res_dilated_causal": lambda: ResidualBlock(4, "dilated", causal=True, name="res_dilated_causal"),
    "freq_bias": lambda: FrequencyBias(name="freq_bias"),
    "freq_context": lambda: FrequencyContext(5, name="freq_context"),
    "freq_template": lambda: FrequencyContext(5, spectral=True, name="freq_template"),
    "latent": lambda: LatentScale(activity_regularizer=KLSparsityRegularizer(0.05, 0.3), name="latent"),
}


def test_round_trips_cover_every_registered_layer() -> None:
    covered = {type(factory()) for factory in ROUND_TRIP_LAYERS.values()} | {KLSparsityRegularizer}
    assert covered == set(REGISTERED)


@pytest.mark.parametrize("name", sorted(ROUND_TRIP_LAYERS))
def test_every_layer_round_trips_through_keras_file(name: str, rng: np.random.Generator,
                                                    tmp_path: Path) -> None:
    layer = ROUND_TRIP_LAYERS[name]()
    _assert_round_trip(layer, _image(rng), tmp_path)


def test_latent_scale_round_trip_keeps_scales_and_regulariser(rng: np.random.Generator,
                                                              tmp_path: Path) -> None:
    layer = LatentScale(activity_regularizer=KLSparsityRegularizer(0.05, 0.3), name="latent")
    inp = keras.Input(shape=(F, 3))
    model = keras.Model(inp, layer(inp))
    layer.scale.assign(np.array([1.0, 0.0, 2.0], np.float32))
    model.save(tmp_path / "scale.keras")
    loaded = keras.saving.load_model(tmp_path / "scale.keras", safe_mode=True)
    reg = loaded.layers[-1].activity_regularizer
    assert isinstance(reg, KLSparsityRegularizer) and (reg.rho, reg.beta) == (0.05, 0.3)
    x = rng.random((1, F, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), x * np.array([1.0, 0.0, 2.0]), rtol=1e-6)


def test_kl_regulariser_matches_formula_and_serialises() -> None:
    reg = KLSparsityRegularizer(rho=0.1, beta=0.5)
    act = np.array([[0.2, 0.05], [0.4, 0.15]], np.float32)
    rho_hat = act.mean(axis=0)
    expected = 0.5 * np.sum(0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat)))
    assert float(reg(act)) == pytest.approx(expected, rel=1e-5)
    again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(again, KLSparsityRegularizer) and again.get_config() == reg.get_config()
    assert float(KLSparsityRegularizer(0.1, 0.0)(act)) == 0.0


def test_kl_regulariser_stays_finite_for_relu_activations_above_one() -> None:
    value = float(KLSparsityRegularizer(0.01, 0.5)(np.full((4, 3), 5.0, np.float32)))
    assert np.isfinite(value) and value > 0


@pytest.mark.parametrize("factory", [
    lambda: KLSparsityRegularizer(rho=1.5),
    lambda: KLSparsityRegularizer(beta=-1.0),
    lambda: CausalPad(-1),
    lambda: SpectroConv2D(0),
    lambda: SpectroConv2D(4, kernel_size=4),
    lambda: SpectroConv2D(4, streaming=True),
    lambda: DilatedBranchBlock(4, branches=[(3, 3, 1)]),
    lambda: ResidualBlock(4, inner="dense"),
])
def test_bad_layer_arguments_raise_config_error(factory) -> None:
    with pytest.raises(ConfigError):
        factory()


def test_residual_block_rejects_mismatched_channels(rng: np.random.Generator) -> None:
    block = ResidualBlock(4)
    with pytest.raises(ConfigError, match="channels"):
        block(_image(rng, channels=3))


def test_causal_pad_pads_past_side_only() -> None:
    x = np.ones((1, 3, F, 1), np.float32)
    y = CausalPad(2, 1)(x).numpy()
    assert y.shape == (1, 5, F + 2, 1)
    assert np.all(y[:, :2] == 0) and np.all(y[:, 2:, 1:-1] == 1)
    assert np.all(y[:, :, 0] == 0) and np.all(y[:, :, -1] == 0)


@pytest.mark.parametrize("factory", [
    lambda s: SpectroConv2D(3, (3, 3), (2, 1), causal=True, streaming=s, name="c"),
    lambda s: DilatedBranchBlock(3, causal=True, streaming=s, name="c"),
    lambda s: ResidualBlock(3, "dilated", causal=True, streaming=s, name="c"),
])
def test_causal_layers_ignore_the_future_and_stream_exactly(factory, rng: np.random.Generator) -> None:
    offline = factory(False)
    x = _image(rng, frames=12)[:1]
    y = offline(x).numpy()
    changed = x.copy()
    changed[:, 7:] += 1.0
    y2 = offline(changed).numpy()
    np.testing.assert_array_equal(y[:, :7], y2[:, :7])
    assert not np.allclose(y[:, 7:], y2[:, 7:])
    streaming = factory(True)
    streaming(x[:, :1])  # build
    for src, dst in zip(offline.weights, [w for w in streaming.weights if not w.path.endswith("cache")]):
        dst.assign(src.value)
    for cache in [w for w in streaming.weights if w.path.endswith("cache")]:
        cache.assign(np.zeros(cache.shape, np.float32))  # forget the build call
    frames = np.concatenate([streaming(x[:, t:t + 1]).numpy() for t in range(12)], axis=1)
    np.testing.assert_allclose(frames, y, atol=1e-5)


def test_dilated_block_is_max_of_its_branches(rng: np.random.Generator) -> None:
    block = DilatedBranchBlock(3, activation="linear")
    x = _image(rng)
    y = block(x).numpy()
    expected = np.maximum(block.convs[0](x).numpy(), block.convs[1](x).numpy())
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert [c.dilation for c in block.convs] == [(1, 2), (2, 4)]


def test_residual_block_adds_identity_after_nonlinearity(rng: np.random.Generator) -> None:
    block = ResidualBlock(3, "conv")
    x = _image(rng, channels=3)
    y = block(x).numpy()
    np.testing.assert_allclose(y, np.maximum(block.body(x).numpy() + x, 0.0), atol=1e-6)
    assert y.min() >= 0


def test_frequency_bias_adds_one_offset_per_bin_and_channel(rng: np.random.Generator,
                                                           tmp_path: Path) -> None:
    layer = FrequencyBias(name="freq_bias")
    x = _image(rng, frames=5, channels=2)
    inp = keras.Input(shape=(None, F, 2))
    model = keras.Model(inp, layer(inp))
    bias = rng.standard_normal((F, 2)).astype(np.float32)
    layer.bias.assign(bias)
    # the same offset on every frame (no time context), so any window length works
    np.testing.assert_allclose(model(x).numpy(), x + bias, rtol=1e-6)
    np.testing.assert_allclose(model(x[:, :1]).numpy(), x[:, :1] + bias, rtol=1e-6)
    model.save(tmp_path / "bias.keras")
    loaded = keras.saving.load_model(tmp_path / "bias.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(x).numpy(), x + bias, rtol=1e-6)
    with pytest.raises(ConfigError, match="FrequencyBias"):
        FrequencyBias().build((2, 5, None, 2))


def test_frequency_context_adds_one_whole_frame_summary_to_every_bin(rng: np.random.Generator) -> None:
    layer = FrequencyContext(4, name="ctx")
    x = _image(rng, frames=6, channels=3)
    inp = keras.Input(shape=(None, F, 3))
    model = keras.Model(inp, layer(inp))
    np.testing.assert_allclose(model(x).numpy(), x, rtol=1e-6)  # zero-initialised output: identity
    for weight in (layer.out, layer.out_bias):
        weight.assign(rng.standard_normal(tuple(weight.shape)).astype(np.float32))
    pool, hidden, hb = (np.asarray(w.numpy()) for w in (layer.pool, layer.hidden, layer.hidden_bias))
    summary = np.einsum("btfc,fc->btc", x, pool)
    context = np.maximum(summary @ hidden + hb, 0) @ layer.out.numpy() + layer.out_bias.numpy()
    np.testing.assert_allclose(model(x).numpy(), x + context[:, :, None, :], rtol=1e-4, atol=1e-5)
    # frames are independent: the first frame alone gives the same output
    np.testing.assert_allclose(model(x[:, :1]).numpy(), model(x).numpy()[:, :1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="units"):
        FrequencyContext(0)
