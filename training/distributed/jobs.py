"""Distributed training jobs for latent autoencoders and inversion networks.

Each job turns in-memory training arrays plus a model config into a
:class:`training.distributed.strategy.DistributedRun` and trains it under a
tf.distribute strategy. ``latent train ... --strategy`` calls these; the
multi-worker test starts them as separate processes with ``TF_CONFIG``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from training.distributed.strategy import DistributedRun, fit_distributed, is_chief


def array_dataset_fn(x: np.ndarray, y: np.ndarray, global_batch_size: int,
                     seed: int) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A per-worker input pipeline over arrays (first axis = examples).

    Every worker shuffles with the same seed, then keeps every
    ``num_input_pipelines``-th example: the workers' shards of one global
    batch are disjoint and together are exactly the single-worker batch.
    """

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        data = tf.data.Dataset.from_tensor_slices((x, y))
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).repeat()
        data = data.shard(context.num_input_pipelines, context.input_pipeline_id)
        return data.batch(per_replica, drop_remainder=True).prefetch(2)

    return dataset_fn


def mse_per_example(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Mean squared error per example, shape ``(batch,)``."""
    axes = list(range(1, len(y_true.shape)))
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=axes)


def bce_per_example(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy per example (Barkan's multi-label head), shape ``(batch,)``."""
    eps = 1e-7
    p = tf.clip_by_value(y_pred, eps, 1.0 - eps)
    bce = -(y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p))
    return tf.reduce_mean(bce, axis=list(range(1, len(y_true.shape))))


def train_arrays(strategy: tf.distribute.Strategy, build_model: Callable[[], keras.Model],
                 learning_rate: float, x: np.ndarray, y: np.ndarray,
                 per_example_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
                 global_batch_size: int, steps: int, checkpoint_dir: Path, seed: int,
                 resume: bool = False, checkpoint_every: int = 5,
                 on_step: Callable[[int, float], None] | None = None) -> tuple[keras.Model, DistributedRun]:
    """Train ``build_model()`` on ``(x, y)`` under ``strategy``; returns the model and the run
    (its ``history`` of steps trained now, and ``start_step`` when resumed)."""

    def build() -> tuple[keras.Model, keras.optimizers.Optimizer]:
        keras.utils.set_random_seed(seed)
        return build_model(), keras.optimizers.Adam(learning_rate)

    run = DistributedRun(build=build, per_example_loss=per_example_loss,
                         dataset_fn=array_dataset_fn(x, y, global_batch_size, seed),
                         global_batch_size=global_batch_size, steps=steps,
                         checkpoint_dir=Path(checkpoint_dir), checkpoint_every=checkpoint_every)
    model = fit_distributed(strategy, run, resume=resume, on_step=on_step)
    return model, run


def chief_save(model: keras.Model, path: Path) -> bool:
    """Save the final model on the chief only; returns whether this worker wrote it."""
    if not is_chief():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return True
