"""The fluidsynth SoundFont renderer, with the real fluidsynth program and FluidR3_GM."""

from __future__ import annotations

import shutil

import mido
import numpy as np
import pytest

from instrument.errors import SynthError
from instrument.synths.soundfont import (GM_PROGRAMS, build_midi, find_soundfont, fluidsynth_binary,
                                render_messages, render_midi_file, render_note)

SR = 22050


def _have_soundfont() -> bool:
    try:
        find_soundfont(None)
        return True
    except SynthError:
        return False


needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not _have_soundfont(),
    reason="fluidsynth or FluidR3_GM.sf2 not installed (Debian packages fluidsynth, fluid-soundfont-gm)")


def test_gm_programs_are_zero_based() -> None:
    assert GM_PROGRAMS["flute"] == 73
    assert GM_PROGRAMS["clarinet"] == 71
    assert GM_PROGRAMS["violin"] == 40
    assert GM_PROGRAMS["piano"] == 0
    assert GM_PROGRAMS["saw lead"] == 81
    assert all(0 <= p <= 127 for p in GM_PROGRAMS.values())


def test_missing_soundfont_raises(tmp_path) -> None:
    missing = tmp_path / "nothing.sf2"
    with pytest.raises(SynthError, match="nothing.sf2"):
        find_soundfont(missing)


def test_missing_midi_file_raises(tmp_path) -> None:
    if shutil.which("fluidsynth") is None or not _have_soundfont():
        pytest.skip("fluidsynth not installed")
    with pytest.raises(SynthError, match="missing.mid"):
        render_midi_file(tmp_path / "missing.mid", SR)


def test_bad_note_arguments_raise() -> None:
    with pytest.raises(SynthError, match="note"):
        render_note(73, 200, 100, 1.0, SR)
    with pytest.raises(SynthError, match="velocity"):
        render_note(73, 60, 0, 1.0, SR)


def test_build_midi_timing() -> None:
    midi = build_midi([(0.5, mido.Message("note_on", note=60, velocity=90)),
                       (0.0, mido.Message("program_change", program=73)),
                       (1.0, mido.Message("note_off", note=60))], total_seconds=2.0)
    assert midi.length == pytest.approx(2.0, abs=1e-3)
    kinds = [m.type for m in midi.tracks[0] if not m.is_meta]
    assert kinds == ["program_change", "note_on", "note_off"]


@needs_fluidsynth
def test_fluidsynth_binary_found() -> None:
    assert fluidsynth_binary().endswith("fluidsynth")


@needs_fluidsynth
def test_render_note_is_deterministic_and_pitched() -> None:
    y = render_note(GM_PROGRAMS["flute"], 69, 100, 0.8, SR, release_seconds=0.2)
    assert y.dtype == np.float32 and y.shape == (round(1.0 * SR),)
    assert 0.01 < np.abs(y).max() < 1.0
    again = render_note(GM_PROGRAMS["flute"], 69, 100, 0.8, SR, release_seconds=0.2)
    np.testing.assert_array_equal(y, again)
    seg = y[SR // 10: SR // 10 + 8192]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    peak_hz = np.argmax(spectrum) * SR / len(seg)
    assert abs(peak_hz - 440.0) < 10.0


@needs_fluidsynth
def test_render_messages_with_controller_and_silence() -> None:
    msgs = [(0.0, mido.Message("program_change", program=GM_PROGRAMS["clarinet"])),
            (0.0, mido.Message("control_change", control=7, value=127)),
            (0.5, mido.Message("note_on", note=60, velocity=100)),
            (1.0, mido.Message("note_off", note=60))]
    y = render_messages(msgs, 1.5, SR)
    assert y.shape == (round(1.5 * SR),)
    assert np.abs(y[: SR // 2 - 100]).max() < 1e-4  # silent before the note
    assert np.abs(y[SR // 2 + 2000: SR]).max() > 0.01
