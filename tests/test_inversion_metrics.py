"""Inversion metrics: MPR and top-k (Barkan 6.1), PCC / F_delta / SC / LSD (6.1.3)."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.metrics import (audio_metrics, batch_stft_magnitude, mean_percentile_rank,
                                        pearson_rows, summarise, top_k_accuracy, top_k_by_group,
                                        true_class_ranks)


def test_mpr_is_100_for_perfect_0_for_worst_and_about_50_for_random(rng: np.random.Generator) -> None:
    classes = rng.integers(0, 16, size=(500, 3))
    perfect = np.eye(16)[classes]
    np.testing.assert_allclose(mean_percentile_rank(perfect + 0.01 * np.arange(16), classes), 100.0)
    worst = 1.0 - perfect + 0.001 * rng.random(perfect.shape)
    np.testing.assert_allclose(mean_percentile_rank(worst, classes), 0.0)
    random = mean_percentile_rank(rng.random((500, 3, 16)), classes)
    assert np.all(np.abs(random - 50.0) < 4.0)


def test_mpr_over_each_parameters_own_classes() -> None:
    """A 4-class parameter in an 8-class head: its worst guess is 0, not 100 * (1 - 3/7)."""
    from instrument.inversion.model import mask_invalid_classes

    scores = mask_invalid_classes(np.array([[[0.9, 0.5, 0.3, 0.1, 0, 0, 0, 0]]]), (4,))
    assert mean_percentile_rank(scores, np.array([[3]]), (4,))[0] == pytest.approx(0.0)
    assert mean_percentile_rank(scores, np.array([[3]]))[0] == pytest.approx(100 * (1 - 3 / 7))


def test_rank_definition_by_hand() -> None:
    scores = np.array([[[0.1, 0.9, 0.5, 0.3]]])         # order: 1, 2, 3, 0
    assert true_class_ranks(scores, np.array([[2]]))[0, 0] == 1
    assert mean_percentile_rank(scores, np.array([[2]]))[0] == pytest.approx(100 * (1 - 1 / 3))
    assert true_class_ranks(np.zeros((1, 1, 4)), np.array([[0]]))[0, 0] == 1.5   # ties count half


def test_top_k_and_groups() -> None:
    scores = np.array([[[0.1, 0.9, 0.5, 0.3], [0.7, 0.1, 0.2, 0.0]]])
    classes = np.array([[2, 0]])
    np.testing.assert_allclose(top_k_accuracy(scores, classes, 1), [0.0, 1.0])
    np.testing.assert_allclose(top_k_accuracy(scores, classes, 2), [1.0, 1.0])
    groups = top_k_by_group(scores, classes, {"a": [0], "b": [1]}, ks=(1, 2))
    assert groups == {"a": [0.0, 100.0], "b": [100.0, 100.0], "all": [50.0, 100.0]}
    with pytest.raises(ConfigError):
        top_k_accuracy(scores, classes, 0)
    with pytest.raises(ConfigError):
        mean_percentile_rank(scores, np.array([[4, 0]]))


def test_pearson_rows_edge_cases(rng: np.random.Generator) -> None:
    a = rng.random((3, 10))
    np.testing.assert_allclose(pearson_rows(a, a), 1.0, atol=1e-6)
    np.testing.assert_allclose(pearson_rows(a, -2 * a + 1), -1.0, atol=1e-6)
    flat = np.zeros((1, 10))
    assert pearson_rows(flat, flat)[0] == 1.0
    assert pearson_rows(flat, a[:1])[0] == 0.0


def test_audio_metrics_identity_and_difference(rng: np.random.Generator) -> None:
    t = np.arange(16384) / 16384
    x = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    assert batch_stft_magnitude(x).shape == (2, 257, 64)
    same = audio_metrics(x, x)
    np.testing.assert_allclose(same["pcc_stft"], 100.0, atol=1e-3)
    np.testing.assert_allclose(same["pcc_time"], 100.0, atol=1e-3)
    np.testing.assert_allclose(same["f_delta"], 0.0, atol=1e-6)
    np.testing.assert_allclose(same["sc"], 0.0, atol=1e-6)
    np.testing.assert_allclose(same["lsd_db"], 0.0, atol=1e-6)
    swapped = audio_metrics(x, x[::-1])
    assert np.all(swapped["pcc_stft"] < 50) and np.all(swapped["f_delta"] > 10)
    assert np.all(swapped["sc"] > 0.5) and np.all(swapped["lsd_db"] > 1)
    stats = summarise(swapped)
    assert set(stats["pcc_ft"]) == {"mean", "median"}
    with pytest.raises(ConfigError):
        audio_metrics(x, x[:, :100])


def test_metric_stft_is_the_clip_framing_of_the_one_stft(rng: np.random.Generator) -> None:
    from instrument.config import StftConfig
    from instrument.dsp.spectral import stft_magnitude

    x = rng.standard_normal((3, 16384)).astype(np.float32)
    clip = stft_magnitude(x, StftConfig(n_fft=512, hop_length=256), pad_end=False)
    np.testing.assert_array_equal(batch_stft_magnitude(x), clip.transpose(0, 2, 1))
    assert batch_stft_magnitude(x[0]).shape == (1, 257, 64)
    assert batch_stft_magnitude(x, n_fft=1024, hop_length=256).shape == (3, 513, 64)


def test_metric_stft_of_clips_shorter_than_a_hop_raises() -> None:
    with pytest.raises(ConfigError, match="100 samples"):
        batch_stft_magnitude(np.zeros((2, 100), np.float32))


def test_multiscale_spectral_and_mfcc_distances() -> None:
    from instrument.synths.registry import get_synth

    synth = get_synth("inversynth")
    x = synth.render(synth.random_patches(np.random.default_rng(8), 3))
    same = audio_metrics(x, x, synth.spec.sample_rate)
    np.testing.assert_allclose(same["mss"], 0.0, atol=1e-9)
    np.testing.assert_allclose(same["mfcc"], 0.0, atol=1e-4)
    other = audio_metrics(x, x[::-1], synth.spec.sample_rate)
    assert other["mss"][0] > 0.05 and other["mfcc"][0] > 1.0
    np.testing.assert_allclose(other["mss"][1], 0.0, atol=1e-9)   # the middle clip is itself
    assert "mss" not in audio_metrics(x, x)                        # only with a sample rate
