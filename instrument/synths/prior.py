"""A Gaussian prior over a synth's parameters, to sample patches like real ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instrument.errors import SynthError
from instrument.synths.spec import SynthSpec


@dataclass(frozen=True)
class GaussianPrior:
    """Multivariate normal over normalised parameters, fitted to real patches (Vecoven 4.7).

    Attributes:
        mean: ``(n_params,)``; cov: ``(n_params, n_params)``, both in normalised ``[0, 1]`` units.
    """

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def fit(cls, spec: SynthSpec, values: np.ndarray, ridge: float = 1e-4) -> "GaussianPrior":
        """Fit to values ``(n_patches, n_params)``; a small ridge keeps the covariance valid."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] < 2:
            raise SynthError(f"a prior needs at least 2 patches (a folder of patch .json files, a "
                             f".jsonl file with one patch per line, or a .json list of patches), "
                             f"got {v.shape[0] if v.ndim else 0}")
        u = spec.normalize(v)
        cov = np.cov(u, rowvar=False).reshape(spec.n_params, spec.n_params)
        return cls(mean=u.mean(axis=0), cov=cov + ridge * np.eye(spec.n_params))

    def sample(self, spec: SynthSpec, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` quantised values ``(n, n_params)``: normal samples clipped to the ranges."""
        u = rng.multivariate_normal(self.mean, self.cov, size=n, method="cholesky")
        return spec.quantize(spec.denormalize(np.clip(u, 0.0, 1.0)))
