"""PNG plots of training (loss curves) and spectrograms (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_history(history: Mapping[str, Sequence[float]], path: str | Path, title: str = "") -> Path:
    """Loss and reconstruction-error curves (train and validation), log y axis.

    Args:
        history: metric name -> one value per epoch (e.g. ``loss``, ``val_loss``,
            ``reconstruction_error``, ``val_reconstruction_error``).
    """
    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, metric in zip(axes, ("loss", "reconstruction_error")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.set_title(metric.replace("_", " "))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_spectrograms(rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
                      path: str | Path, hop_seconds: float, sample_rate: int) -> Path:
    """A grid of log1p-magnitude spectrograms.

    Args:
        rows: (row label, [(column title, spectrum of shape (frames, n_bins)), ...]).
        hop_seconds: frame period (x axis in seconds).
        sample_rate: for the frequency axis in kHz.
    """
    path = Path(path)
    n_rows = max(1, len(rows))
    n_cols = max(len(cols) for _, cols in rows) if rows else 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.4 * n_rows), squeeze=False)
    vmax = max((float(np.max(s)) for _, cols in rows for _, s in cols), default=1.0)
    for r, (label, cols) in enumerate(rows):
        for c, (title, spectrum) in enumerate(cols):
            ax = axes[r][c]
            frames = spectrum.shape[0]
            ax.imshow(spectrum.T, origin="lower", aspect="auto", cmap="magma", vmin=0.0, vmax=vmax,
                      extent=(0.0, frames * hop_seconds, 0.0, sample_rate / 2000.0))
            ax.set_title(f"{label}: {title}" if c == 0 else title, fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.set_ylabel("kHz", fontsize=7)
            ax.tick_params(labelsize=6)
        for c in range(len(cols), n_cols):
            axes[r][c].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_pair(path: Path, audio_in: np.ndarray, audio_out: np.ndarray, sample_rate: int,
              title: str = "") -> Path:
    """Input vs output log-magnitude spectrograms side by side as a PNG."""
    from instrument.inversion.metrics import batch_stft_magnitude

    mags = np.log1p(batch_stft_magnitude(np.stack([audio_in, audio_out])))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    top = sample_rate / 2
    for ax, mag, name in zip(axes, mags, ("input", "inverted patch")):
        ax.imshow(mag, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, len(audio_in) / sample_rate, 0, top))
        ax.set_title(name)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
