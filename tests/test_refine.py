"""Refinement search: never worse, recovers nearby and oscillator-swapped patches, respects its
budgets, same result with one or two worker threads."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.metrics import batch_stft_magnitude, pearson_rows
from instrument.inversion.refine.search import (RefineConfig, SpectralObjective, _block_permutations,
                             objective_for, parameter_blocks, refine, sample_patches, search_only,
                             start_samples_for)
from instrument.synths.registry import get_synth


@pytest.fixture(scope="module")
def synth():  # type: ignore[no-untyped-def]
    return get_synth("inversynth")


def test_objective_equals_pearson_of_stft_magnitudes(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    audio = synth.render(synth.random_patches(rng, 5))
    got = SpectralObjective(audio[0])(audio)
    mags = batch_stft_magnitude(audio)
    want = pearson_rows(np.broadcast_to(mags[0], mags.shape), mags)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[0] == pytest.approx(1.0, abs=1e-6)
    silent = SpectralObjective(np.zeros(synth.spec.n_samples, np.float32))
    assert silent(np.zeros((2, synth.spec.n_samples), np.float32)).tolist() == [1.0, 1.0]
    assert silent(audio[:1])[0] == 0.0


def test_parameter_blocks_are_the_oscillators(synth) -> None:  # type: ignore[no-untyped-def]
    names = synth.spec.names
    blocks = parameter_blocks(names)
    assert [[names[i] for i in b] for b in blocks] == [
        [f"{p}_{w}" for p in ("A", "B", "f", "v")] for w in ("sin", "saw", "tri", "sqr")]
    assert parameter_blocks(["cutoff", "f_gate", "f_cut", "q"]) == []
    # same naming, different kinds of parameter (dx7: operator_field): not interchangeable
    dx7_names = ["op1_level", "op1_r1", "op2_level", "op2_r1"]
    assert len(parameter_blocks(dx7_names)) == 2
    assert parameter_blocks(dx7_names, levels=[34, 12, 34, 12]) == []


def test_refine_recovers_a_patch_two_classes_away(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    classes = spec.random_classes(rng, 1)[0]
    classes[spec.index("f_cut")] = 4
    classes[spec.index("f_gate")] = 3
    target = synth.render(spec.from_classes(classes)[None])[0]
    start = classes.copy()
    start[spec.index("f_cut")] = 6
    start[spec.index("f_gate")] = 5
    # network-like scores: confident everywhere except the two wrong parameters (searched first)
    scores = np.full((spec.n_params, 16), 0.01)
    scores[np.arange(spec.n_params), start] = 0.9
    scores[[spec.index("f_cut"), spec.index("f_gate")]] = 0.3
    result = refine(synth, target, spec.from_classes(start),
                    RefineConfig(seconds=30.0, max_renders=2000, es_fraction=0.0, stem_match=False),
                    scores=scores)
    assert result.initial_score < 0.99
    assert result.score > 0.99
    assert result.classes[spec.index("f_gate")] == 3
    assert result.renders < 2000          # stopped early at the (practically) exact match
    np.testing.assert_allclose(SpectralObjective(target)(result.audio[None])[0], result.score,
                               atol=1e-6)
    narrow = refine(synth, target, spec.from_classes(start),      # batched rounds of +-2 moves
                    RefineConfig(seconds=30.0, max_renders=600, radius=2, es_fraction=0.0))
    assert narrow.score > 0.99 and narrow.classes[spec.index("f_gate")] == 3


def test_block_moves_undo_swapped_oscillators(synth) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    classes = spec.random_classes(np.random.default_rng(0), 1)[0]
    sin, saw = (np.array([spec.index(f"{p}_{w}") for p in "AfBv"]) for w in ("sin", "saw"))
    classes[sin] = [15, 2, 8, 4]
    classes[saw] = [12, 11, 1, 9]
    start = classes.copy()
    start[sin], start[saw] = classes[saw], classes[sin]
    swaps = _block_permutations(start, parameter_blocks(spec.names))
    assert swaps.shape == (23, spec.n_params)               # 4! - 1 reorderings of 4 oscillators
    assert (swaps == classes).all(axis=1).sum() == 1         # one of them undoes the swap
    target = synth.render(spec.from_classes(classes)[None])[0]
    cfg = RefineConfig(seconds=60.0, max_renders=1500, es_fraction=0.0, kick_params=0,
                       stem_match=False)
    result = refine(synth, target, spec.from_classes(start), cfg)
    assert result.initial_score < 0.8 and result.score > 0.99
    fbv = np.r_[sin[1:], saw[1:]]                           # notes and FM of both oscillators
    np.testing.assert_array_equal(result.classes[fbv], classes[fbv])
    without = refine(synth, target, spec.from_classes(start),
                     RefineConfig(**{**cfg.__dict__, "block_moves": False}))
    assert without.score < result.score


def test_render_cap_threads_and_never_worse(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    values = synth.random_patches(rng, 2)
    target = synth.render(values[:1])[0]
    cfg = RefineConfig(seconds=30.0, max_renders=300, es_fraction=0.0)
    one = refine(synth, target, values[1], cfg)
    two = refine(synth, target, values[1], RefineConfig(**{**cfg.__dict__, "workers": 2}))
    assert one.score >= one.initial_score and one.score > one.initial_score - 1e-9
    assert 300 <= one.renders <= 300 + cfg.max_batch
    np.testing.assert_array_equal(one.classes, two.classes)   # threads change speed, not results
    assert one.score == pytest.approx(two.score, abs=1e-6)


def test_time_budget_and_search_only(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    values = synth.random_patches(rng, 2)
    target = synth.render(values[:1])[0]
    # (oscillator matching alone takes about 0.1 s per oscillator on a loaded machine)
    result = refine(synth, target, values[1], RefineConfig(seconds=1.0))
    assert result.score >= result.initial_score
    assert result.seconds < 1.0 + 3.0        # the running batch finishes after the deadline
    assert result.values.shape == (23,) and result.renders > 1 and result.cpu_seconds > 0
    # the kept audio is the render of the best values (no render after the deadline)
    np.testing.assert_allclose(result.audio, synth.render(result.values[None])[0], atol=1e-6)
    zero = refine(synth, target, values[1], RefineConfig(seconds=0.0))
    assert zero.score == zero.initial_score and zero.renders == 1
    baseline = search_only(synth, target, RefineConfig(seconds=0.3))
    assert baseline.score >= baseline.initial_score


@pytest.mark.parametrize("bad", [
    {"seconds": -1.0}, {"objective": "mse"}, {"radius": -1}, {"workers": 0}, {"workers": 9},
    {"max_renders": -5}, {"target_score": 0.0}, {"es_fraction": 1.5}, {"kick_params": -1},
    {"max_batch": 1}, {"lazy_spread": 2.0}, {"radius": True}, {"resweep_gain": -0.1},
    {"start_samples": -1}, {"start_samples": 5000},
])
def test_bad_refine_config(bad: dict) -> None:
    with pytest.raises(ConfigError):
        RefineConfig(**bad)


def test_sampled_patches_follow_the_scores_within_each_parameters_levels() -> None:
    rng = np.random.default_rng(0)
    scores = np.zeros((3, 4))
    scores[0] = [0.0, 3.0, 1.0, 0.0]      # classes 1 and 2, 3:1
    scores[1] = [5.0, 5.0, 9.0, 9.0]      # two levels: the scores of classes 2, 3 do not count
    drawn = sample_patches(scores, [4, 2, 3], 4000, rng)   # row 2: all zero -> uniform over 3
    assert drawn.shape == (4000, 3) and drawn.dtype == np.int64
    assert set(np.unique(drawn[:, 0])) == {1, 2}
    assert np.mean(drawn[:, 0] == 1) == pytest.approx(0.75, abs=0.03)
    assert set(np.unique(drawn[:, 1])) == {0, 1}
    assert np.bincount(drawn[:, 2], minlength=3) / 4000 == pytest.approx([1 / 3] * 3, abs=0.03)


def test_refinement_starts_from_the_best_drawn_patch(synth, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    spec = synth.spec
    true = spec.to_classes(synth.random_patches(rng, 1))[0]
    wrong = true.copy()
    wrong[:2] = (true[:2] + 5) % np.asarray(spec.levels[:2])     # the network is wrong twice
    target = synth.render(spec.from_classes(true)[None])[0]
    # scores: the network's choice (0.6) is wrong on two parameters, the truth has 0.4 there
    scores = np.zeros((spec.n_params, max(spec.levels)))
    rows = np.arange(spec.n_params)
    scores[rows, true] += 0.4
    scores[rows, wrong] += 0.6
    start = spec.from_classes(scores.argmax(axis=-1))
    cfg = RefineConfig(seconds=5.0, max_renders=1 + 64, workers=1, start_samples=64,
                       es_fraction=0.0)
    result = refine(synth, target, start, cfg, scores=scores)
    assert result.initial_score < 0.99 and result.score == pytest.approx(1.0, abs=1e-5)
    assert result.renders <= 1 + 64     # found among the draws: the search got no render
    assert result.start_draws == 64
    np.testing.assert_array_equal(result.classes, true)


def test_auto_objective_is_the_synths(synth, dx7) -> None:  # type: ignore[no-untyped-def]
    assert objective_for(synth, RefineConfig()) == "pcc_stft"
    assert objective_for(dx7, RefineConfig()) == "pcc_log_stft"
    assert objective_for(dx7, RefineConfig(objective="pcc_stft")) == "pcc_stft"
    assert start_samples_for(synth, RefineConfig()) == 0
    assert start_samples_for(dx7, RefineConfig()) == 255
    assert start_samples_for(dx7, RefineConfig(start_samples=7)) == 7
    # the dx7 result's score is the log-magnitude PCC of its own audio against the target
    rng = np.random.default_rng(3)
    values = dx7.random_patches(rng, 2)
    target = dx7.render(values[:1])[0]
    result = refine(dx7, target, values[1], RefineConfig(seconds=0.3, workers=1))
    assert result.start_draws == 0        # no network scores: nothing to draw from
    want = SpectralObjective(target, "pcc_log_stft")(result.audio[None])[0]
    assert result.score == pytest.approx(float(want), abs=1e-5)
    assert result.objective == "pcc_log_stft"


def test_render_cost_model_plans_batches_within_the_remaining_time() -> None:
    from instrument.inversion.refine.budget import GROWTH, SAFETY, RenderCostModel

    cost = RenderCostModel()
    assert cost.affordable(0.1, 32) == 32             # nothing measured yet
    cost.observe(1, 0.5)                              # one size only: half fixed, half per patch
    assert cost.coefficients() == (0.25, 0.25)
    assert cost.affordable(2.0, 32) == GROWTH         # at most GROWTH x the largest batch
    cost.observe(11, 1.5)                             # 0.4 s start-up + 0.1 s per patch
    fixed, per = cost.coefficients()
    assert fixed == pytest.approx(0.4) and per == pytest.approx(0.1)
    assert cost.affordable(0.4, 32) == 0              # not even one patch fits
    n = cost.affordable(1.6, 32)
    assert cost.predict(n) <= 1.6 < cost.predict(n + 1)
    noisy = RenderCostModel()
    noisy.observe(2, 0.7)
    noisy.observe(4, 0.6)                             # slower small call: all start-up
    assert noisy.coefficients() == (pytest.approx(0.65), 0.0)
    assert noisy.predict(16) == pytest.approx(SAFETY * 0.65)


def test_render_cost_margin_follows_the_largest_recent_overrun() -> None:
    from instrument.inversion.refine.budget import HISTORY, MAX_SAFETY, SAFETY, RenderCostModel

    cost = RenderCostModel()
    for n in (4, 8, 16, 8):                           # 0.2 s start-up + 0.01 s per patch, exact
        cost.observe(n, 0.2 + 0.01 * n)
    assert cost.safety == SAFETY                      # no overrun: the floor
    cost.observe(8, 1.5 * (0.2 + 0.01 * 8))           # one call 50 % slower than its fit
    assert cost.safety == pytest.approx(1.5, rel=0.05)
    assert cost.predict(8) > 1.4 * (0.2 + 0.01 * 8)
    cost.observe(8, 100.0)                            # a stall: bounded
    assert cost.safety == MAX_SAFETY
    for _ in range(HISTORY):                          # forgotten once it leaves the history
        cost.observe(8, 0.28)
    assert cost.safety < 1.5


def test_one_cost_model_per_synth(synth) -> None:  # type: ignore[no-untyped-def]
    from instrument.inversion.refine.budget import cost_model_for

    assert cost_model_for(synth) is cost_model_for(synth)
    assert cost_model_for(synth) is not cost_model_for(get_synth("inversynth"))
