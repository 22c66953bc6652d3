"""Pair source and target notes (by pitch, then dynamic) and align each pair in time.

Pitch comes from the file name (see :mod:`training.notes`), else from
``librosa.pyin``. When both notes name a dynamic the same dynamic is preferred,
then the nearest one. When both folders hold subfolders (one per recording set or
SoundFont: ``flute/FluidR3/flute_C4.wav`` and ``clarinet/FluidR3/clarinet_C4.wav``),
notes pair only within the subfolders of the same name. Each pair is onset-aligned
(``librosa.onset``) and trimmed or padded to a common length before analysis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import librosa
import numpy as np
import soundfile as sf

from instrument.config import SpectralConfig
from instrument.errors import DatasetError
from instrument.dsp.spectral import features
from training.datasets import Note, list_note_files, load_note_folder
from training.notes import dynamic_distance, midi_to_note


@dataclass
class NotePair:
    """An aligned source/target pair.

    Attributes:
        source, target: the notes (their ``audio`` is the original file).
        midi: the shared pitch.
        source_spectrum, target_spectrum: aligned ``log1p|STFT|``, both ``(frames, n_bins)``.
    """

    source: Note
    target: Note
    midi: int
    source_spectrum: np.ndarray
    target_spectrum: np.ndarray

    @property
    def key(self) -> str:
        return f"midi{self.midi}"

    @property
    def name(self) -> str:
        return f"{midi_to_note(self.midi)} {self.source.path.name} -> {self.target.path.name}"


@dataclass
class PairingResult:
    pairs: list[NotePair]
    unpaired_sources: list[Path]
    unpaired_targets: list[Path]
    skipped: list[tuple[Path, str]]
    #: notes paired within same-named subfolders (the table then names each file's subfolder)
    grouped: bool = False

    def table(self) -> str:
        """The pairing table and the unpaired/skipped files, as text."""
        lines = ["| note | dynamic | source | target | frames |", "|---|---|---|---|---|"]
        def shown(path: Path) -> str:
            return f"{path.parent.name}/{path.name}" if self.grouped else path.name

        for p in self.pairs:
            dyn = p.source.info.dynamic or p.target.info.dynamic or "-"
            lines.append(f"| {midi_to_note(p.midi)} | {dyn} | {shown(p.source.path)} | "
                         f"{shown(p.target.path)} | {p.source_spectrum.shape[0]} |")
        lines.append(f"{len(self.pairs)} pairs")
        if self.unpaired_sources:
            lines.append("unpaired source files: " + ", ".join(p.name for p in self.unpaired_sources))
        if self.unpaired_targets:
            lines.append("unpaired target files: " + ", ".join(p.name for p in self.unpaired_targets))
        for path, reason in self.skipped:
            lines.append(f"skipped {path}: {reason}")
        return "\n".join(lines)


def estimate_midi(audio: np.ndarray, sample_rate: int) -> int | None:
    """Median pyin pitch of the voiced frames, rounded to MIDI; None if unvoiced."""
    f0, voiced, _ = librosa.pyin(audio, fmin=librosa.note_to_hz("C2"), fmax=librosa.note_to_hz("C7"),
                                 sr=sample_rate, frame_length=2048)
    f0 = f0[voiced & np.isfinite(f0)] if voiced is not None else np.array([])
    if f0.size == 0:
        return None
    return int(np.round(librosa.hz_to_midi(float(np.median(f0)))))


def fill_pitches(notes: Sequence[Note], sample_rate: int) -> list[tuple[Path, str]]:
    """Estimate the pitch of every note whose name gives none; returns the notes still without."""
    failed: list[tuple[Path, str]] = []
    for note in notes:
        if note.info.midi is None:
            midi = estimate_midi(note.audio, sample_rate)
            if midi is None:
                failed.append((note.path, "no pitch in the name and pyin found no voiced frames"))
            else:
                note.info = dataclasses.replace(note.info, midi=midi)
    return failed


def native_sample_rates(folder: str | Path) -> dict[int, list[Path]]:
    """Native sample rate -> files, for the audio files under ``folder``."""
    files, _ = list_note_files(folder)
    rates: dict[int, list[Path]] = {}
    for path in files:
        try:
            rate = int(sf.info(str(path)).samplerate)
        except (sf.LibsndfileError, RuntimeError):
            continue
        rates.setdefault(rate, []).append(path)
    return rates


def check_sample_rates(source: str | Path, target: str | Path) -> None:
    """Raise DatasetError when the two folders' files have different native sample rates."""
    src, tgt = native_sample_rates(source), native_sample_rates(target)
    if src and tgt and set(src) != set(tgt):
        only_src = {r: [p.name for p in src[r][:3]] for r in set(src) - set(tgt)}
        only_tgt = {r: [p.name for p in tgt[r][:3]] for r in set(tgt) - set(src)}
        raise DatasetError(
            f"sample rates differ between {source} ({sorted(src)} Hz) and {target} ({sorted(tgt)} Hz); "
            f"rates missing from the target: {only_src or 'none'}; missing from the source: "
            f"{only_tgt or 'none'}. Resample the files or pass --resample to convert both.")


