"""How much of a patch its sound determines: the MPR ceiling of any inversion network.

A network sees only the sound's features (``log1p|STFT|``). Where another class of one parameter
gives features that are (nearly) the same, no network can tell the two apart: the best it can do
is rank all such classes level, and the true class then sits, on average, half-way down that tied
set. For every sound and parameter this module re-renders the patch with that one parameter at
each other class, counts the classes whose features lie within ``rel_tol * ||F||`` (Frobenius)
of the sound's own features ``F``, and turns the counts into the mean percentile rank a perfect
judge of such features would reach. Changing two parameters at once can only add ties, so this
is an upper bound for the given tolerance; the tolerance stands for the detail a network can
still resolve.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from instrument.errors import ConfigError


def one_parameter_variants(classes: np.ndarray, levels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every patch that differs from ``classes`` in exactly one parameter's class.

    Args:
        classes: int ``(n_params,)``, one patch.
        levels: classes per parameter.
    Returns:
        (variants int ``(n_variants, n_params)``, parameter index of each variant ``(n_variants,)``),
        ``n_variants = sum(levels) - n_params``.
    """
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 1 or len(classes) != len(levels):
        raise ConfigError(f"classes must be one patch of {len(levels)} parameters, got shape {classes.shape}")
    rows, params = [], []
    for j, n_levels in enumerate(levels):
        others = np.array([c for c in range(n_levels) if c != classes[j]], dtype=np.int64)
        block = np.repeat(classes[None, :], len(others), axis=0)
        block[:, j] = others
        rows.append(block)
        params.append(np.full(len(others), j, dtype=np.int64))
    return np.concatenate(rows), np.concatenate(params)


def relative_distances(reference: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``||candidate - reference|| / ||reference||`` (Frobenius) for features
    ``reference (frames, bins)`` and ``candidates (n, frames, bins)`` -> ``(n,)``."""
    ref = np.asarray(reference, dtype=np.float64)
    diff = np.asarray(candidates, dtype=np.float64) - ref[None]
    norm = max(float(np.linalg.norm(ref)), 1e-12)
    return np.sqrt((diff * diff).sum(axis=(1, 2))) / norm


def tied_class_counts(synth: Any, classes: np.ndarray, rel_tols: Sequence[float]) -> np.ndarray:
    """Classes of each parameter that sound like the true one (the true class included).

    Args:
        synth: a :class:`~training.synths.spec.Synth` (``render``, ``features``, ``spec``).
        classes: int ``(n_sounds, n_params)`` true patches.
        rel_tols: tolerances on the relative feature distance, each >= 0.
    Returns:
        int ``(len(rel_tols), n_sounds, n_params)``, each in ``1..levels[j]``.
    """
    tols = np.asarray(rel_tols, dtype=np.float64)
    if tols.ndim != 1 or not len(tols) or (tols < 0).any():
        raise ConfigError(f"tolerances must be a non-empty list of numbers >= 0, got {list(rel_tols)}")
    spec = synth.spec
    classes = np.asarray(classes, dtype=np.int64)
    counts = np.ones((len(tols), len(classes), spec.n_params), dtype=np.int64)
    for i, patch in enumerate(classes):
        variants, param_of = one_parameter_variants(patch, spec.levels)
        reference = synth.features(synth.render(spec.from_classes(patch[None])))[0]
        feats = synth.features(synth.render(spec.from_classes(variants)))
        close = relative_distances(reference, feats)[None, :] <= tols[:, None]  # (tols, variants)
        for k in range(len(tols)):
            counts[k, i] += np.bincount(param_of[close[k]], minlength=spec.n_params)
    return counts


def ceiling_mpr(counts: np.ndarray, n_classes: int) -> np.ndarray:
    """MPR per parameter of a judge that ranks each tied set first, in random order.

    The true class's expected rank in a tied set of ``m`` classes is ``(m - 1) / 2``.

    Args:
        counts: int ``(..., n_sounds, n_params)`` from :func:`tied_class_counts`.
        n_classes: classes of the score tensor (as :func:`~training.inversion_metrics.mean_percentile_rank`).
    Returns:
        float ``(..., n_params)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if n_classes < 2 or (counts < 1).any() or (counts > n_classes).any():
        raise ConfigError(f"tied counts must be in 1..{n_classes} and n_classes >= 2")
    return 100.0 * (1.0 - ((counts - 1.0) / 2.0).mean(axis=-2) / (n_classes - 1))
