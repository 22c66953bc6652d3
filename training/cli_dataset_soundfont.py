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
from instrument.io.output_paths import check_writable_dir
from instrument.errors import DatasetError, SynthError
from training.notes import midi_to_note, parse_note_range
from instrument.synths.soundfont import (GM_PROGRAMS, MAX_NOTE_SECONDS, _check_sample_rate,
                                         find_soundfont, render_note)

#: Most parallel fluidsynth processes.
MAX_WORKERS = 64


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


def file_stem(instrument: str, prefix: str | None) -> str:
    """The file name stem (``flute`` in ``flute_G3.wav``): a plain name, never a path.

    Raises:
        DatasetError: the prefix is empty, holds a path separator, or starts with '.'.
    """
    raw = instrument if prefix is None else prefix
    stem = raw.strip().lower().replace(" ", "-")
    if (not stem or stem.startswith(".") or any(c in stem for c in "/\\\0")
            or stem in (".", "..")):
        raise DatasetError(f"prefix {raw!r} must be a plain file name part: not empty, no '/', "
                           "'\\' or NUL, not starting with '.'")
    return stem


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else repr(value)


def check_note_settings(seconds: float, release_seconds: float, velocity: int, sample_rate: int,
                        workers: int) -> None:
    """Bounds of every size the command line sets, checked before anything is rendered.

    Raises:
        SynthError: a value outside its range (names the value and the limit).
    """
    if not 0 < seconds <= MAX_NOTE_SECONDS:
        raise SynthError(f"--seconds {_shown(seconds)} must be in (0, {MAX_NOTE_SECONDS:g}] s per note")
    if not 0 <= release_seconds <= MAX_NOTE_SECONDS:
        raise SynthError(f"--release {_shown(release_seconds)} must be in 0..{MAX_NOTE_SECONDS:g} s")
    if isinstance(velocity, bool) or not isinstance(velocity, int) or not 1 <= velocity <= 127:
        raise SynthError(f"--velocity {velocity!r} must be an integer in 1..127")
    _check_sample_rate(sample_rate)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise SynthError(f"--workers {workers!r} must be an integer in 1..{MAX_WORKERS}")


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
    Raises:
        SynthError: unknown instrument, bad SoundFont, a value out of range.
        DatasetError: a prefix that is not a plain name, an unwritable output folder.
    """
    program = resolve_program(instrument)
    check_note_settings(seconds, release_seconds, velocity, sample_rate, workers)
    stem = file_stem(instrument, prefix)
    sf2 = str(find_soundfont(soundfont))
    out_dir = check_writable_dir(out_dir, "output folder", error=DatasetError)
    out_dir.mkdir(parents=True, exist_ok=True)
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
