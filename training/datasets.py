"""Note folders -> log1p-magnitude spectra -> seeded note split -> tf.data windows.

A note is one audio file. Spectra are time-major, shape ``(frames, n_bins)``.
Training samples are windows of ``frames`` consecutive spectrum frames; the
source/target of a sample come from the same note (autoencoder) or from the
two aligned notes of a pair (transfer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from instrument.io.audio_files import load_audio
from instrument.config import SpectralConfig
from instrument.errors import AudioFileError, ConfigError, DatasetError
from instrument.dsp.spectral import features
from training.notes import NoteInfo, parse_file_name

#: Suffixes loaded from note folders.
NOTE_SUFFIXES = (".wav", ".aif", ".aiff", ".flac", ".ogg")


@dataclass
class Note:
    """One loaded note.

    Attributes:
        path: the file.
        audio: mono float32 samples at the config rate, shape ``(samples,)``.
        spectrum: ``log1p|STFT|``, shape ``(frames, n_bins)``.
        info: pitch/dynamic parsed from the name (pitch may be filled by pyin later).
    """

    path: Path
    audio: np.ndarray
    spectrum: np.ndarray
    info: NoteInfo

    @property
    def key(self) -> str:
        """Split key: the MIDI pitch when known, else the file stem."""
        return f"midi{self.info.midi}" if self.info.midi is not None else self.path.stem


@dataclass
class FolderReport:
    """Result of loading a folder: the notes and every skipped file with its reason."""

    folder: Path
    notes: list[Note] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.folder}: {len(self.notes)} notes loaded, {len(self.skipped)} skipped"]
        lines += [f"  skipped {path.name}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)


def list_note_files(folder: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Audio files under ``folder`` (recursive, sorted) and the other files, with the reason.

    Raises:
        DatasetError: the folder does not exist or holds no audio file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder")
    audio: list[Path] = []
    other: list[tuple[Path, str]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in NOTE_SUFFIXES:
            audio.append(path)
        else:
            other.append((path, f"not an audio file ({', '.join(NOTE_SUFFIXES)})"))
    if not audio:
        raise DatasetError(f"{folder}: no audio files ({', '.join(NOTE_SUFFIXES)}) in this folder")
    return audio, other


def load_note(path: Path, config: SpectralConfig, min_frames: int = 1) -> Note:
    """Load one note file as a :class:`Note` (raises AudioFileError when unusable)."""
    audio = load_audio(path, config.audio)
    if float(np.max(np.abs(audio))) < 1e-5:
        raise AudioFileError(f"{path}: silent (peak below -100 dBFS)")
    spectrum = features(audio, config.stft)
    if spectrum.shape[0] < min_frames:
        raise AudioFileError(f"{path}: {spectrum.shape[0]} frames, shorter than {min_frames}")
    return Note(path=path, audio=audio, spectrum=spectrum, info=parse_file_name(path))


def load_note_folder(folder: str | Path, config: SpectralConfig, min_frames: int = 1,
                     verbose: bool = False) -> FolderReport:
    """Load every note under ``folder`` with ``config``; unusable files are reported, not fatal.

    Raises:
        DatasetError: the folder is missing, has no audio file, or no file could be loaded.
    """
    files, other = list_note_files(folder)
    report = FolderReport(folder=Path(folder), skipped=list(other))
    for path in files:
        try:
            report.notes.append(load_note(path, config, min_frames))
        except AudioFileError as exc:
            report.skipped.append((path, str(exc).removeprefix(f"{path}: ")))
    if verbose:
        print(report.summary())
    if not report.notes:
        raise DatasetError(f"{folder}: none of the {len(files)} audio files could be loaded:\n"
                           + report.summary())
    return report


#: How :func:`split_keys` picks validation notes.
SPLITS = ("random", "between")


def _pitch(key: str) -> int | None:
    return int(key[4:]) if key.startswith("midi") and key[4:].isdigit() else None


def split_keys(keys: Sequence[str], val_fraction: float, seed: int,
               split: str = "random") -> tuple[list[str], list[str]]:
    """Seeded split of note keys into (train, validation); each key lands in exactly one.

    With two or more keys both sides get at least one key.

    ``split="random"`` holds out a seeded random set of keys. ``split="between"`` (pitch keys
    ``midi<N>`` only; otherwise random) holds out seeded random pitches that lie *between*
    training pitches: never the lowest or highest pitch and never two neighbours in the sorted
    pitch list, so validation measures interpolation to new pitches rather than extrapolation
    past the range or across a whole gap of missing notes (a random split of 37 FluidR3
    clarinet notes can hold out every note of one multi-sample, which no model can have heard).

    Raises:
        ConfigError: ``val_fraction`` outside [0, 1) or an unknown ``split``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val fraction must be in [0, 1), got {val_fraction}")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    unique = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_val = int(round(val_fraction * len(unique)))
    if val_fraction > 0 and len(unique) >= 2:
        n_val = min(max(n_val, 1), len(unique) - 1)
    pitches = [_pitch(k) for k in unique]
    if split == "between" and None not in pitches and len(unique) >= 3:
        chosen = _between(pitches, [int(i) for i in order], n_val)
    else:
        chosen = [int(i) for i in order[:n_val]]
    val = sorted(unique[i] for i in chosen)
    train = sorted(set(unique) - set(val))
    return train, val


