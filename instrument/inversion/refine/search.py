"""Test-time refinement of a predicted patch by batched re-rendering (search, no gradients).

Starting from the network's prediction, candidates are rendered a batch at a time and scored by
spectral similarity to the target sound (Pearson correlation of STFT magnitudes, Barkan's
``rho (STFT)``). The stages share one budget (wall-clock seconds, optionally also a render count):

0. ``stem_match`` (synths with oscillator stems, inversynth): :mod:`instrument.inversion.refine.stem_match` fits the
   oscillators to the target in the time domain given the rest of the patch; its proposals are
   scored and the best one starts the descent, and each new local optimum whose other parameters
   changed is matched again. FM synths with operator outputs (dx7) get
   :mod:`instrument.inversion.refine.carrier_match` instead: carrier ratios screened one carrier at
   a time and carrier levels fitted to the target's STFT magnitude.

1. ``coordinate``: iterated coordinate descent over classes. Each parameter in turn gets a line
   search over its classes (all of them by default, or ``+-radius`` plus the network's top-``top_k``),
   and the best class is taken at once when it improves the score. A parameter is searched again only
   after another one changed. At a local optimum (no single-class move improves) the best patch so
   far is "kicked": ``kick_params`` parameters are set to random classes (drawn from the network's
   class scores when given) and descent restarts from there; the best patch over all restarts wins.
   Slow synths (when the budget does not afford one full sweep at the speed of the first render,
   e.g. fluidsynth) instead get batched rounds: every move within ``+-2`` classes (and the
   network's top-k) in one render call, keeping the best move or the combination of improving ones.
2. ``es``: an evolution strategy on continuous normalised values (a (1, lambda) search with a
   shrinking step) for the last ``es_fraction`` of the time, for sounds that are not on the grid.

Render calls cannot be interrupted, so every call is timed and the next batch is cut to what the
measured cost (:mod:`instrument.inversion.refine.budget`: fixed start-up + per patch) says can end
before the deadline; the best candidate's audio is kept, so nothing is rendered after it.

Candidates can be rendered and scored by ``workers`` threads (the inversynth kernel, the FFT and
the BLAS products release the GIL). ``search_only`` runs the same machinery from the middle of every
range (the search-only baseline).
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from instrument.errors import ConfigError
from instrument.synths.allocator import keep_freed_memory
from instrument.inversion.refine.budget import cost_model_for
from instrument.inversion.refine.carrier_match import carrier_params, match_carriers, supports_carrier_matching
from instrument.inversion.refine.stem_match import (match_oscillators, oscillator_params, supports_stem_matching,
                                 warm_up)
from instrument.inversion.metrics import batch_stft_magnitude

if TYPE_CHECKING:
    from instrument.synths.base import Synth
    from instrument.synths.spec import SynthSpec

OBJECTIVES = ("pcc_stft", "pcc_log_stft")
#: ``RefineConfig.objective`` value that takes the synth's ``refine_objective``.
AUTO_OBJECTIVE = "auto"
#: Largest ``RefineConfig.start_samples`` (each costs one render).
MAX_START_SAMPLES = 4096
#: Share of the budget a call's first render chunk may end after the deadline.
OVERRUN_GRACE = 0.02


@dataclass(frozen=True)
class RefineConfig:
    """Settings of :func:`refine`.

    Attributes:
        seconds: wall-clock budget per sound (the running batch finishes after it).
        max_renders: also stop after this many rendered candidates (0 = time only).
        target_score: stop as soon as the score reaches this (a practically exact match).
        radius: classes tried on each side of the current one in a line search (16 = all classes
            of a 16-level parameter); 0 = automatic: all classes unless the budget affords less than
            a third of a sweep at the speed of the first render call, else 2 (slow external synths).
        top_k: also try the network's ``top_k`` classes of every parameter (needs scores).
        kick_params: parameters changed at random by each restart from a local optimum (0 = stop
            at the first local optimum and leave the rest of the time to the evolution strategy).
        block_moves: at a local optimum also try every reordering of interchangeable parameter
            blocks (:func:`parameter_blocks`: inversynth's four oscillators).
        lazy_spread: a parameter whose last line search moved the score by less than this is
            searched again only once the other parameters have settled (0 = never deferred).
        resweep_gain: a move that gains less than this is kept without searching the other
            parameters again (stops long tails of tiny moves; 0 = every move does).
        es_fraction: share of the budget kept for the continuous evolution strategy (0 = none).
        es_population: candidates per evolution-strategy generation.
        es_sigma: initial step in normalised units.
        stem_match: for synths with oscillator stems (inversynth), first fit the oscillators to the
            target in the time domain (:mod:`instrument.inversion.refine.stem_match`) and start the descent from the
            best proposal; again at every new local optimum whose envelope/filter changed. For
            synths with operator outputs (dx7) the carriers instead
            (:mod:`instrument.inversion.refine.carrier_match`).
        start_samples: before the search, also score this many patches drawn from the network's
            class scores (each parameter's class sampled in proportion to its score; needs
            scores) and start from the best of them and the network's choice; 0 = start from
            the network's choice, None = the synth's
            ``refine_start_samples`` (dx7: 255). Paid from the budget, and cut to what a tenth of
            it affords at the speed of the first render (slow synths).
        objective: ``pcc_stft`` (linear magnitudes), ``pcc_log_stft`` (log1p magnitudes) or
            ``auto``: the synth's ``refine_objective`` (dx7 uses log magnitudes: its quiet
            modulator partials decide the timbre but vanish from a linear-magnitude PCC).
        max_batch: largest render batch per worker.
        workers: threads rendering and scoring candidates (on the idle 2-core machine 2 threads
            render and score about 1.35x the candidates of one; on a machine loaded by other jobs
            they gain nothing).
        seed: rng seed of the kicks and the evolution strategy.
    """

    seconds: float = 2.0
    max_renders: int = 0
    target_score: float = 0.99999
    radius: int = 0
    top_k: int = 3
    kick_params: int = 3
    block_moves: bool = True
    lazy_spread: float = 0.0
    resweep_gain: float = 0.01
    es_fraction: float = 0.1
    es_population: int = 24
    es_sigma: float = 0.05
    stem_match: bool = True
    start_samples: int | None = None
    objective: str = AUTO_OBJECTIVE
    max_batch: int = 32
    workers: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        def _int(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"refine {name} must be an integer >= {low}, got {value!r}")

        if not (isinstance(self.seconds, (int, float)) and self.seconds >= 0):
            raise ConfigError(f"refine seconds must be >= 0, got {self.seconds!r}")
        _int("max_renders", 0)
        if not (isinstance(self.target_score, (int, float)) and 0 < self.target_score <= 1):
            raise ConfigError(f"refine target_score must be in (0, 1], got {self.target_score!r}")
        _int("radius", 0)
        _int("top_k", 0)
        _int("kick_params", 0)
        if not 0.0 <= self.es_fraction <= 1.0:
            raise ConfigError(f"es_fraction must be in [0, 1], got {self.es_fraction!r}")
        if not 0.0 <= self.lazy_spread <= 1.0:
            raise ConfigError(f"lazy_spread must be in [0, 1], got {self.lazy_spread!r}")
        if not 0.0 <= self.resweep_gain <= 1.0:
            raise ConfigError(f"resweep_gain must be in [0, 1], got {self.resweep_gain!r}")
        _int("es_population", 2)
        if self.start_samples is not None:
            _int("start_samples", 0)
            if self.start_samples > MAX_START_SAMPLES:
                raise ConfigError(f"refine start_samples must be <= {MAX_START_SAMPLES}, "
                                  f"got {self.start_samples!r}")
        if not 0 < self.es_sigma <= 1:
            raise ConfigError(f"es_sigma must be in (0, 1], got {self.es_sigma!r}")
        if self.objective not in (*OBJECTIVES, AUTO_OBJECTIVE):
            raise ConfigError(f"unknown objective {self.objective!r}; choose "
                              f"{', '.join((*OBJECTIVES, AUTO_OBJECTIVE))}")
        _int("max_batch", 2)
        _int("workers", 1)
        if self.workers > 8:
            raise ConfigError(f"refine workers must be <= 8, got {self.workers!r}")


@dataclass
class RefineResult:
    """Outcome of one refinement.

    Attributes:
        values: best parameter values ``(n_params,)`` float64.
        classes: their nearest classes ``(n_params,)`` int64.
        score: objective of ``values`` (PCC in [-1, 1]).
        initial_score: objective of the starting point.
        renders: candidates rendered. seconds: wall-clock spent. cpu_seconds: process CPU time
            spent (all threads; on a loaded machine far less than ``workers * seconds``).
        rounds: line searches, kicks and evolution-strategy generations.
        audio: rendered audio of ``values`` ``(n_samples,)``.
        start_draws: patches drawn from the network's scores before the search (see
            ``RefineConfig.start_samples``: fewer than asked when the budget affords fewer).
        objective: the objective ``score`` is of (:func:`objective_for`).
    """

    values: np.ndarray
    classes: np.ndarray
    score: float
    initial_score: float
    renders: int = 0
    seconds: float = 0.0
    rounds: int = 0
    cpu_seconds: float = 0.0
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    start_draws: int = 0
    objective: str = OBJECTIVES[0]

    @property
    def gain(self) -> float:
        return self.score - self.initial_score


class SpectralObjective:
    """Scores candidate audio against one target: PCC of (log) STFT magnitudes, batched.

    The target is centred and normalised once, so a candidate costs one STFT and two reductions:
    ``pcc = <m, t> / sqrt(<m, m> - N mean(m)^2)`` with ``t`` the unit-norm centred target.

    Args:
        target_audio: ``(n_samples,)`` at the synth rate.
    """

    def __init__(self, target_audio: np.ndarray, objective: str = "pcc_stft") -> None:
        if objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {objective!r}; choose {', '.join(OBJECTIVES)}")
        self.log = objective == "pcc_log_stft"
        target = self._mag(np.asarray(target_audio, np.float32)[None])[0].ravel().astype(np.float64)
        centred = target - target.mean()
        norm = float(np.sqrt(centred @ centred))
        self.flat_target = norm <= 1e-12
        self.target_mean = float(target.mean())
        self.target = (centred / max(norm, 1e-12)).astype(np.float32)

    def _mag(self, audio: np.ndarray) -> np.ndarray:
        mag = batch_stft_magnitude(audio)
        return np.log1p(mag) if self.log else mag

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Candidate audio ``(batch, n_samples)`` -> scores ``(batch,)`` in [-1, 1] (higher is better).

        A constant spectrogram (silence) scores 0, or 1 against an equal constant target.
        """
        mag = self._mag(audio).reshape(len(audio), -1)
        n = mag.shape[1]
        dot = (mag @ self.target).astype(np.float64)
        total = mag.sum(axis=1, dtype=np.float64)
        sq = np.einsum("ij,ij->i", mag, mag, dtype=np.float64)
        var = np.maximum(sq - total * total / n, 0.0)
        flat = var <= 1e-12 * np.maximum(sq, 1e-30)
        out = np.where(flat, 0.0, dot / np.sqrt(np.maximum(var, 1e-30)))
        if self.flat_target:
            same = flat & (np.abs(total / n - self.target_mean) <= 1e-6)
            out = np.where(same, 1.0, 0.0)
        return np.clip(out, -1.0, 1.0)


