"""Safety peak limiter: the last stage of every output, so no sample ever reaches full scale.

:class:`PeakLimiter` works on whole hops with zero added latency: the engine
emits a hop at once, so the limiter looks at the whole hop before emitting it
and lowers the gain *in time* within that hop (a linear attack that reaches
the needed gain at the first sample that would pass the ceiling), then
releases smoothly (one-pole, tens of ms) over the following hops. A final
guard clips to the ceiling, so no output sample ever has ``|x| >= 1.0``.

:func:`peak_ceiling` is the offline counterpart for whole signals written to
files (scales a signal down so its peak is at most the ceiling).
"""

from __future__ import annotations

import math

import numpy as np

from instrument.errors import ConfigError

#: Output ceiling: -0.2 dBFS (0.977), below full scale with room for 16-bit rounding.
DEFAULT_CEILING_DB = -0.2
#: Release time constant of the limiter gain (seconds).
DEFAULT_RELEASE_S = 0.05


def db_to_gain(db: float) -> float:
    """Decibels to a linear amplitude gain."""
    return 10.0 ** (db / 20.0)


def peak_ceiling(audio: np.ndarray, ceiling_db: float = DEFAULT_CEILING_DB) -> np.ndarray:
    """Scale ``audio`` ``(samples,)`` down so its peak is at most the ceiling (never up).

    NaN becomes 0 and +-inf the ceiling. Returns a new float32 array (the input
    itself is not modified); a signal already under the ceiling comes back unchanged.
    """
    ceiling = float(np.float32(db_to_gain(ceiling_db)))
    out = np.array(audio, dtype=np.float32, copy=True)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=ceiling, neginf=-ceiling)
    peak = float(np.max(np.abs(out), initial=0.0))
    if peak > ceiling:
        out *= np.float32(ceiling / peak)
        np.clip(out, -ceiling, ceiling, out=out)
    return out


class PeakLimiter:
    """A hop-wise safety peak limiter with explicit state and preallocated buffers.

    Args:
        hop_length: samples per hop (every :meth:`process` call takes exactly this many).
        sample_rate: Hz (for the release time).
        ceiling_db: output ceiling in dBFS (< 0); no output sample exceeds it.
        release_s: time constant of the gain's recovery after a peak (seconds).

    Attributes:
        gain: the gain applied to the last sample of the last hop (0 < gain <= 1).
        gain_reduction_db: the largest gain reduction in the last hop, dB >= 0
            (0: the hop passed unchanged).
    """

    def __init__(self, hop_length: int, sample_rate: int, ceiling_db: float = DEFAULT_CEILING_DB,
                 release_s: float = DEFAULT_RELEASE_S) -> None:
        if isinstance(hop_length, bool) or not isinstance(hop_length, int) or hop_length < 1:
            raise ConfigError(f"limiter hop_length must be a positive integer, got {hop_length!r}")
        if not sample_rate > 0:
            raise ConfigError(f"limiter sample_rate must be positive, got {sample_rate!r}")
        if not (math.isfinite(ceiling_db) and ceiling_db < 0.0):
            raise ConfigError(f"limiter ceiling_db must be below 0 dBFS, got {ceiling_db!r}")
        if not (math.isfinite(release_s) and release_s > 0.0):
            raise ConfigError(f"limiter release_s must be positive, got {release_s!r}")
        self.hop_length = hop_length
        self.sample_rate = sample_rate
        self.ceiling_db = float(ceiling_db)
        self.ceiling = float(np.float32(db_to_gain(ceiling_db)))
        self.release_s = float(release_s)
        coef = math.exp(-1.0 / (release_s * sample_rate))
        #: coef ** (n + 1) for n in 0..hop-1: the release curve's remaining distance to 1
        self._decay = (coef ** np.arange(1, hop_length + 1, dtype=np.float64)).astype(np.float32)
        self._steps = np.arange(1, hop_length + 1, dtype=np.float32)
        self._abs = np.zeros(hop_length, dtype=np.float32)
        self._gain = np.ones(hop_length, dtype=np.float32)
        self._over = np.zeros(hop_length, dtype=bool)
        self.gain = 1.0
        self.gain_reduction_db = 0.0

    def reset(self) -> None:
        """Back to unity gain (no reduction)."""
        self.gain = 1.0
        self.gain_reduction_db = 0.0

    def process(self, hop: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Limit one hop ``(hop_length,)`` float32; returns ``out`` (default: ``hop``, in place).

        NaN input samples become 0 and +-inf the ceiling. Does not allocate.
        """
        if out is None:
            out = hop
        elif out is not hop:
            out[:] = hop
        if not (math.isfinite(float(out.max())) and math.isfinite(float(out.min()))):
            # a broken hop must not poison the gain state
            np.nan_to_num(out, copy=False, nan=0.0, posinf=self.ceiling, neginf=-self.ceiling)
        np.abs(out, out=self._abs)
        peak = float(self._abs.max())
        previous = self.gain
        if previous >= 1.0 and peak <= self.ceiling:  # quiet and recovered: bit-exact pass
            self.gain_reduction_db = 0.0
            return out
        target = min(1.0, self.ceiling / peak) if peak > 0.0 else 1.0
        gain = self._gain
        if target < previous:
            # attack: a linear ramp that reaches the target at the first sample the old gain
            # would push past the ceiling, then hold the target for the rest of the hop
            np.greater(self._abs, self.ceiling / previous, out=self._over)
            first = int(np.argmax(self._over))
            steps = first + 1
            np.multiply(self._steps[:steps], (target - previous) / steps, out=gain[:steps])
            gain[:steps] += previous
            gain[steps:] = target
            lowest = target
        else:
            # release towards 1, never above what this hop's peak allows
            np.multiply(self._decay, previous - 1.0, out=gain)
            gain += 1.0
            np.minimum(gain, target, out=gain)
            lowest = float(gain[0])
        self.gain = float(gain[-1])
        if self.gain > 1.0 - 1e-6 and target >= 1.0:
            self.gain = 1.0
        np.multiply(out, gain, out=out)
        np.clip(out, -self.ceiling, self.ceiling, out=out)  # final guard
        self.gain_reduction_db = -20.0 * math.log10(max(lowest, 1e-12))
        return out
