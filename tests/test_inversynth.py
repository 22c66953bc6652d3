"""The built-in InverSynth renderer: shapes, determinism, and that each stage does its job."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.errors import SynthError
from instrument.dsp.spectral import features as reference_features
from instrument.synths.registry import get_synth
from instrument.synths.base import Synth


@pytest.fixture(scope="module")
def synth() -> Synth:
    return get_synth("inversynth")


def _base(synth: Synth, **values: float) -> np.ndarray:
    """A plain patch: only the saw sounds, no FM, full sustain, gate off, open filter."""
    spec = synth.spec
    v = spec.default_values()
    preset = {"A_sin": 0.001, "A_saw": 1.0, "A_tri": 0.001, "A_sqr": 0.001,
              "B_sin": 0.0, "B_saw": 0.0, "B_tri": 0.0, "B_sqr": 0.0, "f_saw": 440.0,
              "a": 0.001, "d": 0.001, "s": 1.0, "r": 0.001, "f_gate": 0.5, "f_cut": 4000.0,
              "q": 0.7, **values}
    for name, value in preset.items():
        v[spec.index(name)] = value
    return v


def test_shapes_and_peak(synth: Synth, rng: np.random.Generator) -> None:
    values = synth.random_patches(rng, 5)
    assert values.shape == (5, 23)
    audio = synth.render(values)
    assert audio.shape == (5, 16384) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    np.testing.assert_allclose(np.abs(audio).max(axis=1), 1.0, atol=1e-5)
    feats = synth.features(audio)
    assert feats.shape == (5, 64, 257) and feats.dtype == np.float32


def test_deterministic_and_batch_independent(synth: Synth, rng: np.random.Generator) -> None:
    values = synth.random_patches(rng, 4)
    batch = synth.render(values)
    np.testing.assert_array_equal(batch, synth.render(values))
    np.testing.assert_allclose(batch[2], synth.render(values[2:3])[0])


def test_features_match_project_stft(synth: Synth, rng: np.random.Generator) -> None:
    audio = synth.render(synth.random_patches(rng, 1))
    ref = reference_features(audio[0], StftConfig(n_fft=512, hop_length=256))
    np.testing.assert_allclose(synth.features(audio)[0], ref[:64], atol=1e-4)


def test_features_are_the_clip_framing_of_the_one_stft(synth: Synth, rng: np.random.Generator) -> None:
    from instrument.dsp.spectral import frame_count, stft_magnitude

    spec = synth.spec
    audio = synth.render(synth.random_patches(rng, 3))
    np.testing.assert_array_equal(synth.features(audio),
                                  stft_magnitude(audio, spec.stft, pad_end=False, log=True))
    assert spec.n_frames == frame_count(spec.n_samples, spec.stft, pad_end=False) == 64


def test_features_of_a_batch_are_each_clip_s_features_across_chunk_boundaries(
        synth: Synth, rng: np.random.Generator) -> None:
    from instrument.dsp.spectral import STFT_CHUNK_CLIPS

    count = 2 * STFT_CHUNK_CLIPS + 3  # two full chunks and a partial one
    audio = synth.render(synth.random_patches(rng, count))
    batch = synth.features(audio)
    for i in (0, STFT_CHUNK_CLIPS - 1, STFT_CHUNK_CLIPS, count - 1):
        np.testing.assert_array_equal(batch[i], synth.features(audio[i:i + 1])[0])


def _band_energy(audio: np.ndarray, sample_rate: int, lo_hz: float, hi_hz: float) -> float:
    spec = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sample_rate)
    return float(spec[(freqs >= lo_hz) & (freqs < hi_hz)].sum() / spec.sum())


def test_cutoff_lowers_high_frequency_energy(synth: Synth) -> None:
    audio = synth.render(np.stack([_base(synth, f_cut=4000.0), _base(synth, f_cut=200.0)]))
    open_hf = _band_energy(audio[0], 16384, 2000, 8192)
    closed_hf = _band_energy(audio[1], 16384, 2000, 8192)
    assert open_hf > 0.02
    assert closed_hf < open_hf / 100


def test_resonance_boosts_the_cutoff_region(synth: Synth) -> None:
    audio = synth.render(np.stack([_base(synth, f_cut=2000.0, q=0.7),
                                   _base(synth, f_cut=2000.0, q=10.0)]))
    flat = _band_energy(audio[0], 16384, 1600, 2400)
    peaky = _band_energy(audio[1], 16384, 1600, 2400)
    assert peaky > 3 * flat


def test_gater_modulates_amplitude(synth: Synth) -> None:
    audio = synth.render(np.stack([_base(synth, f_gate=0.5), _base(synth, f_gate=8.0)]))
    hop = 16384 // 32  # 32 blocks of 1/32 s; the 8 Hz gate is open 2 blocks, shut 2
    rms = np.sqrt((audio.reshape(2, 32, hop) ** 2).mean(axis=2))
    ungated = rms[0, 2:24]  # before the release at 0.75 s
    assert ungated.min() > 0.3 * ungated.max()
    gated = rms[1].reshape(8, 4)  # 8 gate periods of 4 blocks: open, open, closed, closed
    assert np.all(gated[:6, 2:] < 1e-3 * gated[:6, :2].max())
    assert np.all(gated[:6, 1] > 0.1)


def test_attack_and_pitch(synth: Synth) -> None:
    audio = synth.render(np.stack([_base(synth, a=0.001), _base(synth, a=0.5),
                                   _base(synth, f_saw=880.0)]))
    first = np.abs(audio[:, :1638]).max(axis=1)  # first 0.1 s
    assert first[1] < 0.5 * first[0]
    spectrum = np.abs(np.fft.rfft(audio[2]))
    assert abs(np.fft.rfftfreq(16384, 1 / 16384)[spectrum.argmax()] - 880.0) < 3.0


def test_frequency_modulation_spreads_the_spectrum(synth: Synth) -> None:
    audio = synth.render(np.stack([_base(synth, A_saw=0.001, A_sin=1.0, f_sin=440.0),
                                   _base(synth, A_saw=0.001, A_sin=1.0, f_sin=440.0, B_sin=300.0, v_sin=10.0)]))
    narrow = _band_energy(audio[0], 16384, 430, 450)
    wide = _band_energy(audio[1], 16384, 430, 450)
    assert narrow > 0.9 and wide < 0.5


def test_bad_values_raise(synth: Synth) -> None:
    with pytest.raises(SynthError, match="shape"):
        synth.render(np.zeros((2, 5)))
    with pytest.raises(SynthError, match="finite"):
        synth.render(np.full((1, 23), np.nan))
    with pytest.raises(SynthError, match="unknown synth 'moog'.*inversynth"):
        get_synth("moog")


@pytest.mark.slow
def test_cli_random_then_render(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    import soundfile as sf

    from instrument.cli import main as cli_main

    patch = tmp_path / "p.json"
    wav = tmp_path / "p.wav"
    assert cli_main(["synth", "random", "--synth", "inversynth", "--seed", "4", "-o", str(patch)]) == 0
    assert cli_main(["synth", "render", "--synth", "inversynth", "--patch", str(patch),
                     "-o", str(wav)]) == 0
    audio, rate = sf.read(str(wav))
    assert rate == 16384 and audio.shape == (16384,) and np.abs(audio).max() > 0.9
    # a patch for another synth is refused with exit code 2
    assert cli_main(["synth", "render", "--synth", "fluidsynth", "--patch", str(patch),
                     "-o", str(wav)]) == 2
