"""Loading and saving audio files (soundfile, with librosa for other codecs).

Every loaded signal is mono float32 at the requested sample rate. Every failure
raises :class:`AudioFileError` naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from instrument.config import AudioConfig
from instrument.errors import AudioFileError
from instrument.io.output_paths import atomic_path

AUDIO_SUFFIXES = (".wav", ".aif", ".aiff", ".flac", ".ogg", ".mp3")
#: Writable suffix -> (libsndfile format, subtype).
_WRITE_FORMATS = {".wav": ("WAV", "PCM_16"), ".aif": ("AIFF", "PCM_16"), ".aiff": ("AIFF", "PCM_16"),
                  ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


#: WAV data sizes that streaming writers leave as placeholders (length unknown when written).
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)


def check_wav_complete(path: str | Path) -> None:
    """Raise AudioFileError when a RIFF/WAVE file holds fewer audio bytes than its header says.

    libsndfile reads such a truncated file without complaint (the missing end is simply
    absent), so a cut-off copy would otherwise play, render or train as a shorter file.
    Files that are not RIFF/WAVE, and placeholder sizes of streamed WAVs, are not checked.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            header = stream.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return
            offset = 12
            for _ in range(1000):  # chunk headers walked; real files have a handful
                stream.seek(offset)
                chunk = stream.read(8)
                if len(chunk) < 8:
                    return
                declared = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    available = size - offset - 8
                    if declared not in _UNKNOWN_WAV_SIZES and declared > available:
                        raise AudioFileError(
                            f"{path}: truncated WAV: the header declares {declared} bytes of audio, "
                            f"the file holds {max(available, 0)}")
                    return
                offset += 8 + declared + (declared & 1)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _read(path: Path) -> tuple[np.ndarray, int]:
    """Read samples, shape ``(samples,)`` or ``(samples, channels)``, and the file's rate."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=False)
        return data, int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as sf_exc:
        # soundfile cannot decode it (e.g. mp3 on an old libsndfile): let librosa's audioread try.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, rate = librosa.load(str(path), sr=None, mono=False)
            return np.asarray(data, np.float32).T, int(rate)
        except Exception as exc:  # audioread raises many unrelated types
            raise AudioFileError(f"{path}: cannot decode audio ({sf_exc}; {exc})") from exc


def load_audio(path: str | Path, config: AudioConfig | None = None,
               max_seconds: float | None = None) -> np.ndarray:
    """Load any common audio file as mono float32 at ``config.sample_rate``.

    Args:
        path: wav, aif/aiff, flac, ogg, or mp3 where the system codec allows.
        config: target sample rate and length limit (defaults: 22050 Hz, 600 s).
        max_seconds: overrides ``config.max_seconds``.
    Returns:
        float32 array, shape ``(samples,)``.
    Raises:
        AudioFileError: missing, unreadable/corrupt, truncated (a WAV shorter than its
            header says), empty, non-finite, or too long.
    """
    config = config or AudioConfig()
    limit = config.max_seconds if max_seconds is None else max_seconds
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: file is empty (0 bytes)")
    check_wav_complete(path)
    try:
        info = sf.info(str(path))
        if info.frames and info.samplerate and info.frames / info.samplerate > limit:
            raise AudioFileError(
                f"{path}: {info.frames / info.samplerate:.1f} s is longer than the {limit:g} s limit")
    except (sf.LibsndfileError, RuntimeError):
        pass  # not a libsndfile format; checked after decoding
    data, rate = _read(path)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.size == 0:
        raise AudioFileError(f"{path}: contains no samples")
    if not np.all(np.isfinite(data)):
        raise AudioFileError(f"{path}: contains non-finite samples (NaN or Inf)")
    if data.size / rate > limit:
        raise AudioFileError(f"{path}: {data.size / rate:.1f} s is longer than the {limit:g} s limit")
    if rate != config.sample_rate:
        data = librosa.resample(data, orig_sr=rate, target_sr=config.sample_rate)
    return np.ascontiguousarray(data, dtype=np.float32)


def save_audio(path: str | Path, y: np.ndarray, sample_rate: int) -> Path:
    """Write mono float audio (shape ``(samples,)``) as a 16-bit WAV (or by suffix).

    The file is written under a temporary name in the same folder and renamed when complete,
    so an existing file is replaced only by a whole new one.

    Raises:
        AudioFileError: unknown suffix, or the file cannot be written (folder missing and not
            creatable, not writable, disk full); names ``path``; no partial file is left.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise AudioFileError(f"{path}: cannot write {suffix or 'files without a suffix'}; "
                             f"use one of {', '.join(_WRITE_FORMATS)}")
    file_format, subtype = _WRITE_FORMATS[suffix]
    data = np.clip(np.asarray(y, np.float32), -1.0, 1.0)
    if path.is_dir():
        raise AudioFileError(f"cannot write {path}: it is a folder")
    with atomic_path(path, "audio file") as tmp:
        try:
            sf.write(str(tmp), data, sample_rate, format=file_format, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
            # atomic_path removes the partial file; the message names the target, not the temporary
            raise AudioFileError(f"cannot write audio file {path}: {exc}") from exc
    return path


def list_audio_files(folder: str | Path) -> list[Path]:
    """Every audio file under ``folder`` (recursive), sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
