"""Synthetic note files for the dataset/pairing/training tests (no external data)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf


def tone(midi: float, seconds: float, sample_rate: int, brightness: float = 0.5,
         delay_seconds: float = 0.05, amplitude: float = 0.3) -> np.ndarray:
    """A harmonic note with attack/decay, preceded by ``delay_seconds`` of silence."""
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = np.zeros_like(t)
    for k in range(1, 9):
        if k * f0 < sample_rate / 2:
            y += brightness ** (k - 1) * np.sin(2 * np.pi * k * f0 * t)
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-t * 1.5)
    y = amplitude * y * envelope / np.max(np.abs(y))
    return np.concatenate([np.zeros(int(delay_seconds * sample_rate)), y]).astype(np.float32)


def write_notes(folder: Path, names_midis: Sequence[tuple[str, float]], sample_rate: int = 8000,
                seconds: float = 0.6, brightness: float = 0.5, delay_seconds: float = 0.05) -> list[Path]:
    """Write one WAV per (file name, MIDI pitch) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, midi in names_midis:
        path = folder / name
        fmt = "AIFF" if path.suffix.lower() in (".aif", ".aiff") else None
        sf.write(str(path), tone(midi, seconds, sample_rate, brightness, delay_seconds), sample_rate,
                 format=fmt)
        paths.append(path)
    return paths
