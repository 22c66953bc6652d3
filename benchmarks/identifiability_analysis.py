"""How much of a patch its sound determines: the MPR ceiling of any inversion network.

A network sees only the sound's features (``log1p|STFT|``). Where another class of one parameter
gives features that are (nearly) the same, no network can tell the two apart: the best it can do
is rank all such classes level, and the true class then sits, on average, half-way down that tied
set. For every sound and parameter this module re-renders the patch with that one parameter at
each other class, counts the classes whose features lie within ``rel_tol * ||F||`` (Frobenius)
of the sound's own features ``F``, and turns the counts into the mean percentile rank a perfect
judge of such features would reach. Optionally it also exchanges two oscillators' shapes (with
and without their amplitudes), ties no one-parameter change reveals. Other joint changes can only
add ties, so this is an upper bound for the given tolerance; the tolerance stands for the detail a
network can still resolve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from instrument.errors import ConfigError

if TYPE_CHECKING:
    from instrument.synths.base import Synth


def one_parameter_variants(classes: np.ndarray, levels: Sequence[int]) -> np.ndarray:
    """Every patch that differs from ``classes`` in exactly one parameter's class.

    Args:
        classes: int ``(n_params,)``, one patch.
        levels: classes per parameter.
    Returns:
        int ``(sum(levels) - n_params, n_params)``, parameter by parameter, classes ascending.
    """
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 1 or len(classes) != len(levels):
        raise ConfigError(f"classes must be one patch of {len(levels)} parameters, got shape {classes.shape}")
    rows = []
    for j, n_levels in enumerate(levels):
        others = np.array([c for c in range(n_levels) if c != classes[j]], dtype=np.int64)
        block = np.repeat(classes[None, :], len(others), axis=0)
        block[:, j] = others
        rows.append(block)
    return np.concatenate(rows)


def relative_distances(reference: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``||candidate - reference|| / ||reference||`` (Frobenius) for features
    ``reference (frames, bins)`` and ``candidates (n, frames, bins)`` -> ``(n,)``."""
    ref = np.asarray(reference, dtype=np.float64)
    diff = np.asarray(candidates, dtype=np.float64) - ref[None]
    norm = max(float(np.linalg.norm(ref)), 1e-12)
    return np.sqrt((diff * diff).sum(axis=(1, 2))) / norm


def oscillator_swaps(classes: np.ndarray, oscillators: Sequence[Sequence[int]]) -> np.ndarray:
    """Patches with two oscillators' shapes exchanged: once without and once with their amplitudes.

    With the filter closed, a saw at one note and a sine at another could sound like the sine at the
    first and the saw at the second: a tie no one-parameter change would show.

    Args:
        classes: int ``(n_params,)``, one patch.
        oscillators: per oscillator its parameter indices, amplitude first, then its shape
            parameters (the same kinds in the same order for every oscillator).
    Returns:
        int ``(2 * pairs, n_params)``.
    """
    classes = np.asarray(classes, dtype=np.int64)
    if len({len(o) for o in oscillators}) > 1:
        raise ConfigError("every oscillator needs the same parameter kinds to be swapped")
    rows = []
    for a in range(len(oscillators)):
        for b in range(a + 1, len(oscillators)):
            for first in (1, 0):  # shapes only, then amplitude too
                row = classes.copy()
                ia, ib = list(oscillators[a][first:]), list(oscillators[b][first:])
                row[ia], row[ib] = classes[ib], classes[ia]
                rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(len(rows), len(classes))


def tied_class_counts(synth: Synth, classes: np.ndarray, rel_tols: Sequence[float],
                      oscillators: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Classes of each parameter that sound like the true one (the true class included).

    Args:
        synth: a :class:`~instrument.synths.base.Synth` (``render``, ``features``, ``spec``).
        classes: int ``(n_sounds, n_params)`` true patches.
        rel_tols: tolerances on the relative feature distance, each >= 0.
        oscillators: also try :func:`oscillator_swaps` of these (parameter indices, amplitude
            first); a swap that sounds the same ties each changed parameter's new class.
    Returns:
        int ``(len(rel_tols), n_sounds, n_params)``, each in ``1..levels[j]``.
    """
    tols = np.asarray(rel_tols, dtype=np.float64)
    if tols.ndim != 1 or not len(tols) or (tols < 0).any():
        raise ConfigError(f"tolerances must be a non-empty list of numbers >= 0, got {list(rel_tols)}")
    spec = synth.spec
    classes = np.asarray(classes, dtype=np.int64)
    n_classes = max(spec.levels)
    counts = np.empty((len(tols), len(classes), spec.n_params), dtype=np.int64)
    params = np.arange(spec.n_params)
    for i, patch in enumerate(classes):
        variants = one_parameter_variants(patch, spec.levels)
        if oscillators:
            variants = np.concatenate([variants, oscillator_swaps(patch, oscillators)])
        reference = synth.features(synth.render(spec.from_classes(patch[None])))[0]
        feats = synth.features(synth.render(spec.from_classes(variants)))
        close = relative_distances(reference, feats)[None, :] <= tols[:, None]  # (tols, variants)
        for k in range(len(tols)):
            tied = np.zeros((spec.n_params, n_classes), dtype=bool)
            tied[params, patch] = True
            for row in variants[close[k]]:
                tied[params, row] = True  # unchanged parameters mark their own class again
            counts[k, i] = tied.sum(axis=1)
    return counts


def ceiling_mpr(counts: np.ndarray, n_classes: int) -> np.ndarray:
    """MPR per parameter of a judge that ranks each tied set first, in random order.

    The true class's expected rank in a tied set of ``m`` classes is ``(m - 1) / 2``.

    Args:
        counts: int ``(..., n_sounds, n_params)`` from :func:`tied_class_counts`.
        n_classes: classes of the score tensor (as :func:`~instrument.inversion.metrics.mean_percentile_rank`).
    Returns:
        float ``(..., n_params)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if n_classes < 2 or (counts < 1).any() or (counts > n_classes).any():
        raise ConfigError(f"tied counts must be in 1..{n_classes} and n_classes >= 2")
    return 100.0 * (1.0 - ((counts - 1.0) / 2.0).mean(axis=-2) / (n_classes - 1))
