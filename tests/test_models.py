"""Model zoo: every architecture builds, round-trips, composes and reports its time extent."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.config import SpectralConfig, StftConfig
from instrument.errors import ConfigError
from instrument.models import autoencoders as M
from instrument.models.config import ARCHS, AutoencoderConfig
from training import pretrain as P

SPECTRAL = SpectralConfig(stft=StftConfig(n_fft=64, hop_length=16))  # 33 bins


def tiny(arch: str = "dilres", **changes) -> AutoencoderConfig:
    values = dict(arch=arch, spectral=SPECTRAL, frames=8, channels=4, latent_channels=3,
                  hidden_units=(12, 4), noise_stddev=0.05)
    values.update(changes)
    return AutoencoderConfig(**values)


def _features(config: AutoencoderConfig, rng: np.random.Generator, batch: int = 2) -> np.ndarray:
    return rng.random((batch,) + config.input_shape).astype(np.float32)


def _assert_round_trip_and_compose(config: AutoencoderConfig, rng: np.random.Generator,
                                   tmp_path: Path) -> None:
    arch = config.arch
    model, encoder, decoder = M.build_autoencoder_parts(config)
    x = _features(config, rng)
    y = model(x, training=False).numpy()
    assert y.shape == x.shape
    latent = encoder(x, training=False)
    assert model.get_layer(M.LATENT).name == "latent"
    assert latent.shape[-1] == config.n_units
    np.testing.assert_allclose(decoder(latent, training=False).numpy(), y, atol=1e-6)
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), y)
    enc2, dec2 = M.split_autoencoder(loaded)
    np.testing.assert_allclose(dec2(enc2(x)).numpy(), y, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_round_trips_and_encoder_decoder_compose(arch: str, causal: bool,
                                                            rng: np.random.Generator,
                                                            tmp_path: Path) -> None:
    _assert_round_trip_and_compose(tiny(arch, causal=causal), rng, tmp_path)


@pytest.mark.parametrize("changes", [
    {"arch": "deep", "pool_time": 2, "depth": 2, "frames": 16},
    {"arch": "dilres", "pool_time": 2, "pool_freq": 1},
    {"arch": "dilres", "causal": True, "freq_bias": True, "freq_context": 4, "freq_template": True},
    {"arch": "dense", "hidden_units": (12, 6, 4), "dropout": 0.0, "sparsity_beta": 0.0},
], ids=["deep-time-pool", "dilres-time-pool", "dilres-freq-layers", "dense-three-layers"])
def test_architecture_variants_round_trip(changes: dict, rng: np.random.Generator, tmp_path: Path) -> None:
    _assert_round_trip_and_compose(tiny(**changes), rng, tmp_path)


def test_build_autoencoder_follows_the_config_arch() -> None:
    assert M.build_autoencoder(tiny("dense")).input_shape == (None, 33)
    for arch in ("shallow", "deep", "dilated", "residual", "dilres"):
        model = M.build_autoencoder(tiny(arch))
        assert model.input_shape == model.output_shape == (None, 8, 33)
        assert model.name == f"{arch}_autoencoder"
    with pytest.raises(ConfigError, match="AutoencoderConfig"):
        M.build_autoencoder_parts({"arch": "dense"})


def test_paterna_shallow_model_keeps_size_and_uses_3x3() -> None:
    model = M.build_autoencoder(tiny("shallow", channels=256, latent_channels=256))
    conv = model.get_layer("enc_conv_1")
    assert conv.kernel_size == (3, 3) and conv.filters == 256
    assert tuple(model.get_layer("latent").output.shape[1:]) == (8, 33, 256)


def test_zeroing_a_latent_unit_changes_the_output(rng: np.random.Generator) -> None:
    config = tiny("dilres")
    model, encoder, decoder = M.build_autoencoder_parts(config)
    x = _features(config, rng)
    z = encoder(x).numpy()
    full = decoder(z).numpy()
    z[..., np.argmax(np.abs(z).mean(axis=(0, 1, 2)))] = 0.0  # the most active unit
    assert np.abs(decoder(z).numpy() - full).max() > 1e-6


@pytest.mark.parametrize("arch,causal,rf,lookahead", [
    ("dense", False, 1, 0),
    ("shallow", False, 5, 2),
    ("shallow", True, 5, 0),
    ("residual", True, 5, 0),
    ("dilated", False, 19, 9),
    ("dilated", True, 19, 0),
    ("dilres", True, 27, 0),
])
def test_receptive_field_and_lookahead_values(arch: str, causal: bool, rf: int, lookahead: int) -> None:
    config = tiny(arch, causal=causal, depth=2)
    assert M.receptive_field_frames(config) == rf
    assert M.lookahead_frames(config) == lookahead


@pytest.mark.parametrize("arch", ["shallow", "deep", "dilated", "residual", "dilres"])
@pytest.mark.parametrize("causal", [False, True])
def test_time_extent_bounds_the_measured_influence(arch: str, causal: bool,
                                                   rng: np.random.Generator) -> None:
    config = tiny(arch, causal=causal, frames=32, dropout=0.0, pool_time=1 if causal else 2)
    model = M.build_autoencoder(config)
    x = _features(config, rng, batch=1)
    base = model(x, training=False).numpy()[0]
    k = 16
    bumped = x.copy()
    bumped[0, k] += 3.0
    changed = np.abs(model(bumped, training=False).numpy()[0] - base).max(axis=1) > 1e-6
    frames = np.flatnonzero(changed)
    assert k in frames or (frames.size and frames.min() >= k)
    assert frames.min() >= k - M.lookahead_frames(config)
    assert frames.max() <= k + M.past_frames(config)
    if causal:
        assert M.lookahead_frames(config) == 0 and frames.min() >= k


def test_compile_helper_uses_adam_and_mse(rng: np.random.Generator) -> None:
    config = tiny("shallow", learning_rate=3e-4)
    model = P.compile_autoencoder(M.build_autoencoder(config), config)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-4)
    x = _features(config, rng, batch=4)
    loss = model.train_on_batch(x, x)
    assert np.isfinite(loss)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["deep", "dense"])
def test_greedy_layerwise_pretraining_freezes_and_stacks(arch: str, rng: np.random.Generator) -> None:
    config = tiny(arch, depth=2, hidden_units=(12, 4))
    plan = P.pretrain_stack_plan(config)
    assert [s.stage for s in plan] == [1, 2]
    first = "enc_conv_1" if arch == "deep" else "enc_dense_1"
    assert plan[0].frozen_layers == () and plan[1].frozen_layers == (first,)
    x = _features(config, rng, batch=4)
    seen: list = []

    def fit(model: keras.Model, stage: P.PretrainStage) -> None:
        if stage.stage == 2:
            layer = model.get_layer(first)
            assert not layer.trainable
            np.testing.assert_array_equal(layer.get_weights()[0], seen[0].get_layer(first).get_weights()[0])
        model.fit(x, x, epochs=1, verbose=0)
        seen.append(model)

    full = P.greedy_layerwise_pretrain(config, fit)
    assert len(seen) == 2 and all(layer.trainable for layer in full.layers)
    np.testing.assert_allclose(full(x, training=False).numpy(), seen[1](x, training=False).numpy(),
                               atol=1e-6)
    with pytest.raises(ConfigError):
        P.pretrain_stack_plan(tiny("dilres"))
    with pytest.raises(ConfigError):
        P.build_deep_stage(config, 2)


def test_config_round_trips_through_dict_and_json() -> None:
    config = tiny("dilres", causal=True, l1=1e-5)
    assert AutoencoderConfig.from_dict(config.to_dict()) == config
    assert AutoencoderConfig.from_json(config.to_json()) == config
    assert config.n_bins == 33 and config.n_units == 3 and config.input_shape == (8, 33)
    assert tiny("dense").n_units == 4 and tiny("dense").input_shape == (33,)


@pytest.mark.parametrize("field,value", [
    ("arch", "transformer"), ("frames", 0), ("channels", 2.5), ("latent_channels", -1),
    ("kernel_size", 4), ("hidden_units", ()), ("causal", "yes"), ("noise_stddev", -0.1),
    ("sparsity_rho", 1.0), ("dropout", 1.0), ("learning_rate", 0.0), ("l2", float("nan")),
    ("freq_bias", 1), ("freq_context", -1), ("freq_context", 4097), ("hidden_units", (4,) * 17),
    ("hidden_units", (70000,)), ("noise_stddev", 11.0), ("l1", 2.0), ("sparsity_beta", float("inf")),
    ("spectral", {"n_fft": 64}), ("depth", 17), ("pool_freq", 9), ("frames", 4097),
])
def test_bad_config_values_name_the_field(field: str, value) -> None:
    values = {"arch": "dilres", field: value}
    with pytest.raises(ConfigError, match=field):
        tiny(**values)


def test_causal_pooling_model_must_not_pool_time() -> None:
    with pytest.raises(ConfigError, match="pool_time"):
        tiny("dilres", causal=True, pool_time=2)
    with pytest.raises(ConfigError, match="frames"):
        tiny("deep", pool_time=2, depth=2, frames=6)
    with pytest.raises(ConfigError, match="pool_freq"):
        tiny("deep", depth=6, pool_freq=2)  # 2**6 = 64 > 33 bins


def test_from_dict_names_unknown_fields_and_checks_values() -> None:
    with pytest.raises(ConfigError, match=r"unknown autoencoder config fields: \['layers', 'width'\]"):
        AutoencoderConfig.from_dict({"arch": "dense", "layers": 3, "width": 2})
    with pytest.raises(ConfigError, match="must be a mapping"):
        AutoencoderConfig.from_dict([("arch", "dense")])
    with pytest.raises(ConfigError, match="channels"):
        AutoencoderConfig.from_dict({**tiny().to_dict(), "channels": 0})
    with pytest.raises(ConfigError, match="not valid JSON"):
        AutoencoderConfig.from_json("{arch")


def test_streaming_parts_need_a_causal_model() -> None:
    with pytest.raises(ConfigError, match="causal"):
        M.build_streaming_parts(tiny("dilres"))


def test_presets_are_valid_and_live_preset_streams_exactly() -> None:
    from instrument.models.config import MODEL_PRESETS

    live = MODEL_PRESETS["live"]
    assert live.causal and M.lookahead_frames(live) == 0
    assert M.past_frames(live) < live.frames
    assert M.can_stream_cached(live)
    assert MODEL_PRESETS["sarroff"].n_units == 8 and MODEL_PRESETS["paterna"].channels == 256


def test_freq_bias_and_context_only_for_dilres() -> None:
    with pytest.raises(ConfigError, match="freq_bias"):
        tiny("residual", freq_bias=True)
    with pytest.raises(ConfigError, match="freq_context"):
        tiny("deep", freq_context=4)
    with pytest.raises(ConfigError, match="freq_template needs freq_context"):
        tiny("dilres", freq_template=True)


@pytest.mark.parametrize("pool_freq,freq_template", [(1, False), (2, False), (2, True)])
def test_causal_dilres_with_freq_bias_and_context_streams_exactly(
        pool_freq: int, freq_template: bool, rng: np.random.Generator, tmp_path: Path) -> None:
    config = tiny("dilres", causal=True, freq_bias=True, freq_context=5, pool_freq=pool_freq,
                  depth=2, noise_stddev=0.0, freq_template=freq_template)
    model, _, _ = M.build_autoencoder_parts(config)
    biases = [layer for layer in model.layers if layer.name.endswith("freq_bias")
              or "freq_bias_" in layer.name]
    assert len(biases) == config.depth + 1
    contexts = [layer for layer in model.layers if "freq_context" in layer.name]
    assert len(contexts) == config.depth + 1
    for layer in biases + contexts:
        for weight in layer.trainable_weights:
            weight.assign(0.3 * rng.standard_normal(tuple(weight.shape)).astype(np.float32))
    x = _features(config, rng, batch=1)
    offline = model(x, training=False).numpy()[0]
    encoder, decoder = M.build_streaming_parts(config, trained=model)
    frames = [decoder(encoder(x[:, t:t + 1], training=False), training=False).numpy()[0, 0]
              for t in range(config.frames)]
    scale = float(np.abs(offline).max())
    np.testing.assert_allclose(np.stack(frames), offline, atol=1e-5 * scale)
    model.save(tmp_path / "bias.keras")
    loaded = keras.saving.load_model(tmp_path / "bias.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(x, training=False).numpy()[0], offline, atol=1e-6)
