"""Ensembles of inversion networks: one model file whose outputs average its members' outputs.

Networks trained differently (another architecture option, another length of training) make
partly different mistakes, so the mean of their class probabilities ranks the true class higher
than either alone. An ensemble is an ordinary inversion model file (``.keras`` with the
``latent-inversion`` metadata): ``latent invert``, ``latent bench inversion`` and the live
follower load it like any other. Its Keras model nests the members, which all read the same
input ``(batch, *input_shape)``, and :class:`MemberMean` mixes their outputs
``(batch, n_params, n_classes)``: equally, or with per-parameter weights fitted on a seeded
calibration set (:func:`fit_member_weights`; neither the validation nor the test set), since one
member can be better at some parameters and another at others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from instrument.errors import ConfigError, ModelError
from instrument.inversion.ensemble import ENSEMBLE_KEY, is_ensemble, mix_outputs
from instrument.inversion.model import load_inversion_model, mask_invalid_classes, save_inversion_model
from instrument.models.layers.ensemble import MemberMean
from training.inversion.train import CALIBRATION_SEED_OFFSET, heldout_set, model_inputs
from training.run_outputs import writing

#: Steps of the grid of weights :func:`fit_member_weights` searches (each weight a multiple of 1/N).
WEIGHT_STEPS = 10


def fit_member_weights(outputs: Sequence[np.ndarray], classes: np.ndarray,
                       levels: Sequence[int], steps: int = WEIGHT_STEPS) -> np.ndarray:
    """Per-parameter mixing weights that maximise the mean percentile rank on a calibration set.

    Args:
        outputs: per member, its outputs ``(n, n_params, n_classes)`` on the calibration sounds.
        classes: true classes int ``(n, n_params)``.
        levels: each parameter's number of classes (the rest are masked before ranking).
        steps: grid resolution: every weight is a multiple of ``1 / steps``.
    Returns:
        ``(M, n_params)`` weights, each column on the simplex (ties go to the most even mix).
    """
    from instrument.inversion.metrics import mean_percentile_rank

    n_members = len(outputs)
    grid = [np.array(c, dtype=np.float64) / steps
            for c in _compositions(steps, n_members)]
    grid.sort(key=lambda w: float(np.sum((w - 1.0 / n_members) ** 2)))
    stacked = np.stack([np.asarray(o, np.float64) for o in outputs])  # (M, n, P, C)
    best = np.full(stacked.shape[2], -np.inf)
    weights = np.full((n_members, stacked.shape[2]), 1.0 / n_members)
    for w in grid:
        mixed = mix_outputs(np.repeat(w[:, None], stacked.shape[2], axis=1), stacked)
        mpr = mean_percentile_rank(mask_invalid_classes(mixed, levels), classes, levels)
        better = mpr > best + 1e-9
        best[better] = mpr[better]
        weights[:, better] = w[:, None]
    return weights


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """All tuples of ``parts`` non-negative integers summing to ``total``."""
    if parts == 1:
        return [(total,)]
    return [(first, *rest) for first in range(total + 1)
            for rest in _compositions(total - first, parts - 1)]


def _check_compatible(members: Sequence[Any]) -> None:
    """ConfigError for fewer than two members; ModelError naming the first member whose synth,
    spec, input or head differs from the first's."""
    if len(members) < 2:
        raise ConfigError(f"an ensemble needs at least 2 models, got {len(members)}")
    first = members[0]
    for other in members[1:]:
        where = f"{other.path}: cannot join an ensemble with {first.path}"
        if other.synth_name != first.synth_name or other.meta["spec"] != first.meta["spec"]:
            raise ModelError(f"{where}: it inverts {other.synth_name!r}, not {first.synth_name!r} "
                             "(or another version of its spec)")
        if tuple(other.config.input_shape) != tuple(first.config.input_shape):
            raise ModelError(f"{where}: input {other.config.input_shape} differs from "
                             f"{first.config.input_shape}")
        if other.config.head != first.config.head:
            raise ModelError(f"{where}: head {other.config.head!r} differs from {first.config.head!r}")


