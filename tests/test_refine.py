"""Refinement search: never worse, recovers a nearby patch, respects its time budget."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from training.refine import RefineConfig, SpectralObjective, refine, search_only
from training.synths.registry import get_synth


@pytest.fixture(scope="module")
def synth():  # type: ignore[no-untyped-def]
    return get_synth("inversynth")


def test_refine_recovers_a_patch_two_classes_away(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    classes = spec.random_classes(rng, 1)[0]
    classes[spec.index("f_cut")] = 4
    classes[spec.index("f_gate")] = 3
    target = synth.render(spec.from_classes(classes)[None])[0]
    start = classes.copy()
    start[spec.index("f_cut")] = 6
    start[spec.index("f_gate")] = 5
    result = refine(synth, target, spec.from_classes(start),
                    RefineConfig(seconds=8.0, es_fraction=0.0))
    assert result.initial_score < 0.99
    assert result.score > result.initial_score
    assert result.score > 0.99
    assert result.classes[spec.index("f_gate")] == 3
    np.testing.assert_allclose(SpectralObjective(target)(result.audio[None])[0], result.score,
                               atol=1e-6)


def test_budget_and_never_worse(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    values = synth.random_patches(rng, 2)
    target = synth.render(values[:1])[0]
    result = refine(synth, target, values[1], RefineConfig(seconds=0.4))
    assert result.score >= result.initial_score
    assert result.seconds < 0.4 + 1.5        # the running batch finishes after the deadline
    assert result.values.shape == (23,) and result.renders > 1
    zero = refine(synth, target, values[1], RefineConfig(seconds=0.0))
    assert zero.score == zero.initial_score
    baseline = search_only(synth, target, RefineConfig(seconds=0.3))
    assert baseline.score >= baseline.initial_score


def test_bad_refine_config() -> None:
    with pytest.raises(ConfigError):
        RefineConfig(seconds=-1.0)
    with pytest.raises(ConfigError):
        RefineConfig(objective="mse")
    with pytest.raises(ConfigError):
        RefineConfig(radius=0)
