"""Rebuild ``presets/real-notes/``: held notes of real instruments from a SoundFont no inversion
model was trained on (TimGM6mb), for ``latent bench inversion --real``.

    python -m training.make_real_notes [--soundfont FILE] [--out-dir DIR]    (or: make real-notes)

Writes ``<instrument>_<note>.wav`` for flute, clarinet, oboe, trumpet and violin at A4, E5 and A5
(inside inversynth's 440-1046 Hz note range) and C4 and C7 (outside it): each note held 1 s and
cut at note-off (the synth's 1 s clip), rendered dry by fluidsynth at 16384 Hz (the synth's rate),
mono 16-bit, peak-normalised to ``PEAK``. Deterministic: fluidsynth renders the same samples every
time. Needs the Debian packages fluidsynth and timgm6mb-soundfont.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from instrument.io.audio_files import save_audio
from instrument.synths.soundfont import GM_PROGRAMS, find_soundfont, render_note
from presets import PRESETS_DIR
from training.notes import note_to_midi

SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
SAMPLE_RATE = 16384
PEAK = 0.7
SECONDS = 1.0
VELOCITY = 100
INSTRUMENTS = ("flute", "clarinet", "oboe", "trumpet", "violin")
NOTES = ("C4", "A4", "E5", "A5", "C7")
OUT_DIR = PRESETS_DIR / "real-notes"


def render(instrument: str, note: str, soundfont: str) -> np.ndarray:
    """One held note, peak-normalised to ``PEAK``; shape ``(round(SECONDS * SAMPLE_RATE),)``."""
    y = render_note(GM_PROGRAMS[instrument], note_to_midi(note), VELOCITY, SECONDS, SAMPLE_RATE,
                    soundfont=soundfont, release_seconds=0.0)
    peak = float(np.abs(y).max())
    return (y * (PEAK / peak)).astype(np.float32) if peak > 0 else y


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--soundfont", default=SOUNDFONT, help=f"SoundFont file (default {SOUNDFONT})")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where to write the WAV files")
    args = parser.parse_args(argv)
    soundfont = str(find_soundfont(args.soundfont))
    jobs = [(i, n) for i in INSTRUMENTS for n in NOTES]
    for instrument, note in tqdm(jobs, desc="rendering real notes", unit="note"):
        save_audio(args.out_dir / f"{instrument}_{note}.wav", render(instrument, note, soundfont),
                   SAMPLE_RATE)
    print(f"wrote {len(jobs)} notes to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
