"""Test-time refinement of a predicted patch by batched re-rendering (search, no gradients).

Starting from the network's prediction, candidates are rendered a batch at a time and scored by
spectral similarity to the target sound (Pearson correlation of STFT magnitudes, Barkan's
``rho (STFT)``). Two stages share one wall-clock budget:

1. ``coordinate``: greedy coordinate search over classes. Each round renders every single-parameter
   move to a neighbouring class (``+-radius``) or to one of the network's top-``top_k`` classes, plus
   the combination of all improving moves; the best candidate is kept.
2. ``es``: an evolution strategy on continuous normalised values (a (1, lambda) search with a
   shrinking step, like a diagonal CMA-ES without covariance learning), for the remaining time.

``search_only`` runs the same machinery from the middle of every range (the search-only baseline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instrument.errors import ConfigError
from training.inversion_metrics import batch_stft_magnitude, pearson_rows

OBJECTIVES = ("pcc_stft", "pcc_log_stft")


@dataclass(frozen=True)
class RefineConfig:
    """Settings of :func:`refine`.

    Attributes:
        seconds: wall-clock budget per sound (the search stops after the round that crosses it).
        radius: neighbouring classes tried on each side in coordinate search.
        top_k: also try the network's ``top_k`` classes of every parameter (needs scores).
        es_fraction: share of the budget left for the continuous evolution strategy (0 = none).
        es_population: candidates per evolution-strategy generation.
        es_sigma: initial step in normalised units.
        objective: ``pcc_stft`` (linear magnitudes) or ``pcc_log_stft`` (log1p magnitudes).
        max_batch: largest render batch.
        seed: rng seed of the evolution strategy.
    """

    seconds: float = 2.0
    radius: int = 2
    top_k: int = 3
    es_fraction: float = 0.3
    es_population: int = 48
    es_sigma: float = 0.08
    objective: str = "pcc_stft"
    max_batch: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.seconds >= 0:
            raise ConfigError(f"refine seconds must be >= 0, got {self.seconds!r}")
        if not isinstance(self.radius, int) or self.radius < 1:
            raise ConfigError(f"refine radius must be a positive integer, got {self.radius!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ConfigError(f"refine top_k must be a non-negative integer, got {self.top_k!r}")
        if not 0.0 <= self.es_fraction <= 1.0:
            raise ConfigError(f"es_fraction must be in [0, 1], got {self.es_fraction!r}")
        if not isinstance(self.es_population, int) or self.es_population < 2:
            raise ConfigError(f"es_population must be an integer >= 2, got {self.es_population!r}")
        if not 0 < self.es_sigma <= 1:
            raise ConfigError(f"es_sigma must be in (0, 1], got {self.es_sigma!r}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; choose {', '.join(OBJECTIVES)}")
        if not isinstance(self.max_batch, int) or self.max_batch < 2:
            raise ConfigError(f"max_batch must be an integer >= 2, got {self.max_batch!r}")


@dataclass
class RefineResult:
    """Outcome of one refinement.

    Attributes:
        values: best parameter values ``(n_params,)`` float64.
        classes: their nearest classes ``(n_params,)`` int64.
        score: objective of ``values`` (PCC in [-1, 1]).
        initial_score: objective of the starting point.
        renders: candidates rendered. seconds: wall-clock spent. rounds: search rounds.
        audio: rendered audio of ``values`` ``(n_samples,)``.
    """

    values: np.ndarray
    classes: np.ndarray
    score: float
    initial_score: float
    renders: int = 0
    seconds: float = 0.0
    rounds: int = 0
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def gain(self) -> float:
        return self.score - self.initial_score


class SpectralObjective:
    """Scores candidate audio against one target: PCC of (log) STFT magnitudes, batched.

    Args:
        target_audio: ``(n_samples,)`` at the synth rate.
    """

    def __init__(self, target_audio: np.ndarray, objective: str = "pcc_stft") -> None:
        if objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {objective!r}; choose {', '.join(OBJECTIVES)}")
        self.log = objective == "pcc_log_stft"
        self.target = self._mag(np.asarray(target_audio, np.float32)[None])[0]

    def _mag(self, audio: np.ndarray) -> np.ndarray:
        mag = batch_stft_magnitude(audio)
        return np.log1p(mag) if self.log else mag

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Candidate audio ``(batch, n_samples)`` -> scores ``(batch,)`` (higher is better)."""
        mag = self._mag(audio)
        return pearson_rows(np.broadcast_to(self.target, mag.shape), mag)


