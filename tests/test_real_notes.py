"""presets/real-notes (TimGM6mb notes) and `latent bench inversion --real DIR`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks import inversion as bench
from presets import PRESETS_DIR
from training import make_real_notes

NOTES = PRESETS_DIR / "real-notes"


def test_shipped_real_notes_are_small_synth_rate_mono_16_bit() -> None:
    files = sorted(NOTES.glob("*.wav"))
    assert len(files) == len(make_real_notes.INSTRUMENTS) * len(make_real_notes.NOTES)
    assert sum(f.stat().st_size for f in files) < 1.5e6
    for f in files:
        info = sf.info(f)
        assert (info.samplerate, info.channels, info.subtype) == (16384, 1, "PCM_16")
    assert "make real-notes" in (NOTES / "README.md").read_text()


@pytest.mark.skipif(not Path(make_real_notes.SOUNDFONT).is_file(), reason="timgm6mb-soundfont missing")
def test_the_build_script_renders_the_shipped_samples(tmp_path: Path) -> None:
    y = make_real_notes.render("oboe", "E5", make_real_notes.SOUNDFONT)
    shipped, rate = sf.read(NOTES / "oboe_E5.wav", dtype="float32")
    assert rate == make_real_notes.SAMPLE_RATE and len(y) == len(shipped)
    assert np.max(np.abs(y - shipped)) < 2 / 32768  # the same note, up to 16-bit rounding


def test_bench_real_prints_the_table_for_two_notes(tmp_path: Path, tiny_inversion_model,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_inversion_model("inversynth")
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("flute_A4.wav", "trumpet_C7.wav"):  # one inside the synth's range, one above it
        shutil.copy(NOTES / name, notes / name)
    out = tmp_path / "bench"
    assert bench.main(["--real", str(notes), "--model", str(model), "--refine-seconds", "0.2",
                       "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| flute_A4.wav |" in printed and "| trumpet_C7.wav |" in printed
    assert "refined pcc_stft" in printed and "**mean (2)**" in printed
    assert "trumpet_C7.wav: input pitch" in printed  # its warning, below the table
    doc = json.loads((out / "real.json").read_text())
    flute, trumpet = doc["sounds"]
    assert abs(flute["pitch_hz"] - 440) < 10 and not flute["warnings"] and trumpet["warnings"]
    assert set(doc["mean"]) == {"network", "refined"}
    assert set(doc["mean"]["refined"]) == {"pcc_stft", "mss", "lsd_db", "sc", "mfcc"}


def test_bench_real_baselines_add_rows_and_pictures(tmp_path: Path, tiny_inversion_model,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_inversion_model("inversynth")
    notes = tmp_path / "notes"
    notes.mkdir()
    shutil.copy(NOTES / "flute_A4.wav", notes / "flute_A4.wav")
    out = tmp_path / "bench"
    assert bench.main(["--real", str(notes), "--model", str(model), "--refine-seconds", "0.2",
                       "--baselines", "--train-count", "64", "--pairs", "1", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    for method in ("network", "refined", "search-only", "nearest", "random"):
        assert f"| {method} |" in printed
    doc = json.loads((out / "real.json").read_text())
    assert set(doc["mean"]) == {"network", "refined", "search-only", "nearest", "random"}
    assert (out / "flute_A4.png").stat().st_size > 10_000
