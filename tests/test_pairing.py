"""Pairing source/target notes by name, by pyin pitch and by dynamic; alignment; errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrument.config import AudioConfig, SpectralConfig, StftConfig
from instrument.errors import DatasetError
from notes_fixtures import tone, write_notes
from training.pairing import align_audio, load_pairs

SMALL = SpectralConfig(audio=AudioConfig(sample_rate=8000), stft=StftConfig(n_fft=256, hop_length=64))


def test_pairs_by_name_with_unpaired_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_notes(tmp_path / "src", [("flute_C4.wav", 60), ("flute_Bb3.wav", 58), ("flute_E4.wav", 64)])
    write_notes(tmp_path / "tgt", [("Clarinet.ff.C4.aif", 60), ("clarinet_A#3.wav", 58),
                                   ("clarinet_62.wav", 62)], brightness=0.8)
    result = load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL)
    got = {(p.source.path.name, p.target.path.name) for p in result.pairs}
    assert got == {("flute_C4.wav", "Clarinet.ff.C4.aif"), ("flute_Bb3.wav", "clarinet_A#3.wav")}
    assert [p.name for p in result.unpaired_sources] == ["flute_E4.wav"]
    assert [p.name for p in result.unpaired_targets] == ["clarinet_62.wav"]
    for pair in result.pairs:
        assert pair.source_spectrum.shape == pair.target_spectrum.shape
    printed = capsys.readouterr().out
    assert "| C4 |" in printed and "unpaired source files: flute_E4.wav" in printed


def test_pairs_by_pyin_pitch_when_names_have_none(tmp_path: Path) -> None:
    write_notes(tmp_path / "src", [("take_a.wav", 69), ("take_b.wav", 57)], seconds=0.8)
    write_notes(tmp_path / "tgt", [("other_x.wav", 57), ("other_y.wav", 69)], seconds=0.8,
                brightness=0.8)
    result = load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, verbose=False)
    got = {(p.source.path.name, p.target.path.name, p.midi) for p in result.pairs}
    assert got == {("take_a.wav", "other_y.wav", 69), ("take_b.wav", "other_x.wav", 57)}


def test_pairs_by_dynamic(tmp_path: Path) -> None:
    write_notes(tmp_path / "src", [("Flute.pp.C4.aif", 60), ("Flute.ff.C4.aif", 60)])
    write_notes(tmp_path / "tgt", [("Clarinet.ff.C4.aif", 60), ("Clarinet.pp.C4.aif", 60),
                                   ("Clarinet.mf.C4.aif", 60)])
    result = load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, verbose=False)
    got = {(p.source.info.dynamic, p.target.info.dynamic) for p in result.pairs}
    assert got == {("pp", "pp"), ("ff", "ff")}
    assert [p.name for p in result.unpaired_targets] == ["Clarinet.mf.C4.aif"]


def test_subfolders_pair_only_with_the_same_named_subfolder(tmp_path: Path) -> None:
    for kit in ("fluid", "muse"):
        write_notes(tmp_path / "src" / kit, [("flute_C4.wav", 60), ("flute_E4.wav", 64)])
    write_notes(tmp_path / "tgt" / "fluid", [("clarinet_C4.wav", 60), ("clarinet_E4.wav", 64)])
    write_notes(tmp_path / "tgt" / "muse", [("clarinet_C4.wav", 60)], brightness=0.8)
    result = load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, verbose=False)
    got = {(p.source.path.parent.name, p.target.path.parent.name, p.midi) for p in result.pairs}
    assert got == {("fluid", "fluid", 60), ("fluid", "fluid", 64), ("muse", "muse", 60)}
    assert result.unpaired_sources == [tmp_path / "src" / "muse" / "flute_E4.wav"]
    assert "| C4 | - | muse/flute_C4.wav | muse/clarinet_C4.wav |" in result.table()
    # a flat target folder: subfolders of the source do not restrict pairing
    write_notes(tmp_path / "flat", [("clarinet_C4.wav", 60), ("clarinet_E4.wav", 64)])
    assert len(load_pairs(tmp_path / "src", tmp_path / "flat", SMALL, verbose=False).pairs) == 4


def test_onset_alignment_trims_to_common_length() -> None:
    sr = 8000
    a = tone(60, 0.5, sr, delay_seconds=0.10)
    b = tone(60, 0.7, sr, delay_seconds=0.25)
    x, y = align_audio(a, b, sr)
    assert x.shape == y.shape
    onset_x = int(np.argmax(np.abs(x) > 0.01))
    onset_y = int(np.argmax(np.abs(y) > 0.01))
    assert abs(onset_x - onset_y) <= 512  # within one onset-detection hop
    x2, y2 = align_audio(a, b, sr, length=sr)
    assert x2.shape == y2.shape == (sr,)


def test_no_pairs_raises(tmp_path: Path) -> None:
    write_notes(tmp_path / "src", [("flute_C4.wav", 60)])
    write_notes(tmp_path / "tgt", [("clarinet_D4.wav", 62)])
    with pytest.raises(DatasetError, match="no source/target pairs"):
        load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, verbose=False)


def test_empty_folder_raises(tmp_path: Path) -> None:
    write_notes(tmp_path / "src", [("flute_C4.wav", 60)])
    (tmp_path / "tgt").mkdir()
    with pytest.raises(DatasetError, match="tgt"):
        load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, verbose=False)


def test_mismatched_sample_rates_raise(tmp_path: Path) -> None:
    write_notes(tmp_path / "src", [("flute_C4.wav", 60)], sample_rate=8000)
    (tmp_path / "tgt").mkdir()
    sf.write(str(tmp_path / "tgt" / "clarinet_C4.wav"), tone(60, 0.6, 16000), 16000)
    with pytest.raises(DatasetError, match="16000"):
        load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, verbose=False)
    assert len(load_pairs(tmp_path / "src", tmp_path / "tgt", SMALL, resample=True,
                          verbose=False).pairs) == 1
