"""Offline Griffin-Lim over overlapping time chunks, in bounded memory.

:func:`griffin_lim_chunked` cuts a magnitude spectrogram into chunks of frames that
overlap by ``overlap_frames``, runs :func:`instrument.dsp.phase.rtisi_la.griffin_lim` (librosa's fast
Griffin-Lim) on each chunk in turn, and joins the chunk outputs with
raised-cosine crossfades in the middle of each overlap.

Why: a whole-file Griffin-Lim holds several complex copies of the whole spectrogram
(a 10-minute file is ~200 MB per copy); chunks of at most
:data:`DEFAULT_MAX_CHUNK_FRAMES` frames bound that. (Running chunks on threads was
measured slower: librosa's per-call Python work holds the GIL.)

Framing (see :mod:`instrument.dsp.spectral`): chunk frames ``[a, b)`` reconstruct samples
``[a * hop, b * hop - (n_fft - hop))`` of the output with every sample covered by all
of its frames. Consecutive chunks share ``overlap_frames * hop - (n_fft - hop)`` such
samples; the crossfade spans the middle half of them. With a warm start from known
phases (the timbre-transfer default) neighbouring chunks agree closely in the overlap;
from random phases they agree less, so use a long overlap there.
"""

from __future__ import annotations

import math

import numpy as np

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.dsp.phase.rtisi_la import _check_magnitude, griffin_lim

#: Chunks never exceed this many frames (about 24 s at hop 256 / 22050 Hz): bounds memory.
DEFAULT_MAX_CHUNK_FRAMES = 2048


def chunk_bounds(frames: int, chunk_frames: int, overlap_frames: int) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` of the chunks: consecutive ones share ``overlap_frames``.

    The last chunk ends at ``frames``; a spectrogram no longer than ``chunk_frames`` is one chunk.
    """
    if chunk_frames <= overlap_frames:
        raise ConfigError(f"chunk_frames ({chunk_frames}) must exceed overlap_frames ({overlap_frames})")
    if frames <= chunk_frames:
        return [(0, frames)]
    step = chunk_frames - overlap_frames
    count = math.ceil((frames - overlap_frames) / step)
    return [(k * step, min(frames, k * step + chunk_frames)) for k in range(count)]


def _crossfade(samples: int) -> np.ndarray:
    """Fade-in ramp of ``samples`` values rising from 0 to 1 (raised cosine), float32."""
    t = (np.arange(samples, dtype=np.float64) + 0.5) / samples
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def griffin_lim_chunked(magnitude: np.ndarray, config: StftConfig, n_iter: int = 100,
                        momentum: float = 0.99, init_phase: np.ndarray | None = None,
                        length: int | None = None, seed: int = 0,
                        chunk_frames: int | None = None, overlap_frames: int = 24) -> np.ndarray:
    """Fast Griffin-Lim of a long spectrogram, chunk by chunk.

    Args:
        magnitude: ``|S|``, shape ``(frames, n_bins)``.
        n_iter, momentum, init_phase, seed: as :func:`instrument.dsp.phase.rtisi_la.griffin_lim`
            (chunk ``k`` draws its random start with ``seed + k``).
        length: samples to return (default as :func:`instrument.dsp.phase.rtisi_la.griffin_lim`).
        chunk_frames: frames per chunk (default :data:`DEFAULT_MAX_CHUNK_FRAMES`).
        overlap_frames: frames shared by neighbouring chunks; must exceed
            ``(n_fft - hop_length) / hop_length`` so a crossfade region exists.
    Returns:
        float32 audio, shape ``(length,)``.
    """
    mag = _check_magnitude(magnitude, config)
    frames, hop = mag.shape[0], config.hop_length
    front = config.n_fft - hop
    if length is None:
        length = frames * hop - front
    shared = overlap_frames * hop - front
    if shared < 4:
        raise ConfigError(f"overlap_frames must be more than {front // hop} frames at "
                          f"n_fft {config.n_fft} / hop {hop}, got {overlap_frames}")
    if init_phase is not None and np.shape(init_phase) != mag.shape:
        raise ConfigError(f"init_phase must have the magnitude's shape {mag.shape}, "
                          f"got {np.shape(init_phase)}")
    # Split only to bound memory: independent random starts disagree at the seams.
    bounds = chunk_bounds(frames, int(chunk_frames or DEFAULT_MAX_CHUNK_FRAMES), overlap_frames)
    if len(bounds) == 1:
        return griffin_lim(mag, config, n_iter=n_iter, momentum=momentum, init_phase=init_phase,
                           length=length, seed=seed)

    total = frames * hop - front
    out = np.zeros(total, dtype=np.float32)
    fade_len = max(2, shared // 2)
    lead = (shared - fade_len) // 2  # the crossfade sits in the middle of each overlap
    fade_in = _crossfade(fade_len)
    for index, (a, b) in enumerate(bounds):
        phase = None if init_phase is None else init_phase[a:b]
        piece = griffin_lim(mag[a:b], config, n_iter=n_iter, momentum=momentum, init_phase=phase,
                            seed=seed + index)
        start = a * hop
        if index > 0:  # fade in where the previous chunk fades out
            piece[:lead] = 0.0
            piece[lead:lead + fade_len] *= fade_in
        if index < len(bounds) - 1:
            fade_at = bounds[index + 1][0] * hop - start + lead
            piece[fade_at:fade_at + fade_len] *= fade_in[::-1]
            piece[fade_at + fade_len:] = 0.0
        out[start:start + len(piece)] += piece
    result = np.zeros(length, dtype=np.float32)
    result[:min(length, total)] = out[:length]
    return result
