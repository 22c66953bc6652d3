"""Rebuild the shipped demo audio from the FluidR3_GM SoundFont (deterministic).

    python -m training.make_audio [--soundfont FILE] [--out-dir DIR]

Writes ``flute-phrase.wav`` (about 4 s, solo flute) and ``demo-loop.wav`` (8 s,
clarinet melody over cello bass and piano chords, loops cleanly) as 22050 Hz mono
16-bit WAV, each peak-normalised to ``PEAK``. Needs the Debian packages fluidsynth
and fluid-soundfont-gm.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import mido
import numpy as np

from instrument.io.audio_files import save_audio
from instrument.synths.soundfont import GM_PROGRAMS, TimedMessage, render_messages
from presets import PRESETS_DIR

SAMPLE_RATE = 22050
PEAK = 0.7
AUDIO_DIR = PRESETS_DIR / "audio"


def _notes(channel: int, program: int, notes: Sequence[tuple[float, float, int, int]]) -> list[TimedMessage]:
    """Program change then ``(start_s, duration_s, note, velocity)`` notes on one channel."""
    messages: list[TimedMessage] = [(0.0, mido.Message("program_change", channel=channel, program=program))]
    for start, duration, note, velocity in notes:
        messages.append((start, mido.Message("note_on", channel=channel, note=note, velocity=velocity)))
        messages.append((start + duration, mido.Message("note_off", channel=channel, note=note)))
    return messages


def flute_phrase() -> tuple[list[TimedMessage], float]:
    """A legato-ish solo flute phrase in C major, about 4 s."""
    pitches = [72, 74, 76, 79, 77, 76, 74, 72]
    durations = [0.4, 0.4, 0.4, 0.8, 0.4, 0.4, 0.4, 0.6]
    notes, t = [], 0.0
    for pitch, dur in zip(pitches, durations):
        notes.append((t, dur * 0.92, pitch, 96))
        t += dur
    return _notes(0, GM_PROGRAMS["flute"], notes), 4.2


def demo_loop() -> tuple[list[TimedMessage], float]:
    """Two bars at 120 bpm (4 s each): clarinet melody, cello bass, soft piano chords; 8 s."""
    beat = 0.5
    melody = [(0, 1, 69), (1, 1, 72), (2, 2, 76), (4, 1, 74), (5, 1, 72), (6, 1.5, 71), (7.5, 0.5, 72),
              (8, 2, 74), (10, 1, 77), (11, 1, 76), (12, 1, 74), (13, 1, 71), (14, 1.6, 69)]
    bass = [(0, 3.8, 45), (4, 3.8, 41), (8, 3.8, 43), (12, 3.6, 40)]
    chords = [(0, [57, 60, 64]), (4, [53, 57, 60]), (8, [55, 59, 62]), (12, [52, 56, 59])]
    messages = _notes(0, GM_PROGRAMS["clarinet"],
                      [(b * beat, d * beat * 0.95, n, 92) for b, d, n in melody])
    messages += _notes(1, GM_PROGRAMS["cello"], [(b * beat, d * beat, n, 80) for b, d, n in bass])
    piano = [(b * beat + 0.01 * i, 3.5 * beat, n, 52) for b, chord in chords for i, n in enumerate(chord)]
    messages += _notes(2, GM_PROGRAMS["piano"], piano)
    return messages, 8.0


def render(messages: list[TimedMessage], seconds: float, soundfont: str | None) -> np.ndarray:
    """Render and peak-normalise to ``PEAK``; shape ``(round(seconds * SAMPLE_RATE),)``."""
    y = render_messages(messages, seconds, SAMPLE_RATE, soundfont=soundfont)
    peak = float(np.abs(y).max())
    return (y * (PEAK / peak)).astype(np.float32) if peak > 0 else y


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--soundfont", default=None, help="SoundFont file (default FluidR3_GM.sf2)")
    parser.add_argument("--out-dir", type=Path, default=AUDIO_DIR, help="where to write the WAV files")
    args = parser.parse_args(argv)
    for name, build in (("flute-phrase.wav", flute_phrase), ("demo-loop.wav", demo_loop)):
        messages, seconds = build()
        path = save_audio(args.out_dir / name, render(messages, seconds, args.soundfont), SAMPLE_RATE)
        print(f"wrote {path.name} ({seconds:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