class _Evaluator:
    """Renders and scores candidates within the budget, split over worker threads.

    Every render call is timed (:class:`RenderCostModel`) and each chunk is cut to what the
    model says can finish before the deadline, so a slow synth whose render cannot be interrupted
    (fluidsynth) does not start a batch it cannot finish. The best candidate's audio is kept, so
    the result needs no render after the deadline.
    """

    def __init__(self, synth: Synth, objective: SpectralObjective, config: RefineConfig,
                 pool: ThreadPoolExecutor | None, deadline: float) -> None:
        self.synth = synth
        self.objective = objective
        self.config = config
        self.pool = pool
        self.deadline = deadline
        self.renders = 0
        self.best = -np.inf
        self.cost = cost_model_for(synth)
        self._best_kept = -np.inf
        self.best_values: np.ndarray | None = None
        self.best_audio: np.ndarray | None = None
        self._lock = threading.Lock()

    def exhausted(self, deadline: float | None = None) -> bool:
        cfg = self.config
        return (time.monotonic() >= (self.deadline if deadline is None else deadline)
                or (cfg.max_renders > 0 and self.renders >= cfg.max_renders)
                or self.best >= cfg.target_score)

    def _score(self, values: np.ndarray) -> np.ndarray:
        audio = self.synth.render(values)
        scores = self.objective(audio)
        i = int(np.argmax(scores))
        with self._lock:
            if self.best_values is None or scores[i] > self._best_kept:
                self._best_kept = float(scores[i])
                self.best_values = np.array(values[i], np.float64)
                self.best_audio = np.array(audio[i], np.float32)
        return scores

    def audio_of(self, values: np.ndarray) -> np.ndarray | None:
        """Rendered audio of ``values`` if it is the best candidate scored so far, else None."""
        if self.best_values is not None and np.array_equal(self.best_values, values):
            return self.best_audio
        return None

    def __call__(self, values: np.ndarray, deadline: float | None = None) -> np.ndarray:
        """Scores ``(k,)`` of the first ``k <= len(values)`` rows: stops at the deadline or the
        render cap, and renders no chunk the cost model expects to end after the deadline (the
        first chunk of a call: after the deadline plus :data:`OVERRUN_GRACE` of the budget; the
        first call of a search always renders at least one candidate)."""
        cfg = self.config
        end = self.deadline if deadline is None else deadline
        if cfg.max_renders > 0:
            values = values[:max(cfg.max_renders - self.renders, 1)]
        workers = cfg.workers if self.pool is not None else 1
        step = cfg.max_batch * workers
        scores: list[np.ndarray] = []
        i = 0
        while i < len(values):
            limit = min(step, len(values) - i)
            # a call's first chunk may cost up to OVERRUN_GRACE of the budget past the deadline
            # (fast synths: the proposals of a matching that ended late, 8 renders in 5 ms)
            remaining = end - time.monotonic()
            if not scores:
                remaining = max(remaining, 0.0) + OVERRUN_GRACE * cfg.seconds
            size = self.cost.affordable(remaining, limit)
            if size < 1:
                if self.renders > 0:
                    break
                size = 1
            chunk = values[i:i + size]
            t0 = time.monotonic()
            if workers > 1 and len(chunk) >= 2 * workers:
                parts = np.array_split(chunk, workers)
                got = np.concatenate(list(self.pool.map(self._score, parts)))  # type: ignore[union-attr]
            else:
                got = self._score(chunk)
            self.cost.observe(len(chunk), time.monotonic() - t0)
            scores.append(got)
            i += len(chunk)
            self.renders += len(chunk)
            self.best = max(self.best, float(np.max(got)))
            if self.exhausted(deadline):
                break
        return np.concatenate(scores) if scores else np.zeros(0)


