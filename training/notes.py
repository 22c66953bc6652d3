"""Note names, MIDI numbers and dynamics parsed from sample file names.

Understands Iowa MIS style (``Flute.ff.C4.aif``, ``Flute.nonvib.pp.Bb3.aiff``),
plain names (``flute_C4.wav``, ``clarinet-C#4.flac``) and MIDI numbers
(``flute_60.wav``). Octave numbering: C4 = MIDI 60 (scientific pitch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from instrument.errors import ConfigError

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: Dynamics from softest to loudest; the index orders them.
DYNAMICS = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")

_NOTE_RE = re.compile(r"^([A-Ga-g])(#|b|s|sharp|flat)?(-?\d)$")
_TOKEN_SPLIT = re.compile(r"[._\-\s]+")


def note_to_midi(name: str) -> int:
    """MIDI number of a note name such as ``C4`` (60), ``Bb3`` (58), ``C#4`` (61), ``A-1``.

    Raises:
        ConfigError: not a note name or outside MIDI 0..127.
    """
    match = _NOTE_RE.match(name.strip())
    if match is None:
        raise ConfigError(f"not a note name: {name!r} (expected e.g. C4, Bb3, C#4)")
    letter, accidental, octave = match.groups()
    midi = 12 * (int(octave) + 1) + PITCH_CLASSES[letter.upper()]
    if accidental in ("#", "s", "sharp"):
        midi += 1
    elif accidental in ("b", "flat"):
        midi -= 1
    if not 0 <= midi <= 127:
        raise ConfigError(f"note {name!r} is outside MIDI 0..127 (got {midi})")
    return midi


def midi_to_note(midi: int) -> str:
    """Note name with sharps, e.g. 61 -> ``C#4``."""
    if not 0 <= int(midi) <= 127:
        raise ConfigError(f"MIDI note must be in 0..127, got {midi}")
    return f"{SHARP_NAMES[int(midi) % 12]}{int(midi) // 12 - 1}"


def parse_note_range(text: str) -> list[int]:
    """MIDI numbers of ``G3-G6`` (inclusive range), ``C4,E4,G4`` or ``60-72``.

    Raises:
        ConfigError: malformed range or empty/reversed range.
    """
    notes: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        bounds = re.fullmatch(r"(\S+?)\s*(?:\.\.|-|:)\s*([A-Ga-g]\S*|\d+)", part)
        if bounds and not _NOTE_RE.match(part):
            low, high = (_one_note(b) for b in bounds.groups())
            if high < low:
                raise ConfigError(f"note range {part!r} runs backwards")
            notes.extend(range(low, high + 1))
        else:
            notes.append(_one_note(part))
    if not notes:
        raise ConfigError(f"no notes in {text!r}")
    return notes


def _one_note(token: str) -> int:
    if token.isdigit():
        value = int(token)
        if not 0 <= value <= 127:
            raise ConfigError(f"MIDI note must be in 0..127, got {value}")
        return value
    return note_to_midi(token)


@dataclass(frozen=True)
class NoteInfo:
    """What a file name says about its note.

    Attributes:
        midi: MIDI pitch, or None when the name gives none.
        dynamic: one of ``DYNAMICS`` or None.
    """

    midi: int | None
    dynamic: str | None


def parse_file_name(path: str | Path) -> NoteInfo:
    """Pitch and dynamic from a file name (the stem split on ``. _ -`` and spaces).

    A note-name token wins over a bare number; a number counts as MIDI only in 0..127
    and only if it is the last numeric token.
    """
    tokens = [t for t in _TOKEN_SPLIT.split(Path(path).stem) if t]
    midi: int | None = None
    dynamic: str | None = None
    numbers: list[int] = []
    for token in tokens:
        if midi is None and _NOTE_RE.match(token):
            try:
                midi = note_to_midi(token)
                continue
            except ConfigError:
                pass
        if dynamic is None and token.lower() in DYNAMICS and token != "F":
            dynamic = token.lower()
            continue
        if token.isdigit() and len(token) <= 3:
            numbers.append(int(token))
    if midi is None and numbers and 0 <= numbers[-1] <= 127:
        midi = numbers[-1]
    return NoteInfo(midi=midi, dynamic=dynamic)


def dynamic_distance(a: str, b: str) -> int:
    """Steps between two dynamics on the ``DYNAMICS`` scale."""
    return abs(DYNAMICS.index(a) - DYNAMICS.index(b))
