"""`latent train inversion --strategy mirrored|multiworker`: inversion networks on tf.distribute.

Sounds are rendered on the fly by every worker for its own part of each global
batch. Example ``j`` of step ``s`` is always the patch drawn from
``default_rng([seed, s, j])``, whatever the number of workers, so a run on N
workers sees exactly the global batches of a single-worker run with the same
seed (and its loss matches to float rounding).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from instrument.inversion.model import mask_invalid_classes, save_inversion_model

if TYPE_CHECKING:
    from instrument.synths.base import Synth

#: Per-step losses and the cluster shape, written by the chief beside metrics.json.
DISTRIBUTED_METRICS = "distributed.json"


def patch_values(synth: Synth, seed: int, step: int, indices: range) -> np.ndarray:
    """The patches of examples ``indices`` of global step ``step``, ``(len(indices), n_params)``."""
    return np.concatenate([synth.random_patches(np.random.default_rng([seed, step, j]), 1)
                           for j in indices])


def _per_example_loss(head: str) -> Callable[[Any, Any], Any]:
    import keras
    import tensorflow as tf

    per_parameter = {"sigmoid": keras.losses.binary_crossentropy,
                     "softmax": keras.losses.categorical_crossentropy,
                     "regression": lambda y, p: tf.square(y - p)}[head]

    def loss(y_true: Any, y_pred: Any) -> Any:
        value = per_parameter(y_true, y_pred)
        return tf.reduce_mean(tf.reshape(value, (tf.shape(value)[0], -1)), axis=1)

    return loss


def train_inversion_distributed(tcfg: Any, out_dir: str | Path, strategy_name: str,
                                resume: bool = False, checkpoint_every: int = 20,
                                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train an inversion network under a tf.distribute strategy; the chief writes the outputs.

    ``tcfg.batch_size`` is the global batch; ``epochs * steps_per_epoch`` steps are run.
    Returns the metrics the chief writes to ``metrics.json`` (other workers: the same dict).
    """
    import tensorflow as tf

    from training.distributed.strategy import DistributedRun, fit_distributed, is_chief, make_strategy
    from instrument.inversion.networks.build import build_inversion_model
    from instrument.inversion.networks.heads import class_scores, targets_for
    from training.inversion.train import (VAL_SEED_OFFSET, evaluate_parameters, heldout_set,
                                          initial_model_config, model_inputs, spec_dict)
    from instrument.synths.registry import get_synth

    out = Path(out_dir)
    started = time.perf_counter()
    strategy = make_strategy(strategy_name)
    synth = get_synth(tcfg.synth)
    spec = synth.spec
    mcfg = initial_model_config(tcfg, synth, sample_count=64)
    global_batch = tcfg.batch_size
    replicas = strategy.num_replicas_in_sync
    steps = tcfg.epochs * tcfg.steps_per_epoch
    log(f"strategy {strategy_name}: {replicas} replica(s); global batch {global_batch} = "
        f"{global_batch // max(replicas, 1)} per replica; {steps} steps")
    input_shape = mcfg.input_shape
    target_shape = (mcfg.n_params,) if mcfg.head == "regression" else (mcfg.n_params, mcfg.n_classes)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(global_batch)
        local_replicas = replicas // context.num_input_pipelines

        def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            step = 0
            while True:
                for r in range(local_replicas):
                    first = (context.input_pipeline_id * local_replicas + r) * per_replica
                    values = patch_values(synth, tcfg.seed, step, range(first, first + per_replica))
                    audio = synth.render(values)
                    x = model_inputs(mcfg, synth.features(audio))
                    y = targets_for(mcfg.head, spec.to_classes(values), mcfg.n_classes)
                    yield x.astype(np.float32), y.astype(np.float32)
                step += 1

        return tf.data.Dataset.from_generator(generate, output_signature=(
            tf.TensorSpec((per_replica, *input_shape), tf.float32),
            tf.TensorSpec((per_replica, *target_shape), tf.float32))).prefetch(2)

    def build() -> tuple[Any, Any]:
        import keras

        keras.utils.set_random_seed(tcfg.seed)
        return build_inversion_model(mcfg), keras.optimizers.Adam(tcfg.learning_rate)

    run = DistributedRun(build=build, per_example_loss=_per_example_loss(mcfg.head),
                         dataset_fn=dataset_fn, global_batch_size=global_batch, steps=steps,
                         checkpoint_dir=out / "distributed-checkpoints",
                         checkpoint_every=checkpoint_every)

    def on_step(step: int, loss: float) -> None:
        if step % tcfg.steps_per_epoch == 0 or step == steps:
            log(f"step {step}/{steps}  loss {loss:.5f}")

    model = fit_distributed(strategy, run, resume=resume, on_step=on_step)
    if run.start_step:
        log(f"resumed from the checkpoint at step {run.start_step}")
    losses = [h["loss"] for h in run.history]
    val_inputs, val_classes, _ = heldout_set(synth, tcfg.seed, tcfg.val_count, VAL_SEED_OFFSET)
    scores = class_scores(mcfg.head, np.asarray(model(model_inputs(mcfg, val_inputs), training=False)),
                          mcfg.n_classes)
    validation = evaluate_parameters(mask_invalid_classes(scores, spec.levels), val_classes, spec)
    seconds = time.perf_counter() - started
    metrics = {"synth": tcfg.synth, "arch": mcfg.arch, "head": mcfg.head, "strategy": strategy_name,
               "replicas": replicas, "global_batch_size": global_batch, "steps": steps,
               "train_seconds": seconds, "validation": validation,
               "history": {"loss": [float(np.mean(losses[i:i + tcfg.steps_per_epoch]))
                                    for i in range(0, len(losses), tcfg.steps_per_epoch)]}}
    if is_chief():
        out.mkdir(parents=True, exist_ok=True)
        save_inversion_model(model, out / "model.keras", mcfg, tcfg.synth, spec_dict(tcfg.synth),
                             {**tcfg.to_dict(), "train_seconds": seconds, "strategy": strategy_name,
                              "val_mean_mpr": validation["mean_mpr"]})
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        (out / DISTRIBUTED_METRICS).write_text(json.dumps(
            {"strategy": strategy_name, "replicas": replicas, "global_batch_size": global_batch,
             "steps": steps, "resumed_from_step": run.start_step, "step_losses": losses}, indent=1))
        log(f"saved {out / 'model.keras'}; validation mean MPR {validation['mean_mpr']:.2f}")
    return metrics
