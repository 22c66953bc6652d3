"""`latent dataset soundfont`: render one WAV per note of a GM instrument with fluidsynth.

Files are named ``<instrument>_<note>.wav`` (e.g. ``flute_G3.wav``) so that
:mod:`training.pairing` pairs them by name.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from instrument.io.audio_files import save_audio
from instrument.errors import SynthError
from training.notes import midi_to_note, parse_note_range
from instrument.synths.soundfont import GM_PROGRAMS, find_soundfont, render_note


@dataclass(frozen=True)
class NoteJob:
    program: int
    midi: int
    velocity: int
    seconds: float
    release_seconds: float
    sample_rate: int
    soundfont: str
    path: str


def resolve_program(instrument: str) -> int:
    """GM program of an instrument name (``flute``) or number (``73``)."""
    name = instrument.strip().lower().replace("_", " ")
    if name in GM_PROGRAMS:
        return GM_PROGRAMS[name]
    if name.isdigit() and 0 <= int(name) <= 127:
        return int(name)
    raise SynthError(f"unknown instrument {instrument!r}; use a GM program number 0..127 or one of: "
                     + ", ".join(sorted(GM_PROGRAMS)))


def _render(job: NoteJob) -> str:
    audio = render_note(job.program, job.midi, job.velocity, job.seconds, job.sample_rate,
                        soundfont=job.soundfont, release_seconds=job.release_seconds)
    save_audio(job.path, audio, job.sample_rate)
    return job.path


def render_notes(instrument: str, notes: Sequence[int], out_dir: str | Path, *,
                 soundfont: str | Path | None = None, velocity: int = 100, seconds: float = 1.5,
                 release_seconds: float = 0.5, sample_rate: int = 22050, workers: int = 2,
                 prefix: str | None = None, progress: bool = True) -> list[Path]:
    """Render ``notes`` (MIDI numbers) of ``instrument`` into ``out_dir/<prefix>_<note>.wav``.

    Returns:
        the written files, in note order.
    """
    program = resolve_program(instrument)
    sf2 = str(find_soundfont(soundfont))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = (prefix or instrument).strip().lower().replace(" ", "-")
    jobs = [NoteJob(program, int(m), int(velocity), float(seconds), float(release_seconds),
                    int(sample_rate), sf2, str(out_dir / f"{stem}_{midi_to_note(m)}.wav"))
            for m in notes]
    bar = tqdm(total=len(jobs), desc=f"rendering {stem}", unit="note", disable=not progress)
    written: list[Path] = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for path in pool.map(_render, jobs):
                written.append(Path(path))
                bar.update(1)
    else:
        for job in jobs:
            written.append(Path(_render(job)))
            bar.update(1)
    bar.close()
    return written


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "soundfont", help="render one WAV per note of a GM instrument with fluidsynth",
        description="Render notes of a General MIDI instrument through a SoundFont (fluidsynth), "
                    "one file per note named <instrument>_<note>.wav (e.g. flute_G3.wav).")
    parser.add_argument("--soundfont", default=None,
                        help="SoundFont .sf2 (default: FluidR3_GM.sf2 from fluid-soundfont-gm)")
    parser.add_argument("--instrument", required=True,
                        help="GM instrument name (flute, clarinet, ...) or program number 0..127")
    parser.add_argument("--notes", default="G3-G6", help="notes, e.g. G3-G6, C4,E4,G4 or 60-72")
    parser.add_argument("--velocity", type=int, default=100, help="MIDI velocity 1..127")
    parser.add_argument("--seconds", type=float, default=1.5, help="held duration of each note (s)")
    parser.add_argument("--release", type=float, default=0.5, help="tail rendered after note off (s)")
    parser.add_argument("--sample-rate", type=int, default=22050, help="output sample rate (Hz)")
    parser.add_argument("--workers", type=int, default=2, help="parallel fluidsynth processes")
    parser.add_argument("--prefix", default=None, help="file name prefix (default: the instrument)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    notes = parse_note_range(args.notes)
    written = render_notes(args.instrument, notes, args.output, soundfont=args.soundfont,
                           velocity=args.velocity, seconds=args.seconds, release_seconds=args.release,
                           sample_rate=args.sample_rate, workers=args.workers, prefix=args.prefix)
    print(f"wrote {len(written)} notes to {args.output}")
    return 0
