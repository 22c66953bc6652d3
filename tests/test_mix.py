"""The pure mixing functions of instrument.dsp.mix: values at the ends and the middle, shapes, buffers."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.dsp.mix import crossfade, wet_dry_mix

N = 8


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_wet_dry_mix_values(pair: tuple[np.ndarray, np.ndarray], mix: float) -> None:
    dry, wet = pair
    out = wet_dry_mix(dry, wet, mix)
    assert out.shape == (N,) and out.dtype == np.float32
    np.testing.assert_allclose(out, mix * wet + (1 - mix) * dry, rtol=1e-6, atol=1e-7)
    if mix == 0.0:
        np.testing.assert_array_equal(out, dry)
    if mix == 1.0:
        np.testing.assert_array_equal(out, wet)


def test_wet_dry_mix_fully_wet_ignores_a_non_finite_dry(pair: tuple[np.ndarray, np.ndarray]) -> None:
    _, wet = pair
    np.testing.assert_array_equal(wet_dry_mix(np.full(N, np.nan, np.float32), wet, 1.0), wet)


@pytest.mark.parametrize("ramp", [0.0, 0.5, 1.0])
def test_crossfade_with_a_constant_gain(pair: tuple[np.ndarray, np.ndarray], ramp: float) -> None:
    a, b = pair
    out = crossfade(a, b, ramp)
    assert out.shape == (N,) and out.dtype == np.float32
    np.testing.assert_allclose(out, (1 - ramp) * a + ramp * b, rtol=1e-6, atol=1e-7)
    if ramp in (0.0, 1.0):
        np.testing.assert_array_equal(out, a if ramp == 0.0 else b)


def test_crossfade_with_a_per_sample_ramp_goes_from_a_to_b(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    ramp = np.linspace(0.0, 1.0, N, dtype=np.float32)
    out = crossfade(a, b, ramp)
    assert out[0] == a[0] and out[-1] == b[-1]
    np.testing.assert_allclose(out[N // 2], (1 - ramp[N // 2]) * a[N // 2] + ramp[N // 2] * b[N // 2], rtol=1e-6)
    np.testing.assert_array_equal(crossfade(a, b, np.full(N, 0.5, np.float32)), crossfade(a, b, 0.5))


@pytest.mark.parametrize("ramp", [0.3, np.full(N, 0.3, np.float32)])
def test_given_buffers_are_used_and_nothing_else_is_written(pair: tuple[np.ndarray, np.ndarray],
                                                            ramp: float | np.ndarray) -> None:
    a, b = pair
    a0, b0 = a.copy(), b.copy()
    out, scratch = np.zeros(N, np.float32), np.zeros(N, np.float32)
    assert crossfade(a, b, ramp, out=out, scratch=scratch) is out
    assert wet_dry_mix(a, b, 0.3, out=out, scratch=scratch) is out
    assert wet_dry_mix(a, b, 1.0, out=out, scratch=scratch) is out
    np.testing.assert_array_equal(out, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_hop_sized_shapes_are_kept() -> None:
    hop = np.ones(256, np.float32)
    assert crossfade(hop, 2 * hop, np.linspace(0, 1, 256, dtype=np.float32)).shape == (256,)
    assert wet_dry_mix(hop, 2 * hop, 0.25).shape == (256,)
