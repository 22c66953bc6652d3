"""Carrier matching: propose FM patches by fitting each carrier's output to the target (dx7).

An FM voice's output is the sum of its carriers' outputs, and a carrier's output depends only on
its own frequency ratio, envelope and level and on the modulators feeding it. With the synth's
per-operator outputs (``render_operators``, Dexed's ``render_all_ops``) each carrier can be
screened on its own, as the oscillators of :mod:`instrument.inversion.refine.stem_match`:

1. for each carrier, every class of its frequency ratio (``op<k>_coarse``) is rendered (the other
   operators as in the patch) and scored by the normalised correlation of its STFT magnitude with
   the target's; the ``keep`` best ratios stay;
2. for every combination of kept ratios the carriers' magnitudes are fitted to the target's by
   non-negative least squares (magnitudes add where carriers do not share partials, and renders
   are peak-normalised, so only the ratios between amplitudes count);
3. the ``proposals`` best combinations become patches: the ratios, and output levels whose gains
   (``synth.output_level_gains()``, measured from the synth) best match the fitted amplitudes.

The comparison is of magnitudes, not waveforms, so a recording whose phases differ from the
synth's still matches. Matching only proposes; the caller scores proposals with its objective.
The synth provides ``render_operators``, ``carriers`` and ``output_level_gains``.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from instrument.errors import ConfigError
from instrument.inversion.metrics import batch_stft_magnitude
from instrument.inversion.refine.stem_match import nonnegative_least_squares, snap_amplitudes

if TYPE_CHECKING:
    from instrument.synths.base import Synth


@dataclass(frozen=True)
class CarrierMatchConfig:
    """Settings of :func:`match_carriers`: ratios kept per carrier, patches returned."""

    keep: int = 3
    proposals: int = 8

    def __post_init__(self) -> None:
        for name in ("keep", "proposals"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"carrier match {name} must be an integer >= 1, got {value!r}")


def supports_carrier_matching(synth: Synth) -> bool:
    """Whether ``synth`` exposes the operator outputs :func:`match_carriers` needs."""
    return all(hasattr(synth, name) for name in ("render_operators", "carriers", "output_level_gains"))


def carrier_params(synth: Synth) -> list[int]:
    """Indices of the parameters :func:`match_carriers` may set (every operator's level and ratio)."""
    names = synth.spec.names
    return [names.index(f"op{k}_{field}") for k in range(1, 7) for field in ("level", "coarse")
            if f"op{k}_{field}" in names]


def _magnitudes(audio: np.ndarray) -> np.ndarray:
    """``(n, samples)`` -> flattened STFT magnitudes ``(n, bins * frames)`` float64."""
    return batch_stft_magnitude(audio).reshape(len(audio), -1).astype(np.float64)


def _operators(synth: Synth, rows: np.ndarray, pool: ThreadPoolExecutor | None) -> np.ndarray:
    """``synth.render_operators(rows)``, split over ``pool``'s threads when given."""
    if pool is None or len(rows) < 2:
        return synth.render_operators(rows)
    parts = np.array_split(rows, min(pool._max_workers, len(rows)))  # noqa: SLF001 - its size
    return np.concatenate(list(pool.map(synth.render_operators, parts)))


def match_carriers(synth: Synth, target: np.ndarray, values: np.ndarray,
                   config: CarrierMatchConfig = CarrierMatchConfig(),
                   pool: ThreadPoolExecutor | None = None,
                   deadline: float | None = None) -> np.ndarray:
    """Patches whose carriers are fitted to ``target`` (see the module docstring).

    Args:
        synth: a synth with operator outputs (:func:`supports_carrier_matching`).
        target: ``(n_samples,)`` audio at the synth rate.
        values: ``(n_params,)`` patch giving the algorithm, the modulators and the envelopes.
        pool: optional threads rendering the screened ratios.
        deadline: ``time.monotonic()`` after which carriers not yet screened keep their ratio.
    Returns:
        ``(proposals, n_params)`` values (only carrier levels and ratios differ from ``values``).
    """
    spec = synth.spec
    base = np.asarray(values, np.float64).reshape(-1)
    names = spec.names
    carriers = list(synth.carriers(base[None])[0])
    target_mag = _magnitudes(np.asarray(target, np.float32).reshape(1, -1))[0]
    options: list[tuple[np.ndarray, np.ndarray]] = []   # per carrier: (ratio values, magnitudes)
    for k in carriers:
        coarse = f"op{k + 1}_coarse"
        if coarse in names and (deadline is None or time.monotonic() < deadline):
            grid = spec.param(coarse).grid()
            rows = np.repeat(base[None], len(grid), axis=0)
            rows[:, names.index(coarse)] = grid
        else:
            rows = base[None]
            grid = base[[names.index(coarse)]] if coarse in names else np.zeros(1)
        mags = _magnitudes(_operators(synth, rows, pool)[:, k])
        norms = np.sqrt(np.maximum(np.einsum("ij,ij->i", mags, mags), 1e-20))
        best = np.argsort(-(mags @ target_mag) / norms)[:config.keep]
        options.append((grid[best], mags[best]))
    gains = np.asarray(synth.output_level_gains(), np.float64)      # (100,) per DX7 output level
    every = np.concatenate([mags for _, mags in options])            # (sum of kept, bins * frames)
    gram_all, rhs_all = every @ every.T, every @ target_mag
    offsets = np.concatenate([[0], np.cumsum([len(o[0]) for o in options])[:-1]])
    fits = []
    for combo in itertools.product(*[range(len(o[0])) for o in options]):
        rows = offsets + np.asarray(combo)
        gram, rhs = gram_all[np.ix_(rows, rows)], rhs_all[rows]
        a = nonnegative_least_squares(gram, rhs)
        fits.append((-2.0 * float(a @ rhs) + float(a @ gram @ a), combo, a))
    fits.sort(key=lambda f: f[0])
    out = []
    for _, combo, a in fits[:config.proposals]:
        patch = base.copy()
        amplitudes = []
        for c, (k, j) in enumerate(zip(carriers, combo)):
            coarse = f"op{k + 1}_coarse"
            if coarse in names:
                patch[names.index(coarse)] = options[c][0][j]
            level = f"op{k + 1}_level"
            current = int(round(base[names.index(level)])) if level in names else 99
            amplitudes.append(a[c] * gains[current])
        level_idx = [names.index(f"op{k + 1}_level") for k in carriers if f"op{k + 1}_level" in names]
        if level_idx and len(level_idx) == len(carriers):
            grid = spec.parameters[level_idx[0]].grid()
            snapped = snap_amplitudes(np.asarray(amplitudes), gains[grid.astype(int)])
            lookup = {float(g): float(v) for g, v in zip(gains[grid.astype(int)], grid)}
            patch[level_idx] = [lookup[float(s)] for s in snapped]
        out.append(patch)
    return np.asarray(out)
