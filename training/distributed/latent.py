"""`latent train ... --strategy mirrored|multiworker`: latent models on tf.distribute.

The data preparation, model builders and output files are the single-machine
ones (:mod:`training.train`); only the optimisation loop differs
(:func:`training.distributed.strategy.fit_distributed`). Only the chief writes the
model, metrics, plots and TensorBoard logs.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from instrument.config import SpectralConfig
from training.distributed import STRATEGIES

CHECKPOINT_SUBDIR = "distributed-checkpoints"
#: Per-step losses and the cluster shape, written by the chief beside metrics.json.
DISTRIBUTED_METRICS = "distributed.json"


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    """``--strategy`` and ``--checkpoint-every`` for a ``latent train`` kind."""
    group = parser.add_argument_group("distribution (see docs/training.md: Training on several machines)")
    group.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="tf.distribute strategy: default (one device, Keras fit), mirrored "
                            "(several local GPUs/CPUs), multiworker (machines listed in TF_CONFIG). "
                            "--batch-size is the GLOBAL batch, split evenly over replicas (default: default)")
    group.add_argument("--checkpoint-every", type=int, default=20,
                       help="steps between distributed checkpoints (default 20)")


def window_arrays(windows: Any, frames: int, per_frame: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every training window of a :class:`training.datasets.WindowSet` as arrays.

    Returns:
        ``(inputs, targets)``, each ``(windows, frames, n_bins)``, or
        ``(windows * frames, n_bins)`` when ``per_frame`` (dense models).
    """
    offsets = windows.window_offsets(frames, max(1, frames // 2))
    index = offsets[:, None] + np.arange(frames)[None, :]
    x, y = windows.inputs[index], windows.targets[index]
    if per_frame:
        x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32)


def _batched_mse(model: Any, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    total = 0.0
    for start in range(0, len(x), batch):
        out = np.asarray(model(x[start:start + batch], training=False))
        total += float(np.sum((out - y[start:start + batch]) ** 2))
    return total / float(y.size)


def train_latent_distributed(data: Any, model_options: Mapping[str, Any], config: Any,
                             spectral: SpectralConfig, out_dir: str | Path, strategy_name: str,
                             resume: bool = False, checkpoint_every: int = 20,
                             verbose: int = 1) -> Any:
    """Train a latent model (autoencoder or transfer) under a tf.distribute strategy.

    ``config.batch_size`` is the global batch; ``config.epochs`` passes over the
    training windows set the number of steps. Returns a ``TrainResult`` (the
    chief's ``model_path`` is the written file; other workers write nothing).
    """
    import tensorflow as tf

    from training.distributed.strategy import is_chief, make_strategy
    from training.distributed.jobs import mse_per_example, train_arrays
    from instrument.models.autoencoders import build_autoencoder_parts
    from training.train import (MODEL_FILE, ModelBundle, TrainResult, model_config_from_options,
                                write_outputs)

    out_dir = Path(out_dir)
    start = time.perf_counter()
    strategy = make_strategy(strategy_name)
    replicas = strategy.num_replicas_in_sync
    model_config = model_config_from_options(model_options, spectral, config)
    per_frame = model_config.arch == "dense"
    x, y = window_arrays(data.train, config.frames, per_frame)
    global_batch = config.batch_size
    steps_per_epoch = max(1, len(x) // global_batch)
    steps = config.epochs * steps_per_epoch
    if verbose:
        print(f"strategy {strategy_name}: {replicas} replica(s); global batch {global_batch} = "
              f"{global_batch // max(replicas, 1)} per replica; {steps} steps "
              f"({config.epochs} epochs x {steps_per_epoch})")
    parts: dict[str, Any] = {}

    def build_model() -> Any:
        model, encoder, decoder = build_autoencoder_parts(model_config)
        parts.update(encoder=encoder, decoder=decoder)
        return model

    writer = tf.summary.create_file_writer(str(out_dir / "logs")) if is_chief() and config.tensorboard else None

    def on_step(step: int, loss: float) -> None:
        if writer is not None:
            with writer.as_default():
                tf.summary.scalar("loss", loss, step=step)
        if verbose and (step % steps_per_epoch == 0 or step == steps):
            print(f"step {step}/{steps}  loss {loss:.5f}", flush=True)

    model, run = train_arrays(
        strategy, build_model, config.learning_rate, x, y, mse_per_example, global_batch, steps,
        out_dir / CHECKPOINT_SUBDIR, config.seed, resume=resume,
        checkpoint_every=checkpoint_every, on_step=on_step)
    if run.start_step:
        print(f"resumed from the checkpoint at step {run.start_step}")
    losses = [h["loss"] for h in run.history]
    epochs = {"loss": [float(np.mean(losses[i:i + steps_per_epoch]))
                       for i in range(0, len(losses), steps_per_epoch)]}
    final = {"train_reconstruction_error": _batched_mse(model, x, y)}
    if data.val is not None:
        xv, yv = window_arrays(data.val, config.frames, per_frame)
        final["val_reconstruction_error"] = _batched_mse(model, xv, yv)
    final["last_step_loss"] = losses[-1] if losses else float("nan")
    wall = time.perf_counter() - start
    final["wall_seconds"] = wall
    model_path = out_dir / MODEL_FILE
    if is_chief():
        bundle = ModelBundle(model=model, encoder=parts["encoder"], decoder=parts["decoder"],
                             model_config=model_config)
        extra = {"strategy": strategy_name, "replicas": replicas, "global_batch_size": global_batch,
                 "steps": steps, "resumed_from_step": run.start_step, "step_losses": losses}
        model_path = write_outputs(bundle, data, config, spectral, out_dir, epochs, extra, final)
        (out_dir / DISTRIBUTED_METRICS).write_text(json.dumps({**extra, "final": final}, indent=1))
    return TrainResult(out_dir=out_dir, model_path=model_path, history=epochs,
                       epochs_run=math.ceil(len(losses) / steps_per_epoch), initial_epoch=0,
                       wall_seconds=wall, final=final)