def first_onset(audio: np.ndarray, sample_rate: int) -> int:
    """Sample index of the first onset (backtracked), 0 when none is found."""
    onsets = librosa.onset.onset_detect(y=audio, sr=sample_rate, units="samples", backtrack=True)
    return int(onsets[0]) if len(onsets) else 0


def align_audio(source: np.ndarray, target: np.ndarray, sample_rate: int,
                length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Onset-align two notes and trim/pad both to ``length`` samples (default: the shorter).

    Returns:
        two float32 arrays of equal shape ``(length,)``.
    """
    a = source[first_onset(source, sample_rate):]
    b = target[first_onset(target, sample_rate):]
    n = length if length is not None else min(len(a), len(b))

    def fit(y: np.ndarray) -> np.ndarray:
        return np.pad(y[:n], (0, max(0, n - len(y)))).astype(np.float32)

    return fit(a), fit(b)


def choose_target(source: Note, candidates: Sequence[Note]) -> Note:
    """Same dynamic first, then the nearest dynamic, then the first candidate (sorted by name)."""
    if source.info.dynamic is not None:
        named = [c for c in candidates if c.info.dynamic is not None]
        if named:
            return min(named, key=lambda c: (dynamic_distance(source.info.dynamic, c.info.dynamic),
                                             c.path.name))
    return candidates[0]


def note_group(note: Note, root: Path) -> str:
    """The subfolder of ``root`` a note lies in (``"."`` for the folder itself)."""
    try:
        return note.path.parent.relative_to(root).as_posix()
    except ValueError:
        return "."


def pair_notes(sources: Sequence[Note], targets: Sequence[Note], config: SpectralConfig,
               length_seconds: float | None = None,
               groups: tuple[Path, Path] | None = None) -> PairingResult:
    """Pair notes with known pitches and align each pair; targets may serve several sources.

    ``groups``: the (source, target) root folders; when given and both hold notes in subfolders,
    a note pairs only with notes of the same-named subfolder (:func:`note_group`).
    """
    src_group = {n.path: "." for n in sources}
    tgt_group = {n.path: "." for n in targets}
    if groups is not None:
        by_source = {n.path: note_group(n, groups[0]) for n in sources}
        by_target = {n.path: note_group(n, groups[1]) for n in targets}
        if set(by_source.values()) != {"."} and set(by_target.values()) != {"."}:
            src_group, tgt_group = by_source, by_target
    by_pitch: dict[tuple[str, int], list[Note]] = {}
    for note in sorted(targets, key=lambda n: n.path.name):
        if note.info.midi is not None:
            by_pitch.setdefault((tgt_group[note.path], note.info.midi), []).append(note)
    length = None if length_seconds is None else int(round(length_seconds * config.sample_rate))
    pairs: list[NotePair] = []
    used: set[Path] = set()
    unpaired_sources: list[Path] = []
    for note in sorted(sources, key=lambda n: (n.info.midi if n.info.midi is not None else -1,
                                                n.path.name)):
        candidates = (by_pitch.get((src_group[note.path], note.info.midi))
                      if note.info.midi is not None else None)
        if not candidates:
            unpaired_sources.append(note.path)
            continue
        target = choose_target(note, candidates)
        used.add(target.path)
        a, b = align_audio(note.audio, target.audio, config.sample_rate, length)
        pairs.append(NotePair(source=note, target=target, midi=int(note.info.midi),
                              source_spectrum=features(a, config.stft),
                              target_spectrum=features(b, config.stft)))
    unpaired_targets = [n.path for n in targets if n.path not in used]
    return PairingResult(pairs=pairs, unpaired_sources=unpaired_sources,
                         unpaired_targets=unpaired_targets, skipped=[],
                         grouped=any(g != "." for g in src_group.values()))


def load_pairs(source: str | Path, target: str | Path, config: SpectralConfig,
               resample: bool = False, length_seconds: float | None = None,
               verbose: bool = True) -> PairingResult:
    """Load two note folders, pair them by pitch/dynamic and align each pair.

    Raises:
        DatasetError: empty/missing folder, mismatched sample rates (unless ``resample``),
            or no pairs found (names what is unpaired).
    """
    source, target = Path(source), Path(target)
    src_report = load_note_folder(source, config)
    tgt_report = load_note_folder(target, config)
    if not resample:
        check_sample_rates(source, target)
    skipped = src_report.skipped + tgt_report.skipped
    skipped += fill_pitches(src_report.notes, config.sample_rate)
    skipped += fill_pitches(tgt_report.notes, config.sample_rate)
    result = pair_notes(src_report.notes, tgt_report.notes, config, length_seconds,
                        groups=(source, target))
    result.skipped = skipped
    if verbose:
        print(result.table())
    if not result.pairs:
        src_pitches = sorted({midi_to_note(n.info.midi) for n in src_report.notes if n.info.midi is not None})
        tgt_pitches = sorted({midi_to_note(n.info.midi) for n in tgt_report.notes if n.info.midi is not None})
        raise DatasetError(
            f"no source/target pairs found: {source} has pitches {src_pitches or 'none'}, "
            f"{target} has pitches {tgt_pitches or 'none'}; name files like flute_C4.wav "
            "or give notes with a clear pitch")
    return result
