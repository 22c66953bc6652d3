"""Carrier matching (dx7): carrier ratios and levels fitted to a target from operator outputs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dexed")

from instrument.errors import ConfigError  # noqa: E402
from instrument.inversion.metrics import audio_metrics  # noqa: E402
from instrument.inversion.refine.carrier_match import (CarrierMatchConfig, carrier_params,  # noqa: E402
                                                       match_carriers, supports_carrier_matching)
from instrument.synths.registry import get_synth  # noqa: E402


def _perturbed(dx7, rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """The patch with every carrier's ratio and output level replaced at random."""
    spec = dx7.spec
    start = values.copy()
    for k in dx7.carriers(values[None])[0]:
        start[spec.index(f"op{k + 1}_coarse")] = float(rng.integers(0, 6))
        start[spec.index(f"op{k + 1}_level")] = float(spec.param(f"op{k + 1}_level").grid()[rng.integers(20, 34)])
    return start


def test_output_level_gains_rise_with_the_level(dx7) -> None:
    gains = dx7.output_level_gains()
    assert gains.shape == (100,) and gains[0] == 0.0
    assert np.all(np.diff(gains) >= 0) and 0.5 < gains[99] <= 1.0
    ratio_db = 20 * np.log10(gains[99] / gains[91])
    assert 5.0 < ratio_db < 7.0  # about 6 dB per 8 steps


def test_matching_recovers_carriers_better_than_the_start(dx7) -> None:
    assert supports_carrier_matching(dx7) and not supports_carrier_matching(get_synth("inversynth"))
    assert len(carrier_params(dx7)) == 12
    rng = np.random.default_rng(7)
    values = dx7.random_patches(rng, 6)
    audio = dx7.render(values)
    gains = []
    for i in range(6):
        start = _perturbed(dx7, rng, values[i])
        proposals = match_carriers(dx7, audio[i], start)
        assert proposals.shape == (8, dx7.spec.n_params)
        changed = np.flatnonzero(np.any(proposals != start, axis=0))
        assert set(changed) <= set(carrier_params(dx7))
        score = lambda v: float(audio_metrics(audio[i:i + 1], dx7.render(v[None]))["pcc_stft"][0])  # noqa: E731
        gains.append(max(score(p) for p in proposals) - score(start))
    assert np.mean(gains) > 20.0  # points of pcc_stft (x100)


def test_refinement_uses_carrier_matching_for_dx7(dx7) -> None:
    from instrument.inversion.refine.search import RefineConfig, refine

    rng = np.random.default_rng(11)
    values = dx7.random_patches(rng, 3)
    audio = dx7.render(values)
    config = RefineConfig(seconds=60.0, max_renders=400, workers=1)  # the render cap binds, not the clock
    with_matching, without = [], []
    for i in range(3):
        start = _perturbed(dx7, rng, values[i])
        with_matching.append(refine(dx7, audio[i], start, config).score)
        without.append(refine(dx7, audio[i], start, RefineConfig(seconds=60.0, max_renders=400, workers=1,
                                                                 stem_match=False)).score)
    assert np.mean(with_matching) > np.mean(without)


def test_bad_match_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="keep"):
        CarrierMatchConfig(keep=0)
