"""Ensembles of inversion networks: one model file whose outputs average its members' outputs.

Networks trained differently (another architecture option, another length of training) make
partly different mistakes, so the mean of their class probabilities ranks the true class higher
than either alone. An ensemble is an ordinary inversion model file (``.keras`` with the
``latent-inversion`` metadata): ``latent invert``, ``latent bench inversion`` and the live
follower load it like any other. Its Keras model nests the members, which all read the same
input ``(batch, *input_shape)``, and a ``keras.layers.Average`` of their outputs
``(batch, n_params, n_classes)`` is its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instrument.errors import ConfigError, ModelError

#: Key of the ``training`` metadata that lists an ensemble's members.
ENSEMBLE_KEY = "ensemble"


def is_ensemble(meta: dict[str, Any]) -> bool:
    """True for the metadata of a model file written by :func:`save_inversion_ensemble`."""
    return ENSEMBLE_KEY in meta.get("training", {})


def ensemble_members(model: Any) -> list[Any]:
    """The member networks of an ensemble's Keras model, or ``[model]`` for a single network."""
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested or [model]


def _check_compatible(members: Sequence[Any]) -> None:
    """ModelError naming the first member whose synth, spec, input or head differs from the first's."""
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


def build_inversion_ensemble(members: Sequence[Any]) -> Any:
    """A Keras model averaging the outputs of loaded inversion models.

    Args:
        members: at least two :class:`instrument.invert.InversionModel` of one synth, with the
            same input shape and head.
    Returns:
        ``keras.Model`` mapping ``(batch, *input_shape)`` to the mean of the members' outputs.
    Raises:
        ConfigError: fewer than two members. ModelError: members that do not fit together.
    """
    import keras

    if len(members) < 2:
        raise ConfigError(f"an ensemble needs at least 2 models, got {len(members)}")
    _check_compatible(members)
    inputs = keras.Input(shape=tuple(members[0].config.input_shape), name="features")
    outputs = []
    for i, member in enumerate(members):
        network = member.model
        network.name = f"member{i}_{network.name}"
        outputs.append(network(inputs))
    mean = keras.layers.Average(name="ensemble_mean")(outputs)
    return keras.Model(inputs, mean, name=f"inversion_ensemble_{len(members)}")


def save_inversion_ensemble(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Join inversion model files into one ensemble file.

    The metadata keeps the first member's config (input layout, head) and lists every member's
    file name, architecture and training record under ``training["ensemble"]``; the summed
    training time is ``training["train_seconds"]``.

    Raises:
        ConfigError: fewer than two files. ModelError: an unreadable file, an ensemble given as a
            member, or members that do not fit together.
    """
    from instrument.invert import load_inversion_model, save_inversion_model

    members = [load_inversion_model(p) for p in paths]
    for member in members:
        if is_ensemble(member.meta):
            raise ModelError(f"{member.path}: is itself an ensemble; list its members instead")
    model = build_inversion_ensemble(members)
    records = [{"file": Path(m.path).name, "arch": m.config.arch,
                "training": m.meta.get("training", {})} for m in members]
    seconds = sum(float(r["training"].get("train_seconds", 0.0)) for r in records)
    first = members[0]
    return save_inversion_model(model, out, first.config, first.synth_name, first.meta["spec"],
                                {ENSEMBLE_KEY: records, "train_seconds": seconds})
