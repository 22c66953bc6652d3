"""The one picture module: spectrogram grids (size, titles, colour range), atomic PNG writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.dsp.spectral import stft_magnitude
from instrument.errors import ConfigError
from instrument.plots import (DB_RANGE, DPI, PANEL_INCHES, plot_audio_spectrograms, plot_history,
                              plot_spectrograms, spectrogram_figure)

CFG = StftConfig(n_fft=512, hop_length=128)
RATE = 16000


def _tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_audio_spectrograms_write_a_png_of_the_expected_size(tmp_path: Path) -> None:
    path = plot_audio_spectrograms([("violin-take-3.wav", _tone(440.0)), ("out.wav", _tone(880.0))],
                                   tmp_path / "plots" / "pair.png", RATE, CFG, title="a pair")
    assert path == tmp_path / "plots" / "pair.png"
    image = matplotlib.image.imread(path)
    width, height = PANEL_INCHES
    assert image.shape[:2] == (round((2 * height + 0.4) * DPI), round((width + 1.0) * DPI))
    assert [p.name for p in path.parent.iterdir()] == ["pair.png"]  # no temporary file left


def test_every_panel_is_titled_with_its_input_name_and_shares_the_db_range() -> None:
    rows = [[("violin-take-3.wav", stft_magnitude(_tone(440.0), CFG)),
             ("violin-take-3.wav: output", stft_magnitude(_tone(440.0) * 0.01, CFG))],
            [("quiet.wav", stft_magnitude(_tone(220.0) * 1e-3, CFG))]]
    fig = spectrogram_figure(rows, RATE, CFG, title="grid")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["violin-take-3.wav", "violin-take-3.wav: output",
                                                 "quiet.wav"]
    assert all(ax.get_yscale() == "symlog" for ax in panels)  # log-frequency axis
    assert all(ax.collections[0].get_clim() == (-DB_RANGE, 0.0) for ax in panels)
    assert fig.get_figwidth() == pytest.approx(2 * PANEL_INCHES[0] + 1.0)
    assert not fig.axes[3].axison  # the empty cell of the short second row
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_silence_still_plots(tmp_path: Path) -> None:
    path = plot_audio_spectrograms([("silence.wav", np.zeros(4000, np.float32))],
                                   tmp_path / "silence.png", RATE, CFG)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_bad_panels_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no spectrogram panels"):
        plot_spectrograms([], tmp_path / "empty.png", RATE, CFG)
    with pytest.raises(ConfigError, match="'wrong.wav' has shape \\(10, 100\\)"):
        plot_spectrograms([[("wrong.wav", np.ones((10, 100), np.float32))]], tmp_path / "bad.png",
                          RATE, CFG)
    assert not list(tmp_path.iterdir())


def test_history_plot_is_written(tmp_path: Path) -> None:
    path = plot_history({"loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.4]},
                        tmp_path / "loss.png", title="run")
    image = matplotlib.image.imread(path)
    assert image.shape[0] == round(PANEL_INCHES[1] * 1.4 * DPI)


def test_history_plot_draws_a_linear_panel_per_metric(tmp_path: Path) -> None:
    path = plot_history({"loss": [2.0, 1.5], "val_loss": [2.1, 1.7], "val_mean_mpr": [60.0, 71.5]},
                        tmp_path / "loss.png", title="inversion", metrics=("loss", "mean_mpr"))
    image = matplotlib.image.imread(path)
    assert image.shape[1] == round(PANEL_INCHES[0] * 2 * DPI)
