"""The MPR ceiling: one-parameter variants, tied-class counts on the real synth, the rank formula."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from benchmarks.identifiability_analysis import (ceiling_mpr, one_parameter_variants, oscillator_swaps,
                                      relative_distances, tied_class_counts)
from instrument.inversion.metrics import mean_percentile_rank
from instrument.synths.registry import get_synth


def test_variants_change_exactly_one_parameter_to_every_other_class() -> None:
    patch = np.array([0, 2, 1])
    variants = one_parameter_variants(patch, [2, 3, 4])
    assert variants.shape == (1 + 2 + 3, 3)
    changed = variants != patch
    assert changed.sum(axis=1).tolist() == [1] * 6 and changed.argmax(axis=1).tolist() == [0, 1, 1, 2, 2, 2]
    assert variants[3:, 2].tolist() == [0, 2, 3]
    with pytest.raises(ConfigError):
        one_parameter_variants(np.array([0, 1]), [2, 3, 4])


def test_oscillator_swaps_exchange_shapes_then_amplitudes_too() -> None:
    patch = np.array([1, 2, 10, 11, 20, 21, 9])  # A0 A1 f0 f1 v0 v1, then an unrelated parameter
    swaps = oscillator_swaps(patch, [[0, 2, 4], [1, 3, 5]])
    assert swaps.tolist() == [[1, 2, 11, 10, 21, 20, 9], [2, 1, 11, 10, 21, 20, 9]]
    assert oscillator_swaps(patch, [[0, 2, 4]]).shape == (0, 7)
    with pytest.raises(ConfigError):
        oscillator_swaps(patch, [[0, 2, 4], [1, 3]])


def test_relative_distance_is_zero_for_itself_and_scales() -> None:
    ref = np.ones((4, 5))
    np.testing.assert_allclose(relative_distances(ref, np.stack([ref, 1.1 * ref, 0 * ref])), [0.0, 0.1, 1.0])


def test_ceiling_matches_the_mpr_of_a_judge_that_ties_the_set() -> None:
    # one sound, one parameter, 16 classes: a tied set of 5 (the true class and 4 others) on top
    scores = np.zeros((1, 1, 16))
    scores[0, 0, [3, 4, 5, 6, 7]] = 1.0
    assert ceiling_mpr(np.array([[5]]), 16)[0] == pytest.approx(mean_percentile_rank(scores, np.array([[5]]))[0])
    np.testing.assert_allclose(ceiling_mpr(np.array([[1], [16]]), 16), [75.0])  # mean of 100 and 50
    with pytest.raises(ConfigError):
        ceiling_mpr(np.array([[0]]), 16)


def test_inversynth_is_identifiable_at_zero_tolerance_and_all_tied_at_a_huge_one() -> None:
    synth = get_synth("inversynth")
    classes = synth.spec.random_classes(np.random.default_rng(5), 2)
    counts = tied_class_counts(synth, classes, [0.0, 0.05, 1e9])
    assert counts.shape == (3, 2, synth.spec.n_params)
    assert (counts[0] <= counts[1]).all() and (counts[1] <= counts[2]).all()  # ties grow with tolerance
    assert (counts[2] == 16).all()
    mpr = ceiling_mpr(counts, 16).mean(axis=-1)
    assert mpr[0] > 90.0 and mpr[2] == pytest.approx(50.0)
    with pytest.raises(ConfigError):
        tied_class_counts(synth, classes, [-0.1])
    spec = synth.spec
    oscillators = [[spec.index(a), *map(spec.index, shape)] for a, shape in synth.oscillators]
    with_swaps = tied_class_counts(synth, classes, [0.0, 0.05, 1e9], oscillators)
    assert (with_swaps >= counts).all() and (with_swaps[2] == 16).all()  # swaps can only add ties


def test_bench_prints_the_ceiling_beside_the_shipped_model(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import identifiability as bench

    assert bench.main(["--count", "2", "--tolerance", "0", "0.05"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| parameter"))
    assert header.split(" | ")[2:] == ["inversynth-sweeptcn", "ceiling, tol 0", "ceiling, tol 0.05 |"]
    rows = [line for line in out.splitlines() if line.startswith("| f_") or line.startswith("| q ")]
    assert len(rows) == 4 + 3  # f_sin..f_sqr, f_gate, f_cut, q
    mean = [float(cell.strip("* ")) for cell in out.split("| **mean** | |")[1].splitlines()[0].split("|")[:-1]]
    assert len(mean) == 3 and all(50.0 <= m <= 100.0 for m in mean) and mean[1] >= mean[2]
    with pytest.raises(SystemExit):
        bench.main(["--count", "0"])
