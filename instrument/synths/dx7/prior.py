"""The musical prior of the ``dx7`` synth: random voices that sound like instruments.

Uniformly random DX7 voices are mostly noise, silence or harsh clipping: a random algorithm
with six random output levels, ratios up to 31 and envelopes with random sustain levels. The
prior draws instead (DX7 units, then snapped to the spec's classes):

* algorithm uniform over the 32; feedback uniform 0..7; note uniform over the spec's notes;
* carriers (from the algorithm) audible and together below full scale: output level uniform
  in ``[top - 12, top]`` with ``top = 99 - 8 log2(carriers)`` (8 steps is about 6 dB);
  attack level ``l1 = 99``, a quick attack (``r1`` 60..99), decay level ``l2`` 60..99;
* modulators output level 35..95 (15 %: 0..35, nearly pure carriers); attack level 70..99;
* frequency ratios (coarse) mostly small: carriers 1 (55 %), 0.5, 2, 3, 4, 5;
  modulators 0.5..14 weighted towards 1..4;
* sustain level ``l3`` uniform, decay and release rates 20..99, final level ``l4 = 0``;
* fine 0 (80 %) and detune 4..10 where the spec varies them; any other parameter uniform.

``latent bench synth_prior`` reports the share of silent and clipped renders this gives.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from instrument.synths.spec import SynthSpec

CARRIER_COARSE = ((1, 0.55), (0, 0.1), (2, 0.15), (3, 0.1), (4, 0.05), (5, 0.05))
MODULATOR_COARSE = ((0, 0.05), (1, 0.3), (2, 0.2), (3, 0.12), (4, 0.1), (5, 0.06), (6, 0.05),
                    (7, 0.04), (8, 0.03), (9, 0.01), (10, 0.01), (11, 0.01), (12, 0.01), (14, 0.01))


def _choice(rng: np.random.Generator, table: tuple[tuple[int, float], ...], n: int) -> np.ndarray:
    values = np.array([v for v, _ in table], np.float64)
    weights = np.array([w for _, w in table], np.float64)
    return rng.choice(values, size=n, p=weights / weights.sum())


def sample_musical(spec: SynthSpec, rng: np.random.Generator, n: int,
                   carriers: Sequence[Sequence[int]]) -> np.ndarray:
    """``n`` voices from the musical prior as spec values ``(n, n_params)`` on the class grid.

    ``carriers[a]`` lists the carrier operators (0-based) of algorithm ``a`` (0..31).
    """
    values = spec.from_classes(spec.random_classes(rng, n))  # parameters without a rule: uniform
    names = spec.names
    uni: Callable[[float, float], np.ndarray] = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731

    def put(name: str, x: np.ndarray) -> None:
        if name in names:
            i = names.index(name)
            values[:, i] = spec.parameters[i].from_classes(spec.parameters[i].to_classes(x))

    algorithm = rng.integers(0, 32, n)
    if "algorithm" in names:
        put("algorithm", algorithm.astype(np.float64))
        algorithm = values[:, names.index("algorithm")].astype(np.int64)
    is_carrier = np.zeros((n, 6), bool)
    for row, a in enumerate(algorithm):
        is_carrier[row, list(carriers[int(a)])] = True
    top = 99.0 - 8.0 * np.log2(is_carrier.sum(axis=1))
    put("feedback", rng.integers(0, 8, n).astype(np.float64))
    for k in range(1, 7):
        c = is_carrier[:, k - 1]
        quiet = rng.random(n) < 0.15
        put(f"op{k}_level", np.where(c, top - rng.uniform(0, 12, n),
                                     np.where(quiet, uni(0, 35), uni(35, 95))))
        put(f"op{k}_coarse", np.where(c, _choice(rng, CARRIER_COARSE, n), _choice(rng, MODULATOR_COARSE, n)))
        put(f"op{k}_r1", np.where(c, uni(60, 99), uni(40, 99)))
        put(f"op{k}_l1", np.where(c, 99.0, uni(70, 99)))
        put(f"op{k}_r2", uni(20, 99))
        put(f"op{k}_l2", np.where(c, uni(60, 99), uni(40, 99)))
        put(f"op{k}_r3", uni(20, 99))
        put(f"op{k}_l3", uni(0, 99))
        put(f"op{k}_r4", uni(20, 99))
        put(f"op{k}_l4", np.zeros(n))
        put(f"op{k}_fine", np.where(rng.random(n) < 0.8, 0.0, uni(0, 99)))
        put(f"op{k}_detune", uni(4, 10))
    return values
