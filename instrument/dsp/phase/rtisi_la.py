"""Phase reconstruction from magnitude spectrograms: offline Griffin-Lim and streaming RTISI-LA.

Both work in the framing of :mod:`instrument.dsp.spectral` (frame ``t`` ends at sample
``(t + 1) * hop_length``; magnitudes are time-major, shape ``(frames, n_bins)``).

* :func:`griffin_lim` is librosa's fast Griffin-Lim algorithm (Perraudin et al. 2013, with
  momentum; run by :class:`instrument.dsp.phase.griffin_lim.GriffinLim`, checked against
  ``librosa.griffinlim``) for whole files, with an optional warm start from known phases.
* :class:`StreamingPhase` is RTISI-LA, real-time iterative spectrogram inversion
  with look-ahead (Zhu, Beauregard & Wyse, IEEE TASLP 15(5), 2007): one magnitude
  frame in, one hop of audio out, with a fixed latency and a constant cost per
  frame. All look-ahead frames are updated together each iteration with one
  batched real FFT and one batched inverse FFT.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.dsp.phase.griffin_lim import GriffinLim
from instrument.dsp.spectral import window as analysis_window

_EPS = 1e-8
#: Floor of the partial overlap-add normalisation, as a fraction of the full window-power sum.
_COVERAGE_FLOOR = 0.02


def _check_magnitude(magnitude: np.ndarray, config: StftConfig) -> np.ndarray:
    mag = np.asarray(magnitude, dtype=np.float32)
    if mag.ndim != 2 or mag.shape[1] != config.n_bins:
        raise ConfigError(f"magnitude must have shape (frames, {config.n_bins}), got {mag.shape}")
    if mag.shape[0] == 0:
        raise ConfigError("magnitude has no frames")
    if not np.all(np.isfinite(mag)) or np.any(mag < 0):
        raise ConfigError("magnitude must be finite and non-negative")
    return mag


def griffin_lim(magnitude: np.ndarray, config: StftConfig, n_iter: int = 100, momentum: float = 0.99,
                init_phase: np.ndarray | None = None, length: int | None = None,
                seed: int = 0) -> np.ndarray:
    """Offline fast Griffin-Lim in the project's framing.

    Args:
        magnitude: ``|S|``, shape ``(frames, n_bins)``.
        n_iter: iterations (>= 0 with a warm start, >= 1 otherwise).
        momentum: fast Griffin-Lim momentum (librosa's ``momentum``; 0 is classic GL).
        init_phase: optional warm start, phase angles in radians, shape ``(frames, n_bins)``;
            None starts from random phases drawn with ``seed`` (librosa ``init="random"``).
        length: samples to return; defaults to ``frames * hop_length - (n_fft - hop_length)``
            like :func:`instrument.dsp.spectral.istft`.
    Returns:
        float32 audio, shape ``(length,)``.
    """
    mag = _check_magnitude(magnitude, config)
    if not isinstance(n_iter, int) or n_iter < (0 if init_phase is not None else 1):
        raise ConfigError(f"n_iter must be a positive integer, got {n_iter!r}")
    if not 0.0 <= momentum < 1.0 + 1e-9:
        raise ConfigError(f"momentum must be in [0, 1], got {momentum!r}")
    frames = mag.shape[0]
    front = config.n_fft - config.hop_length
    if length is None:
        length = frames * config.hop_length - front
    if init_phase is None:
        # librosa.griffinlim(init="random", random_state=seed) draws frequency-major phases
        draw = np.random.RandomState(seed).random(size=(mag.shape[1], frames)).T
        angles = np.exp(2j * np.pi * draw)
    else:
        phase = np.asarray(init_phase, dtype=np.float32)
        if phase.shape != mag.shape:
            raise ConfigError(f"init_phase must have the magnitude's shape {mag.shape}, got {phase.shape}")
        angles = np.exp(1j * phase)
    y = GriffinLim(config, frames).run(mag, n_iter, momentum, angles)
    out = np.zeros(length, dtype=np.float32)
    avail = y[front:front + length]
    out[:len(avail)] = avail
    return out


class StreamingPhase:
    """RTISI-LA streaming phase reconstruction: push a magnitude frame, get one hop of audio.

    With look-ahead ``k`` the processor holds the newest ``k + 1`` frames "active" and
    refines their phases; the oldest active frame is then committed to the output.
    After pushing frame ``j`` the returned hop is output block ``j - latency_frames``
    (block ``b`` = samples ``[b * hop, (b + 1) * hop)`` of the signal whose STFT frame
    ``t`` ends at sample ``(t + 1) * hop``), i.e. ``latency_samples =
    k * hop_length + n_fft - hop_length``.

    Each push: (1) the new frame's initial phase is taken from the partial
    reconstruction (committed frames plus the active frames' current estimates,
    re-analysed with the analysis window), as in RTISI; (2) ``iterations`` Griffin-Lim
    projections (with fast Griffin-Lim ``momentum``) are applied to all ``k + 1`` active
    frames at once, each against the overlap-add of the committed partial sum and the
    active frames, normalised by the window power present (see :meth:`_region_norm`); (3) the oldest
    active frame is added to the committed sum and the now complete hop is emitted.
    Every frame is therefore refined ``(k + 1) * iterations`` times.

    State (all preallocated, constant cost per frame): magnitudes of the active frames
    ``(k + 1, n_bins)``, their windowed time-domain estimates ``(k + 1, n_fft)``, the
    committed partial sum and the overlap-add region, ``n_fft + k * hop`` samples each.
    """

    def __init__(self, config: StftConfig, lookahead_frames: int = 3, iterations: int = 4,
                 momentum: float = 0.85, seed: int = 0) -> None:
        if not isinstance(lookahead_frames, int) or isinstance(lookahead_frames, bool) \
                or lookahead_frames < 0:
            raise ConfigError(f"lookahead_frames must be an integer >= 0, got {lookahead_frames!r}")
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
            raise ConfigError(f"iterations must be an integer >= 1, got {iterations!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"momentum must be in [0, 1], got {momentum!r}")
        self.config = config
        self.momentum = float(momentum)
        self._alpha = np.float32(momentum / (1.0 + momentum))
        self.lookahead_frames = lookahead_frames
        self.iterations = iterations
        self.seed = seed
        n, h, k = config.n_fft, config.hop_length, lookahead_frames
        active = k + 1
        region = n + k * h
        self._window = analysis_window(config)
        w2 = self._window.astype(np.float64) ** 2
        wsum = w2.reshape(config.overlap, h).sum(axis=0)
        self._norm_hop = (1.0 / np.maximum(wsum, 1e-8)).astype(np.float32)  # (hop,)
        self._norm_region = self._region_norm(w2, wsum)  # (region,)
        self._mag = np.zeros((active, config.n_bins), dtype=np.float32)
        self._seg = np.zeros((active, n), dtype=np.float32)  # windowed estimates w * irfft(X)
        self._committed = np.zeros(region, dtype=np.float32)
        self._y = np.zeros(region, dtype=np.float32)
        self._frames = as_strided(self._y, shape=(active, n), strides=(h * 4, 4), writeable=False)
        self._windowed = np.zeros((active, n), dtype=np.float32)
        self._spec = np.zeros((active, config.n_bins), dtype=np.complex64)
        self._abs = np.zeros((active, config.n_bins), dtype=np.float32)
        self._prev = np.zeros((active, config.n_bins), dtype=np.complex64)  # momentum memory
        self._momentum_term = np.zeros((active, config.n_bins), dtype=np.complex64)
        self._partial = np.zeros(config.n_bins, dtype=np.complex64)
        self._out = np.zeros(h, dtype=np.float32)
        self._rng = np.random.default_rng(seed)
        self._random_phase = np.exp(2j * np.pi * self._rng.random(config.n_bins)).astype(np.complex64)

    def _region_norm(self, window_power: np.ndarray, full_sum: np.ndarray) -> np.ndarray:
        """Overlap-add normalisation over the look-ahead region, shape ``(n_fft + k * hop,)``.

        The committed frames and the active frames cover the region's start fully but its end
        only partly (the frames after the newest have not arrived). Dividing by the window power
        actually present, rather than the full sum, keeps the estimate at the right level where
        the newest frames overlap; the floor (a fraction of the full sum) stops the newest
        frame's last samples from being amplified without bound. This plays the role of the
        asymmetric window of Zhu et al. in every iteration, not only in the initial estimate.
        """
        n, h, k = self.config.n_fft, self.config.hop_length, self.lookahead_frames
        present = np.zeros(n + k * h)
        for i in range(k + 1):  # active frames
            present[i * h:i * h + n] += window_power
        for i in range(1, self.config.overlap):  # committed frames reaching into the region
            present[:n - i * h] += window_power[i * h:]
        full = np.tile(full_sum, len(present) // h)
        return (1.0 / np.maximum(present, _COVERAGE_FLOOR * full)).astype(np.float32)

    # -- contract -------------------------------------------------------------------------
    @property
    def latency_frames(self) -> int:
        """Hops between pushing a frame and receiving the hop that frame ends on."""
        return self.lookahead_frames + self.config.overlap - 1

    @property
    def latency_samples(self) -> int:
        """``lookahead_frames * hop_length + n_fft - hop_length``."""
        return self.latency_frames * self.config.hop_length

    def reset(self) -> None:
        """Forget all history (silence in, silence out)."""
        for buf in (self._mag, self._seg, self._committed, self._y, self._prev):
            buf[:] = 0.0

    # -- processing -----------------------------------------------------------------------
    def _overlap_add(self) -> None:
        """``_y = (committed + sum of active segments at their offsets) * partial norm``."""
        h, n = self.config.hop_length, self.config.n_fft
        y = self._y
        y[:] = self._committed
        for i in range(self.lookahead_frames + 1):
            y[i * h:i * h + n] += self._seg[i]
        y *= self._norm_region

    def _project(self) -> None:
        """One (fast) Griffin-Lim projection of every active frame against ``_y``, batched."""
        np.multiply(self._frames, self._window, out=self._windowed)
        spec = np.fft.rfft(self._windowed, axis=-1, out=self._spec)  # (active, n_bins) complex64
        if self._alpha:
            np.multiply(self._prev, self._alpha, out=self._momentum_term)
            self._prev[:] = spec
            spec -= self._momentum_term
        absval = self._abs
        np.abs(spec, out=absval)
        np.maximum(absval, _EPS, out=absval)
        np.divide(self._mag, absval, out=absval)
        spec *= absval
        np.fft.irfft(spec, n=self.config.n_fft, axis=-1, out=self._windowed)
        np.multiply(self._windowed, self._window, out=self._seg)

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        """Add the next magnitude frame and return the next hop of audio.

        Args:
            magnitude: ``|S|`` of the newest frame, shape ``(n_bins,)``, non-negative.
        Returns:
            float32, shape ``(hop_length,)`` (a buffer reused by the next call: copy to keep).
        """
        h, n, k = self.config.hop_length, self.config.n_fft, self.lookahead_frames
        if np.shape(magnitude) != (self.config.n_bins,):
            raise ConfigError(f"StreamingPhase expects a magnitude frame of shape "
                              f"({self.config.n_bins},), got {np.shape(magnitude)}")
        # Slide the active window by one frame (the oldest was committed on the last push).
        self._mag[:-1] = self._mag[1:]
        self._mag[-1] = magnitude
        self._seg[:-1] = self._seg[1:]
        self._seg[-1] = 0.0
        self._prev[:-1] = self._prev[1:]
        self._prev[-1] = 0.0
        # RTISI initial estimate of the new frame: phase of the re-analysed partial reconstruction.
        self._overlap_add()
        newest = self._windowed[k]
        np.multiply(self._y[k * h:], self._window, out=newest)
        partial = np.fft.rfft(newest, out=self._partial)
        absval = self._abs[k]
        np.abs(partial, out=absval)
        if absval.max() <= _EPS:  # silence so far: start from a fixed random phase
            partial[:] = self._random_phase
            absval[:] = 1.0
        np.maximum(absval, _EPS, out=absval)
        np.divide(self._mag[k], absval, out=absval)
        partial *= absval
        np.fft.irfft(partial, n=n, out=newest)
        np.multiply(newest, self._window, out=self._seg[k])
        # Iterate over every active frame at once.
        for _ in range(self.iterations):
            self._overlap_add()
            self._project()
        # Commit the oldest active frame; its first hop is now complete.
        committed = self._committed
        committed[:n] += self._seg[0]
        np.multiply(committed[:h], self._norm_hop, out=self._out)
        committed[:-h] = committed[h:]
        committed[-h:] = 0.0
        return self._out


def reconstruct_streaming(magnitude: np.ndarray, config: StftConfig, length: int | None = None,
                          **kwargs) -> np.ndarray:
    """Run :class:`StreamingPhase` over a whole spectrogram, latency removed.

    Args:
        magnitude: ``|S|``, shape ``(frames, n_bins)``.
        length: samples to return (default as :func:`instrument.dsp.spectral.istft`).
        **kwargs: ``lookahead_frames``, ``iterations``, ``seed`` for :class:`StreamingPhase`.
    Returns:
        float32 audio aligned with the offline signal, shape ``(length,)``.
    """
    mag = _check_magnitude(magnitude, config)
    proc = StreamingPhase(config, **kwargs)
    h = config.hop_length
    frames = mag.shape[0]
    if length is None:
        length = frames * h - (config.n_fft - h)
    zeros = np.zeros(config.n_bins, dtype=np.float32)
    total = frames + proc.latency_frames
    out = np.zeros(total * h, dtype=np.float32)
    for t in range(total):
        out[t * h:(t + 1) * h] = proc.push(mag[t] if t < frames else zeros)
    y = out[proc.latency_samples:]
    result = np.zeros(length, dtype=np.float32)
    result[:min(length, len(y))] = y[:length]
    return result
