"""Ensembles of inversion networks at play time: recognise one, list its members, mix outputs.

An ensemble is an ordinary inversion model file whose Keras model nests its member networks and
mixes their outputs ``(batch, n_params, n_classes)`` with
:class:`instrument.models.layers.ensemble.MemberMean`. Building and calibrating one is fit-time
work (:mod:`training.inversion.ensemble`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Key of the ``training`` metadata that lists an ensemble's members.
ENSEMBLE_KEY = "ensemble"


def mix_outputs(weights: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """What :class:`MemberMean` computes, in numpy: ``(M, n_params)`` weights and stacked member
    outputs ``(M, n, n_params, n_classes)`` -> ``(n, n_params, n_classes)``."""
    return np.einsum("mp,mnpc->npc", weights, outputs)


def is_ensemble(meta: dict[str, Any]) -> bool:
    """True for the metadata of a model file written by :func:`save_inversion_ensemble`."""
    return ENSEMBLE_KEY in meta.get("training", {})


def ensemble_members(model: Any) -> list[Any]:
    """The member networks of an ensemble's Keras model, or ``[model]`` for a single network."""
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested or [model]
