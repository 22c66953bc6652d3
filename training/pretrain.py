"""Greedy layer-wise pretraining of the ``dense`` and ``deep`` autoencoders (fit time only).

Sarroff & Casey pretrain one encoder layer at a time; Paterna 3.3.3 does the same for
the deep convolutional model. Stage ``s`` trains encoder layer ``s`` with a fresh
mirrored decoder on top of the frozen layers of stage ``s-1``; the last stage has the
full architecture and is unfrozen for fine-tuning. Play-time code never needs this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras

from instrument.errors import ConfigError
from instrument.models.autoencoders import (assemble_model, build_autoencoder, layer_chain,
                                            transfer_weights)
from instrument.models.config import AutoencoderConfig
from instrument.models.layers.autoencoder import SpectroConv2D


def compile_autoencoder(model: keras.Model, config: AutoencoderConfig) -> keras.Model:
    """Compile with Adam(``config.learning_rate``) and MSE; returns ``model``."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
                  loss="mse")
    return model



@dataclass(frozen=True)
class PretrainStage:
    """One stage of greedy layer-wise pretraining.

    Attributes:
        stage: 1-based stage number (``len(plan)`` = full depth).
        new_layers: layer names trained in this stage (new encoder layer + fresh decoder).
        frozen_layers: encoder layers copied from the previous stage and frozen.
    """

    stage: int
    new_layers: tuple[str, ...]
    frozen_layers: tuple[str, ...]


def _stage_count(config: AutoencoderConfig) -> int:
    if config.arch == "dense":
        return len(config.hidden_units)
    if config.arch == "deep":
        return config.depth
    raise ConfigError(f"layer-wise pretraining needs arch 'dense' or 'deep', got {config.arch!r}")


def _weighted_names(layers: list[keras.layers.Layer]) -> list[str]:
    return [layer.name for layer in layers
            if isinstance(layer, (keras.layers.Dense, SpectroConv2D))]


def pretrain_stack_plan(config: AutoencoderConfig) -> list[PretrainStage]:
    """The stages of greedy layer-wise pretraining (Sarroff & Casey; Paterna 3.3.3).

    Stage ``s`` trains encoder layer ``s`` plus a fresh mirrored decoder on top
    of encoder layers ``1..s-1`` kept frozen from stage ``s-1``. The last stage
    has the full architecture; :func:`finish_pretraining` unfreezes it for
    fine-tuning. Use :func:`build_deep_stage` to build each stage's model.
    """
    plan = []
    for stage in range(1, _stage_count(config) + 1):
        enc, dec = layer_chain(config, stage=stage)
        enc_names = _weighted_names(enc)
        plan.append(PretrainStage(stage=stage,
                                  new_layers=tuple(enc_names[-1:] + _weighted_names(dec)),
                                  frozen_layers=tuple(enc_names[:-1])))
    return plan


def build_deep_stage(config: AutoencoderConfig, stage: int,
                     previous: keras.Model | None = None) -> keras.Model:
    """Model of pretraining stage ``stage`` (1-based), uncompiled.

    Encoder layers ``1..stage-1`` are copied from ``previous`` (the trained
    stage ``stage-1`` model) and frozen; encoder layer ``stage`` and the
    decoder are new. Its ``latent`` layer has the stage's hidden size.
    """
    count = _stage_count(config)
    if not isinstance(stage, int) or not 1 <= stage <= count:
        raise ConfigError(f"stage must be in 1..{count}, got {stage!r}")
    if stage > 1 and previous is None:
        raise ConfigError(f"stage {stage} needs the trained stage {stage - 1} model")
    enc, dec = layer_chain(config, stage=stage)
    model = assemble_model(config, enc, dec, config.input_shape,
                      name=f"{config.arch}_stage_{stage}")[0]
    if previous is not None:
        frozen = pretrain_stack_plan(config)[stage - 1].frozen_layers
        transfer_weights(previous, model, names=frozen, freeze=True)
    return model


def finish_pretraining(config: AutoencoderConfig, last_stage: keras.Model) -> keras.Model:
    """Full model (all layers trainable) with the weights of the last stage model."""
    model = build_autoencoder(config)
    transfer_weights(last_stage, model)
    return model


def greedy_layerwise_pretrain(config: AutoencoderConfig,
                              fit: Callable[[keras.Model, PretrainStage], Any]) -> keras.Model:
    """Run the whole pretraining plan and return the full model for fine-tuning.

    Args:
        fit: called as ``fit(stage_model, stage)`` with the stage model already
            compiled (:func:`compile_autoencoder`); it trains it in place.
    Returns the full, uncompiled, all-trainable model (compile it and fine-tune).
    """
    previous = None
    for stage in pretrain_stack_plan(config):
        model = build_deep_stage(config, stage.stage, previous)
        compile_autoencoder(model, config)
        fit(model, stage)
        previous = model
    return finish_pretraining(config, previous)