def _render_scores(synth: Any, objective: SpectralObjective, values: np.ndarray,
                   max_batch: int, deadline: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Render and score ``values`` in chunks; stop early (fewer rows) once ``deadline`` passes.

    At least one chunk is always evaluated.
    """
    scores, audio = [], []
    for i in range(0, len(values), max_batch):
        a = synth.render(values[i:i + max_batch])
        audio.append(a)
        scores.append(objective(a))
        if deadline is not None and time.monotonic() > deadline:
            break
    return np.concatenate(scores), np.concatenate(audio)


def _coordinate_candidates(classes: np.ndarray, levels: np.ndarray, radius: int,
                           top: np.ndarray | None) -> np.ndarray:
    """All single-parameter class moves from ``classes`` (unique, excluding no-ops).

    Returns:
        int64 ``(n_candidates, n_params)``.
    """
    rows = []
    for p, (c, n) in enumerate(zip(classes, levels)):
        options = set(range(max(0, c - radius), min(n - 1, c + radius) + 1))
        if top is not None:
            options.update(int(k) for k in top[p] if k < n)
        options.discard(int(c))
        for k in sorted(options):
            row = classes.copy()
            row[p] = k
            rows.append(row)
    return np.asarray(rows, dtype=np.int64).reshape(-1, len(classes))


def refine(synth: Any, target_audio: np.ndarray, initial_values: np.ndarray,
           config: RefineConfig = RefineConfig(), scores: np.ndarray | None = None) -> RefineResult:
    """Search for values whose rendering matches ``target_audio`` better than ``initial_values``.

    Args:
        synth: a synth (``.spec``, ``.render``).
        target_audio: ``(n_samples,)`` float32 at the synth rate, peak-normalised like renders.
        initial_values: starting values ``(n_params,)``.
        scores: optional network class scores ``(n_params, n_classes)`` (adds top-k candidates).
    Returns:
        :class:`RefineResult`; never worse than the start (the start is kept if nothing improves).
    """
    t0 = time.monotonic()
    spec = synth.spec
    levels = np.asarray(spec.levels)
    objective = SpectralObjective(target_audio, config.objective)
    best_values = np.asarray(initial_values, np.float64).reshape(1, -1)
    s, a = _render_scores(synth, objective, best_values, config.max_batch)
    best_score, best_audio = float(s[0]), a[0]
    initial_score, renders, rounds = best_score, 1, 0
    top = None
    if scores is not None and config.top_k:
        top = np.argsort(-np.asarray(scores), axis=-1)[:, :config.top_k]
    deadline = t0 + config.seconds
    coord_deadline = t0 + config.seconds * (1.0 - config.es_fraction)
    classes = spec.to_classes(best_values[0])
    # the start may be off-grid (continuous values): compare against its quantised version too
    improved = True
    while improved and time.monotonic() < coord_deadline:
        improved = False
        cand = _coordinate_candidates(classes, levels, config.radius, top)
        if not len(cand):
            break
        cand_scores, cand_audio = _render_scores(synth, objective, spec.from_classes(cand),
                                                 config.max_batch, coord_deadline)
        cand = cand[:len(cand_scores)]
        renders += len(cand)
        rounds += 1
        order = np.argsort(-cand_scores)
        gains = cand_scores > best_score + 1e-6
        if gains.any():
            # combine every improving move (best per parameter) and test it as well
            combo = classes.copy()
            seen: set[int] = set()
            for i in order:
                if not gains[i]:
                    break
                p = int(np.flatnonzero(cand[i] != classes)[0])
                if p not in seen:
                    combo[p] = cand[i][p]
                    seen.add(p)
            i = int(order[0])
            pick_classes, pick_score, pick_audio = cand[i], float(cand_scores[i]), cand_audio[i]
            if len(seen) > 1:
                cs, ca = _render_scores(synth, objective, spec.from_classes(combo[None]), 2)
                renders += 1
                if cs[0] > pick_score:
                    pick_classes, pick_score, pick_audio = combo, float(cs[0]), ca[0]
            classes = pick_classes.copy()
            best_values = spec.from_classes(classes)[None]
            best_score, best_audio = pick_score, pick_audio
            improved = True
    if config.es_fraction > 0:
        rng = np.random.default_rng(config.seed)
        mean_u = np.array([p.normalize(v) for p, v in zip(spec.parameters, best_values[0])],
                          dtype=np.float64).reshape(-1)
        sigma = config.es_sigma
        while time.monotonic() < deadline:
            pop_u = np.clip(mean_u + sigma * rng.standard_normal((config.es_population, len(mean_u))),
                            0.0, 1.0)
            pop = np.stack([p.denormalize(pop_u[:, j]) for j, p in enumerate(spec.parameters)], axis=1)
            pop_scores, pop_audio = _render_scores(synth, objective, pop, config.max_batch, deadline)
            pop, pop_u = pop[:len(pop_scores)], pop_u[:len(pop_scores)]
            renders += len(pop)
            rounds += 1
            i = int(np.argmax(pop_scores))
            if pop_scores[i] > best_score + 1e-6:
                best_score, best_audio = float(pop_scores[i]), pop_audio[i]
                best_values = pop[i][None]
                mean_u = pop_u[i]
                sigma = min(sigma * 1.2, config.es_sigma)
            else:
                sigma = max(sigma * 0.7, 0.005)
    values = best_values[0]
    return RefineResult(values=values, classes=spec.to_classes(values), score=best_score,
                        initial_score=initial_score, renders=renders,
                        seconds=time.monotonic() - t0, rounds=rounds, audio=best_audio)


def search_only(synth: Any, target_audio: np.ndarray, config: RefineConfig = RefineConfig()
                ) -> RefineResult:
    """The search-only baseline: :func:`refine` started from the middle class of every parameter."""
    return refine(synth, target_audio, synth.spec.default_values(), config, scores=None)
