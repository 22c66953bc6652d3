"""The ensemble layer: a weighted mean of member networks' class scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from instrument.errors import ConfigError


@keras.saving.register_keras_serializable(package="latent")
class MemberMean(keras.layers.Layer):
    """Weighted mean of member outputs, one set of weights per parameter.

    Inputs: a list of ``M`` tensors ``(batch, n_params, n_classes)``. Output: the same shape,
    ``sum_m weights[m, p] * inputs[m][:, p, :]``.

    Args:
        member_weights: ``(M, n_params)`` non-negative, each parameter's column summing to 1; or
            an empty tuple for the plain mean.
    """

    def __init__(self, member_weights: Sequence[Sequence[float]] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        table = np.asarray(member_weights, dtype=np.float64)
        if table.size and (table.ndim != 2 or table.shape[0] < 2):
            raise ConfigError(f"MemberMean weights must be (members >= 2, params), got {table.shape}")
        if table.size and (np.any(table < 0) or not np.allclose(table.sum(axis=0), 1.0, atol=1e-6)):
            raise ConfigError("MemberMean weights must be >= 0 and sum to 1 for every parameter, "
                              f"got column sums {np.round(table.sum(axis=0), 4).tolist()}")
        self.weights_table = tuple(tuple(float(w) for w in row) for row in table)

    def build(self, input_shape: Sequence[tuple[int | None, ...]]) -> None:
        if len(input_shape) < 2:
            raise ConfigError(f"MemberMean needs at least 2 inputs, got {len(input_shape)}")
        if self.weights_table and (len(self.weights_table) != len(input_shape)
                                   or len(self.weights_table[0]) != input_shape[0][1]):
            raise ConfigError(f"MemberMean weights {len(self.weights_table)} x "
                              f"{len(self.weights_table[0])} do not fit {len(input_shape)} inputs "
                              f"of {input_shape[0][1]} parameters")
        super().build(input_shape)

    def call(self, inputs: Sequence[Any]) -> Any:
        if not self.weights_table:
            return keras.ops.mean(keras.ops.stack(inputs, axis=0), axis=0)
        table = keras.ops.convert_to_tensor(np.asarray(self.weights_table, np.float32))
        return sum(x * table[m][None, :, None] for m, x in enumerate(inputs))

    def compute_output_shape(self, input_shape: Sequence[tuple[int | None, ...]]
                             ) -> tuple[int | None, ...]:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "member_weights": [list(row) for row in self.weights_table]}
