"""Scale-out training on TensorFlow's own distribution engine (tf.distribute).

We do not write our own distribution. Keras 3's ``model.fit`` does not run
under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585), so this module
drives a Keras model with a small custom loop on the strategy's own primitives:

- the model and optimizer are built inside ``strategy.scope()``;
- the input pipeline is built per worker by ``distribute_datasets_from_function``
  (explicit sharding with per-worker seeds: every worker sees a disjoint part of
  each global batch, and the global batch is split evenly over replicas);
- ``strategy.run`` computes per-replica gradients, which the optimizer all-reduces;
- every worker takes part in checkpointing (the collective needs it) but only the
  chief's files are kept: non-chief workers write to a scratch folder that is
  deleted straight away; ``resume`` restores the chief's latest checkpoint.

The loss of one global step equals the single-worker loss on the same global
batch, because ``tf.nn.compute_average_loss`` divides by the *global* batch size.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import tensorflow as tf

from instrument.errors import ConfigError

from training.distributed import STRATEGIES


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy called ``name`` (one of :data:`STRATEGIES`).

    ``multiworker`` reads the cluster from the ``TF_CONFIG`` environment variable.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        cluster = tf_config()
        if not cluster:
            raise ConfigError("--strategy multiworker needs the TF_CONFIG environment variable "
                              "(see docs/training.md: Training on several machines)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def tf_config() -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` (empty dict when unset); ConfigError when malformed."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ConfigError("TF_CONFIG needs 'cluster' and 'task' entries")
    workers = config["cluster"].get("worker", [])
    task = config["task"]
    if task.get("type") not in ("worker", "chief") or not isinstance(task.get("index"), int):
        raise ConfigError(f"TF_CONFIG task must be {{'type': 'worker', 'index': N}}, got {task}")
    if task.get("type") == "worker" and not 0 <= task["index"] < len(workers):
        raise ConfigError(f"TF_CONFIG task index {task['index']} is outside the {len(workers)} workers")
    return config


def free_loopback_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1, for a local test or benchmark cluster."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_index() -> int:
    """This worker's index in the cluster (0 without TF_CONFIG)."""
    config = tf_config()
    return int(config["task"]["index"]) if config else 0


def is_chief() -> bool:
    """True on the worker that writes checkpoints, logs and the final model (worker 0 or 'chief')."""
    config = tf_config()
    if not config:
        return True
    task = config["task"]
    return task["type"] == "chief" or ("chief" not in config["cluster"] and task["index"] == 0)


@dataclass
class DistributedRun:
    """What a distributed training loop needs.

    Attributes:
        build: called inside the strategy scope; returns ``(model, optimizer)``.
        per_example_loss: ``(y_true, y_pred) -> (batch,)`` loss per example.
        dataset_fn: ``(tf.distribute.InputContext) -> tf.data.Dataset`` of
            ``(x, y)`` batches of ``input_context.get_per_replica_batch_size(global_batch)``,
            sharded with ``input_context.input_pipeline_id`` and repeating forever.
        global_batch_size: examples per step summed over all replicas.
        steps: total optimisation steps.
        checkpoint_dir: where the chief keeps checkpoints (shared storage for several machines).
        checkpoint_every: steps between checkpoints.
    """

    build: Callable[[], tuple[keras.Model, keras.optimizers.Optimizer]]
    per_example_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset]
    global_batch_size: int
    steps: int
    checkpoint_dir: Path
    checkpoint_every: int = 10
    history: list[dict[str, float]] = field(default_factory=list)
    start_step: int = 0

    def __post_init__(self) -> None:
        if self.global_batch_size <= 0 or self.steps <= 0 or self.checkpoint_every <= 0:
            raise ConfigError("global_batch_size, steps and checkpoint_every must be positive, got "
                              f"{self.global_batch_size}, {self.steps}, {self.checkpoint_every}")


def _write_dir(checkpoint_dir: Path) -> Path:
    """Chief writes the real folder; others a scratch folder (collective saves need every worker)."""
    if is_chief():
        return checkpoint_dir
    return checkpoint_dir.parent / f".{checkpoint_dir.name}-worker{worker_index()}-scratch"


def fit_distributed(strategy: tf.distribute.Strategy, run: DistributedRun, resume: bool = False,
                    on_step: Callable[[int, float], None] | None = None) -> keras.Model:
    """Train with ``strategy``; returns the trained model (on every worker).

    With ``resume`` the chief's latest checkpoint in ``run.checkpoint_dir`` is
    restored first (model, optimizer and step counter), so training continues
    after a worker was killed.
    """
    if run.global_batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"global batch size {run.global_batch_size} is not divisible by "
                          f"{strategy.num_replicas_in_sync} replicas")
    with strategy.scope():
        model, optimizer = run.build()
        optimizer.build(model.trainable_variables)
        step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_counter)
    write_dir = _write_dir(run.checkpoint_dir)
    manager = tf.train.CheckpointManager(checkpoint, str(write_dir), max_to_keep=2)
    if resume:
        latest = tf.train.latest_checkpoint(str(run.checkpoint_dir))
        if latest:
            checkpoint.restore(latest).expect_partial()
    dataset = strategy.distribute_datasets_from_function(run.dataset_fn)
    iterator = iter(dataset)
    global_batch = run.global_batch_size

    @tf.function
    def train_step(batches: Any) -> tf.Tensor:
        def replica_step(batch: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
            x, y = batch
            with tf.GradientTape() as tape:
                prediction = model(x, training=True)
                loss = tf.nn.compute_average_loss(run.per_example_loss(y, prediction),
                                                  global_batch_size=global_batch)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        per_replica = strategy.run(replica_step, args=(batches,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    run.start_step = int(step_counter.numpy())
    # Skip the batches already consumed before the checkpoint, so a resumed run sees the same data.
    for _ in range(run.start_step):
        next(iterator)
    while int(step_counter.numpy()) < run.steps:
        started = time.perf_counter()
        loss = float(train_step(next(iterator)))
        step_counter.assign_add(1)
        step = int(step_counter.numpy())
        run.history.append({"step": step, "loss": loss, "seconds": time.perf_counter() - started})
        if on_step is not None:
            on_step(step, loss)
        if step % run.checkpoint_every == 0 or step == run.steps:
            manager.save(checkpoint_number=step)
    if not is_chief():
        shutil.rmtree(write_dir, ignore_errors=True)
    return model