def _options(current: int, levels: int, radius: int, top: np.ndarray | None) -> list[int]:
    """Classes a line search tries for one parameter (excluding ``current``)."""
    options = set(range(max(0, current - radius), min(levels - 1, current + radius) + 1))
    if top is not None:
        options.update(int(k) for k in top if k < levels)
    options.discard(int(current))
    return sorted(options)


def parameter_blocks(names: Sequence[str], levels: Sequence[int] | None = None) -> list[list[int]]:
    """Interchangeable parameter blocks, e.g. the oscillators of ``f_sin, A_sin, f_saw, A_saw``.

    Parameters are grouped by the suffix after their last ``_``; blocks are the suffix groups
    that share the most common set (of two or more) of prefixes, each ordered by prefix. With
    ``levels`` (classes per parameter), blocks whose members differ in class count are not
    interchangeable (e.g. the dx7's ``op1_level, op1_r1, ...``: the suffixes are different
    kinds of parameter) and none are returned.

    Returns:
        ``[[index, ...] per block]`` (empty when fewer than two blocks exist).
    """
    groups: dict[str, dict[str, int]] = {}
    for i, name in enumerate(names):
        prefix, sep, suffix = name.rpartition("_")
        if sep and prefix:
            groups.setdefault(suffix, {})[prefix] = i
    shapes: dict[tuple[str, ...], list[str]] = {}
    for suffix, members in groups.items():
        if len(members) >= 2:
            shapes.setdefault(tuple(sorted(members)), []).append(suffix)
    if not shapes:
        return []
    prefixes, suffixes = max(shapes.items(), key=lambda kv: (len(kv[1]), len(kv[0])))
    if len(suffixes) < 2:
        return []
    blocks = [[groups[s][p] for p in prefixes] for s in suffixes]
    if levels is not None and len({tuple(levels[i] for i in block) for block in blocks}) > 1:
        return []
    return blocks


