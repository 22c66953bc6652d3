"""Input pitch vs the synth's note range, warnings and octave transposition."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.input_checks import (estimate_pitch_hz, note_range_hz, octaves_into_range,
                                               pitch_warning, transpose, transpose_arg)
from instrument.synths.registry import load_spec

RATE = 16384


def _sine(hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_note_ranges_come_from_the_specs() -> None:
    low, high = note_range_hz(load_spec("inversynth"))
    assert low == pytest.approx(440.0) and high == pytest.approx(1046.5, abs=0.01)
    low, high = note_range_hz(load_spec("fluidsynth"))     # options.note 60
    assert low == high == pytest.approx(261.63, abs=0.01)
    low, high = note_range_hz(load_spec("dx7"))            # note: MIDI 48..96, ratio 0.5 an octave below
    assert low == pytest.approx(65.41, abs=0.01) and high == pytest.approx(2093.0, abs=0.01)


def test_pitch_of_a_sine() -> None:
    assert estimate_pitch_hz(_sine(262.0), RATE) == pytest.approx(262.0, rel=0.01)
    assert estimate_pitch_hz(np.zeros(RATE, np.float32), RATE) is None


def test_warning_names_pitch_and_range() -> None:
    rng = note_range_hz(load_spec("inversynth"))
    text = pitch_warning(262.0, rng, "inversynth")
    assert text.startswith("input pitch 262 Hz (C4) is below inversynth's note range 440-1047 Hz")
    assert pitch_warning(2000.0, rng, "inversynth").count("above") == 1
    assert pitch_warning(660.0, rng, "inversynth") is None
    assert pitch_warning(None, rng, "inversynth") is None


def test_octaves_into_range() -> None:
    assert octaves_into_range(262.0, 440.0, 1046.5) == 12
    assert octaves_into_range(2000.0, 440.0, 1046.5) == -12
    assert octaves_into_range(600.0, 440.0, 1046.5) == 0
    assert octaves_into_range(100.0, 440.0, 1046.5) == 36     # 800 Hz (400 Hz is below)
    with pytest.raises(ConfigError):
        octaves_into_range(0.0, 440.0, 1046.5)


def test_transpose_by_an_octave_keeps_length_and_doubles_pitch() -> None:
    y = transpose(_sine(262.0), RATE, 12)
    assert y.shape == (RATE,)
    assert estimate_pitch_hz(y, RATE) == pytest.approx(524.0, rel=0.02)


def test_transpose_argument() -> None:
    assert transpose_arg("auto") == "auto" and transpose_arg("-12") == -12.0
    for bad in ("up", "100", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            transpose_arg(bad)