def _between(pitches: list[int | None], order: list[int], n_val: int) -> list[int]:
    """Indices of ``n_val`` keys in seeded ``order``: inner pitches with no held-out neighbour
    first; if the range is too small for that, the remaining keys in ``order``."""
    rank = {p: r for r, p in enumerate(sorted(pitches))}
    last = len(pitches) - 1
    chosen: list[int] = []
    taken: set[int] = set()
    for i in order:
        r = rank[pitches[i]]
        if 0 < r < last and r - 1 not in taken and r + 1 not in taken and len(chosen) < n_val:
            chosen.append(i)
            taken.add(r)
    chosen += [i for i in order if i not in chosen][:n_val - len(chosen)]
    return chosen


@dataclass
class WindowSet:
    """Aligned input/target spectra of several notes, stored end to end.

    Attributes:
        inputs: shape ``(total_frames, n_bins)`` float32.
        targets: same shape as ``inputs``.
        starts: first frame of each note, shape ``(notes,)`` int64.
        lengths: frames of each note, shape ``(notes,)`` int64.
        names: one label per note.
    """

    inputs: np.ndarray
    targets: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    names: list[str]

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                   names: Sequence[str]) -> "WindowSet":
        """Build from (input, target) spectra with equal frames per pair."""
        if not pairs:
            raise DatasetError("no notes to make windows from")
        for (x, y), name in zip(pairs, names):
            if x.shape != y.shape:
                raise DatasetError(f"{name}: input {x.shape} and target {y.shape} are not aligned")
        lengths = np.array([x.shape[0] for x, _ in pairs], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(inputs=np.concatenate([x for x, _ in pairs]).astype(np.float32),
                   targets=np.concatenate([y for _, y in pairs]).astype(np.float32),
                   starts=starts, lengths=lengths, names=list(names))

    @property
    def n_bins(self) -> int:
        return int(self.inputs.shape[1])

    def window_offsets(self, frames: int, stride: int) -> np.ndarray:
        """Start frame (into the concatenation) of every window, shape ``(windows,)``.

        Notes shorter than ``frames`` are skipped; the last window of each note ends at its end.
        """
        offsets: list[int] = []
        for start, length in zip(self.starts, self.lengths):
            if length < frames:
                continue
            local = list(range(0, int(length) - frames + 1, stride))
            if local[-1] != length - frames:
                local.append(int(length) - frames)
            offsets.extend(int(start) + o for o in local)
        if not offsets:
            raise DatasetError(f"every note is shorter than the {frames}-frame window "
                               f"(longest has {int(self.lengths.max())} frames); use fewer --frames")
        return np.asarray(offsets, np.int64)

    def note_bounds(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and last valid window start of the note holding each offset."""
        note = np.searchsorted(self.starts, offsets, side="right") - 1
        return self.starts[note], self.starts[note] + self.lengths[note]

    def mean_input_frame(self) -> np.ndarray:
        """Mean log1p-magnitude input frame, shape ``(n_bins,)``."""
        return self.inputs.mean(axis=0).astype(np.float32)


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation.

    Attributes:
        gain_db: gains drawn uniformly in ``[-gain_db, +gain_db]`` dB, applied to input and
            target alike in the log domain: ``log1p(g * expm1(x))``.
        shift_frames: window starts jittered by up to this many frames (within the note).
        pitch_shift: frequency axis of input and target stretched by the same ratio
            ``2 ** (u / 12)``, ``u`` uniform in ``[-pitch_shift, +pitch_shift]`` semitones
            (one ratio per window; see :func:`stretch_bins`). 0 disables.
        input_eq_db: a smooth random EQ of the INPUT only (see :func:`random_eq_db`), at most
            about this many dB at any frequency, so a transfer model learns to make the target's
            timbre from any similar input rather than from one recording's exact spectrum. 0 disables.
    """

    gain_db: float = 6.0
    shift_frames: int = 2
    pitch_shift: float = 0.0
    input_eq_db: float = 0.0

    def __post_init__(self) -> None:
        if self.gain_db < 0 or self.shift_frames < 0:
            raise ConfigError(f"augmentation must be non-negative, got {self}")
        if not 0.0 <= self.pitch_shift <= 12.0:
            raise ConfigError(f"pitch shift must be in 0..12 semitones, got {self.pitch_shift}")
        if not 0.0 <= self.input_eq_db <= 24.0:
            raise ConfigError(f"input EQ must be in 0..24 dB, got {self.input_eq_db}")


#: Cosine terms over log frequency in :func:`random_eq_db` (besides the tilt).
EQ_TERMS = 3


def random_eq_db(n_bins: int, max_db: float):
    """A smooth random EQ curve in dB, ``(n_bins,)`` tf: a tilt over log frequency plus
    :data:`EQ_TERMS` cosines over log frequency, weights uniform so the sum stays within
    about ``+-max_db``."""
    import tensorflow as tf

    octaves = tf.math.log(tf.maximum(tf.range(n_bins, dtype=tf.float32), 1.0)) / tf.math.log(2.0)
    position = octaves / tf.reduce_max(octaves)  # 0 .. 1 over log frequency
    weights = tf.random.uniform((EQ_TERMS + 1,), -1.0, 1.0) * (max_db / (EQ_TERMS + 1))
    curve = weights[0] * (2.0 * position - 1.0)
    for k in range(1, EQ_TERMS + 1):
        curve += weights[k] * tf.cos(float(k) * 3.14159265 * position)
    return curve


def stretch_bins(x, ratio):
    """Stretch the last (frequency) axis by ``ratio`` with linear interpolation (tf).

    Output bin ``k`` takes the input at fractional bin ``k / ratio``, so a peak at bin
    ``p`` moves to ``p * ratio`` (a pitch shift by ``ratio`` of a harmonic spectrum).
    Positions past the last bin repeat the last bin.

    Args:
        x: float tensor ``(..., n_bins)``.
        ratio: positive scalar tensor.
    Returns:
        Tensor of the shape of ``x``.
    """
    import tensorflow as tf

    n_bins = tf.shape(x)[-1]
    last = tf.cast(n_bins - 1, tf.float32)
    pos = tf.minimum(tf.range(tf.cast(n_bins, tf.float32)) / tf.cast(ratio, tf.float32), last)
    low = tf.floor(pos)
    frac = tf.cast(pos - low, x.dtype)
    i0 = tf.cast(low, tf.int32)
    i1 = tf.minimum(i0 + 1, n_bins - 1)
    return tf.gather(x, i0, axis=-1) * (1.0 - frac) + tf.gather(x, i1, axis=-1) * frac


def make_dataset(windows: WindowSet, frames: int, batch_size: int, *, training: bool,
                 seed: int = 0, augmentation: Augmentation | None = None,
                 stride: int | None = None, per_frame: bool = False):
    """A ``tf.data.Dataset`` of ``(input, target)`` batches, each ``(batch, frames, n_bins)``.

    ``per_frame`` flattens each batch to ``(batch * frames, n_bins)`` (frame-wise dense models).

    Training: shuffled (seeded), jittered start frames, random gain, optional pitch shift
    (:func:`stretch_bins`); validation: fixed windows.
    """
    import tensorflow as tf

    stride = stride or max(1, frames // 2)
    offsets = windows.window_offsets(frames, stride)
    low, high = windows.note_bounds(offsets)
    inputs = tf.constant(windows.inputs)
    targets = tf.constant(windows.targets)
    frame_range = tf.range(frames, dtype=tf.int64)
    ds = tf.data.Dataset.from_tensor_slices((offsets, low, high - frames))
    if training:
        ds = ds.shuffle(len(offsets), seed=seed, reshuffle_each_iteration=True)
    aug = augmentation if training else None

    def take(offset, first, last):
        if aug is not None and aug.shift_frames > 0:
            shift = tf.random.uniform((), -aug.shift_frames, aug.shift_frames + 1, dtype=tf.int64)
            offset = tf.clip_by_value(offset + shift, first, last)
        index = offset + frame_range
        x = tf.gather(inputs, index)
        y = tf.gather(targets, index)
        if aug is not None and aug.gain_db > 0:
            gain_db = tf.random.uniform((), -aug.gain_db, aug.gain_db)
            gain = tf.pow(10.0, gain_db / 20.0)
            x = tf.math.log1p(gain * tf.math.expm1(x))
            y = tf.math.log1p(gain * tf.math.expm1(y))
        if aug is not None and aug.pitch_shift > 0:
            semitones = tf.random.uniform((), -aug.pitch_shift, aug.pitch_shift)
            ratio = tf.pow(2.0, semitones / 12.0)
            x = stretch_bins(x, ratio)
            y = stretch_bins(y, ratio)
        if aug is not None and aug.input_eq_db > 0:
            eq_gain = tf.pow(10.0, random_eq_db(windows.n_bins, aug.input_eq_db) / 20.0)
            x = tf.math.log1p(eq_gain * tf.math.expm1(x))
        return x, y

    ds = ds.map(take, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    ds = ds.batch(batch_size, drop_remainder=False)
    if per_frame:
        n_bins = windows.n_bins
        ds = ds.map(lambda x, y: (tf.reshape(x, (-1, n_bins)), tf.reshape(y, (-1, n_bins))))
    return ds.prefetch(tf.data.AUTOTUNE)
