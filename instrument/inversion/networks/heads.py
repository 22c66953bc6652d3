"""The heads of the inversion networks: their output layers, training losses and targets, and
how their outputs become per-class scores.

* ``sigmoid``: ``n_params x n_classes`` sigmoid outputs, binary cross-entropy (Barkan's choice).
* ``softmax``: one softmax over the classes of each parameter, categorical cross-entropy.
* ``regression``: ``n_params`` sigmoid outputs = normalised parameter values in [0, 1], MSE
  (Vecoven's regression).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from instrument.errors import ConfigError
from instrument.inversion.networks.config import HEADS, InversionModelConfig


def logits(x: Any, config: InversionModelConfig) -> Any:
    """Clip vector ``(batch, features)`` -> FC -> class logits ``(batch, n_params, n_classes)``."""
    x = keras.layers.Dense(config.fc_units, activation="relu", name="fc")(x)
    x = keras.layers.Dense(config.n_params * config.n_classes, name="logits")(x)
    return keras.layers.Reshape((config.n_params, config.n_classes), name="per_param")(x)


def activate(class_logits: Any, config: InversionModelConfig) -> Any:
    """Class logits -> the ``softmax`` (per parameter) or ``sigmoid`` head's outputs, same shape."""
    if config.head == "softmax":
        return keras.layers.Softmax(axis=-1, name="probs")(class_logits)
    return keras.layers.Activation("sigmoid", name="probs")(class_logits)


def head(x: Any, config: InversionModelConfig) -> Any:
    """Clip vector ``(batch, features)`` -> the head's outputs: ``(batch, n_params, n_classes)``
    scores, or ``(batch, n_params)`` values in [0, 1] for ``regression``."""
    if config.head == "regression":
        x = keras.layers.Dense(config.fc_units, activation="relu", name="fc")(x)
        return keras.layers.Dense(config.n_params, activation="sigmoid", name="values")(x)
    return activate(logits(x, config), config)


def loss_for(head_name: str) -> keras.losses.Loss:
    """The training loss of a head (BCE for sigmoid, CCE for softmax, MSE for regression)."""
    if head_name == "sigmoid":
        return keras.losses.BinaryCrossentropy()
    if head_name == "softmax":
        return keras.losses.CategoricalCrossentropy()
    if head_name == "regression":
        return keras.losses.MeanSquaredError()
    raise ConfigError(f"unknown inversion head {head_name!r}; choose one of {', '.join(HEADS)}")


def targets_for(head_name: str, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Training targets from class indices.

    Args:
        classes: int, shape ``(batch, n_params)``.
    Returns:
        one-hot ``(batch, n_params, n_classes)`` float32, or normalised values
        ``classes / (n_classes - 1)`` of shape ``(batch, n_params)`` for ``regression``.
    """
    classes = np.asarray(classes)
    if head_name == "regression":
        return (classes / float(n_classes - 1)).astype(np.float32)
    return np.eye(n_classes, dtype=np.float32)[classes]


def class_scores(head_name: str, outputs: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class scores ``(batch, n_params, n_classes)`` (higher = more likely) from model outputs.

    Regression outputs (normalised values) score each class by minus its distance to the prediction.
    """
    outputs = np.asarray(outputs, dtype=np.float32)
    if head_name == "regression":
        centres = np.linspace(0.0, 1.0, n_classes, dtype=np.float32)
        return -np.abs(outputs[..., None] - centres)
    return outputs
