"""What a ``sweeptcn`` network's sweep readout sees: per oscillator, the softmax of its
(note, depth) pair scores as a heat map, the true pair and the readout's best pair marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from instrument.errors import ConfigError


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
    from instrument.inversion.ensemble import ensemble_members

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


def plot_sweep_readout(path: str | Path, probabilities: np.ndarray, names: Sequence[str],
                       note_hz: Sequence[float], depth_hz: Sequence[float],
                       true_pairs: np.ndarray | None = None, title: str = "") -> Path:
    """One heat map per oscillator: readout probability of each (note, depth) class pair.

    Args:
        probabilities: ``(oscillators, notes, depths)`` for one sound.
        names: oscillator names (``len == oscillators``).
        note_hz, depth_hz: the classes' values, for the axis labels.
        true_pairs: int ``(oscillators, 2)`` (note class, depth class) to mark, or None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3 or len(names) != probabilities.shape[0]:
        raise ConfigError(f"need probabilities (oscillators, notes, depths) and one name per "
                          f"oscillator, got {probabilities.shape} and {len(names)} names")
    n = probabilities.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), sharey=True, squeeze=False)
    note_ticks = np.arange(0, len(note_hz), 3)
    depth_ticks = np.arange(0, len(depth_hz), 3)
    for w, ax in enumerate(axes[0]):
        ax.imshow(probabilities[w].T, origin="lower", aspect="auto", cmap="viridis")
        best = np.unravel_index(np.argmax(probabilities[w]), probabilities[w].shape)
        ax.plot(best[0], best[1], "wx", markersize=9, label="readout best")
        if true_pairs is not None:
            ax.plot(true_pairs[w, 0], true_pairs[w, 1], "o", markersize=11, markerfacecolor="none",
                    markeredgecolor="red", markeredgewidth=2, label="true")
        ax.set_title(names[w])
        ax.set_xticks(note_ticks, [f"{note_hz[i]:.0f}" for i in note_ticks], fontsize=7)
        ax.set_xlabel("note (Hz)")
    axes[0][0].set_yticks(depth_ticks, [f"{depth_hz[i]:.0f}" for i in depth_ticks], fontsize=7)
    axes[0][0].set_ylabel("FM depth (Hz)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
