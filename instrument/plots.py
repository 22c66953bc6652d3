"""PNG pictures (matplotlib, Agg backend): spectrograms, training curves, sweep readouts.

Every picture shares one look: panels of :data:`PANEL_INCHES` at :data:`DPI`, and is written to a
temporary name (``.NAME.partial``) and renamed when complete (a reader never sees half a PNG;
a failed write leaves neither a partial nor a 0-byte file). Spectrograms have a
log-frequency axis in Hz, time in seconds, one shared colour range of :data:`DB_RANGE` dB below the
loudest bin of the picture with a dB colour bar, and each panel titled with its name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from instrument.config import StftConfig  # noqa: E402
from instrument.errors import ConfigError, LatentError  # noqa: E402

#: Width and height of one panel in inches.
PANEL_INCHES = (6.0, 2.6)
#: Resolution of every PNG.
DPI = 100
#: Colour range of spectrograms: this many dB below the loudest bin.
DB_RANGE = 80.0

#: A named spectrogram panel: (name, linear magnitudes of shape ``(frames, n_bins)``).
Panel = tuple[str, np.ndarray]


def save_figure(fig: "plt.Figure", path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` through ``.NAME.partial``, renamed when complete; close it.

    Raises:
        LatentError: naming ``path`` when it cannot be written (no folder, full disk); the
            partial file is removed and an existing ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, path)
    except OSError as exc:
        raise LatentError(f"cannot write picture {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)
        try:
            tmp.unlink()
        except OSError:
            pass  # renamed into place, or never created
    return path


def plot_spectrograms(rows: Sequence[Sequence[Panel]], path: str | Path, sample_rate: int,
                      config: StftConfig, title: str = "") -> Path:
    """Write :func:`spectrogram_figure` as a PNG; returns ``path``."""
    return save_figure(spectrogram_figure(rows, sample_rate, config, title), path)


def spectrogram_figure(rows: Sequence[Sequence[Panel]], sample_rate: int, config: StftConfig,
                       title: str = "") -> "plt.Figure":
    """A grid of magnitude spectrograms in dB on a log-frequency axis, one shared colour bar.

    Args:
        rows: rows of panels; each panel is ``(name, magnitudes (frames, n_bins))`` of the STFT
            ``config`` at ``sample_rate`` (linear magnitudes, e.g. ``|stft|`` or
            ``magnitude_from_log(features)``). The name is the panel's title.
        title: the figure's title, if any.
    Returns:
        the figure, ``PANEL_INCHES`` per panel plus room for the colour bar and title.
    Raises:
        ConfigError: no panels, or a panel whose bins do not match ``config``.
    """
    import librosa
    import librosa.display

    panels = [panel for row in rows for panel in row]
    if not panels:
        raise ConfigError("nothing to plot: no spectrogram panels")
    for name, magnitude in panels:
        if np.ndim(magnitude) != 2 or np.shape(magnitude)[1] != config.n_bins:
            raise ConfigError(f"spectrogram panel {name!r} has shape {np.shape(magnitude)}, "
                              f"expected (frames, {config.n_bins}) for n_fft {config.n_fft}")
    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    width, height = PANEL_INCHES
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False, layout="constrained",
                             figsize=(width * n_cols + 1.0, height * n_rows + (0.4 if title else 0.0)))
    loudest = max(float(np.max(m, initial=0.0)) for _, m in panels)
    mesh = None
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(row):
                ax.axis("off")
                continue
            name, magnitude = row[c]
            db = librosa.amplitude_to_db(np.asarray(magnitude, np.float32).T, ref=max(loudest, 1e-10),
                                         amin=1e-10, top_db=None)
            mesh = librosa.display.specshow(db, sr=sample_rate, hop_length=config.hop_length,
                                            n_fft=config.n_fft, x_axis="time", y_axis="log", ax=ax,
                                            cmap="magma", vmin=-DB_RANGE, vmax=0.0)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("time (s)" if r == n_rows - 1 else "", fontsize=8)
            ax.set_ylabel("frequency (Hz)" if c == 0 else "", fontsize=8)
            ax.tick_params(labelsize=7)
    bar = fig.colorbar(mesh, ax=axes, format="%+.0f dB", pad=0.01, fraction=0.04)
    bar.set_label("dB re loudest bin", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_audio_spectrograms(named_audio: Sequence[tuple[str, np.ndarray]], path: str | Path,
                            sample_rate: int, config: StftConfig, title: str = "") -> Path:
    """One spectrogram per signal, stacked, as :func:`plot_spectrograms`.

    Args:
        named_audio: ``(name, audio (samples,))`` pairs at ``sample_rate``, analysed with
            :func:`instrument.dsp.spectral.stft_magnitude` and ``config``.
    """
    from instrument.dsp.spectral import stft_magnitude

    rows = [[(name, stft_magnitude(np.asarray(audio, np.float32), config))]
            for name, audio in named_audio]
    return plot_spectrograms(rows, path, sample_rate, config, title)


#: Metrics drawn on a linear y axis (scores in per cent); the others (losses, errors) get a log axis.
LINEAR_METRICS = ("mean_mpr",)
METRIC_LABELS = {"mean_mpr": "mean MPR (%)"}


def plot_history(history: Mapping[str, Sequence[float]], path: str | Path, title: str = "",
                 metrics: Sequence[str] = ("loss", "reconstruction_error")) -> Path:
    """Training curves: one panel per metric, train (solid) and validation (dashed) per epoch.

    Args:
        history: metric name -> one value per epoch (e.g. ``loss``, ``val_loss``,
            ``reconstruction_error``, ``val_reconstruction_error``, ``val_mean_mpr``).
        metrics: the panels, each drawing ``metric`` and ``val_<metric>`` when present; log y
            axis except for :data:`LINEAR_METRICS`.
    """
    width, height = PANEL_INCHES
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics), height * 1.4),
                             layout="constrained", squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, marker="o", markersize=3,
                        label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        if metric not in LINEAR_METRICS:
            ax.set_yscale("log")
        last = history.get("val_" + metric) or history.get(metric)
        label = METRIC_LABELS.get(metric, metric.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{label} (last {last[-1]:.4g})" if last else label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_sweep_readout(path: str | Path, probabilities: np.ndarray, names: Sequence[str],
                       note_hz: Sequence[float], depth_hz: Sequence[float],
                       true_pairs: np.ndarray | None = None, title: str = "") -> Path:
    """One heat map per oscillator: readout probability of each (note, depth) class pair.

    Args:
        probabilities: ``(oscillators, notes, depths)`` for one sound.
        names: oscillator names (``len == oscillators``).
        note_hz, depth_hz: the classes' values, for the axis labels.
        true_pairs: int ``(oscillators, 2)`` (note class, depth class) to mark, or None.
    Raises:
        ConfigError: the shapes of ``probabilities`` and ``names`` disagree.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3 or len(names) != probabilities.shape[0]:
        raise ConfigError(f"{Path(path).name}: need probabilities (oscillators, notes, depths) and "
                          f"one name per oscillator, got {probabilities.shape} and {len(names)} names")
    n = probabilities.shape[0]
    height = PANEL_INCHES[1] * 1.3
    fig, axes = plt.subplots(1, n, figsize=(height * n, height + (0.3 if title else 0.0)),
                             sharey=True, squeeze=False, layout="constrained")
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
    return save_figure(fig, path)
