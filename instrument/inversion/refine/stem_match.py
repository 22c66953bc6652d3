"""Oscillator matching: propose patches by fitting oscillator stems to the target in the time domain.

For synths whose output is a sum of oscillators through a shared linear chain (inversynth:
``y = sum_w A_w G L (E x_w) / peak``), every oscillator's shape ``(f, B, v)`` can be screened on its
own: a shape that is in the target correlates with it, others hardly do (different frequencies are
nearly orthogonal over a clip). For each oscillator this

1. scores every class combination of its shape parameters by ``<target, stem> / |E x|`` without
   rendering the filter (``synth.correlate_stems``: one adjoint filter pass for all shapes),
2. renders the ``shortlist`` best as true stems and keeps the ``keep`` best by normalised
   correlation ``<target, stem> / |stem|``,

then fits the amplitudes of every combination of kept stems by non-negative least squares and
returns the ``proposals`` combinations that leave the smallest residual, amplitudes snapped to the
class grid. Envelope, filter and gater come from the patch given (the network's prediction or the
search's best), so a wrong envelope weakens the match but does not stop it. The caller scores the
proposals with its own objective; matching only proposes.

The synth provides ``oscillators`` (``[(amplitude_param, (shape_params...)), ...]``),
``render_stems(values, w)`` and ``correlate_stems(values, w, shapes, target)``.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from instrument.errors import ConfigError, SynthError

if TYPE_CHECKING:
    from instrument.synths.base import Synth
    from instrument.synths.spec import SynthSpec


@dataclass(frozen=True)
class StemMatchConfig:
    """Settings of :func:`match_oscillators`.

    Attributes:
        shortlist: shapes per oscillator rendered as true stems after the filter-free screen.
        keep: stems per oscillator kept for the combinations (``keep ** oscillators`` fits).
        proposals: patches returned (best least-squares residual first).
    """

    shortlist: int = 32
    keep: int = 3
    proposals: int = 8

    def __post_init__(self) -> None:
        for name, low in (("shortlist", 1), ("keep", 1), ("proposals", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"stem match {name} must be an integer >= {low}, got {value!r}")
        if self.keep > self.shortlist:
            raise ConfigError(f"stem match keep ({self.keep}) must be <= shortlist ({self.shortlist})")


def supports_stem_matching(synth: Synth) -> bool:
    """Whether ``synth`` exposes the oscillator stems :func:`match_oscillators` needs."""
    return all(hasattr(synth, name) for name in ("oscillators", "render_stems", "correlate_stems"))


def oscillator_params(synth: Synth) -> list[int]:
    """Indices of every parameter :func:`match_oscillators` sets (amplitudes and shapes)."""
    spec = synth.spec
    return [spec.index(n) for amp, shape in synth.oscillators for n in (amp, *shape)]


def warm_up(synth: Synth) -> None:
    """Run the render and stem kernels once on a tiny input (numba compiles them on first use, about 2 s
    the first time on a machine, then from its cache), so a timed search does not pay for it."""
    values = synth.spec.default_values()
    synth.render(values[None])
    synth.render_stems(values[None], 0)
    shape = values[[synth.spec.index(n) for n in synth.oscillators[0][1]]][None]
    synth.correlate_stems(values, 0, shape, np.zeros(synth.spec.n_samples, np.float32))


def nonnegative_least_squares(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``argmin_{a >= 0} |y - S^T a|^2`` from ``gram = S S^T`` and ``rhs = S y`` (active set).

    Returns:
        ``(k,)`` float64 amplitudes.
    """
    k = len(rhs)
    active = np.ones(k, dtype=bool)
    a = np.zeros(k)
    for _ in range(k):
        a = np.zeros(k)
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        sub = gram[np.ix_(idx, idx)] + 1e-9 * np.trace(gram) / k * np.eye(len(idx))
        a[idx] = np.linalg.solve(sub, rhs[idx])
        if np.all(a >= 0):
            break
        active &= a > 0
    return np.maximum(a, 0.0)


