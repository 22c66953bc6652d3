"""Streaming: one frame in, one frame out, equal to offline processing."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import SpectralConfig, StftConfig
from instrument.errors import ConfigError
from instrument.models.latent_model import LatentModel
from instrument.dsp.spectral import NormStats
from instrument.models.streaming import StreamingLatentModel, default_block_frames, default_compute_hops
from instrument.models import autoencoders as M
from instrument.models.config import AutoencoderConfig

SPECTRAL = SpectralConfig(stft=StftConfig(n_fft=64, hop_length=16))  # 33 bins


def tiny(arch: str, **changes) -> AutoencoderConfig:
    values = dict(arch=arch, spectral=SPECTRAL, frames=8, channels=4, latent_channels=3,
                  hidden_units=(12, 4), noise_stddev=0.05)
    values.update(changes)
    return AutoencoderConfig(**values)


def _stream(stream: StreamingLatentModel, features: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return np.stack([stream.push(frame, scales).copy() for frame in features])


@pytest.mark.parametrize("arch,frames", [
    ("shallow", 8), ("deep", 16), ("dilated", 24), ("residual", 8), ("dilres", 24)])
def test_causal_streaming_equals_offline_frame_for_frame(arch: str, frames: int,
                                                         rng: np.random.Generator) -> None:
    config = tiny(arch, causal=True, frames=frames, depth=1 if arch == "dilres" else 2)
    assert M.past_frames(config) < frames  # transform is exact for this config
    lm = LatentModel(M.build_autoencoder(config), config)
    features = rng.random((50, 33)).astype(np.float32)
    scales = np.array([1.0, 0.3, 1.7], np.float32)
    offline = lm.transform(features, scales)
    np.testing.assert_allclose(offline[:frames], lm.process(features[:frames], scales), atol=1e-5)
    for backend in ("numpy", "tf"):
        stream = StreamingLatentModel(lm, backend=backend)
        assert stream.mode == "cached" and stream.backend == backend and stream.latency_frames == 0
        np.testing.assert_allclose(_stream(stream, features, scales), offline, atol=1e-4)


def test_dilres_with_latent_projection_and_depth_two_streams(rng: np.random.Generator) -> None:
    config = tiny("dilres", causal=True, frames=16, depth=2, channels=5, latent_channels=2)
    lm = LatentModel(M.build_autoencoder(config), config)
    features = rng.random((16, 33)).astype(np.float32)
    scales = np.array([0.0, 2.0], np.float32)
    expected = lm.process(features, scales)  # window from silence == stream from reset
    stream = StreamingLatentModel(lm)
    np.testing.assert_allclose(_stream(stream, features, scales), expected, atol=1e-4)
    stream.reset()
    np.testing.assert_allclose(_stream(stream, features, scales), expected, atol=1e-4)


def test_dense_streaming_with_norm_stats(rng: np.random.Generator) -> None:
    config = tiny("dense")
    norm = NormStats(mean=rng.random(33).astype(np.float32), std=np.full(33, 1.5, np.float32))
    lm = LatentModel(M.build_autoencoder(config), config, norm_stats=norm)
    features = rng.random((10, 33)).astype(np.float32)
    scales = np.array([1.0, 0.0, 2.0, 1.0], np.float32)
    for backend in ("numpy", "tf"):
        stream = StreamingLatentModel(lm, backend=backend)
        assert stream.mode == "dense" and stream.latency_frames == 0
        np.testing.assert_allclose(_stream(stream, features, scales), lm.process(features, scales),
                                   atol=1e-5)


def test_non_causal_model_with_block_of_one_returns_the_lookahead_frame(rng: np.random.Generator) -> None:
    config = tiny("shallow", frames=8)
    lm = LatentModel(M.build_autoencoder(config), config)
    stream = StreamingLatentModel(lm, block_frames=1, compute_hops=0)
    assert stream.mode == "block" and stream.latency_frames == lm.lookahead_frames == 2
    assert stream.window_frames == lm.past_frames + 1 + lm.lookahead_frames
    features = rng.random((20, 33)).astype(np.float32)
    out = _stream(stream, features, np.ones(3, np.float32))
    for t in (7, 12, 19):  # push t returns input frame t - latency, seen in the window ending at t
        expected = lm.process(features[t - 7:t + 1])[7 - stream.latency_frames]
        np.testing.assert_allclose(out[t], expected, atol=1e-5)
    with pytest.raises(ConfigError, match="numpy"):
        StreamingLatentModel(lm, backend="numpy")


@pytest.mark.parametrize("arch,changes,block,spread", [
    ("shallow", {"frames": 8}, None, None), ("dilated", {"frames": 24}, 5, 0), ("dilated", {"frames": 24}, 5, 5),
    ("dilres", {"frames": 48, "depth": 2}, None, None), ("dilres", {"frames": 48, "depth": 2}, 3, 0),
    ("dilres", {"frames": 64, "depth": 2, "pool_time": 2}, None, 1), ("deep", {"frames": 32, "pool_time": 2}, 8, 3)])
def test_block_mode_equals_offline_transform_where_the_receptive_field_is_covered(
        arch: str, changes: dict, block: int | None, spread: int | None, rng: np.random.Generator) -> None:
    config = tiny(arch, **changes)
    norm = NormStats(mean=rng.random(33).astype(np.float32), std=np.full(33, 1.5, np.float32))
    lm = LatentModel(M.build_autoencoder(config), config, norm_stats=norm)
    assert lm.past_frames + lm.lookahead_frames < lm.frames  # offline transform has full context
    stream = StreamingLatentModel(lm, block_frames=block, compute_hops=spread)
    b = default_block_frames(lm) if block is None else block
    k = default_compute_hops(b) if spread is None else spread
    assert stream.mode == "block" and stream.block_frames == b and stream.compute_hops == k
    assert stream.latency_frames == lm.lookahead_frames + b - 1 + k
    features = rng.random((90, 33)).astype(np.float32)
    scales = np.array([1.0, 0.3, 1.7], np.float32)
    offline = lm.transform(features, scales)
    latency = stream.latency_frames
    t = np.arange(lm.past_frames, len(features) - latency)  # receptive field after reset, within input
    for _ in range(2):  # reset restarts from silence
        out = _stream(stream, features, scales)
        np.testing.assert_allclose(out[t + latency], offline[t], rtol=1e-5, atol=1e-5)
        stream.reset()


def test_default_block_follows_receptive_field_and_training_window() -> None:
    wide = tiny("dilres", frames=48, depth=2)
    lm = LatentModel(M.build_autoencoder(wide), wide, warm_up=False)
    assert default_block_frames(lm) == min(lm.receptive_field_frames, 48 - lm.past_frames - lm.lookahead_frames)
    narrow = tiny("dilres", frames=16, depth=2)  # receptive field wider than the window: B = R
    lm = LatentModel(M.build_autoencoder(narrow), narrow, warm_up=False)
    assert default_block_frames(lm) == lm.receptive_field_frames
    pooled = tiny("deep", frames=32, pool_time=2)  # pooling 4 frames: B rounded up to a multiple of 4
    lm = LatentModel(M.build_autoencoder(pooled), pooled, warm_up=False)
    assert default_block_frames(lm) % 4 == 0
    with pytest.raises(ConfigError, match="multiple"):
        StreamingLatentModel(lm, block_frames=6)
    with pytest.raises(ConfigError, match="block_frames"):
        StreamingLatentModel(lm, block_frames=0)
    with pytest.raises(ConfigError, match="compute_hops"):
        StreamingLatentModel(lm, block_frames=8, compute_hops=9)


def test_block_mode_latent_frames_and_no_input_decoding(rng: np.random.Generator) -> None:
    config = tiny("dilated", frames=24)
    lm = LatentModel(M.build_autoencoder(config), config)
    stream = StreamingLatentModel(lm, block_frames=4, compute_hops=2)
    features = rng.random((40, 33)).astype(np.float32)
    latent = lm.encode(features[:24])  # offline latent of the first window
    latency = stream.latency_frames
    for t, frame in enumerate(features[:24]):
        stream.push(frame)
        source = t - latency
        if lm.past_frames <= source < 24 - lm.lookahead_frames:
            np.testing.assert_allclose(stream.latent_frame, latent[source], rtol=1e-5, atol=1e-5)
    held = latent[12]
    scales = np.array([0.5, 1.0, 2.0], np.float32)
    decoded = [stream.push_latent(held, scales).copy() for _ in range(8)]
    # after the next block boundary every hop decodes the held latent repeated over the window
    window = np.repeat((held * scales)[None], 24, axis=0)
    expected = lm.decode(window)[12]
    np.testing.assert_allclose(decoded[-1], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(decoded[-1], decoded[-2])


def test_push_validates_shapes(rng: np.random.Generator) -> None:
    config = tiny("residual", causal=True)
    stream = StreamingLatentModel(LatentModel(M.build_autoencoder(config), config))
    with pytest.raises(ConfigError, match="frame"):
        stream.push(np.zeros(32, np.float32))
    with pytest.raises(ConfigError, match="scales"):
        stream.push(np.zeros(33, np.float32), np.ones(2, np.float32))
    with pytest.raises(ConfigError, match="backend"):
        StreamingLatentModel(stream.latent_model, backend="cuda")
    out = stream.push(rng.random(33).astype(np.float32))
    assert out.shape == (33,) and out.dtype == np.float32


@pytest.mark.parametrize("arch", ["dense", "dilres"])
def test_latent_frame_and_push_latent_agree_across_backends(arch: str, rng: np.random.Generator) -> None:
    config = tiny(arch, causal=True, frames=8, depth=1)
    lm = LatentModel(M.build_autoencoder(config), config)
    features = rng.random((8, 33)).astype(np.float32)
    scales = np.array([1.0, 0.5, 2.0, 1.0][:config.n_units], np.float32)
    latent = lm.encode(features)
    streams = {b: StreamingLatentModel(lm, backend=b) for b in ("numpy", "tf")}
    for backend, stream in streams.items():
        assert stream.latent_frame_shape == lm.latent_frame_shape
        for t, frame in enumerate(features):
            stream.push(frame, scales)
            np.testing.assert_allclose(stream.latent_frame, latent[t], atol=1e-5)
    held = latent[-1]
    decoded = {b: s.push_latent(held, scales).copy() for b, s in streams.items()}
    np.testing.assert_allclose(decoded["numpy"], decoded["tf"], atol=1e-5)
    if arch == "dense":
        np.testing.assert_allclose(decoded["numpy"], lm.decode((held * scales)[None])[0], atol=1e-5)
    with pytest.raises(ConfigError, match="latent frame"):
        streams["numpy"].push_latent(np.zeros(3, np.float32))


def _shipped_latent_models() -> list:
    """Shipped latent models (inversion models, without latent metadata, are left out)."""
    import zipfile

    from instrument.models.io import METADATA_ENTRY
    from presets import PRESETS_DIR

    found = []
    for path in sorted((PRESETS_DIR / "models").glob("*.keras")):
        with zipfile.ZipFile(path) as archive:
            if METADATA_ENTRY in archive.namelist():
                found.append(path)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", _shipped_latent_models(), ids=lambda p: p.stem)
def test_shipped_models_stream_like_offline_transform(path, rng: np.random.Generator) -> None:
    from instrument.models.io import load_latent_model

    lm = load_latent_model(path)
    stream = StreamingLatentModel(lm)
    features = np.abs(rng.standard_normal((3 * lm.frames + 40, lm.n_bins))).astype(np.float32)
    offline = lm.transform(features)
    latency = stream.latency_frames
    assert latency == (lm.lookahead_frames + stream.block_frames - 1 + stream.compute_hops
                       if stream.mode == "block" else 0)
    out = _stream(stream, features, np.ones(lm.n_units, np.float32))
    t = np.arange(lm.past_frames, len(features) - latency)
    np.testing.assert_allclose(out[t + latency], offline[t], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("freq_template", [False, True])
def test_frequency_bias_and_context_layers_stream_on_numpy(freq_template: bool,
                                                           rng: np.random.Generator) -> None:
    config = tiny("dilres", causal=True, frames=24, depth=1, freq_bias=True, freq_context=4,
                  freq_template=freq_template)
    assert M.past_frames(config) < config.frames  # transform is exact for this config
    model = M.build_autoencoder(config)
    names = {type(layer).__name__ for layer in model.layers}
    assert {"FrequencyBias", "FrequencyContext"} <= names
    for layer in model.layers:  # non-zero weights (they start as the identity) so the layers matter
        if type(layer).__name__ in ("FrequencyBias", "FrequencyContext"):
            for weight in layer.weights:
                weight.assign(rng.standard_normal(tuple(weight.shape)).astype(np.float32) * 0.3)
    lm = LatentModel(model, config)
    features = rng.random((30, 33)).astype(np.float32)
    scales = np.array([1.0, 0.5, 2.0], np.float32)
    offline = lm.transform(features, scales)
    stream = StreamingLatentModel(lm, backend="numpy")
    assert stream.backend == "numpy" and stream.mode == "cached"
    np.testing.assert_allclose(_stream(stream, features, scales), offline, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["dense", "dilres"])
def test_latent_scaling_agrees_in_layer_numpy_reference_and_streaming(arch: str,
                                                                      rng: np.random.Generator) -> None:
    import keras

    from instrument.models.layers.autoencoder import LatentScale
    from instrument.models.scales import check_scales, scale_latent

    config = tiny(arch, causal=True, frames=8, depth=1)
    lm = LatentModel(M.build_autoencoder(config), config)
    scales = np.array([1.0, 0.0, 2.5, 0.3][:config.n_units], np.float32)
    features = rng.random((8, 33)).astype(np.float32)
    latent = lm.encode(features)  # dense (8, 4), conv (8, F', 3)
    reference = scale_latent(latent, scales)
    layer = LatentScale(name="faders")
    inp = keras.Input(shape=latent.shape[1:])
    model = keras.Model(inp, layer(inp))
    layer.scale.assign(scales)
    np.testing.assert_array_equal(model(latent, training=False).numpy(), reference)
    buffer = np.empty_like(latent)
    assert scale_latent(latent, scales, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, reference)
    expected = lm.decode(reference)
    np.testing.assert_allclose(lm.process(features, scales), expected, atol=1e-5)
    for backend in ("numpy", "tf"):
        stream = StreamingLatentModel(lm, backend=backend)
        np.testing.assert_allclose(_stream(stream, features, scales), expected, atol=1e-4)
    with pytest.raises(ConfigError, match=r"scales must have shape \(3,\)"):
        check_scales(np.ones(4), 3)
