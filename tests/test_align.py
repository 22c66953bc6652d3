"""Alignment of a target to the synth's note-on: onset after silence or noise, lag estimation."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.refine.align import (estimate_lag, exact_onset, onset_sample,
                                               shift_earlier, trim_to_onset)
from instrument.synths.registry import get_synth


@pytest.fixture(scope="module")
def renders() -> np.ndarray:
    synth = get_synth("inversynth")
    return synth.render(synth.random_patches(np.random.default_rng(21), 12))


@pytest.mark.parametrize("delay", [0, 37, 328])
def test_onset_after_digital_silence_is_exact(renders: np.ndarray, delay: int) -> None:
    for clip in renders:
        late = np.concatenate([np.zeros(delay, np.float32), clip])
        assert abs(onset_sample(late) - delay) <= 3
        assert exact_onset(late, onset_sample(late))
        trimmed, cut = trim_to_onset(late)
        assert cut == onset_sample(late) and len(trimmed) == len(late) - cut


def test_onset_after_noise_is_near_the_note_and_not_exact(renders: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    clip = renders[0]
    late = np.concatenate([np.zeros(328, np.float32), clip])
    late = late + 1e-3 * rng.standard_normal(len(late)).astype(np.float32)
    onset = onset_sample(late)
    assert 200 <= onset <= 328 + 512
    assert not exact_onset(late, onset)


def test_silence_has_onset_zero() -> None:
    assert onset_sample(np.zeros(1000, np.float32)) == 0
    assert onset_sample(np.zeros(0, np.float32)) == 0


def test_lag_of_a_render_against_itself(renders: np.ndarray) -> None:
    clip = renders[1]
    for lag in (0, 5, 37, -20):
        moved = shift_earlier(clip, -lag)       # lag samples late
        found, corr = estimate_lag(moved, clip, 64)
        assert found == lag and corr > 0.9


def test_shift_earlier_keeps_the_length() -> None:
    x = np.arange(10, dtype=np.float32)
    assert shift_earlier(x, 3).tolist() == [3, 4, 5, 6, 7, 8, 9, 0, 0, 0]
    assert shift_earlier(x, -2).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert not shift_earlier(x, 50).any()


def test_negative_max_lag_is_refused() -> None:
    with pytest.raises(ConfigError):
        estimate_lag(np.ones(10), np.ones(10), -1)
