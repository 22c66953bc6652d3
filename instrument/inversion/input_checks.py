"""What an input sound is, against what a synth can play: its pitch vs the synth's note range,
and octave transposition into that range.

* :func:`note_range_hz`: the notes a synth spec can play, from its spec: the range of its
  ``notes`` group frequency parameters (inversynth: the four oscillator frequencies, 440-1046.5 Hz),
  else the fixed MIDI ``options.note`` it plays (fluidsynth: note 60, 261.6 Hz).
* :func:`estimate_pitch_hz`: median fundamental of the voiced frames (librosa's pYIN).
* :func:`pitch_warning`: one line naming the input pitch and the synth's range when outside.
* :func:`octaves_into_range` / :func:`transpose`: whole octaves that bring a pitch into range, applied
  with ``librosa.effects.pitch_shift`` (phase vocoder time stretch + resampling), which keeps the
  clip's length so its envelope still lines up with the synth's note (plain resampling by 2 would
  halve the duration and double the attack speed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from instrument.errors import ConfigError

if TYPE_CHECKING:
    from instrument.synths.spec import SynthSpec

#: pYIN search range (Hz): C1..C8, capped below Nyquist.
PITCH_MIN_HZ = 32.70
PITCH_MAX_HZ = 4186.0
#: A pitch within this many semitones of the range still counts as inside (tuning, vibrato).
RANGE_TOLERANCE_SEMITONES = 0.5


def note_range_hz(spec: SynthSpec) -> tuple[float, float] | None:
    """(lowest, highest) note frequency the synth plays, or None when the spec does not say.

    From the ``notes`` group parameters (frequencies in Hz; a list-scale parameter named ``note``
    holds MIDI note numbers, as the dx7's, whose operators at ratio 0.5 reach an octave lower), else
    ``options.note`` (a fixed MIDI note: both ends equal).
    """
    notes = [p for p in spec.parameters if p.group == "notes" and p.scale != "list"]
    if notes:
        return float(min(p.min for p in notes)), float(max(p.max for p in notes))
    midi = [p for p in spec.parameters if p.group == "notes" and p.scale == "list" and p.name == "note"]
    if midi:
        lo, hi = min(midi[0].values), max(midi[0].values)
        # an FM operator at frequency ratio 0.5 (DX7 coarse 0) plays an octave below its note
        half = any(p.name.endswith("_coarse") and 0.0 in p.values for p in spec.parameters)
        return (float(440.0 * 2.0 ** ((lo - 69.0) / 12.0)) / (2.0 if half else 1.0),
                float(440.0 * 2.0 ** ((hi - 69.0) / 12.0)))
    note = spec.options.get("note") if isinstance(spec.options, dict) else None
    if isinstance(note, (int, float)) and not isinstance(note, bool):
        hz = float(440.0 * 2.0 ** ((float(note) - 69.0) / 12.0))
        return hz, hz
    return None


def note_name(hz: float) -> str:
    """Nearest note name of a frequency, e.g. 261.6 -> ``C4``."""
    import librosa

    return str(librosa.hz_to_note(float(hz), unicode=False))


def estimate_pitch_hz(audio: np.ndarray, sample_rate: int) -> float | None:
    """Median fundamental frequency (Hz) of the voiced frames, or None if no frame is voiced.

    Args:
        audio: ``(samples,)`` mono.
    """
    import librosa

    y = np.asarray(audio, np.float32).reshape(-1)
    frame = 2048 if sample_rate >= 16000 else 1024
    if len(y) < frame or float(np.max(np.abs(y))) < 1e-4:
        return None
    f0, voiced, _ = librosa.pyin(y, fmin=PITCH_MIN_HZ, fmax=min(PITCH_MAX_HZ, 0.45 * sample_rate),
                                 sr=sample_rate, frame_length=frame)
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if len(f0) else None


def _semitones(hz: float, ref: float) -> float:
    return float(12.0 * np.log2(hz / ref))


def in_range(pitch_hz: float, low_hz: float, high_hz: float) -> bool:
    """Whether a pitch lies in ``[low, high]`` give or take :data:`RANGE_TOLERANCE_SEMITONES`."""
    return (_semitones(pitch_hz, low_hz) >= -RANGE_TOLERANCE_SEMITONES
            and _semitones(pitch_hz, high_hz) <= RANGE_TOLERANCE_SEMITONES)


def pitch_warning(pitch_hz: float | None, note_range: tuple[float, float] | None,
                  synth_name: str) -> str | None:
    """e.g. ``input pitch 262 Hz (C4) is below inversynth's note range 440-1046 Hz (A4-C6)``,
    or None when in range or unknown."""
    if pitch_hz is None or note_range is None or in_range(pitch_hz, *note_range):
        return None
    low, high = note_range
    where = "below" if pitch_hz < low else "above"
    span = (f"{low:.0f} Hz ({note_name(low)})" if abs(high - low) < 1e-6 else
            f"{low:.0f}-{high:.0f} Hz ({note_name(low)}-{note_name(high)})")
    return (f"input pitch {pitch_hz:.0f} Hz ({note_name(pitch_hz)}) is {where} {synth_name}'s "
            f"note range {span}; try --transpose auto")


def octaves_into_range(pitch_hz: float, low_hz: float, high_hz: float) -> int:
    """Semitones (a multiple of 12) that move ``pitch_hz`` into ``[low, high]``, or nearest to it."""
    if pitch_hz <= 0 or low_hz <= 0 or high_hz < low_hz:
        raise ConfigError(f"need a positive pitch and range, got {pitch_hz} Hz in {low_hz}-{high_hz} Hz")
    best, best_dist = 0, np.inf
    for octave in range(-6, 7):
        p = pitch_hz * 2.0 ** octave
        dist = max(_semitones(low_hz, p), _semitones(p, high_hz), 0.0)
        if dist < best_dist - 1e-9 or (abs(dist - best_dist) <= 1e-9 and abs(octave) < abs(best // 12)):
            best, best_dist = 12 * octave, dist
    return best


def transpose(audio: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """``audio`` shifted by ``semitones`` (same length) with ``librosa.effects.pitch_shift``."""
    import librosa

    y = np.asarray(audio, np.float32).reshape(-1)
    if semitones == 0 or not len(y):
        return y
    return librosa.effects.pitch_shift(y, sr=sample_rate, n_steps=float(semitones)).astype(np.float32)


def transpose_arg(text: str) -> str | float:
    """``--transpose`` value: ``auto`` or semitones (a number in -48..48)."""
    import argparse

    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--transpose takes 'auto' or semitones, got {text!r}")
    if not (np.isfinite(value) and -48 <= value <= 48):
        raise argparse.ArgumentTypeError(f"--transpose semitones must be in -48..48, got {text!r}")
    return value
