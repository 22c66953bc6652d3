"""Parameter-inversion networks: spectrogram/raw audio -> synth parameter classes or values.

Architectures (Barkan & Tsiris, "Deep Synthesizer Parameter Estimation", Table 2; Vecoven 2020):

* ``conv1`` .. ``conv6``, ``conv6xl``: 2-D strided convolutions (ReLU, no pooling) over the
  spectrogram seen as a ``(frames, bins)`` image, then FC-512.
* ``conve2e``: four strided 1-D convolutions over raw audio that learn a ``(frames, 257)``
  "spectrogram", then the Conv6 stack.
* ``lstm``: an LSTM over spectrogram frames (Vecoven), then FC-512.
* ``freqtcn``: cheap and frequency-aware (ours, for CPU training): a dense layer over all
  frequency bins of every frame (shared across time, so absolute frequency is kept), residual
  dilated 1-D convolutions over time, mean + max pooling over time, joined with a fixed
  :class:`SpectralSummary` (time-averaged spectrum, its spread, frame-energy envelope and the
  envelope's modulation spectrum), then FC.
* ``dualtcn``: ``freqtcn`` at two resolutions, on raw audio: the model computes the spectrogram
  of the synth spec (e.g. 512-point frames: 32 Hz bins, 16 ms hops) and a fine one
  (``fine_n_fft``-point frames: 4 Hz bins at 4096, up to ``fine_bins`` bins) with
  :class:`instrument.models.layers.spectral_layers.LogSpectrogram`, runs the ``freqtcn`` trunk over the first and
  adds the :class:`SpectralSummary` of the second. The fine spectrum resolves notes a semitone
  apart and the edges of FM sweeps, which 32 Hz bins blur.
* ``phasetcn``: ``freqtcn`` on raw audio whose frames carry, besides the log magnitudes, each
  bin's phase advance between frames (:class:`instrument.models.layers.spectral_layers.PhaseSpectrogram`): where
  inside its 32 Hz bin a partial sits (a semitone is 26 Hz at 440 Hz) and how steady it is.
* ``harmtcn``: ``freqtcn`` plus a harmonic branch: the time mean and max of the spectrogram at
  f, 2f, .. 8f for every candidate fundamental f below 1536 Hz
  (:class:`instrument.models.layers.harmonic_layers.HarmonicStack`), dilated convolutions over f (the same
  weights at every pitch read which waveform sits there), then a dense layer.
* ``sweeptcn``: ``freqtcn`` plus a sweep readout for synths with FM oscillators
  (:mod:`instrument.models.layers.sweep_readout`): dilated convolutions over the frequency axis of every bin's
  time statistics make centre and sweep-edge maps per oscillator, read at each (note, depth)
  class pair's frequencies; the resulting note and depth scores are added to those parameters'
  logits. Needs the ``sweep_*`` fields (:func:`instrument.models.layers.sweep_readout.sweep_geometry`). With
  ``sweep_read``, every bin's time statistics and modulation spectrum, read at each oscillator's
  probable sweep positions (:class:`instrument.models.layers.sweep_pointer.PosteriorRead`), join the clip vector
  (amplitude and FM-rate evidence per oscillator).

Heads (``head``):

* ``sigmoid``: ``n_params x n_classes`` sigmoid outputs, binary cross-entropy (Barkan's choice).
* ``softmax``: one softmax over the classes of each parameter, categorical cross-entropy.
* ``regression``: ``n_params`` sigmoid outputs = normalised parameter values in [0, 1], MSE
  (Vecoven's regression).

Every model maps input ``(batch, *input_shape)`` to ``(batch, n_params, n_classes)`` class scores
(``sigmoid``/``softmax``) or ``(batch, n_params)`` normalised values (``regression``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

import keras
import numpy as np

from instrument.errors import ConfigError
# Imported here, not where used, so loading a model file registers every layer it may contain.
from instrument.models.layers.harmonic_layers import HarmonicStack
from instrument.models.layers.inversion import (FeatureStandardize, SpectralSummary, SpectrogramToImage,
                                                SpectrogramToSequence)
from instrument.models.layers.spectral_layers import LogSpectrogram, PhaseSpectrogram
from instrument.models.layers.sweep_pointer import ModulationSpectrum, PosteriorRead
from instrument.models.layers.trajectory_read import RateScores, TrajectoryRead, check_trajectory_geometry
from instrument.models.layers.sweep_readout import (MAPS_PER_HARMONIC, AddToRows, BinStatistics, SweepReadout,
                                    check_geometry)

#: Barkan Table 2: C(filters, k_time, k_freq, stride_time, stride_freq) per layer.
CONV_STACKS: dict[str, tuple[tuple[int, int, int, int, int], ...]] = {
    "conv1": ((38, 13, 26, 13, 26),),
    "conv2": ((35, 6, 7, 5, 6), (87, 6, 9, 5, 8)),
    "conv3": ((32, 4, 5, 3, 4), (98, 4, 6, 3, 5), (128, 4, 6, 3, 5)),
    "conv4": ((32, 3, 4, 2, 3), (65, 3, 4, 2, 3), (105, 3, 4, 2, 3), (128, 4, 5, 3, 4)),
    "conv5": ((32, 3, 3, 2, 2), (98, 3, 3, 2, 2), (128, 3, 4, 2, 3), (128, 3, 5, 2, 4),
              (128, 3, 3, 2, 2)),
    "conv6": ((32, 3, 3, 2, 2), (71, 3, 3, 2, 2), (128, 3, 4, 2, 3), (128, 3, 3, 2, 2),
              (128, 3, 3, 2, 2), (128, 3, 3, 1, 2)),
    "conv6xl": ((64, 3, 3, 2, 2), (128, 3, 3, 2, 2), (128, 3, 4, 2, 3), (128, 3, 3, 2, 2),
                (256, 3, 3, 2, 2), (256, 3, 3, 1, 2)),
}
#: ConvE2E's learned front end: C(filters, 1, kernel, 1, stride) as 1-D convolutions over time.
E2E_FRONT: tuple[tuple[int, int, int], ...] = ((96, 64, 4), (96, 32, 4), (128, 16, 4), (257, 8, 4))
#: ``freqtcn``: channels at width_scale 1, and the dilations of its residual temporal convolutions.
FREQTCN_CHANNELS = 256
FREQTCN_DILATIONS = (1, 2, 4, 8)
#: ``harmtcn`` harmonic branch: candidate fundamentals (quarter bins up to bin 48), harmonics,
#: and convolution channels at width_scale 1.
HARM_FUNDAMENTALS, HARM_STEPS_PER_BIN, HARM_HARMONICS, HARM_CHANNELS = 192, 4, 8, 64
#: ``sweeptcn`` frequency convolutions: channels at width_scale 1, first kernel, dilations.
SWEEP_CHANNELS, SWEEP_KERNEL, SWEEP_DILATIONS = 64, 5, (1, 2, 4, 8, 16)
#: ``sweeptcn`` with ``sweep_read``: modulation rates (cycles per clip) read per bin.
SWEEP_RATES = 24
#: ``sweeptcn`` trajectory read: (note, depth) cells read per oscillator, scoring units.
TRAJECTORY_TOP_K, TRAJECTORY_UNITS = 3, 16
ARCHS = (*CONV_STACKS, "conve2e", "lstm", "freqtcn", "dualtcn", "phasetcn", "harmtcn", "sweeptcn")
#: Architectures whose input is raw audio (the rest take the synth's spectrogram).
AUDIO_ARCHS = ("conve2e", "dualtcn", "phasetcn")
HEADS = ("sigmoid", "softmax", "regression")


#: Tuple-valued ``sweeptcn`` fields of :class:`InversionModelConfig`.
SWEEP_FIELDS = ("sweep_note_bins", "sweep_depth_bins", "sweep_note_rows", "sweep_depth_rows",
                "trajectory_rates", "trajectory_rate_rows")


@dataclass(frozen=True)
class InversionModelConfig:
    """Architecture of one inversion network (saved inside every model file).

    Attributes:
        arch: one of ``ARCHS``.
        head: one of ``HEADS``.
        n_params: synth parameters predicted.
        n_classes: quantisation classes per parameter.
        n_bins: frequency bins of the input spectrogram.
        n_frames: time frames of the input spectrogram.
        n_samples: raw-audio samples (``conve2e`` input; ``n_frames * hop``).
        bins_first: the spectrogram input is ``(n_bins, n_frames)`` (else ``(n_frames, n_bins)``).
        fc_units: width of the hidden fully connected layer (Barkan: 512).
        summary_units: width of the ``*tcn`` spectral-summary dense layer (0 = the trunk's
            channel count).
        lstm_units: LSTM width for ``arch="lstm"``.
        width_scale: multiplies every convolution's filter count (1.0 = the paper's sizes).
        feature_mean: input standardisation offset (fitted on training data; for ``dualtcn`` and
            ``phasetcn`` on the log spectrogram, for ``conve2e`` on the audio).
        feature_std: input standardisation scale, > 0.
        fine_n_fft: ``dualtcn`` fine spectrogram frame length in samples (default 4096: 4 Hz bins).
        fine_hop: ``dualtcn`` fine spectrogram hop in samples (divides ``n_samples``).
        fine_bins: ``dualtcn`` fine spectrogram bins kept from 0 Hz (``<= fine_n_fft // 2 + 1``).
        fine_feature_mean, fine_feature_std: ``dualtcn`` fine spectrogram standardisation.
        sweep_note_bins: ``sweeptcn``: every note class's frequency in STFT bins.
        sweep_depth_bins: ``sweeptcn``: every FM depth class's deviation in STFT bins.
        sweep_note_rows, sweep_depth_rows: ``sweeptcn``: each oscillator's note and depth
            parameter index (same order).
        sweep_harmonics: ``sweeptcn``: harmonics read per oscillator.
        sweep_cell_units: ``sweeptcn``: units of the readout's per-pair network over its position
            reads (0 = their sum; :class:`instrument.models.layers.sweep_readout.SweepReadout`).
        sweep_read: ``sweeptcn``: also read every bin's time statistics and modulation spectrum
            at each oscillator's sweep positions into the clip vector
            (:class:`instrument.models.layers.sweep_pointer.PosteriorRead`).
        trajectory_read: ``sweeptcn``: score each oscillator's FM rate along its frame-by-frame
            path and add level features to the clip vector (:mod:`instrument.models.layers.trajectory_read`).
        trajectory_rates: every FM rate class in cycles per frame hop (``trajectory_geometry``).
        trajectory_rate_rows: each oscillator's FM rate parameter index (oscillator order as
            ``sweep_note_rows``).
    """

    arch: str = "conv6xl"
    head: str = "sigmoid"
    n_params: int = 23
    n_classes: int = 16
    n_bins: int = 257
    n_frames: int = 64
    n_samples: int = 16384
    bins_first: bool = False
    fc_units: int = 512
    summary_units: int = 0
    lstm_units: int = 256
    width_scale: float = 1.0
    feature_mean: float = 0.0
    feature_std: float = 1.0
    fine_n_fft: int = 4096
    fine_hop: int = 1024
    fine_bins: int = 768
    fine_feature_mean: float = 0.0
    fine_feature_std: float = 1.0
    sweep_note_bins: tuple[float, ...] = ()
    sweep_depth_bins: tuple[float, ...] = ()
    sweep_note_rows: tuple[int, ...] = ()
    sweep_depth_rows: tuple[int, ...] = ()
    sweep_harmonics: int = 1
    sweep_cell_units: int = 0
    sweep_read: bool = False
    trajectory_read: bool = False
    trajectory_rates: tuple[float, ...] = ()
    trajectory_rate_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in SWEEP_FIELDS:  # JSON gives lists
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{name} must be a list, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown inversion arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown inversion head {self.head!r}; choose one of {', '.join(HEADS)}")
        for name in ("n_params", "n_classes", "n_bins", "n_frames", "n_samples", "fc_units",
                     "lstm_units", "fine_n_fft", "fine_hop", "fine_bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.sweep_cell_units, int) or isinstance(self.sweep_cell_units, bool) \
                or self.sweep_cell_units < 0 or (self.sweep_cell_units and self.arch != "sweeptcn"):
            raise ConfigError(f"sweep_cell_units must be a non-negative integer (sweeptcn only), "
                              f"got {self.sweep_cell_units!r} for arch {self.arch!r}")
        if not isinstance(self.summary_units, int) or isinstance(self.summary_units, bool) \
                or self.summary_units < 0:
            raise ConfigError(f"summary_units must be 0 (= channels) or a positive integer, "
                              f"got {self.summary_units!r}")
        if self.n_classes < 2:
            raise ConfigError(f"n_classes must be at least 2, got {self.n_classes}")
        if not isinstance(self.bins_first, bool):
            raise ConfigError(f"bins_first must be a bool, got {self.bins_first!r}")
        if not 0.05 <= float(self.width_scale) <= 8.0:
            raise ConfigError(f"width_scale must be in 0.05..8, got {self.width_scale!r}")
        for name in ("feature_mean", "fine_feature_mean"):
            if not np.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be finite, got {getattr(self, name)!r}")
        for name in ("feature_std", "fine_feature_std"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"{name} must be finite and positive, got {getattr(self, name)!r}")
        if self.arch == "conve2e" and self.n_samples % 256:
            raise ConfigError(f"conve2e needs n_samples divisible by 256, got {self.n_samples}")
        if self.arch in ("dualtcn", "phasetcn") and self.n_samples % self.n_frames:
            raise ConfigError(f"{self.arch} needs n_samples ({self.n_samples}) divisible by "
                              f"n_frames ({self.n_frames})")
        if self.arch == "dualtcn":
            if self.fine_hop > self.fine_n_fft or self.n_samples % self.fine_hop:
                raise ConfigError(f"dualtcn fine_hop {self.fine_hop} must divide n_samples "
                                  f"({self.n_samples}) and not exceed fine_n_fft {self.fine_n_fft}")
            if self.fine_bins > self.fine_n_fft // 2 + 1:
                raise ConfigError(f"dualtcn fine_bins {self.fine_bins} exceeds fine_n_fft // 2 + 1 "
                                  f"= {self.fine_n_fft // 2 + 1}")
        for name in ("sweep_read", "trajectory_read"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be a bool, got {getattr(self, name)!r}")
            if getattr(self, name) and self.arch != "sweeptcn":
                raise ConfigError(f"{name} is for the sweeptcn arch, not {self.arch!r}")
        if self.arch == "sweeptcn":
            self._check_sweep()

    def _check_sweep(self) -> None:
        if self.head == "regression":
            raise ConfigError("sweeptcn adds class scores to logits: use the softmax or sigmoid head")
        rows = (*self.sweep_note_rows, *self.sweep_depth_rows)
        if not self.sweep_note_rows or len(self.sweep_note_rows) != len(self.sweep_depth_rows):
            raise ConfigError("sweeptcn needs one note and one depth row per oscillator "
                              "(sweep_note_rows, sweep_depth_rows; see sweep_geometry)")
        if len(set(rows)) != len(rows) or min(rows) < 0 or max(rows) >= self.n_params:
            raise ConfigError(f"sweeptcn rows {rows} must be distinct parameter indices in "
                              f"0..{self.n_params - 1}")
        for name in ("sweep_note_bins", "sweep_depth_bins"):
            if len(getattr(self, name)) != self.n_classes:
                raise ConfigError(f"{name} needs one position per class ({self.n_classes}), "
                                  f"got {len(getattr(self, name))}")
        check_geometry(self.sweep_note_bins, self.sweep_depth_bins, self.sweep_harmonics,
                       len(self.sweep_note_rows), self.n_bins)
        if self.trajectory_read:
            check_trajectory_geometry(self.trajectory_rates, self.trajectory_rate_rows, rows,
                                      self.n_classes, self.n_params)

    @property
    def raw_audio(self) -> bool:
        """The model takes raw audio ``(n_samples,)`` instead of a spectrogram."""
        return self.arch in AUDIO_ARCHS

    @property
    def coarse_n_fft(self) -> int:
        """Frame length of the synth spectrogram (``2 * (n_bins - 1)``)."""
        return 2 * (self.n_bins - 1)

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.raw_audio:
            return (self.n_samples,)
        return (self.n_bins, self.n_frames) if self.bins_first else (self.n_frames, self.n_bins)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InversionModelConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"inversion model config must be a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown inversion model config fields: {sorted(unknown)}")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _scaled(filters: int, scale: float) -> int:
    return max(4, int(round(filters * scale)))


def _conv_stack(x: Any, layers: tuple[tuple[int, int, int, int, int], ...], scale: float,
                prefix: str) -> Any:
    for i, (filters, k_t, k_f, s_t, s_f) in enumerate(layers):
        x = keras.layers.Conv2D(_scaled(filters, scale), (k_t, k_f), strides=(s_t, s_f),
                                padding="same", activation="relu", name=f"{prefix}{i + 1}")(x)
    return x


def _residual_dilated(h: Any, width: int, dilations: tuple[int, ...], conv_name: str,
                      add_name: str) -> Any:
    """Residual 1-D convolutions (kernel 3, ReLU) at the given dilations over ``(batch, steps,
    width)``; layer ``i`` (from 1) is ``{conv_name}{i}`` + ``{add_name}{i}``."""
    for i, dilation in enumerate(dilations):
        y = keras.layers.Conv1D(width, 3, dilation_rate=dilation, padding="same",
                                activation="relu", name=f"{conv_name}{i + 1}")(h)
        h = keras.layers.Add(name=f"{add_name}{i + 1}")([h, y])
    return h


def _tcn_trunk(seq: Any, channels: int, prefix: str = "", frame_extra: Any = None,
               summary_units: int = 0) -> list[Any]:
    """A ``freqtcn`` trunk over a ``(batch, frames, bins)`` sequence -> three clip vectors: mean
    and max over time of the residual temporal convolutions ``(batch, channels)``, and the
    :class:`SpectralSummary` of ``seq`` through a dense layer ``(batch, summary_units or
    channels)``. ``frame_extra``
    ``(batch, frames, features)``, if given, joins ``seq`` as input of the per-frame dense layer."""
    frame_in = seq if frame_extra is None else keras.layers.Concatenate(
        name=f"{prefix}frame_features")([seq, frame_extra])
    h = keras.layers.Dense(channels, activation="relu", name=f"{prefix}frame_dense")(frame_in)
    h = _residual_dilated(h, channels, FREQTCN_DILATIONS, f"{prefix}tconv", f"{prefix}residual")
    pooled_mean = keras.layers.GlobalAveragePooling1D(name=f"{prefix}time_mean")(h)
    pooled_max = keras.layers.GlobalMaxPooling1D(name=f"{prefix}time_max")(h)
    summary = SpectralSummary(name=f"{prefix}summary")(seq)
    summary = keras.layers.Dense(summary_units or channels, activation="relu",
                                 name=f"{prefix}summary_dense")(summary)
    return [pooled_mean, pooled_max, summary]


def _freqtcn(x: Any, config: InversionModelConfig) -> Any:
    """``freqtcn`` trunk: standardised spectrogram -> clip vector ``(batch, 3 * channels)``."""
    seq = SpectrogramToSequence(config.bins_first, name="to_sequence")(x)
    parts = _tcn_trunk(seq, _scaled(FREQTCN_CHANNELS, config.width_scale),
                       summary_units=config.summary_units)
    return keras.layers.Concatenate(name="clip")(parts)


def _dualtcn(audio: Any, config: InversionModelConfig) -> Any:
    """``dualtcn`` trunk: raw audio -> clip vector ``(batch, 3 * channels + 2 * channels)``: a
    ``freqtcn`` trunk over the synth spectrogram, joined with the :class:`SpectralSummary` of the
    fine spectrogram through a dense layer (the fine spectrum needs no temporal convolutions:
    its time average already shows where each note and FM sweep sits)."""
    channels = _scaled(FREQTCN_CHANNELS, config.width_scale)
    coarse = LogSpectrogram(config.coarse_n_fft, config.n_samples // config.n_frames,
                            config.n_bins, name="spectrogram")(audio)
    coarse = FeatureStandardize(config.feature_mean, config.feature_std, name="standardize")(coarse)
    fine = LogSpectrogram(config.fine_n_fft, config.fine_hop, config.fine_bins,
                          name="fine_spectrogram")(audio)
    fine = FeatureStandardize(config.fine_feature_mean, config.fine_feature_std,
                              name="fine_standardize")(fine)
    fine = SpectralSummary(name="fine_summary")(fine)
    fine = keras.layers.Dense(2 * channels, activation="relu", name="fine_summary_dense")(fine)
    trunk = _tcn_trunk(coarse, channels, summary_units=config.summary_units)
    return keras.layers.Concatenate(name="clip")([*trunk, fine])


def _phasetcn(audio: Any, config: InversionModelConfig) -> Any:
    """``phasetcn`` trunk: raw audio -> clip vector ``(batch, 3 * channels)``: the ``freqtcn``
    trunk whose per-frame dense layer also sees every bin's phase advance (scaled like the
    magnitudes, without offset, so silent bins stay 0)."""
    magnitude, advance = PhaseSpectrogram(config.coarse_n_fft, config.n_samples // config.n_frames,
                                          config.n_bins, name="spectrogram")(audio)
    magnitude = FeatureStandardize(config.feature_mean, config.feature_std,
                                   name="standardize")(magnitude)
    advance = FeatureStandardize(0.0, config.feature_std, name="advance_scale")(advance)
    parts = _tcn_trunk(magnitude, _scaled(FREQTCN_CHANNELS, config.width_scale),
                       frame_extra=advance, summary_units=config.summary_units)
    return keras.layers.Concatenate(name="clip")(parts)


def _harmtcn(spectrogram: Any, config: InversionModelConfig) -> Any:
    """``harmtcn`` trunk: log spectrogram -> clip vector ``(batch, 4 * channels)``: the
    ``freqtcn`` trunk plus the harmonic branch (see the module docstring)."""
    channels = _scaled(FREQTCN_CHANNELS, config.width_scale)
    raw = SpectrogramToSequence(config.bins_first, name="to_sequence")(spectrogram)
    seq = FeatureStandardize(config.feature_mean, config.feature_std, name="standardize")(raw)
    parts = _tcn_trunk(seq, channels, summary_units=config.summary_units)
    # Stacked before standardising, so bins past the top read as silence (log1p 0 = 0).
    h = HarmonicStack(HARM_FUNDAMENTALS, HARM_STEPS_PER_BIN, HARM_HARMONICS, name="harmonics")(raw)
    h = FeatureStandardize(0.0, config.feature_std, name="harmonic_scale")(h)
    width = _scaled(HARM_CHANNELS, config.width_scale)
    h = keras.layers.Conv1D(width, 3, padding="same", activation="relu", name="hconv0")(h)
    h = _residual_dilated(h, width, (1, 2, 4), "hconv", "hresidual")
    h = keras.layers.Flatten(name="harmonic_flatten")(h)
    parts.append(keras.layers.Dense(channels, activation="relu", name="harmonic_dense")(h))
    return keras.layers.Concatenate(name="clip")(parts)


def _logits(x: Any, config: InversionModelConfig) -> Any:
    """FC then the class logits ``(batch, n_params, n_classes)``."""
    x = keras.layers.Dense(config.fc_units, activation="relu", name="fc")(x)
    x = keras.layers.Dense(config.n_params * config.n_classes, name="logits")(x)
    return keras.layers.Reshape((config.n_params, config.n_classes), name="per_param")(x)


def _activate(logits: Any, config: InversionModelConfig) -> Any:
    if config.head == "softmax":
        return keras.layers.Softmax(axis=-1, name="probs")(logits)
    return keras.layers.Activation("sigmoid", name="probs")(logits)


def _head(x: Any, config: InversionModelConfig) -> Any:
    if config.head == "regression":
        x = keras.layers.Dense(config.fc_units, activation="relu", name="fc")(x)
        return keras.layers.Dense(config.n_params, activation="sigmoid", name="values")(x)
    return _activate(_logits(x, config), config)


def _sweeptcn(x: Any, config: InversionModelConfig) -> Any:
    """``sweeptcn``: standardised spectrogram -> class scores: the ``freqtcn`` head's logits plus
    the sweep readout's note and depth scores (see :mod:`instrument.models.layers.sweep_readout`)."""
    seq = SpectrogramToSequence(config.bins_first, name="to_sequence")(x)
    channels = _scaled(FREQTCN_CHANNELS, config.width_scale)
    parts = _tcn_trunk(seq, channels, summary_units=config.summary_units)
    oscillators = len(config.sweep_note_rows)
    width = _scaled(SWEEP_CHANNELS, config.width_scale)
    statistics = BinStatistics(name="bin_statistics")(seq)
    h = keras.layers.Conv1D(width, SWEEP_KERNEL, padding="same", activation="relu",
                            name="fconv0")(statistics)
    h = _residual_dilated(h, width, SWEEP_DILATIONS, "fconv", "fresidual")
    maps = keras.layers.Conv1D(MAPS_PER_HARMONIC * config.sweep_harmonics * oscillators, 1,
                               name="sweep_maps")(h)
    scores, joint = SweepReadout(config.sweep_note_bins, config.sweep_depth_bins,
                                 config.sweep_harmonics, oscillators, return_joint=True,
                                 cell_units=config.sweep_cell_units, name="sweep_readout")(maps)
    if config.sweep_read:
        values = keras.layers.Concatenate(name="bin_features")(
            [statistics, ModulationSpectrum(min(SWEEP_RATES, config.n_frames // 2),
                                            name="modulation_spectrum")(seq)])
        read = PosteriorRead(config.sweep_note_bins, config.sweep_depth_bins,
                             config.sweep_harmonics, name="posterior_read")([values, joint])
        parts.append(keras.layers.Dense(channels, activation="relu", name="read_dense")(read))
    if config.trajectory_read:
        reads, cells = TrajectoryRead(config.sweep_note_bins, config.sweep_depth_bins,
                                      config.trajectory_rates, config.sweep_harmonics,
                                      TRAJECTORY_TOP_K, name="trajectory_read")([seq, joint])
        rate_scores, levels = RateScores(TRAJECTORY_UNITS, name="rate_scores")([reads, cells])
        parts.append(keras.layers.Dense(channels // 2, activation="relu", name="level_dense")(levels))
    clip = keras.layers.Concatenate(name="clip")(parts)
    logits = AddToRows((*config.sweep_note_rows, *config.sweep_depth_rows), config.n_params,
                       name="add_sweep")([_logits(clip, config), scores])
    if config.trajectory_read:
        logits = AddToRows(config.trajectory_rate_rows, config.n_params,
                           name="add_rates")([logits, rate_scores])
    return _activate(logits, config)


def build_inversion_model(config: InversionModelConfig) -> keras.Model:
    """Build (not compile) the network ``config`` describes.

    Returns:
        keras.Model: input ``(batch, *config.input_shape)`` float32; output
        ``(batch, n_params, n_classes)`` scores, or ``(batch, n_params)`` values in [0, 1].
    """
    inputs = keras.Input(shape=config.input_shape, name="audio" if config.raw_audio else "spectrogram")
    # These standardise their own spectrograms (harmtcn's harmonic branch reads the raw one).
    own_trunks = {"dualtcn": _dualtcn, "phasetcn": _phasetcn, "harmtcn": _harmtcn}
    if config.arch in own_trunks:
        return keras.Model(inputs, _head(own_trunks[config.arch](inputs, config), config),
                           name=f"inversion_{config.arch}_{config.head}")
    x = FeatureStandardize(config.feature_mean, config.feature_std, name="standardize")(inputs)
    if config.arch == "lstm":
        x = SpectrogramToSequence(config.bins_first, name="to_sequence")(x)
        x = keras.layers.LSTM(config.lstm_units, name="lstm")(x)
    elif config.arch == "freqtcn":
        x = _freqtcn(x, config)
    elif config.arch == "sweeptcn":
        return keras.Model(inputs, _sweeptcn(x, config), name=f"inversion_sweeptcn_{config.head}")
    elif config.arch == "conve2e":
        x = keras.layers.Reshape((config.n_samples, 1), name="to_channels")(x)
        for i, (filters, kernel, stride) in enumerate(E2E_FRONT):
            # The last layer keeps 257 "bins" so the 2-D stack sees a spectrogram-sized image.
            width = filters if i == len(E2E_FRONT) - 1 else _scaled(filters, config.width_scale)
            x = keras.layers.Conv1D(width, kernel, strides=stride, padding="same",
                                    activation="relu", name=f"front{i + 1}")(x)
        x = keras.layers.Reshape((config.n_samples // 256, E2E_FRONT[-1][0], 1), name="to_image")(x)
        x = _conv_stack(x, CONV_STACKS["conv6"], config.width_scale, "conv")
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = SpectrogramToImage(config.bins_first, name="to_image")(x)
        x = _conv_stack(x, CONV_STACKS[config.arch], config.width_scale, "conv")
        x = keras.layers.Flatten(name="flatten")(x)
    outputs = _head(x, config)
    return keras.Model(inputs, outputs, name=f"inversion_{config.arch}_{config.head}")


def loss_for(head: str) -> keras.losses.Loss:
    """The training loss of a head (BCE for sigmoid, CCE for softmax, MSE for regression)."""
    if head == "sigmoid":
        return keras.losses.BinaryCrossentropy()
    if head == "softmax":
        return keras.losses.CategoricalCrossentropy()
    if head == "regression":
        return keras.losses.MeanSquaredError()
    raise ConfigError(f"unknown inversion head {head!r}; choose one of {', '.join(HEADS)}")


def targets_for(head: str, classes: np.ndarray, n_classes: int,
                label_sigma: float = 0.0) -> np.ndarray:
    """Training targets from class indices.

    Args:
        classes: int, shape ``(batch, n_params)``.
        label_sigma: width in classes of Gaussian soft labels around the true class, each row
            summing to 1 (0 = one-hot).
    Returns:
        one-hot or soft ``(batch, n_params, n_classes)`` float32, or normalised values
        ``classes / (n_classes - 1)`` of shape ``(batch, n_params)`` for ``regression``.
    """
    classes = np.asarray(classes)
    if head == "regression":
        return (classes / float(n_classes - 1)).astype(np.float32)
    if label_sigma <= 0:
        return np.eye(n_classes, dtype=np.float32)[classes]
    offsets = np.arange(n_classes)[None, :] - np.arange(n_classes)[:, None]
    table = np.exp(-0.5 * (offsets / float(label_sigma)) ** 2)
    return (table / table.sum(axis=1, keepdims=True)).astype(np.float32)[classes]


def class_scores(head: str, outputs: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class scores ``(batch, n_params, n_classes)`` (higher = more likely) from model outputs.

    Regression outputs (normalised values) score each class by minus its distance to the prediction.
    """
    outputs = np.asarray(outputs, dtype=np.float32)
    if head == "regression":
        centres = np.linspace(0.0, 1.0, n_classes, dtype=np.float32)
        return -np.abs(outputs[..., None] - centres)
    return outputs
