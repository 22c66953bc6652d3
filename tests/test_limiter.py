"""The output stages as pure parts: the safety peak limiter, the smoothed master gain, loudness compensation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from instrument.dsp.gain import LoudnessFollower, SmoothedGain, normalise_peak, peak_gains
from instrument.dsp.limiter import PeakLimiter, peak_ceiling
from instrument.errors import ConfigError

SR, HOP = 22050, 256


def _run(limiter: PeakLimiter, signal: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Limit ``signal`` hop by hop (a copy); returns the output and the gain after each hop."""
    out = signal.astype(np.float32).copy()
    gains = []
    for start in range(0, len(out) - HOP + 1, HOP):
        limiter.process(out[start:start + HOP])
        gains.append(limiter.gain)
    return out, gains


def _sine(amplitude: float, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR) // HOP * HOP) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_sine_20_db_over_full_scale_never_reaches_full_scale() -> None:
    limiter = PeakLimiter(HOP, SR)
    out, _ = _run(limiter, _sine(10.0, 1.0))
    assert np.abs(out).max() <= limiter.ceiling < 1.0
    assert limiter.gain_reduction_db == pytest.approx(20.0 + 0.2, abs=0.3)
    # the gain only comes down over the first hop: later the sine is limited, not silenced
    assert np.abs(out[SR // 2:]).max() > 0.9 * limiter.ceiling


def test_a_quiet_signal_passes_bit_exact_with_unity_gain() -> None:
    limiter = PeakLimiter(HOP, SR)
    signal = _sine(0.9, 0.5)
    out, gains = _run(limiter, signal)
    np.testing.assert_array_equal(out, signal)
    assert set(gains) == {1.0} and limiter.gain_reduction_db == 0.0


def test_the_gain_recovers_smoothly_after_a_burst() -> None:
    limiter = PeakLimiter(HOP, SR, release_s=0.05)
    quiet = _sine(0.5, 1.0)
    burst = _sine(4.0, 0.1)
    lead = quiet[:SR // 4 // HOP * HOP]
    out, gains = _run(limiter, np.concatenate([lead, burst, quiet]))
    assert np.abs(out).max() <= limiter.ceiling
    assert min(gains) < 0.3
    after = gains[(len(lead) + len(burst)) // HOP - 1:]
    assert all(b >= a for a, b in zip(after, after[1:])), "release must rise monotonically"
    assert np.max(np.diff(after)) < 0.25, "release must be smooth, not a jump back to 1"
    # half a second later (10 release time constants) the quiet signal is untouched again
    assert gains[-1] == 1.0
    np.testing.assert_array_equal(out[-SR // 4:], quiet[-SR // 4:])


def test_the_attack_ramps_down_within_the_hop_before_the_first_loud_sample() -> None:
    limiter = PeakLimiter(HOP, SR)
    hop = np.full(HOP, 0.5, np.float32)
    hop[200:] = 2.0
    out = limiter.process(hop.copy())
    gain = out / hop
    assert gain[0] < 1.0 and np.all(np.diff(gain[:201]) <= 1e-7), "a linear ramp down to the peak"
    assert np.abs(out).max() <= limiter.ceiling
    assert np.max(np.abs(np.diff(gain[:200]))) < 0.01


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 3e38])
def test_nan_and_inf_input_gives_finite_output_and_the_limiter_recovers(bad: float) -> None:
    limiter = PeakLimiter(HOP, SR)
    hop = _sine(0.5, HOP / SR)
    hop[::7] = bad
    out = limiter.process(hop.copy())
    assert np.isfinite(out).all() and np.abs(out).max() <= limiter.ceiling
    assert np.isfinite(limiter.gain) and np.isfinite(limiter.gain_reduction_db)
    quiet, gains = _run(limiter, _sine(0.5, 1.0))
    assert np.isfinite(quiet).all() and gains[-1] == 1.0


def test_process_does_not_allocate_per_hop() -> None:
    limiter = PeakLimiter(HOP, SR)
    signal = np.concatenate([_sine(3.0, 0.25), _sine(0.5, 0.25)])
    _run(limiter, signal[:4 * HOP])  # warm up
    hops = [signal[start:start + HOP] for start in range(0, len(signal), HOP)]
    tracemalloc.start()
    try:
        for hop in hops:  # attack, hold, release and the quiet pass
            limiter.process(hop)
        blocks = [trace.size for trace in tracemalloc.take_snapshot().traces]
    finally:
        tracemalloc.stop()
    # numpy keeps a few tiny scalars; no block may be as large as a hop buffer
    assert max(blocks, default=0) < HOP * 4, f"a {max(blocks)}-byte block was allocated"


def test_reset_returns_to_unity() -> None:
    limiter = PeakLimiter(HOP, SR)
    _run(limiter, _sine(5.0, 0.1))
    limiter.reset()
    assert limiter.gain == 1.0 and limiter.gain_reduction_db == 0.0


@pytest.mark.parametrize("kwargs", [{"ceiling_db": 0.0}, {"ceiling_db": float("nan")}, {"release_s": 0.0},
                                    {"hop_length": 0}])
def test_bad_limiter_settings_are_refused(kwargs: dict) -> None:
    settings = {"hop_length": HOP, "sample_rate": SR, **kwargs}
    with pytest.raises(ConfigError):
        PeakLimiter(**settings)


def test_peak_ceiling_scales_loud_signals_down_and_leaves_quiet_ones() -> None:
    loud = _sine(6.3, 0.2)
    loud[5] = np.nan
    out = peak_ceiling(loud)
    assert np.isfinite(out).all() and np.abs(out).max() <= 10 ** (-0.2 / 20) < 1.0
    assert np.isnan(loud[5]), "the input is not modified"
    quiet = _sine(0.5, 0.2)
    np.testing.assert_array_equal(peak_ceiling(quiet), quiet)


def test_master_gain_ramps_without_zipper_and_is_bit_exact_at_unity() -> None:
    gain = SmoothedGain(HOP, HOP / SR, smoothing_s=0.02)
    hop = np.full(HOP, 0.5, np.float32)
    assert np.array_equal(gain.process(hop.copy()), hop)
    gain.set_db(-20.0)
    curve = []
    for _ in range(40):
        curve.append(gain.process(np.ones(HOP, np.float32)).copy())
    curve = np.concatenate(curve)
    assert np.max(np.abs(np.diff(curve))) < 0.01, "no step: the gain ramps sample by sample"
    assert curve[0] > 0.95 and curve[-1] == pytest.approx(0.1, rel=1e-5)
    assert gain.gain_db == pytest.approx(-20.0, abs=1e-4)
    gain.set_db(6.0, immediate=True)
    assert gain.process(np.ones(HOP, np.float32))[0] == pytest.approx(10 ** (6 / 20))


def test_loudness_follower_brings_the_output_level_to_the_input_level() -> None:
    rng = np.random.default_rng(0)
    follower = LoudnessFollower(1024, HOP / SR)
    gains = []
    for _ in range(400):  # 4.6 s
        magnitude = rng.uniform(0, 20, 513).astype(np.float32)
        out = follower.process(magnitude, magnitude * 4.0, enabled=True)  # output 12 dB louder
        gains.append(follower.gain_db)
    assert follower.gain_db == pytest.approx(-12.0, abs=0.5)
    assert np.dot(out, out) == pytest.approx(np.dot(magnitude, magnitude), rel=0.15)
    assert np.max(np.abs(np.diff(gains))) < 0.5, "the gain moves smoothly"
    for _ in range(400):  # off: back to exactly 1
        magnitude = rng.uniform(0, 20, 513).astype(np.float32)
        follower.process(magnitude, magnitude * 4.0, enabled=False)
    assert follower.gain == 1.0


def test_loudness_follower_is_bounded_and_holds_in_silence() -> None:
    follower = LoudnessFollower(1024, HOP / SR)
    loud = np.full(513, 30.0, np.float32)
    for _ in range(400):
        follower.process(loud, np.full(513, 1e-3, np.float32), enabled=True)
    assert follower.gain_db == pytest.approx(12.0, abs=0.01)
    held = follower.gain
    for _ in range(100):
        follower.process(np.zeros(513, np.float32), np.full(513, 1e-3, np.float32), enabled=True)
    assert follower.gain == pytest.approx(held, rel=0.05)


def test_peak_gains_are_the_gains_normalise_peak_applies() -> None:
    audio = np.array([[0.5, -2.0, 1.0], [0.0, 0.0, 0.0], [0.25, 0.1, -0.05]], np.float32)
    gains = peak_gains(audio)
    np.testing.assert_allclose(gains, [0.5, 0.0, 4.0])
    np.testing.assert_allclose(normalise_peak(audio), audio * gains[:, None].astype(np.float32),
                               rtol=1e-6)
