"""Offline fast Griffin-Lim (instrument.dsp.phase.griffin_lim) against librosa.griffinlim itself."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.dsp.phase.rtisi_la import griffin_lim
from instrument.dsp.phase.griffin_lim import GriffinLim
from instrument.dsp.spectral import stft, window
from test_phase import harmonic_tone


@pytest.mark.parametrize("cfg", [StftConfig(n_fft=1024, hop_length=256),
                                 StftConfig(n_fft=512, hop_length=128, window="hamming"),
                                 StftConfig(n_fft=1024, hop_length=512)])
@pytest.mark.parametrize("momentum", [0.99, 0.0])
def test_griffin_lim_equals_librosa_griffinlim(cfg: StftConfig, momentum: float) -> None:
    y = harmonic_tone(0.5)
    mag = np.abs(stft(y, cfg))
    frames = mag.shape[0]
    front = cfg.n_fft - cfg.hop_length
    padded = (frames - 1) * cfg.hop_length + cfg.n_fft
    ours = griffin_lim(mag, cfg, n_iter=12, momentum=momentum, length=len(y), seed=5)
    reference = librosa.griffinlim(mag.T, n_iter=12, hop_length=cfg.hop_length, n_fft=cfg.n_fft,
                                   window=window(cfg), center=False, length=padded,
                                   momentum=momentum, init="random", random_state=5)
    reference = reference[front:front + len(y)]
    np.testing.assert_allclose(ours, reference, atol=2e-4 * float(np.abs(reference).max()))


def test_istft_inverts_stft_of_padded_signal() -> None:
    cfg = StftConfig(n_fft=512, hop_length=128)
    gl = GriffinLim(cfg, frames=40)
    signal = np.random.default_rng(0).standard_normal(gl.padded_length).astype(np.float32)
    edge = cfg.n_fft - cfg.hop_length  # samples not covered by every window position
    rebuilt = gl.istft(gl.stft(signal))
    np.testing.assert_allclose(rebuilt[edge:-edge], signal[edge:-edge], atol=1e-4)


def test_bad_frame_counts_raise_config_error() -> None:
    cfg = StftConfig(n_fft=512, hop_length=128)
    with pytest.raises(ConfigError, match="frames"):
        GriffinLim(cfg, frames=0)
    gl = GriffinLim(cfg, frames=8)
    with pytest.raises(ConfigError, match="8 frames"):
        gl.run(np.ones((9, cfg.n_bins), np.float32), 2, 0.99, np.ones((9, cfg.n_bins), np.complex64))