def snap_amplitudes(amplitudes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Amplitudes known up to a common scale (renders are peak-normalised) -> grid values.

    Tries every scale that puts one amplitude exactly on a grid level and keeps the one with the
    smallest snapping error relative to the largest amplitude.

    Args:
        amplitudes: ``(k,)`` non-negative.
        grid: ``(levels,)`` increasing amplitude values of the class grid.
    Returns:
        ``(k,)`` grid values.
    """
    a = np.asarray(amplitudes, np.float64)
    top = float(a.max())
    if top <= 0:
        return np.full(len(a), grid[-1])
    best, best_err = None, np.inf
    for w in np.flatnonzero(a > 1e-6 * top):
        for level in grid[grid > 0]:
            scaled = a * (level / a[w])
            if scaled.max() > grid[-1] * (1 + 1e-9):
                continue
            snapped = grid[np.abs(scaled[:, None] - grid[None]).argmin(axis=1)]
            err = float(np.sum((snapped - scaled) ** 2)) / float(scaled.max()) ** 2
            if err < best_err - 1e-12:
                best, best_err = snapped, err
    return best if best is not None else np.full(len(a), grid[-1])


def _shape_grid(spec: SynthSpec, shape_idx: list[int]) -> np.ndarray:
    """Every class combination of the shape parameters -> values ``(n, len(shape_idx))``."""
    grids = [spec.parameters[i].grid() for i in shape_idx]
    return np.array(list(itertools.product(*grids)), dtype=np.float64)


def _screen(synth: Synth, values: np.ndarray, w: int, shapes: np.ndarray, target: np.ndarray,
            pool: ThreadPoolExecutor | None) -> np.ndarray:
    """Filter-free score of every shape (higher = more of it in the target)."""
    if pool is not None and len(shapes) >= 64:
        parts = np.array_split(shapes, 2)
        got = list(pool.map(partial(synth.correlate_stems, values, w, target=target), parts))
        dot = np.concatenate([g[0] for g in got])
        energy = np.concatenate([g[1] for g in got])
    else:
        dot, energy = synth.correlate_stems(values, w, shapes, target)
    return np.where(dot > 0, dot / np.sqrt(np.maximum(energy, 1e-20)), -np.inf)


def match_oscillators(synth: Synth, target: np.ndarray, values: np.ndarray,
                      config: StemMatchConfig = StemMatchConfig(),
                      pool: ThreadPoolExecutor | None = None,
                      deadline: float | None = None) -> np.ndarray:
    """Patches whose oscillators are fitted to ``target`` (see the module docstring).

    Args:
        synth: a synth with oscillator stems (:func:`supports_stem_matching`).
        target: ``(n_samples,)`` audio at the synth rate.
        values: ``(n_params,)`` patch giving everything but the oscillators.
        pool: optional threads for the screen.
        deadline: ``time.monotonic()`` after which the oscillators not yet screened keep the
            shapes of ``values`` (about 0.1 s per oscillator for inversynth on one core).
    Returns:
        ``(proposals, n_params)`` values on the class grid of the oscillator parameters.
    """
    spec = synth.spec
    y = np.asarray(target, np.float32).reshape(-1)
    base = np.asarray(values, np.float64).reshape(-1)
    blocks = [(spec.index(amp), [spec.index(n) for n in shape]) for amp, shape in synth.oscillators]
    amp_idx = [amp for amp, _ in blocks]
    amp_grid = spec.parameters[amp_idx[0]].grid()
    for i in amp_idx[1:]:
        if not np.array_equal(spec.parameters[i].grid(), amp_grid):
            raise SynthError(f"synth {spec.name!r}: oscillator amplitude {spec.names[i]!r} has "
                             f"another class grid than {spec.names[amp_idx[0]]!r}; stem matching "
                             "needs one shared grid")
    kept_shapes, kept_stems = [], []
    for w, (_, shape_idx) in enumerate(blocks):
        if deadline is not None and time.monotonic() >= deadline:
            shapes, short = base[shape_idx][None], np.zeros(1, np.int64)
        else:
            shapes = _shape_grid(spec, shape_idx)
            screen = _screen(synth, base, w, shapes, y, pool)
            short = np.argsort(-screen)[:config.shortlist]
        cand = np.repeat(base[None], len(short), axis=0)
        cand[:, shape_idx] = shapes[short]
        stems = synth.render_stems(cand, w).astype(np.float64)
        norms = np.sqrt(np.maximum(np.einsum("ij,ij->i", stems, stems), 1e-20))
        corr = (stems @ y) / norms
        best = np.argsort(-corr)[:config.keep]
        kept_shapes.append(shapes[short[best]])
        kept_stems.append(stems[best])
    all_stems = np.concatenate(kept_stems)             # (oscillators * keep, n)
    gram = all_stems @ all_stems.T
    rhs = all_stems @ y.astype(np.float64)
    counts = [len(s) for s in kept_stems]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    fits = []
    for combo in itertools.product(*[range(c) for c in counts]):
        rows = offsets + np.asarray(combo)
        sub_gram, sub_rhs = gram[np.ix_(rows, rows)], rhs[rows]
        a = nonnegative_least_squares(sub_gram, sub_rhs)
        residual = -2.0 * float(a @ sub_rhs) + float(a @ sub_gram @ a)
        fits.append((residual, combo, a))
    fits.sort(key=lambda f: f[0])
    out = []
    for _, combo, a in fits[:config.proposals]:
        patch = base.copy()
        patch[amp_idx] = snap_amplitudes(a, amp_grid)
        for w, (_, shape_idx) in enumerate(blocks):
            patch[shape_idx] = kept_shapes[w][combo[w]]
        out.append(patch)
    return np.asarray(out)