def build_inversion_ensemble(members: Sequence[Any], member_weights: np.ndarray | None = None
                             ) -> keras.Model:
    """A Keras model mixing the outputs of loaded inversion models.

    Args:
        members: at least two :class:`instrument.inversion.model.InversionModel` of one synth, with the
            same input shape and head.
        member_weights: ``(M, n_params)`` per-parameter weights (columns summing to 1), or None
            for the plain mean.
    Returns:
        ``keras.Model`` mapping ``(batch, *input_shape)`` to the mixed outputs.
    Raises:
        ConfigError: fewer than two members, or weights that do not fit them.
        ModelError: members that do not fit together.
    """
    _check_compatible(members)
    inputs = keras.Input(shape=tuple(members[0].config.input_shape), name="features")
    outputs = []
    for i, member in enumerate(members):
        network = member.model  # renamed in place: nested models need unique names
        network.name = f"member{i}_{network.name}"
        outputs.append(network(inputs))
    table = () if member_weights is None else np.asarray(member_weights).tolist()
    mixed = MemberMean(table, name="ensemble_mean")(outputs)
    return keras.Model(inputs, mixed, name=f"inversion_ensemble_{len(members)}")


def calibration_outputs(members: Sequence[Any], count: int, seed: int
                        ) -> tuple[list[np.ndarray], np.ndarray]:
    """Every member's outputs on ``count`` seeded calibration sounds of their synth.

    Returns:
        (per member ``(count, n_params, n_classes)``, true classes ``(count, n_params)``).
    """
    from instrument.synths.registry import get_synth

    first = members[0]
    inputs, classes, _ = heldout_set(get_synth(first.synth_name), seed, count,
                                     CALIBRATION_SEED_OFFSET)
    x = model_inputs(first.config, inputs)
    outputs = [np.concatenate([np.asarray(m.model(x[i:i + 250], training=False))
                               for i in range(0, count, 250)]) for m in members]
    return outputs, classes


def save_inversion_ensemble(paths: Sequence[str | Path], out: str | Path,
                            calibration_count: int = 0, seed: int = 0,
                            log: Callable[[str], None] = print) -> Path:
    """Join inversion model files into one ensemble file.

    The metadata keeps the first member's config (input layout, head) and lists every member's
    file name, architecture and training record under ``training["ensemble"]``; the summed
    training time is ``training["train_seconds"]``. With ``calibration_count`` > 0 the members'
    per-parameter weights are fitted on that many seeded calibration sounds (``seed``) and
    recorded with the calibration MPR of each member and of the mix.

    Raises:
        ConfigError: fewer than two files or a negative count. ModelError: an unreadable file,
            an ensemble given as a member, or members that do not fit together.
    """
    from instrument.inversion.metrics import mean_percentile_rank

    if calibration_count < 0:
        raise ConfigError(f"calibration_count must be >= 0, got {calibration_count}")
    members = [load_inversion_model(p) for p in paths]
    for member in members:
        if is_ensemble(member.meta):
            raise ModelError(f"{member.path}: is itself an ensemble; list its members instead")
    _check_compatible(members)
    records = [{"file": Path(m.path).name, "arch": m.config.arch,
                "training": m.meta.get("training", {})} for m in members]
    training: dict[str, Any] = {ENSEMBLE_KEY: records}
    weights = None
    if calibration_count:
        log(f"fitting per-parameter weights on {calibration_count} calibration sounds")
        outputs, classes = calibration_outputs(members, calibration_count, seed)
        levels = members[0].spec.levels
        weights = fit_member_weights(outputs, classes, levels)
        mixed = mix_outputs(weights, np.stack(outputs))
        for record, output in zip(records, outputs):
            record["calibration_mpr"] = float(
                mean_percentile_rank(mask_invalid_classes(output, levels), classes, levels).mean())
        training.update(member_weights=weights.tolist(), calibration_count=calibration_count,
                        calibration_seed=seed, calibration_mpr=float(mean_percentile_rank(
                            mask_invalid_classes(mixed, levels), classes, levels).mean()))
        log("calibration mean MPR: " + ", ".join(
            f"{r['file']} {r['calibration_mpr']:.2f}" for r in records)
            + f"; mixed {training['calibration_mpr']:.2f}")
    model = build_inversion_ensemble(members, weights)
    training["train_seconds"] = sum(float(r["training"].get("train_seconds", 0.0)) for r in records)
    first = members[0]

    with writing(out, "ensemble file"):  # written to a temporary name and renamed when complete
        return save_inversion_model(model, out, first.config, first.synth_name, first.meta["spec"],
                                    training)
