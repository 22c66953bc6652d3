"""The interface every synth renderer shares: render patches, and their spectral features."""

from __future__ import annotations

import numpy as np

from instrument.dsp.spectral import stft_magnitude
from instrument.synths.patch import Patch
from instrument.synths.prior import GaussianPrior
from instrument.synths.spec import SynthSpec


def clip_features(audio: np.ndarray, spec: SynthSpec, scale: np.ndarray | None = None) -> np.ndarray:
    """``log1p|STFT|`` of synth-rate clips ``(batch, samples)`` -> ``(batch, frames, n_bins)`` float32.

    Framing as :mod:`instrument.dsp.spectral` (``n_fft - hop`` leading zeros, frame ``t`` ends at
    sample ``(t + 1) * hop``) but without end padding: ``samples // hop`` frames (Barkan: 64 x 257
    for one second at 16384 Hz), the input shape the shipped inversion models were trained on.
    ``scale``: optional gain per clip ``(batch,)`` applied to the audio first.
    """
    return stft_magnitude(np.atleast_2d(audio), spec.stft, pad_end=False, log=True, scale=scale)


class Synth:
    """Common synth interface. Subclasses implement :meth:`render`.

    ``render(values (batch, n_params)) -> audio (batch, n_samples) float32``;
    ``features(audio) -> (batch, n_frames, n_bins) float32`` log1p STFT magnitudes.
    """

    #: Spectral objective refinement maximises when its config says ``auto``
    #: (``instrument.inversion.refine.search.OBJECTIVES``).
    refine_objective = "pcc_stft"
    #: Patches drawn from the network's scores as other starting points of refinement when its
    #: config says None (``RefineConfig.start_samples``).
    refine_start_samples = 0

    def __init__(self, spec: SynthSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def render_batch(self) -> int:
        """Patches per :meth:`render` call that bulk rendering (datasets) should use."""
        return 64

    def render(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def render_patch(self, patch: Patch) -> np.ndarray:
        """One patch -> audio ``(n_samples,)`` float32."""
        return self.render(patch.to_array(self.spec)[None])[0]

    def render_features(self, values: np.ndarray) -> np.ndarray:
        """``features(render(values))`` ``(batch, frames, n_bins)``: what datasets store (a synth
        may do it in fewer passes, with the same result to float32 rounding)."""
        return self.features(self.render(values))

    def features(self, audio: np.ndarray) -> np.ndarray:
        """:func:`clip_features` of a batch ``(batch, samples)`` -> ``(batch, frames, n_bins)``."""
        return clip_features(audio, self.spec)

    def random_patches(self, rng: np.random.Generator, n: int,
                       prior: GaussianPrior | None = None) -> np.ndarray:
        """``n`` random quantised values ``(n, n_params)``: uniform classes, or from ``prior``."""
        if prior is not None:
            return prior.sample(self.spec, rng, n)
        return self.spec.from_classes(self.spec.random_classes(rng, n))

    def close(self) -> None:
        """Release external resources (none by default)."""
