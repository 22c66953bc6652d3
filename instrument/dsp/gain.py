"""Output gains of the engine: the smoothed master gain and the loudness compensation.

:class:`SmoothedGain` applies a gain in dB to whole hops, moving towards a new
value with a one-pole smoother per hop and a linear ramp inside each hop (no
zipper noise). :class:`LoudnessFollower` (``auto_gain``) scales the output
magnitude frames so the output's short-term level follows the input's:
energies per frame, one-pole smoothed, their ratio bounded and smoothed.
Both are small classes with explicit state that never allocate per hop.
"""

from __future__ import annotations

import math

import numpy as np

from instrument.errors import ConfigError

#: Time constant of the master gain's smoothing (seconds).
MASTER_GAIN_SMOOTHING_S = 0.02
#: Loudness compensation: level tracking and gain smoothing time constants (seconds).
LOUDNESS_LEVEL_S = 0.4
LOUDNESS_GAIN_S = 0.2
#: Loudness compensation bounds (dB).
LOUDNESS_MIN_DB, LOUDNESS_MAX_DB = -24.0, 12.0
#: Loudness compensation holds its gain while the input is below this level
#: (dB relative to a full-scale sine).
LOUDNESS_SILENCE_DB = -60.0


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class SmoothedGain:
    """A gain in dB applied hop by hop, smoothed towards its target.

    Args:
        hop_length: samples per hop.
        hop_seconds: duration of one hop.
        smoothing_s: one-pole time constant of the gain (seconds).

    Attributes:
        target_db: the gain being moved to.
        gain: the linear gain reached at the end of the last hop.
        curve: ``(hop_length,)`` the per-sample gain of the last hop (valid after :meth:`step`).
    """

    def __init__(self, hop_length: int, hop_seconds: float,
                 smoothing_s: float = MASTER_GAIN_SMOOTHING_S) -> None:
        self.hop_length = hop_length
        self._coef = math.exp(-_positive("hop_seconds", hop_seconds) / _positive("smoothing_s", smoothing_s))
        self._ramp = (np.arange(1, hop_length + 1, dtype=np.float32) / np.float32(hop_length))
        self.curve = np.ones(hop_length, dtype=np.float32)
        self.target_db = 0.0
        self._target = 1.0
        self.gain = 1.0

    @property
    def gain_db(self) -> float:
        """The current gain in dB."""
        return 20.0 * math.log10(max(self.gain, 1e-12))

    def set_db(self, db: float, immediate: bool = False) -> None:
        """Move towards ``db`` (``immediate``: jump there, e.g. before the first hop)."""
        self.target_db = float(db)
        self._target = 10.0 ** (self.target_db / 20.0)
        if immediate:
            self.gain = self._target

    def reset(self) -> None:
        """Jump to the target (no ramp pending)."""
        self.gain = self._target

    def step(self) -> bool:
        """Advance one hop and fill :attr:`curve`; False when the gain is exactly 1 all hop long."""
        previous = self.gain
        target = self._target
        current = target + (previous - target) * self._coef
        if abs(current - target) <= 1e-6 * target:
            current = target
        self.gain = current
        if current == previous:
            if current == 1.0:
                return False
            self.curve[:] = current
        else:
            np.multiply(self._ramp, current - previous, out=self.curve)
            self.curve += previous
        return True

    def process(self, hop: np.ndarray) -> np.ndarray:
        """Apply one hop's gain to ``hop`` ``(hop_length,)`` in place; returns it. Does not allocate."""
        if self.step():
            np.multiply(hop, self.curve, out=hop)
        return hop


