"""Latent model files: metadata round trip, safe loading, errors, inference wrapper."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.config import SpectralConfig, StftConfig
from instrument.errors import ConfigError, ModelError
from instrument.models.latent_model import LatentModel
from instrument.models.io import (METADATA_ENTRY, compute_mean_latent, load_latent_model,
                                 read_latent_metadata, save_latent_model)
from instrument.dsp.spectral import NormStats
from instrument.models import autoencoders as M
from instrument.models.config import ARCHS, AutoencoderConfig

SPECTRAL = SpectralConfig(stft=StftConfig(n_fft=64, hop_length=16))  # 33 bins


def tiny(arch: str = "dilres", **changes) -> AutoencoderConfig:
    values = dict(arch=arch, spectral=SPECTRAL, frames=8, channels=4, latent_channels=3,
                  hidden_units=(12, 4))
    values.update(changes)
    return AutoencoderConfig(**values)


def _saved(tmp_path: Path, config: AutoencoderConfig, rng: np.random.Generator,
           name: str = "m.keras", **metadata) -> tuple[Path, keras.Model]:
    model, encoder, decoder = M.build_autoencoder_parts(config)
    features = rng.random((40, config.n_bins)).astype(np.float32)
    meta = {"config": config, "mean_latent": compute_mean_latent(encoder, config, features),
            "notes": {"epochs": 0}}
    meta.update(metadata)
    path = save_latent_model(tmp_path / name, model, encoder, decoder, meta)
    return path, model


@pytest.mark.parametrize("arch", ARCHS)
def test_round_trip_keeps_metadata_and_outputs(arch: str, tmp_path: Path,
                                               rng: np.random.Generator) -> None:
    config = tiny(arch, causal=True)
    norm = NormStats(mean=np.full(33, 0.5, np.float32), std=np.full(33, 2.0, np.float32))
    path, model = _saved(tmp_path, config, rng, kind="transfer", norm_stats=norm)
    assert keras.saving.load_model(path, safe_mode=True) is not None  # still a plain .keras file
    lm = load_latent_model(path)
    assert lm.kind == "transfer" and lm.config == config and lm.spectral == SPECTRAL
    assert lm.n_units == config.n_units and lm.notes == {"epochs": 0}
    assert lm.mean_latent.shape == lm.latent_frame_shape
    assert lm.lookahead_frames == 0 and lm.receptive_field_frames == M.receptive_field_frames(config)
    np.testing.assert_array_equal(lm.norm_stats.std, norm.std)
    frames = rng.random(config.input_shape).astype(np.float32)
    expected = norm.denormalise(model(norm.normalise(frames)[None], training=False).numpy()[0])
    np.testing.assert_allclose(lm.process(frames), expected, atol=1e-5)
    assert read_latent_metadata(path)["kind"] == "transfer"


def test_encode_scale_decode_equals_process_and_zero_unit_changes_output(
        tmp_path: Path, rng: np.random.Generator) -> None:
    path, model = _saved(tmp_path, tiny("dilres"), rng)
    lm = load_latent_model(path)
    frames = rng.random((8, 33)).astype(np.float32)
    latent = lm.encode(frames)
    assert latent.shape == lm.latent_shape == (8, 17, 3)
    full = model(frames[None], training=False).numpy()[0]
    assert np.abs(full).max() > 1e-3  # the untrained decoder is not dead, so scaling can show
    np.testing.assert_allclose(lm.decode(latent), full, atol=1e-5)
    np.testing.assert_allclose(lm.process(frames, np.ones(3)), full, atol=1e-5)
    scales = np.ones(3, np.float32)
    scales[np.argmax(np.abs(latent).mean(axis=(0, 1)))] = 0.0  # silence the most active unit
    np.testing.assert_allclose(lm.process(frames, scales), lm.decode(latent * scales), atol=1e-5)
    assert np.abs(lm.process(frames, scales) - full).max() > 1e-6
    with pytest.raises(ConfigError, match="scales"):
        lm.process(frames, np.ones(4))
    with pytest.raises(ConfigError, match="shape"):
        lm.encode(np.ones((7, 33), np.float32))


def test_transform_of_a_long_input_matches_windows(tmp_path: Path, rng: np.random.Generator) -> None:
    config = tiny("residual", causal=True, frames=8)  # past 4 frames < T
    path, model = _saved(tmp_path, config, rng)
    lm = load_latent_model(path)
    features = rng.random((45, 33)).astype(np.float32)
    out = lm.transform(features, batch_windows=2)
    assert out.shape == features.shape
    np.testing.assert_allclose(out[:8], lm.process(features[:8]), atol=1e-5)
    # a causal model sees only the past: any window ending at t gives frame t
    for t in (12, 30, 44):
        window = features[t - 7:t + 1]
        np.testing.assert_allclose(out[t], lm.process(window)[-1], atol=1e-5)
    assert lm.transform(features[:0]).shape == (0, 33)


def test_transform_non_causal_covers_every_frame(tmp_path: Path, rng: np.random.Generator) -> None:
    config = tiny("deep", frames=8, pool_time=2, depth=2)
    lm = load_latent_model(_saved(tmp_path, config, rng)[0])
    features = rng.random((37, 33)).astype(np.float32)
    out = lm.transform(features, scales=np.ones(3))
    assert out.shape == features.shape and np.all(np.isfinite(out))
    assert np.all(np.abs(out).sum(axis=1) > 0)


def test_dense_model_encodes_any_number_of_frames(tmp_path: Path, rng: np.random.Generator) -> None:
    lm = load_latent_model(_saved(tmp_path, tiny("dense"), rng)[0])
    frames = rng.random((5, 33)).astype(np.float32)
    assert lm.encode(frames).shape == (5, 4)
    np.testing.assert_allclose(lm.decode(lm.encode(frames)), lm.process(frames), atol=1e-5)
    np.testing.assert_allclose(lm.transform(frames), lm.process(frames), atol=1e-5)


def test_missing_file_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_latent_model(tmp_path / "absent.keras")


def test_non_zip_file_raises_model_error(tmp_path: Path) -> None:
    path = tmp_path / "text.keras"
    path.write_text("not a model")
    with pytest.raises(ModelError, match="text.keras"):
        load_latent_model(path)


def test_plain_keras_model_is_not_a_latent_model(tmp_path: Path) -> None:
    model = M.build_autoencoder(tiny("shallow"))
    path = tmp_path / "plain.keras"
    model.save(path)
    with pytest.raises(ModelError, match="not a latent model"):
        load_latent_model(path)


def test_input_shape_mismatch_raises_model_error(tmp_path: Path, rng: np.random.Generator) -> None:
    path, _ = _saved(tmp_path, tiny("shallow"), rng)
    data = read_latent_metadata(path)
    data["config"]["frames"] = 16
    rewritten = tmp_path / "lying.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewritten, "w") as dst:
        for item in src.namelist():
            if item != METADATA_ENTRY:
                dst.writestr(item, src.read(item))
        dst.writestr(METADATA_ENTRY, json.dumps(data))
    with pytest.raises(ModelError, match="input shape"):
        load_latent_model(rewritten)


def test_lambda_layer_is_refused(tmp_path: Path) -> None:
    config = tiny("shallow")
    inp = keras.Input(shape=config.input_shape)
    out = keras.layers.Lambda(lambda t: t * 2.0, name="latent")(inp)
    model = keras.Model(inp, out)
    path = tmp_path / "lambda.keras"
    model.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(METADATA_ENTRY, json.dumps(
            {"format": 1, "kind": "autoencoder", "config": config.to_dict()}))
    with pytest.raises(ModelError, match="Lambda"):
        load_latent_model(path)


def test_save_rejects_bad_input(tmp_path: Path, rng: np.random.Generator) -> None:
    config = tiny("shallow")
    model, encoder, decoder = M.build_autoencoder_parts(config)
    with pytest.raises(ModelError, match=".keras"):
        save_latent_model(tmp_path / "m.h5", model, encoder, decoder, {"config": config})
    with pytest.raises(ModelError, match="input shape"):
        save_latent_model(tmp_path / "m.keras", model, None, None, {"config": tiny("shallow", frames=16)})
    with pytest.raises(ModelError, match="mean_latent"):
        save_latent_model(tmp_path / "m.keras", model, None, None,
                          {"config": config, "mean_latent": np.zeros(3)})
    with pytest.raises(ModelError, match="kind"):
        save_latent_model(tmp_path / "m.keras", model, None, None, {"config": config, "kind": "x"})
    with pytest.raises(ModelError, match="config"):
        save_latent_model(tmp_path / "m.keras", model, None, None, {})


def test_latent_model_can_wrap_a_fresh_model(rng: np.random.Generator) -> None:
    config = tiny("dilated", causal=True)
    model, encoder, decoder = M.build_autoencoder_parts(config)
    lm = LatentModel(model, config, encoder=encoder, decoder=decoder)
    frames = rng.random((8, 33)).astype(np.float32)
    np.testing.assert_allclose(lm.process(frames), model(frames[None]).numpy()[0], atol=1e-5)
    with pytest.raises(ConfigError, match="kind"):
        LatentModel(model, config, kind="vocoder")


def test_dense_decodes_a_single_latent_vector(rng: np.random.Generator) -> None:
    config = tiny("dense")
    lm = LatentModel(M.build_autoencoder(config), config)
    z = rng.random(4).astype(np.float32)
    np.testing.assert_allclose(lm.decode(z), lm.decode(z[None])[0], atol=1e-6)
    assert lm.decode(z).shape == (33,)