def _block_permutations(classes: np.ndarray, blocks: list[list[int]]) -> np.ndarray:
    """Every reordering of the blocks' class vectors (identity excluded), int64 ``(n, n_params)``."""
    rows = []
    for perm in itertools.permutations(range(len(blocks))):
        if perm == tuple(range(len(blocks))):
            continue
        row = classes.copy()
        for dst, src in enumerate(perm):
            row[blocks[dst]] = classes[blocks[src]]
        rows.append(row)
    return np.asarray(rows, dtype=np.int64).reshape(-1, len(classes))


class _CoordinateSearch:
    """Iterated coordinate descent over classes (see the module docstring).

    Args:
        order: parameter order of every sweep (int ``(n_params,)``).
        probs: network class probabilities ``(n_params, n_classes)`` weighting kicks, or None.
    """

    def __init__(self, spec: SynthSpec, evaluate: _Evaluator, config: RefineConfig, deadline: float,
                 top: np.ndarray | None, order: np.ndarray, probs: np.ndarray | None,
                 rng: np.random.Generator, propose: Callable[[np.ndarray], np.ndarray] | None = None,
                 proposed: np.ndarray | None = None) -> None:
        self.spec = spec
        self.propose = propose
        #: parameters the proposals set; proposals are asked for once per setting of the others
        self.proposed = np.zeros(spec.n_params, bool) if proposed is None else proposed
        self.proposed_from: list[np.ndarray] = []
        self.evaluate = evaluate
        self.config = config
        self.deadline = deadline
        self.top = top
        self.order = [int(q) for q in order]
        self.probs = probs
        self.rng = rng
        self.levels = np.asarray(spec.levels)
        self.blocks = parameter_blocks(spec.names, spec.levels) if config.block_moves else []
        self.rounds = 0
        self.spread = np.full(spec.n_params, np.inf)
        self.lazy_spread = config.lazy_spread

    def done(self) -> bool:
        return self.evaluate.exhausted(self.deadline)

    def _try(self, cand: np.ndarray, current: np.ndarray, score: float, param: int = -1
             ) -> tuple[np.ndarray, float, bool]:
        """Render candidate classes ``(n, n_params)``; move to the best one if it improves.

        ``param`` >= 0 marks a line search: its score spread is kept for :meth:`descend`.
        """
        scores = self.evaluate(self.spec.from_classes(cand), self.deadline)
        self.rounds += 1
        if not len(scores):
            return current, score, False
        if param >= 0:
            self.spread[param] = max(float(scores.max()), score) - float(scores.min())
        j = int(np.argmax(scores))
        if scores[j] > score + 1e-7:
            return cand[j].copy(), float(scores[j]), True
        return current, score, False

    def descend(self, current: np.ndarray, score: float, params: Sequence[int]
                ) -> tuple[np.ndarray, float]:
        """Line searches over ``params`` (in order) until none improves (a local optimum)."""
        stale = set(params)    # parameters whose line search is out of date
        while stale and not self.done():
            # parameters that barely changed the score last time wait until the others settle
            active = [q for q in params if q in stale and self.spread[q] >= self.lazy_spread]
            for p in active or [q for q in params if q in stale]:
                if self.done():
                    break
                stale.discard(p)
                opts = _options(int(current[p]), int(self.levels[p]), self.config.radius,
                                None if self.top is None else self.top[p])
                if not opts:
                    continue
                cand = np.repeat(current[None], len(opts), axis=0)
                cand[:, p] = opts
                before = score
                current, score, moved = self._try(cand, current, score, p)
                if moved and score - before >= self.config.resweep_gain:
                    stale = set(params) - {p}
            if not stale and len(params) == len(current) and self.blocks and not self.done():
                # local optimum of single moves: try swapping whole blocks (oscillators)
                current, score, moved = self._try(_block_permutations(current, self.blocks),
                                                  current, score)
                if moved:
                    stale = set(params)
        return current, score

    def _kick(self, best: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Random classes for one block (or ``kick_params`` random parameters without blocks)."""
        if self.blocks:
            params = list(self.blocks[int(self.rng.integers(len(self.blocks)))])
        else:
            count = min(self.config.kick_params, len(best))
            params = [int(p) for p in self.rng.choice(len(best), size=count, replace=False)]
        out = best.copy()
        for p in params:
            n = int(self.levels[p])
            if n < 2:
                continue
            w = np.ones(n) if self.probs is None else self.probs[p, :n] + 1.0 / n
            w[out[p]] = 0.0
            out[p] = self.rng.choice(n, p=w / w.sum())
        return out, params

    def _rematch(self, best: np.ndarray, best_score: float) -> tuple[np.ndarray, float, bool]:
        """Proposals (e.g. oscillator matching) from a local optimum, once per setting of the
        parameters they keep; the best one is descended from when it beats ``best``."""
        if self.propose is None or self.done():
            return best, best_score, False
        key = best[~self.proposed]
        if any(np.array_equal(key, old) for old in self.proposed_from):
            return best, best_score, False
        self.proposed_from.append(key.copy())
        cand = self.propose(best)
        current, score, moved = self._try(cand, best, best_score)
        if not moved:
            return best, best_score, False
        current, score = self.descend(current, score, list(self.order))
        return (current, score, True) if score > best_score + 1e-7 else (best, best_score, False)

    def _settle(self, best: np.ndarray, best_score: float) -> tuple[np.ndarray, float]:
        """Re-propose from each new local optimum until the proposals no longer improve it."""
        moved = True
        while moved:
            best, best_score, moved = self._rematch(best, best_score)
        return best, best_score

    def run(self, start: np.ndarray, start_score: float) -> tuple[np.ndarray, float]:
        """Descent from ``start``, then kicked restarts from the best local optimum.

        At each new best local optimum the proposals are tried first (:meth:`_rematch`). A kick
        re-randomises one block, descends over that block's parameters only, and is kept
        (followed by a full descent) only when it beats the best patch so far.
        """
        everything = list(self.order)
        best, best_score = self._settle(*self.descend(start.copy(), start_score, everything))
        while self.config.kick_params > 0 and not self.done():
            kicked, params = self._kick(best)
            scores = self.evaluate(self.spec.from_classes(kicked[None]), self.deadline)
            self.rounds += 1
            if not len(scores):
                break
            current, score = self.descend(kicked, float(scores[0]), params)
            if score > best_score + 1e-7:
                best, best_score = self._settle(*self.descend(current, score, everything))
        return best, best_score


def _batched_rounds(spec: SynthSpec, evaluate: _Evaluator, classes: np.ndarray, score: float,
                    config: RefineConfig, deadline: float, top: np.ndarray | None
                    ) -> tuple[np.ndarray, float, int]:
    """Narrow search for slow synths (few renders per budget, costly per render call): each round
    renders every single-parameter move within ``radius`` (and the top-k classes) in one batch,
    plus the combination of the improving moves, and keeps the best candidate."""
    levels = np.asarray(spec.levels)
    rounds = 0
    while not evaluate.exhausted(deadline):
        rows = []
        for p, (c, n) in enumerate(zip(classes, levels)):
            for k in _options(int(c), int(n), config.radius, None if top is None else top[p]):
                row = classes.copy()
                row[p] = k
                rows.append(row)
        if not rows:
            break
        cand = np.asarray(rows, dtype=np.int64)
        scores = evaluate(spec.from_classes(cand), deadline)
        cand = cand[:len(scores)]
        rounds += 1
        gains = scores > score + 1e-7
        if not gains.any():
            break
        combo, seen = classes.copy(), set()
        for i in np.argsort(-scores):
            if not gains[i]:
                break
            p = int(np.flatnonzero(cand[i] != classes)[0])
            if p not in seen:
                combo[p] = cand[i][p]
                seen.add(p)
        j = int(np.argmax(scores))
        classes, score = cand[j].copy(), float(scores[j])
        if len(seen) > 1:
            combo_score = evaluate(spec.from_classes(combo[None]))
            if len(combo_score) and combo_score[0] > score:
                classes, score = combo, float(combo_score[0])
    return classes, score, rounds


def _evolution_strategy(spec: SynthSpec, evaluate: _Evaluator, values: np.ndarray, score: float,
                        config: RefineConfig, rng: np.random.Generator
                        ) -> tuple[np.ndarray, float, int]:
    """(1, lambda) search on normalised values with a shrinking step until the budget ends."""
    mean_u = np.array([p.normalize(v) for p, v in zip(spec.parameters, values)],
                      dtype=np.float64).reshape(-1)
    sigma = config.es_sigma
    rounds = 0
    while not evaluate.exhausted():
        pop_u = np.clip(mean_u + sigma * rng.standard_normal((config.es_population, len(mean_u))),
                        0.0, 1.0)
        pop = np.stack([p.denormalize(pop_u[:, j]) for j, p in enumerate(spec.parameters)], axis=1)
        pop_scores = evaluate(pop)
        rounds += 1
        if not len(pop_scores):
            break
        i = int(np.argmax(pop_scores))
        if pop_scores[i] > score + 1e-7:
            score, values, mean_u = float(pop_scores[i]), pop[i], pop_u[i]
            sigma = min(sigma * 1.2, config.es_sigma)
        else:
            sigma = max(sigma * 0.7, 0.005)
    return values, score, rounds


def sample_patches(scores: np.ndarray, levels: Sequence[int], n: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``n`` class vectors ``(n, n_params)`` int64 drawn from class scores ``(n_params, n_classes)``:
    each parameter's class with probability proportional to its (non-negative) score among its
    ``levels`` valid classes (uniform where all its scores are 0)."""
    s = np.maximum(np.asarray(scores, np.float64), 0.0)
    valid = np.arange(s.shape[-1])[None, :] < np.asarray(levels)[:, None]
    s = np.where(valid, s, 0.0)
    total = s.sum(axis=-1, keepdims=True)
    probs = np.where(total > 0, s / np.maximum(total, 1e-300), valid / valid.sum(-1, keepdims=True))
    cumulative = probs.cumsum(axis=-1)
    u = rng.random((n, s.shape[0], 1)) * cumulative[None, :, -1:]
    drawn = (u >= cumulative[None]).sum(axis=-1)
    return np.minimum(drawn, np.asarray(levels)[None, :] - 1).astype(np.int64)


def objective_for(synth: Synth, config: RefineConfig) -> str:
    """The objective :func:`refine` uses for ``synth``: the config's, or the synth's when ``auto``."""
    if config.objective != AUTO_OBJECTIVE:
        return config.objective
    name = synth.refine_objective
    if name not in OBJECTIVES:
        raise ConfigError(f"synth {synth.name!r} asks for unknown refine objective "
                          f"{name!r}; choose {', '.join(OBJECTIVES)}")
    return name


def start_samples_for(synth: Synth, config: RefineConfig) -> int:
    """Patches drawn from the network's scores before the search: the config's, or the synth's
    ``refine_start_samples`` when it says None."""
    if config.start_samples is not None:
        return config.start_samples
    n = synth.refine_start_samples
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_START_SAMPLES:
        raise ConfigError(f"synth {synth.name!r} asks for {n!r} refine start "
                          f"samples; 0..{MAX_START_SAMPLES} allowed")
    return n


def refine(synth: Synth, target_audio: np.ndarray, initial_values: np.ndarray,
           config: RefineConfig = RefineConfig(), scores: np.ndarray | None = None) -> RefineResult:
    """Search for values whose rendering matches ``target_audio`` better than ``initial_values``.

    Args:
        synth: a synth (``.spec``, ``.render``).
        target_audio: ``(n_samples,)`` float32 at the synth rate, peak-normalised like renders.
        initial_values: starting values ``(n_params,)``.
        scores: optional network class scores ``(n_params, n_classes)``: top-k candidates, the
            order of the first sweep (least confident parameter first), kick weights and the
            ``start_samples`` drawn patches.
    Returns:
        :class:`RefineResult`; never worse than ``initial_values`` (``initial_score`` is its
        score; the start is kept if nothing improves).
    """
    keep_freed_memory()  # batches of candidates would otherwise page-fault (instrument/synths/allocator.py)
    oscillators = config.stem_match and supports_stem_matching(synth)
    carriers = config.stem_match and not oscillators and supports_carrier_matching(synth)
    matching = oscillators or carriers
    if oscillators:
        warm_up(synth)
    objective_name = objective_for(synth, config)
    objective = SpectralObjective(target_audio, objective_name)
    objective(np.asarray(target_audio, np.float32)[None])  # first-call costs (FFT set-up) before t0
    t0, cpu0 = time.monotonic(), time.process_time()
    spec = synth.spec
    rng = np.random.default_rng(config.seed)
    start = np.asarray(initial_values, np.float64).reshape(-1)
    pool = ThreadPoolExecutor(config.workers) if config.workers > 1 else None
    try:
        evaluate = _Evaluator(synth, objective, config, pool, t0 + config.seconds)
        t_render = time.monotonic()
        initial_score = float(evaluate(start[None])[0])
        per_render = max(time.monotonic() - t_render, 1e-6)
        best_values, best_score, rounds = start, initial_score, 0
        n_samples = min(start_samples_for(synth, config), int(0.1 * config.seconds / per_render))
        start_draws = 0
        if scores is not None and n_samples > 0 and not evaluate.exhausted():
            start_draws = n_samples
            candidates = spec.from_classes(sample_patches(scores, spec.levels, n_samples, rng))
            got = evaluate(candidates)
            rounds += 1
            if len(got) and got.max() > best_score + 1e-7:
                best_values, best_score = candidates[int(np.argmax(got))], float(got.max())
            start = best_values
        top = probs = None
        order = np.arange(spec.n_params)
        if scores is not None:
            s = np.asarray(scores, np.float64)
            probs = s / np.maximum(s.sum(axis=-1, keepdims=True), 1e-12)
            order = np.argsort(s.max(axis=-1), kind="stable")
            if config.top_k:
                top = np.argsort(-s, axis=-1)[:, :config.top_k]
        coord_deadline = t0 + config.seconds * (1.0 - config.es_fraction)
        if evaluate.cost.predict(config.es_population) > config.seconds * config.es_fraction:
            # the evolution strategy's share could not pay for one generation (slow synths):
            # the class search gets the whole budget
            coord_deadline = t0 + config.seconds
        if config.radius == 0:
            # one render call's time (a single render overstates the per-candidate cost of a batch,
            # hence the margin of 3): inversynth affords hundreds of sweeps, fluidsynth a fraction
            affordable = 3.0 * (coord_deadline - t0) / per_render
            if config.max_renders:
                affordable = min(affordable, 3.0 * config.max_renders)
            sweep = sum(int(n) - 1 for n in spec.levels)
            config = replace(config, radius=max(spec.levels) if affordable >= sweep else 2)
        if not evaluate.exhausted(coord_deadline):
            classes = spec.to_classes(start)
            on_grid = np.allclose(spec.from_classes(classes), start, rtol=1e-9, atol=1e-12)
            grid_score = best_score if on_grid else float(
                evaluate(spec.from_classes(classes)[None])[0])
            propose, proposed = None, None
            if matching:
                proposed = np.zeros(spec.n_params, bool)
                proposed[oscillator_params(synth) if oscillators else carrier_params(synth)] = True

                def propose(patch: np.ndarray) -> np.ndarray:
                    if carriers:
                        found = match_carriers(synth, target_audio, spec.from_classes(patch),
                                               pool=pool, deadline=coord_deadline)
                    else:
                        found = match_oscillators(synth, target_audio, spec.from_classes(patch),
                                                  pool=pool, deadline=coord_deadline)
                    return spec.to_classes(found)

                cand = propose(classes)
                got = evaluate(spec.from_classes(cand), coord_deadline)
                rounds += 1
                if len(got) and got.max() > grid_score + 1e-7:
                    classes, grid_score = cand[int(np.argmax(got))].copy(), float(got.max())
            if config.radius < max(spec.levels):
                classes, score, n = _batched_rounds(spec, evaluate, classes, grid_score, config,
                                                    coord_deadline, top)
                rounds += n
            else:
                search = _CoordinateSearch(spec, evaluate, config, coord_deadline, top, order,
                                           probs, rng, propose, proposed)
                if proposed is not None:
                    search.proposed_from.append(classes[~proposed].copy())
                classes, score = search.run(classes, grid_score)
                rounds += search.rounds
            if score > best_score:
                best_values, best_score = spec.from_classes(classes), score
        if config.es_fraction > 0 and not evaluate.exhausted():
            best_values, best_score, n = _evolution_strategy(spec, evaluate, best_values,
                                                             best_score, config, rng)
            rounds += n
        kept = evaluate.audio_of(best_values)
        audio = kept if kept is not None else synth.render(best_values[None])[0]
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return RefineResult(values=best_values, classes=spec.to_classes(best_values), score=best_score,
                        initial_score=initial_score, renders=evaluate.renders,
                        seconds=time.monotonic() - t0, rounds=rounds,
                        cpu_seconds=time.process_time() - cpu0, audio=audio,
                        start_draws=start_draws, objective=objective_name)


def search_only(synth: Synth, target_audio: np.ndarray, config: RefineConfig = RefineConfig()
                ) -> RefineResult:
    """The search-only baseline: :func:`refine` started from the middle class of every parameter."""
    return refine(synth, target_audio, synth.spec.default_values(), config, scores=None)
