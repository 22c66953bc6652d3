"""What a ``sweeptcn`` network's sweep readout sees: per oscillator, the softmax of its
(note, depth) pair scores (drawn by :func:`instrument.plots.plot_sweep_readout` as heat maps with
the true pair and the readout's best pair marked)."""

from __future__ import annotations

from typing import Any

import numpy as np

from instrument.errors import ConfigError
from instrument.inversion.ensemble import ensemble_members


def sweep_joint_probabilities(model: Any, inputs: np.ndarray) -> np.ndarray:
    """Readout probabilities of a ``sweeptcn`` Keras model for a batch of its inputs.

    Args:
        model: a ``sweeptcn`` inversion network (layers ``sweep_maps`` and ``sweep_readout``), or
            an ensemble (the mean over its members that have one).
        inputs: ``(batch, *input_shape)`` as the model takes them.
    Returns:
        ``(batch, oscillators, notes, depths)``: softmax over each oscillator's class pairs of the
        readout's scores alone (before they join the rest of the network's logits).
    Raises:
        ConfigError: no sweep readout in the model (or any member).
    """
    readers = [m for m in ensemble_members(model)
               if {"sweep_maps", "sweep_readout"} <= {layer.name for layer in m.layers}]
    if not readers:
        raise ConfigError(f"model {model.name!r} has no sweep readout (only sweeptcn networks do)")
    return np.mean([_member_joint_probabilities(m, inputs) for m in readers], axis=0)


def _member_joint_probabilities(model: Any, inputs: np.ndarray) -> np.ndarray:
    import keras

    maps = keras.Model(model.input, model.get_layer("sweep_maps").output)(inputs, training=False)
    joint = np.asarray(model.get_layer("sweep_readout").joint_scores(maps), dtype=np.float64)
    flat = joint.reshape(*joint.shape[:2], -1)
    flat = np.exp(flat - flat.max(axis=-1, keepdims=True))
    return (flat / flat.sum(axis=-1, keepdims=True)).reshape(joint.shape)