class LoudnessFollower:
    """Loudness compensation in the magnitude domain: output level follows the input's.

    Per frame, the energies ``sum(|S|^2)`` of the (delay-aligned) input and of the
    output are smoothed with a slow one-pole filter; the gain moves (smoothed)
    towards ``sqrt(input / output)``, bounded to ``min_db..max_db``. While the
    input is silent the gain holds; disabled, it returns smoothly to exactly 1.

    Args:
        n_fft: FFT size (sets the silence threshold: a full-scale sine's frame energy).
        hop_seconds: duration of one hop (frame rate).
    """

    def __init__(self, n_fft: int, hop_seconds: float, level_s: float = LOUDNESS_LEVEL_S,
                 gain_s: float = LOUDNESS_GAIN_S, min_db: float = LOUDNESS_MIN_DB,
                 max_db: float = LOUDNESS_MAX_DB, silence_db: float = LOUDNESS_SILENCE_DB) -> None:
        if not min_db <= 0.0 <= max_db:
            raise ConfigError(f"loudness bounds must enclose 0 dB, got {min_db}..{max_db}")
        hop_seconds = _positive("hop_seconds", hop_seconds)
        self._level_alpha = 1.0 - math.exp(-hop_seconds / _positive("level_s", level_s))
        self._gain_alpha = 1.0 - math.exp(-hop_seconds / _positive("gain_s", gain_s))
        self.min_gain, self.max_gain = 10.0 ** (min_db / 20.0), 10.0 ** (max_db / 20.0)
        # a full-scale sine under a Hann window: sum |X_k|^2 over the one-sided spectrum ~ 3 n_fft^2 / 32
        self.silence_energy = 3.0 * n_fft ** 2 / 32.0 * 10.0 ** (silence_db / 10.0)
        self.reset()

    def reset(self) -> None:
        self.level_in = 0.0
        self.level_out = 0.0
        self.gain = 1.0

    @property
    def gain_db(self) -> float:
        return 20.0 * math.log10(self.gain)

    def process(self, input_magnitude: np.ndarray, output_magnitude: np.ndarray, enabled: bool) -> np.ndarray:
        """Track both levels and scale ``output_magnitude`` ``(n_bins,)`` in place; returns it.

        ``input_magnitude`` ``(n_bins,)`` must be aligned with the output frame. Does not allocate.
        """
        alpha = self._level_alpha
        self.level_in += (float(np.dot(input_magnitude, input_magnitude)) - self.level_in) * alpha
        self.level_out += (float(np.dot(output_magnitude, output_magnitude)) - self.level_out) * alpha
        if not enabled:
            desired = 1.0
        elif self.level_in > self.silence_energy and self.level_out > self.silence_energy * 1e-3:
            desired = min(self.max_gain, max(self.min_gain, math.sqrt(self.level_in / self.level_out)))
        else:
            desired = self.gain
        gain = self.gain + (desired - self.gain) * self._gain_alpha
        if abs(gain - desired) <= 1e-6 * desired:
            gain = desired
        if not math.isfinite(gain):
            gain = 1.0
        self.gain = gain
        if gain != 1.0:
            np.multiply(output_magnitude, np.float32(gain), out=output_magnitude)
        return output_magnitude


#: A clip whose peak is at most this is silent: :func:`normalise_peak` leaves it at 0.
SILENT_PEAK = 1e-9


def normalise_peak(audio: np.ndarray) -> np.ndarray:
    """Scale ``(..., samples)`` to peak 1 per row, float32; silent rows (peak <= SILENT_PEAK) stay 0.

    How the synths deliver clips (the inversion networks see peak-normalised sounds).
    """
    a = np.asarray(audio, dtype=np.float32)
    peak = np.max(np.abs(a), axis=-1, keepdims=True)
    return np.where(peak > SILENT_PEAK, a / np.maximum(peak, SILENT_PEAK), 0.0).astype(np.float32)


def peak_gains(audio: np.ndarray) -> np.ndarray:
    """The gain :func:`normalise_peak` applies to each row of ``(batch, samples)``: ``(batch,)``
    float64, ``1 / peak`` (0 for a silent row), found without an ``abs`` copy of the audio."""
    a = np.asarray(audio)
    peak = np.maximum(a.max(axis=-1), -a.min(axis=-1)).astype(np.float64)
    return np.where(peak > SILENT_PEAK, 1.0 / np.maximum(peak, SILENT_PEAK), 0.0)
