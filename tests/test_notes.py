"""Note names, MIDI numbers and dynamics parsed from file names."""

from __future__ import annotations

import pytest

from instrument.errors import ConfigError
from training.notes import midi_to_note, note_to_midi, parse_file_name, parse_note_range


@pytest.mark.parametrize("name, midi", [("C4", 60), ("A4", 69), ("Bb3", 58), ("C#4", 61),
                                        ("G3", 55), ("G6", 91), ("C-1", 0), ("eb5", 75)])
def test_note_to_midi(name: str, midi: int) -> None:
    assert note_to_midi(name) == midi


def test_midi_to_note_round_trip() -> None:
    for midi in range(0, 128):
        assert note_to_midi(midi_to_note(midi)) == midi


@pytest.mark.parametrize("file_name, midi, dynamic", [
    ("Flute.ff.C4.aif", 60, "ff"),
    ("Flute.nonvib.pp.Bb3.aiff", 58, "pp"),
    ("flute_C4.wav", 60, None),
    ("clarinet-C#4.flac", 61, None),
    ("flute_60.wav", 60, None),
    ("Clarinet.mf.F5.stereo.aif", 77, "mf"),
    ("take.wav", None, None),
    ("violin p A3.wav", 57, "p"),
])
def test_parse_file_name(file_name: str, midi: int | None, dynamic: str | None) -> None:
    info = parse_file_name(file_name)
    assert (info.midi, info.dynamic) == (midi, dynamic)


def test_parse_note_range() -> None:
    assert parse_note_range("G3-G6") == list(range(55, 92))
    assert parse_note_range("C4,E4,G4") == [60, 64, 67]
    assert parse_note_range("60-62") == [60, 61, 62]


@pytest.mark.parametrize("bad", ["H4", "C4-B3", "", "200"])
def test_bad_note_text_raises(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_note_range(bad)
