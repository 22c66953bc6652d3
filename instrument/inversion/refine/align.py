"""Align a target sound to the synth's note-on before matching it.

The synths start their note at sample 0 and oscillator matching
(:mod:`instrument.inversion.refine.stem_match`) correlates the target with stems in the time domain,
so a target that arrives late (leading silence, a few samples of latency) matches the wrong phase
(``latent bench inversion --arrival``: 37 samples late without alignment loses several points of
STFT correlation after refinement). Two steps put the target's note-on at sample 0:

1. :func:`onset_sample`: the sample before the first one above the noise floor. A clip whose
   first samples look like noise (flat, not rising from zero, 40 dB below the peak) gets a floor
   above that noise; otherwise anything above digital silence counts. Leading digital silence is
   then cut exactly (the synths' notes rise from a zero sample at note-on).
2. After recorded noise the onset found is late by the attack's rise above the noise:
   :func:`estimate_lag` finds the remaining lag by normalised cross-correlation of the target
   against a render of a candidate patch (the network's prediction) over ``-max_lag..max_lag``
   samples, and the target is cut again at the corrected onset.

All functions work on mono float arrays ``(samples,)`` at the synth rate.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import correlate

from instrument.errors import ConfigError

#: Samples at the start of a clip that tell a noise floor (flat) from a note's attack (rising).
NOISE_PROBE = 32
#: Samples below this fraction of the peak count as digital silence (an exact note-on).
DIGITAL_SILENCE = 1e-7


def noise_floor(audio: np.ndarray, probe: int = NOISE_PROBE) -> float:
    """Level below which samples are silence: above the peak of the first ``probe`` samples if
    they look like noise (their RMS within 2x of the next ``probe`` samples' and 40 dB below the
    clip's peak), else :data:`DIGITAL_SILENCE` x peak (a note's attack rises from its first sample).
    """
    y = np.abs(np.asarray(audio, np.float32).reshape(-1))
    peak = float(y.max()) if len(y) else 0.0
    digital = DIGITAL_SILENCE * peak
    if len(y) < 2 * probe or peak <= 0:
        return digital
    r1 = float(np.sqrt(np.mean(y[:probe] ** 2)))
    r2 = float(np.sqrt(np.mean(y[probe:2 * probe] ** 2)))
    starts_at_zero = float(np.mean(y[:4])) < 0.25 * r1   # an attack rises from (near) zero
    if digital < r1 < 0.01 * peak and r2 < 2.0 * r1 and not starts_at_zero:
        return 2.0 * float(y[:probe].max())
    return digital


def onset_sample(audio: np.ndarray) -> int:
    """The sample before the first one above :func:`noise_floor` (0 for silence).

    The synths' notes start from a zero sample (the envelope at note-on), so this is exact for a
    note after digital silence; after recorded noise it is late by the time the attack takes to
    rise above the noise.

    Args:
        audio: ``(samples,)``.
    """
    y = np.abs(np.asarray(audio, np.float32).reshape(-1))
    if not len(y) or float(y.max()) <= 0:
        return 0
    loud = y > noise_floor(y)
    return max(int(np.argmax(loud)) - 1, 0) if loud.any() else 0


def exact_onset(audio: np.ndarray, onset: int) -> bool:
    """Whether the note-on at ``onset`` is exact: digital silence before it (or nothing)."""
    y = np.abs(np.asarray(audio, np.float32).reshape(-1))
    peak = float(y.max()) if len(y) else 0.0
    return onset == 0 or float(y[:onset].max()) <= DIGITAL_SILENCE * peak


def trim_to_onset(audio: np.ndarray, margin: int = 0) -> tuple[np.ndarray, int]:
    """Drop the leading silence, keeping ``margin`` samples before the onset.

    Returns:
        (trimmed audio ``(samples - removed,)`` float32, samples removed).
    """
    y = np.asarray(audio, np.float32).reshape(-1)
    cut = max(onset_sample(y) - max(int(margin), 0), 0)
    return y[cut:], cut


def estimate_lag(target: np.ndarray, reference: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag of ``target`` behind ``reference`` (samples; negative = ahead) maximising their
    normalised cross-correlation over ``-max_lag..max_lag``.

    Args:
        target, reference: ``(samples,)`` (any lengths; the overlap of each lag is used).
    Returns:
        (lag, correlation at that lag in [-1, 1]; 0 when either is silent).
    """
    if max_lag < 0:
        raise ConfigError(f"max_lag must be >= 0 samples, got {max_lag}")
    t = np.asarray(target, np.float64).reshape(-1)
    r = np.asarray(reference, np.float64).reshape(-1)
    n = min(len(t), len(r))
    if n == 0:
        return 0, 0.0
    t, r = t[:n], r[:n]
    full = correlate(t, r, mode="full", method="fft")   # index n - 1 + lag
    lags = np.arange(-min(max_lag, n - 1), min(max_lag, n - 1) + 1)
    c = full[n - 1 + lags]
    # energy of each overlap: target[lag:] and reference[:n - lag] for lag >= 0, and mirrored
    ct, cr = np.concatenate([[0.0], np.cumsum(t * t)]), np.concatenate([[0.0], np.cumsum(r * r)])
    e_t = np.where(lags >= 0, ct[n] - ct[np.clip(lags, 0, n)], ct[np.clip(n + lags, 0, n)])
    e_r = np.where(lags >= 0, cr[np.clip(n - lags, 0, n)], cr[n] - cr[np.clip(-lags, 0, n)])
    den = np.sqrt(np.maximum(e_t * e_r, 1e-30))
    corr = np.where(den > 1e-20, c / den, 0.0)
    i = int(np.argmax(corr))
    return int(lags[i]), float(corr[i])


def shift_earlier(audio: np.ndarray, lag: int) -> np.ndarray:
    """``audio`` moved ``lag`` samples earlier (negative: later), zero-filled, same length."""
    y = np.asarray(audio, np.float32).reshape(-1)
    out = np.zeros_like(y)
    if abs(lag) >= len(y):
        return out
    if lag >= 0:
        out[:len(y) - lag] = y[lag:]
    else:
        out[-lag:] = y[:len(y) + lag]
    return out
