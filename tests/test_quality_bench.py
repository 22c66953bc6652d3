"""Pieces of the quality benchmark's reference rows."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import _note_midi, eq_gain


def test_pair_labels_give_their_midi_note() -> None:
    assert _note_midi("A3 flute_A3.wav -> clarinet_A3.wav") == 57
    assert _note_midi("C#5 flute_C#5.wav -> clarinet_C#5.wav") == 73
    assert _note_midi("take 1 flute.wav -> clarinet.wav") is None


def test_eq_gain_maps_mean_source_to_mean_target() -> None:
    source = np.log1p(np.full((4, 3), 2.0, np.float32))
    target = np.log1p(np.full((4, 3), 6.0, np.float32))
    np.testing.assert_allclose(eq_gain(source, target), 3.0, rtol=1e-5)
