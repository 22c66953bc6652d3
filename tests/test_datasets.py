"""Note folders, the seeded note split, and the tf.data window pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from instrument.config import AudioConfig, SpectralConfig, StftConfig
from instrument.errors import ConfigError, DatasetError
from notes_fixtures import write_notes
from training.datasets import (Augmentation, WindowSet, load_note_folder, make_dataset, split_keys,
                               stretch_bins)

SMALL = SpectralConfig(audio=AudioConfig(sample_rate=8000), stft=StftConfig(n_fft=256, hop_length=64))


def test_load_folder_reports_skipped_files(tmp_path: Path) -> None:
    write_notes(tmp_path, [("flute_C4.wav", 60), ("flute_D4.wav", 62)], sample_rate=8000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    (tmp_path / "readme.txt").write_text("not audio")
    report = load_note_folder(tmp_path, SMALL)
    assert [n.path.name for n in report.notes] == ["flute_C4.wav", "flute_D4.wav"]
    skipped = {p.name: reason for p, reason in report.skipped}
    assert set(skipped) == {"broken.wav", "readme.txt"}
    assert "not an audio file" in skipped["readme.txt"]
    note = report.notes[0]
    assert note.spectrum.shape[1] == SMALL.stft.n_bins and note.info.midi == 60
    assert np.all(note.spectrum >= 0)


def test_empty_folder_raises_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    with pytest.raises(DatasetError, match="notes"):
        load_note_folder(tmp_path / "notes", SMALL)


def test_split_by_note_never_leaks_and_is_reproducible() -> None:
    keys = [f"midi{m}" for m in range(55, 92) for _ in range(3)]  # 3 files per pitch
    train, val = split_keys(keys, 0.2, seed=7)
    assert set(train).isdisjoint(val)
    assert set(train) | set(val) == set(keys)
    assert len(val) == round(0.2 * 37)
    assert split_keys(keys, 0.2, seed=7) == (train, val)
    assert split_keys(keys, 0.2, seed=8) != (train, val)
    _, val_small = split_keys(["a", "b"], 0.1, seed=0)
    assert len(val_small) == 1


def test_between_split_holds_out_inner_pitches_with_trained_neighbours() -> None:
    keys = [f"midi{m}" for m in range(55, 92)]
    train, val = split_keys(keys, 0.15, seed=0, split="between")
    assert len(val) == round(0.15 * 37) and set(train).isdisjoint(val)
    held = sorted(int(k[4:]) for k in val)
    assert 55 not in held and 91 not in held
    assert all(b - a >= 2 for a, b in zip(held, held[1:]))  # every held-out pitch has trained neighbours
    assert split_keys(keys, 0.15, seed=0, split="between") == (train, val)
    # a gapped pitch list (whole tones): neighbours are neighbours in the list, not in semitones
    whole = [f"midi{m}" for m in range(55, 92, 2)]
    _, val_whole = split_keys(whole, 0.3, seed=1, split="between")
    ranks = sorted(whole.index(k) for k in val_whole)
    assert all(b - a >= 2 for a, b in zip(ranks, ranks[1:])) and 0 not in ranks
    # keys without pitch fall back to the random split
    names = [f"take{i}" for i in range(10)]
    assert split_keys(names, 0.2, seed=3, split="between") == split_keys(names, 0.2, seed=3)


def test_unknown_split_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="split"):
        split_keys(["midi60", "midi61"], 0.5, seed=0, split="every-other")
    from training.train import TrainConfig

    with pytest.raises(ConfigError, match="split"):
        TrainConfig(split="stratified")


def _windows(rng: np.random.Generator, lengths: list[int], n_bins: int = 9) -> WindowSet:
    pairs = [(rng.random((n, n_bins), dtype=np.float32), rng.random((n, n_bins), dtype=np.float32))
             for n in lengths]
    return WindowSet.from_pairs(pairs, [f"n{i}" for i in range(len(lengths))])


def test_dataset_shapes_and_alignment(rng: np.random.Generator) -> None:
    ws = _windows(rng, [20, 13, 5])
    offsets = ws.window_offsets(8, 4)
    # windows never cross a note boundary; the 5-frame note is too short for 8 frames
    assert all(any(s <= o and o + 8 <= s + n for s, n in zip(ws.starts, ws.lengths)) for o in offsets)
    ds = make_dataset(ws, frames=8, batch_size=3, training=False)
    batches = list(ds.as_numpy_iterator())
    assert batches[0][0].shape == (3, 8, 9) and batches[0][1].shape == (3, 8, 9)
    assert sum(b[0].shape[0] for b in batches) == len(offsets)
    np.testing.assert_allclose(batches[0][0][0], ws.inputs[offsets[0]:offsets[0] + 8])
    np.testing.assert_allclose(batches[0][1][0], ws.targets[offsets[0]:offsets[0] + 8])
    flat = next(make_dataset(ws, 8, 3, training=False, per_frame=True).as_numpy_iterator())
    assert flat[0].shape == (24, 9)


def test_gain_augmentation_is_log_domain(rng: np.random.Generator) -> None:
    ws = _windows(rng, [16])
    ds = make_dataset(ws, frames=16, batch_size=1, training=True, seed=1,
                      augmentation=Augmentation(gain_db=12.0, shift_frames=0))
    x, y = next(ds.as_numpy_iterator())
    ratio_x = np.expm1(x[0]) / np.expm1(ws.inputs)
    ratio_y = np.expm1(y[0]) / np.expm1(ws.targets)
    # the same linear gain g on every bin of input and target, within +-12 dB
    assert np.allclose(ratio_x, ratio_x.flat[0], rtol=1e-3)
    assert np.allclose(ratio_y, ratio_x.flat[0], rtol=1e-3)
    assert 10 ** (-12 / 20) - 1e-4 <= ratio_x.flat[0] <= 10 ** (12 / 20) + 1e-4


def _harmonic_spectrum(n_bins: int, f0_bins: float, width_bins: float = 1.5) -> np.ndarray:
    """log1p magnitude of narrow peaks at the harmonics of ``f0_bins``, ``(n_bins,)``."""
    k = np.arange(n_bins)[:, None]
    harmonics = f0_bins * np.arange(1, int(2 * n_bins / f0_bins) + 1)[None]
    return np.log1p(np.exp(-0.5 * ((k - harmonics) / width_bins) ** 2).sum(axis=1)).astype(np.float32)


@pytest.mark.parametrize("semitones", [-3.0, 2.0])
def test_stretch_bins_moves_harmonic_peaks_by_the_ratio(semitones: float) -> None:
    ratio = 2 ** (semitones / 12)
    x = _harmonic_spectrum(257, 20.0)
    y = stretch_bins(x[None], ratio).numpy()[0]
    peaks = [int(round(20.0 * h * ratio)) for h in (1, 2, 3, 4)]
    for peak in peaks:  # each stretched peak is a local maximum at p * ratio (+-1 bin)
        window = y[peak - 4:peak + 5]
        assert abs(int(np.argmax(window)) - 4) <= 1
    # = the spectrum of the shifted tone (peaks widen by the ratio too), below the top bins
    expected = _harmonic_spectrum(257, 20.0 * ratio, 1.5 * ratio)
    np.testing.assert_allclose(y[:200], expected[:200], atol=0.03)
    np.testing.assert_allclose(stretch_bins(x[None], 1.0).numpy()[0], x, atol=1e-6)


def test_pitch_shift_augmentation_stretches_input_and_target_alike(rng: np.random.Generator) -> None:
    n_bins = 129
    pairs = [(np.tile(_harmonic_spectrum(n_bins, 10.0), (16, 1)),
              np.tile(_harmonic_spectrum(n_bins, 10.0) * 0.5, (16, 1)))]
    ws = WindowSet.from_pairs(pairs, ["a"])
    aug = Augmentation(gain_db=0.0, shift_frames=0, pitch_shift=3.0)
    ds = make_dataset(ws, frames=16, batch_size=1, training=True, seed=3, augmentation=aug)
    changed = 0
    for x, y in ds.repeat(8).as_numpy_iterator():
        np.testing.assert_allclose(y, 0.5 * x, atol=1e-6)  # same ratio on both sides
        changed += not np.allclose(x, ws.inputs[:16], atol=1e-3)
        first_peak = int(np.argmax(x[0, 0, :15]))
        assert 10 * 2 ** (-3 / 12) - 1 <= first_peak <= 10 * 2 ** (3 / 12) + 1
    assert changed >= 6


@pytest.mark.parametrize("semitones", [-1.0, 12.5])
def test_bad_pitch_shift_raises(semitones: float) -> None:
    with pytest.raises(ConfigError, match="pitch shift"):
        Augmentation(pitch_shift=semitones)


def test_input_eq_changes_only_the_input_smoothly_and_within_bounds() -> None:
    import tensorflow as tf

    from instrument.errors import ConfigError
    from training.datasets import Augmentation, random_eq_db

    tf.random.set_seed(3)
    curve = random_eq_db(513, 12.0).numpy()
    assert curve.shape == (513,) and np.all(np.abs(curve) <= 12.0 + 1e-4)
    assert np.max(np.abs(np.diff(curve[8:]))) < 0.5  # smooth over frequency
    with pytest.raises(ConfigError, match="input EQ"):
        Augmentation(input_eq_db=30.0)
