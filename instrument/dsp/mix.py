"""Mixing two signals: the wet/dry mix and the crossfade the engine's stages share.

Both are pure functions on same-shape float32 arrays (frames ``(n_bins,)`` or
hops ``(hop_length,)``). Given ``out`` and ``scratch`` buffers of that shape
they write into them and allocate nothing, so they may run once per hop; both
compute ``a * (1 - g) + b * g`` with the two products taken separately, so a
gain of exactly 0 or 1 returns one input unchanged (for finite inputs).
"""

from __future__ import annotations

import numpy as np


def crossfade(a: np.ndarray, b: np.ndarray, ramp: float | np.ndarray, out: np.ndarray | None = None,
              scratch: np.ndarray | None = None) -> np.ndarray:
    """``a * (1 - ramp) + b * ramp``: fade from ``a`` (ramp 0) to ``b`` (ramp 1).

    Args:
        a, b: the signals, same shape ``(n,)`` float32.
        ramp: the gain of ``b``, a number or a per-sample curve of shape ``(n,)``
            (e.g. a linear ramp over one hop), values in 0..1.
        out: ``(n,)`` buffer for the result (allocated when None).
        scratch: ``(n,)`` work buffer (allocated when None); must not be ``out``,
            ``a``, ``b`` or ``ramp``.
    Returns:
        ``out``, shape ``(n,)``.
    """
    if out is None:
        out = np.empty_like(a)
    if scratch is None:
        scratch = np.empty_like(a)
    if isinstance(ramp, np.ndarray):
        np.subtract(1.0, ramp, out=scratch)
        np.multiply(a, scratch, out=out)
        np.multiply(b, ramp, out=scratch)
    else:
        np.multiply(b, ramp, out=out)
        np.multiply(a, 1.0 - ramp, out=scratch)
    out += scratch
    return out


def wet_dry_mix(dry: np.ndarray, wet: np.ndarray, mix: float, out: np.ndarray | None = None,
                scratch: np.ndarray | None = None) -> np.ndarray:
    """``wet * mix + dry * (1 - mix)``; ``mix >= 1`` copies ``wet`` (so a non-finite dry cannot leak in).

    Args:
        dry, wet: the unprocessed and processed signals, same shape float32: ``(n,)`` samples
            live, ``(frames, n_bins)`` log magnitudes in offline transfer.
        mix: 0 = all dry, 1 = all wet.
        out, scratch: ``(n,)`` buffers as in :func:`crossfade` (allocated when None).
    Returns:
        ``out``, shape ``(n,)``.
    """
    if mix >= 1.0:
        if out is None:
            return wet.copy()
        out[:] = wet
        return out
    return crossfade(dry, wet, mix, out=out, scratch=scratch)
