"""Metrics of parameter inversion (Barkan & Tsiris Section 6) and spectral distances.

Parameter side: mean percentile rank (MPR) per parameter, top-k mean accuracy per parameter and per
parameter group. Audio side (input sound vs the sound re-rendered from the predicted patch): Pearson
correlation of STFT magnitudes, of the whole-signal FT magnitude and of the time signal; the
Frobenius norm of the STFT magnitude difference F_delta; spectral convergence; log-spectral distance;
multi-scale spectral distance (log-mel, several windows) and MFCC distance (librosa).
All functions work on batches.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from instrument.config import StftConfig
from instrument.dsp.spectral import stft_magnitude
from instrument.errors import ConfigError

#: STFT used by the audio-side metrics (Barkan: windows of 512 samples, half overlapping).
METRIC_N_FFT = 512
METRIC_HOP = 256
#: Multi-scale spectral distance: (n_fft, n_mels) per scale, hop n_fft / 4.
MSS_SCALES = ((2048, 128), (1024, 64), (512, 64), (256, 32))
#: Floor added to mel magnitudes before the log (peak-1 audio).
MSS_EPS = 1e-5
#: MFCC distance: coefficients 1..13 (c0, the loudness, left out) of a 64-mel, 1024-sample STFT.
MFCC_COEFFS = 13
MFCC_N_FFT = 1024
MFCC_HOP = 256
MFCC_MELS = 64


def _check_scores(scores: np.ndarray, true_classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    true_classes = np.asarray(true_classes)
    if scores.ndim != 3 or true_classes.shape != scores.shape[:2]:
        raise ConfigError(f"scores must be (batch, params, classes) and classes (batch, params); "
                          f"got {scores.shape} and {true_classes.shape}")
    if true_classes.size and (true_classes.min() < 0 or true_classes.max() >= scores.shape[2]):
        raise ConfigError(f"true classes must be in 0..{scores.shape[2] - 1}")
    return scores, true_classes.astype(np.int64)


def true_class_ranks(scores: np.ndarray, true_classes: np.ndarray) -> np.ndarray:
    """Rank of the correct class among all classes (0 = top), ties counted half.

    Args:
        scores: ``(batch, params, classes)``, higher = more likely.
        true_classes: int ``(batch, params)``.
    Returns:
        float ``(batch, params)`` ranks in ``0..classes-1``.
    """
    scores, true_classes = _check_scores(scores, true_classes)
    true_scores = np.take_along_axis(scores, true_classes[..., None], axis=-1)
    above = (scores > true_scores).sum(axis=-1)
    ties = (scores == true_scores).sum(axis=-1) - 1
    return above + 0.5 * ties


def mean_percentile_rank(scores: np.ndarray, true_classes: np.ndarray,
                         levels: Sequence[int] | None = None) -> np.ndarray:
    """Barkan's MPR per parameter: ``100 * (1 - mean_i r_i / (C_p - 1))``; 100 best, 50 = random.

    Args:
        scores: ``(batch, params, classes)``; with ``levels``, the classes a parameter lacks
            (``>= C_p``) must score ``-inf`` (:func:`instrument.inversion.model.mask_invalid_classes`)
            so they rank last.
        true_classes: int ``(batch, params)``.
        levels: classes ``C_p`` of each parameter (None: every parameter has the head's width). A
            synth whose parameters have fewer classes than the head (dx7: 12 envelope classes in a
            49-class head) needs them, or even the worst guess scores near 77.
    Returns:
        float ``(params,)``.
    """
    ranks = true_class_ranks(scores, true_classes)
    n_classes = np.asarray(scores).shape[-1]
    per_param = np.full(ranks.shape[-1], n_classes) if levels is None else np.asarray(levels)
    return 100.0 * (1.0 - ranks.mean(axis=0) / np.maximum(per_param - 1, 1))


def top_k_accuracy(scores: np.ndarray, true_classes: np.ndarray, k: int) -> np.ndarray:
    """Top-k mean accuracy per parameter (ties broken in favour of the lower class index).

    Returns:
        float ``(params,)`` in [0, 1].
    """
    scores, true_classes = _check_scores(scores, true_classes)
    if not 1 <= k <= scores.shape[-1]:
        raise ConfigError(f"k must be in 1..{scores.shape[-1]}, got {k}")
    order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    return (order == true_classes[..., None]).any(axis=-1).mean(axis=0)


def top_k_by_group(scores: np.ndarray, true_classes: np.ndarray,
                   groups: Mapping[str, Sequence[int]], ks: Sequence[int] = (1, 2, 3, 4, 5)
                   ) -> dict[str, list[float]]:
    """Mean top-k accuracy over each group's parameters, for each k; plus the group ``all``.

    Returns:
        ``{group: [acc_k for k in ks]}`` in percent.
    """
    per_k = {k: top_k_accuracy(scores, true_classes, k) for k in ks}
    n_params = np.asarray(true_classes).shape[1]
    result: dict[str, list[float]] = {}
    for name, indices in {**dict(groups), "all": list(range(n_params))}.items():
        idx = list(indices)
        if not idx:
            continue
        result[name] = [float(100.0 * per_k[k][idx].mean()) for k in ks]
    return result


def batch_stft_magnitude(audio: np.ndarray, n_fft: int = METRIC_N_FFT,
                         hop_length: int = METRIC_HOP) -> np.ndarray:
    """Magnitude STFT of a batch of clips: :func:`instrument.dsp.spectral.stft_magnitude` with the
    clip framing of the synth features (Hann window, ``n_fft - hop_length`` leading zeros, the
    ``samples // hop_length`` frames that end inside the clip).

    The metrics used to frame from sample 0 with the end zero-padded; on 200 pairs of random
    inversynth patches the shared framing moves mean ``pcc_stft`` by +0.02 points (+0.01 for
    patches one parameter apart), below the 0.1-point precision of the reported figures.

    Args:
        audio: ``(batch, samples)`` or ``(samples,)``, at least ``hop_length`` samples.
    Returns:
        float32 ``(batch, n_bins, frames)`` with ``n_bins = n_fft // 2 + 1`` (Barkan's 257 x 64).
    Raises:
        ConfigError: the clips are shorter than one hop (no frame).
    """
    audio = np.atleast_2d(audio)
    if audio.shape[-1] < hop_length:
        raise ConfigError(f"clips of {audio.shape[-1]} samples are shorter than one STFT hop "
                          f"({hop_length} samples)")
    config = StftConfig(n_fft=n_fft, hop_length=hop_length)
    return stft_magnitude(audio, config, pad_end=False).transpose(0, 2, 1)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair after flattening all but the first axis.

    A constant row (e.g. silence) correlates 0 with anything, except 1 with an equal constant row.

    Returns:
        float ``(batch,)`` in [-1, 1].
    """
    a = np.asarray(a, np.float32).reshape(len(a), -1)
    b = np.asarray(b, np.float32).reshape(len(b), -1)
    mean_a = a.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    mean_b = b.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    a = a - mean_a
    b = b - mean_b
    var_a = np.einsum("ij,ij->i", a, a, dtype=np.float64)
    var_b = np.einsum("ij,ij->i", b, b, dtype=np.float64)
    num = np.einsum("ij,ij->i", a, b, dtype=np.float64)
    den = np.sqrt(var_a * var_b)
    out = np.where(den > 1e-12, num / np.maximum(den, 1e-12), 0.0)
    both_flat = (var_a <= 1e-12) & (var_b <= 1e-12)
    equal_means = np.abs(mean_a[:, 0] - mean_b[:, 0]) <= 1e-6
    return np.clip(np.where(both_flat & equal_means, 1.0, out), -1.0, 1.0)


def spectral_similarity(target_magnitude: np.ndarray, candidate_magnitude: np.ndarray) -> np.ndarray:
    """Similarity used by refinement: PCC of ``log1p`` magnitudes (higher is better).

    Args:
        target_magnitude: ``(n_bins, frames)`` or ``(batch, n_bins, frames)``.
        candidate_magnitude: ``(batch, n_bins, frames)``.
    Returns:
        float ``(batch,)``.
    """
    cand = np.log1p(np.asarray(candidate_magnitude, np.float32))
    tgt = np.log1p(np.asarray(target_magnitude, np.float32))
    if tgt.ndim == cand.ndim - 1:
        tgt = np.broadcast_to(tgt, cand.shape)
    return pearson_rows(tgt, cand)


def multiscale_spectral_distance(inputs: np.ndarray, outputs: np.ndarray, sample_rate: int,
                                 scales: Sequence[tuple[int, int]] = MSS_SCALES) -> np.ndarray:
    """MSS: mean over scales of the mean absolute difference of log mel magnitudes
    (``log(mel + MSS_EPS)``, natural log; librosa mel filters, hop ``n_fft / 4``); 0 = identical.

    Args:
        inputs, outputs: ``(batch, samples)`` float audio of equal shape.
    Returns:
        float ``(batch,)``.
    """
    # librosa's own centred framing (not the engine's STFT, instrument.dsp.spectral): the
    # published MSS (DDSP and the inversion papers) is defined on it, and several window sizes
    # are needed where the engine has one; its figures stay comparable with theirs.
    import librosa

    a = np.atleast_2d(np.asarray(inputs, np.float32))
    b = np.atleast_2d(np.asarray(outputs, np.float32))
    total = np.zeros(len(a))
    for n_fft, n_mels in scales:
        kw = dict(sr=sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels, power=1.0)
        ma = librosa.feature.melspectrogram(y=a, **kw)
        mb = librosa.feature.melspectrogram(y=b, **kw)
        total += np.abs(np.log(ma + MSS_EPS) - np.log(mb + MSS_EPS)).mean(axis=(1, 2))
    return total / len(scales)


def mfcc_distance(inputs: np.ndarray, outputs: np.ndarray, sample_rate: int) -> np.ndarray:
    """Frame-wise Euclidean distance of MFCC 1..13 (librosa, dB mel power), averaged over frames.

    Returns:
        float ``(batch,)``; 0 = identical.
    """
    # librosa's MFCC pipeline as published (centred frames, dB mel power, DCT-II), not the
    # engine's STFT: the distance stays comparable with other work's MFCC figures.
    import librosa

    kw = dict(sr=sample_rate, n_mfcc=MFCC_COEFFS + 1, n_fft=MFCC_N_FFT, hop_length=MFCC_HOP,
              n_mels=MFCC_MELS)
    ca = librosa.feature.mfcc(y=np.atleast_2d(np.asarray(inputs, np.float32)), **kw)[:, 1:]
    cb = librosa.feature.mfcc(y=np.atleast_2d(np.asarray(outputs, np.float32)), **kw)[:, 1:]
    return np.sqrt(((ca - cb) ** 2).sum(axis=1)).mean(axis=1)


def audio_metrics(inputs: np.ndarray, outputs: np.ndarray, sample_rate: int | None = None
                  ) -> dict[str, np.ndarray]:
    """Per-sound reconstruction metrics between input sounds and re-rendered sounds.

    Args:
        inputs, outputs: ``(batch, samples)`` float audio of equal length.
    Returns:
        dict of float ``(batch,)`` arrays: ``pcc_stft``, ``pcc_ft``, ``pcc_time`` (x100),
        ``f_delta`` (Frobenius norm of the STFT magnitude difference), ``sc`` (spectral
        convergence ``||S_i - S_o|| / ||S_i||``), ``lsd_db`` (log-spectral distance in dB);
        with ``sample_rate`` also ``mss`` (:func:`multiscale_spectral_distance`) and ``mfcc``
        (:func:`mfcc_distance`).
    """
    inputs = np.atleast_2d(np.asarray(inputs, np.float32))
    outputs = np.atleast_2d(np.asarray(outputs, np.float32))
    if inputs.shape != outputs.shape:
        raise ConfigError(f"inputs {inputs.shape} and outputs {outputs.shape} differ in shape")
    s_in = batch_stft_magnitude(inputs)
    s_out = batch_stft_magnitude(outputs)
    ft_in = np.abs(np.fft.rfft(inputs, axis=1))
    ft_out = np.abs(np.fft.rfft(outputs, axis=1))
    diff = (s_in - s_out).reshape(len(s_in), -1)
    f_delta = np.linalg.norm(diff, axis=1)
    ref = np.linalg.norm(s_in.reshape(len(s_in), -1), axis=1)
    eps = 1e-8
    log_ratio = 10.0 * np.log10((s_in ** 2 + eps) / (s_out ** 2 + eps))
    lsd = np.sqrt((log_ratio ** 2).mean(axis=1)).mean(axis=1)
    return {
        "pcc_stft": 100.0 * pearson_rows(s_in, s_out),
        "pcc_ft": 100.0 * pearson_rows(ft_in, ft_out),
        "pcc_time": 100.0 * pearson_rows(inputs, outputs),
        "f_delta": f_delta,
        "sc": f_delta / np.maximum(ref, 1e-12),
        "lsd_db": lsd,
        **({} if sample_rate is None else {
            "mss": multiscale_spectral_distance(inputs, outputs, sample_rate),
            "mfcc": mfcc_distance(inputs, outputs, sample_rate)}),
    }


def summarise(values: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean": ..., "median": ...}}`` of per-sound metric arrays."""
    return {name: {"mean": float(np.mean(v)), "median": float(np.median(v))}
            for name, v in values.items()}
