"""Latent unit scales (the faders): checking a scale vector and applying it in numpy.

:func:`scale_latent` is the reference of the scaling every path applies between
encoder and decoder: the numpy streaming executor calls it, and the graph form
:func:`instrument.models.layers.autoencoder.scale_latent_tensor` (used by the
``LatentScale`` layer and the TF graphs of :mod:`instrument.models.latent_model` and
:mod:`instrument.models.streaming`) computes the same product (tested).
"""

from __future__ import annotations

import numpy as np

from instrument.errors import ConfigError


def check_scales(scales: object, n_units: int) -> np.ndarray:
    """``scales`` as a float32 ``(n_units,)`` array; :class:`ConfigError` naming the shape otherwise."""
    array = np.asarray(scales, np.float32)
    if array.shape != (n_units,):
        raise ConfigError(f"scales must have shape ({n_units},), got {array.shape}")
    return array


def scale_latent(z: np.ndarray, scales: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Multiply the unit (last) axis of a latent by ``scales``.

    Args:
        z: latent ``(..., n_units)``: one dense frame ``(n_units,)``, one conv frame
            ``(F', n_units)``, or whole latents ``(T', F', n_units)`` / batches.
        scales: ``(n_units,)``.
        out: optional preallocated result of ``z``'s shape (may be ``z`` itself), so a
            per-hop caller does not allocate.
    Returns:
        ``z * scales`` broadcast over the leading axes, shape of ``z``.
    """
    return np.multiply(z, scales, out=out)
