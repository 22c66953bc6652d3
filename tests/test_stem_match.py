"""Oscillator stems of inversynth and the time-domain oscillator matching built on them."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError, SynthError
from instrument.inversion.refine.search import RefineConfig, SpectralObjective, refine
from instrument.inversion.refine.stem_match import (StemMatchConfig, match_oscillators, nonnegative_least_squares,
                                 oscillator_params, snap_amplitudes, supports_stem_matching)
from instrument.synths.inversynth import WAVEFORMS
from instrument.synths.registry import get_synth


@pytest.fixture(scope="module")
def synth():  # type: ignore[no-untyped-def]
    return get_synth("inversynth")


def test_render_is_the_normalised_sum_of_stems(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    values = synth.random_patches(rng, 6)
    stems = np.stack([synth.render_stems(values, w) for w in range(len(WAVEFORMS))], axis=1)
    amps = values[:, [spec.index(f"A_{w}") for w in WAVEFORMS]]
    mix = np.einsum("bw,bwn->bn", amps, stems)
    mix /= np.abs(mix).max(axis=1, keepdims=True)
    np.testing.assert_allclose(mix, synth.render(values), atol=5e-5)


def test_correlate_stems_equals_rendered_correlation(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    values = synth.random_patches(rng, 9)
    target = synth.render(values[:1])[0]
    for w, name in enumerate(WAVEFORMS):
        idx = [spec.index(f"{p}_{name}") for p in "fBv"]
        cand = np.repeat(values[:1], 8, axis=0)
        cand[:, idx] = values[1:, idx]
        want = synth.render_stems(cand, w) @ target
        dot, energy = synth.correlate_stems(values[0], w, values[1:, idx], target)
        np.testing.assert_allclose(dot, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
        assert np.all(energy > 0)
    with pytest.raises(SynthError, match="oscillators 0..3"):
        synth.render_stems(values, 4)
    with pytest.raises(SynthError, match="samples"):
        synth.correlate_stems(values[0], 0, values[1:, :3], target[:100])


def test_nonnegative_least_squares_and_amplitude_snapping() -> None:
    rng = np.random.default_rng(3)
    stems = rng.standard_normal((3, 200))
    y = 2.0 * stems[0] + 0.5 * stems[1] - 1.0 * stems[2]
    a = nonnegative_least_squares(stems @ stems.T, stems @ y)
    assert a[2] == 0.0 and np.all(a >= 0)
    np.testing.assert_allclose(a[:2], np.linalg.lstsq(stems[:2].T, y, rcond=None)[0], atol=1e-6)
    grid = np.linspace(0.001, 1.0, 16)
    true = grid[[15, 7, 0, 3]]
    np.testing.assert_allclose(snap_amplitudes(0.37 * true, grid), true)
    assert snap_amplitudes(np.zeros(4), grid).tolist() == [1.0] * 4


def test_matching_recovers_the_oscillators(synth) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    rng = np.random.default_rng(11)
    classes = spec.random_classes(rng, 1)[0]
    amps = [spec.index(f"A_{w}") for w in WAVEFORMS]
    classes[amps] = [15, 9, 12, 6]                       # every oscillator clearly present
    target = synth.render(spec.from_classes(classes)[None])[0]
    start = classes.copy()
    osc = oscillator_params(synth)
    start[osc] = spec.random_classes(np.random.default_rng(12), 1)[0][osc]   # oscillators wrong
    proposals = match_oscillators(synth, target, spec.from_classes(start))
    assert proposals.shape == (StemMatchConfig().proposals, spec.n_params)
    objective = SpectralObjective(target)
    assert objective(synth.render(spec.from_classes(start)[None]))[0] < 0.9
    assert objective(synth.render(proposals[:1]))[0] > 0.999
    best = spec.to_classes(proposals[0])
    notes = [spec.index(f"f_{w}") for w in WAVEFORMS]
    np.testing.assert_array_equal(best[notes], classes[notes])
    kept = np.setdiff1d(np.arange(spec.n_params), osc)
    np.testing.assert_array_equal(best[kept], start[kept])   # matching sets oscillators only


def test_refine_with_matching_beats_refine_without(synth) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    classes = spec.random_classes(np.random.default_rng(5), 2)
    classes[0, [spec.index(f"A_{w}") for w in WAVEFORMS]] = [4, 15, 10, 7]
    target = synth.render(spec.from_classes(classes[:1]))[0]
    start = classes[0].copy()
    osc = oscillator_params(synth)
    start[osc] = classes[1][osc]                          # envelope/filter right, oscillators not
    cfg = RefineConfig(seconds=30.0, max_renders=400, es_fraction=0.0)
    matched = refine(synth, target, spec.from_classes(start), cfg)
    plain = refine(synth, target, spec.from_classes(start),
                   RefineConfig(**{**cfg.__dict__, "stem_match": False}))
    assert matched.score > 0.99 > plain.score


def test_support_and_bad_config(synth) -> None:  # type: ignore[no-untyped-def]
    assert supports_stem_matching(synth)
    assert not supports_stem_matching(object())
    for bad in ({"shortlist": 0}, {"keep": 0}, {"proposals": 0}, {"keep": 40}, {"keep": True}):
        with pytest.raises(ConfigError):
            StemMatchConfig(**bad)


def test_amplitudes_on_different_grids_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from instrument.synths.registry import spec_path

    data = yaml.safe_load(spec_path("inversynth").read_text())
    for param in data["parameters"]:
        if param["name"] == "A_saw":
            param["max"] = 0.5
    path = tmp_path / "inversynth-half-saw.yaml"
    path.write_text(yaml.safe_dump(data))
    odd = get_synth("inversynth", spec=path)
    values = odd.spec.default_values()
    target = odd.render(values[None])[0]
    with pytest.raises(SynthError, match="A_saw"):
        match_oscillators(odd, target, values)
