"""What an inversion network is: its architecture config, saved inside every model file.

:class:`InversionModelConfig` holds what every architecture has (input layout, head, widths, input
statistics); :class:`SweepReadoutConfig` holds what only ``sweeptcn`` has (its readout's class
positions and rows, and its options). Both validate themselves on construction and raise
:class:`ConfigError` naming the field.

Model files written before the split store one flat mapping with every field of every
experiment; :meth:`InversionModelConfig.from_dict` reads those too (see :data:`REMOVED_FIELDS`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from instrument.errors import ConfigError
from instrument.models.readout_geometry import check_geometry, check_trajectory_geometry

#: ``conv6xl``: Barkan's Conv6XL over the spectrogram image; ``freqtcn``: per-frame dense layer,
#: dilated temporal convolutions and a spectral summary; ``sweeptcn``: ``freqtcn`` plus the sweep
#: readout (:class:`SweepReadoutConfig`).
ARCHS = ("conv6xl", "freqtcn", "sweeptcn")
HEADS = ("sigmoid", "softmax", "regression")
#: Architectures that were measured and removed (model files naming them cannot be loaded).
REMOVED_ARCHS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conve2e", "lstm",
                 "dualtcn", "phasetcn", "harmtcn")
#: Fields of the flat config of older model files that no remaining architecture reads, with
#: the value they held when unused (None: any value; ``n_samples`` only sized raw-audio inputs).
#: A stored file may keep them at that value; any other value raises.
REMOVED_FIELDS: dict[str, Any] = {"n_samples": None, "lstm_units": 256, "fine_n_fft": 4096,
                                  "fine_hop": 1024, "fine_bins": 768, "fine_feature_mean": 0.0,
                                  "fine_feature_std": 1.0}


@dataclass(frozen=True)
class SweepReadoutConfig:
    """The sweep readout of a ``sweeptcn`` network (:mod:`instrument.models.layers.sweep_readout`).

    The position and row fields come from :func:`instrument.models.readout_geometry.sweep_geometry`
    and :func:`~instrument.models.readout_geometry.trajectory_geometry`; whether they fit the
    network's bins, classes and parameters is checked by :class:`InversionModelConfig`.

    Attributes:
        sweep_note_bins: every note class's frequency in STFT bins.
        sweep_depth_bins: every FM depth class's deviation in STFT bins.
        sweep_note_rows, sweep_depth_rows: each oscillator's note and depth parameter index (same
            oscillator order).
        sweep_harmonics: harmonics read per oscillator, >= 1.
        sweep_cell_units: units of the readout's per-pair network over its position reads (0 =
            their sum; :class:`instrument.models.layers.sweep_readout.SweepReadout`).
        sweep_read: also read every bin's time statistics and modulation spectrum at each
            oscillator's sweep positions into the clip vector
            (:class:`instrument.models.layers.sweep_pointer.PosteriorRead`).
        trajectory_read: score each oscillator's FM rate along its frame-by-frame path and add
            level features to the clip vector (:mod:`instrument.models.layers.trajectory_read`).
        trajectory_rates: with ``trajectory_read``, every FM rate class in cycles per frame hop
            (else empty).
        trajectory_rate_rows: with ``trajectory_read``, each oscillator's FM rate parameter index
            (else empty).
    """

    sweep_note_bins: tuple[float, ...]
    sweep_depth_bins: tuple[float, ...]
    sweep_note_rows: tuple[int, ...]
    sweep_depth_rows: tuple[int, ...]
    sweep_harmonics: int = 1
    sweep_cell_units: int = 0
    sweep_read: bool = False
    trajectory_read: bool = False
    trajectory_rates: tuple[float, ...] = ()
    trajectory_rate_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("sweep_note_bins", "sweep_depth_bins", "trajectory_rates"):
            _set_tuple(self, name, float)
        for name in ("sweep_note_rows", "sweep_depth_rows", "trajectory_rate_rows"):
            _set_tuple(self, name, int)
        if not _is_int(self.sweep_harmonics) or self.sweep_harmonics < 1:
            raise ConfigError(f"sweep_harmonics must be a positive integer, got {self.sweep_harmonics!r}")
        if not _is_int(self.sweep_cell_units) or self.sweep_cell_units < 0:
            raise ConfigError(f"sweep_cell_units must be a non-negative integer, "
                              f"got {self.sweep_cell_units!r}")
        for name in ("sweep_read", "trajectory_read"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if not self.sweep_note_rows or len(self.sweep_note_rows) != len(self.sweep_depth_rows):
            raise ConfigError("sweeptcn needs one note and one depth row per oscillator "
                              f"(sweep_note_rows {list(self.sweep_note_rows)}, sweep_depth_rows "
                              f"{list(self.sweep_depth_rows)}; see sweep_geometry)")
        rows = self.rows
        if len(set(rows)) != len(rows) or min(rows) < 0:
            raise ConfigError(f"sweeptcn rows {rows} must be distinct non-negative parameter indices")
        if not self.trajectory_read and (self.trajectory_rates or self.trajectory_rate_rows):
            raise ConfigError("trajectory_rates and trajectory_rate_rows are for trajectory_read; "
                              "leave them empty without it")

    @property
    def oscillators(self) -> int:
        return len(self.sweep_note_rows)

    @property
    def rows(self) -> tuple[int, ...]:
        """The parameter rows the readout scores: every note row, then every depth row."""
        return (*self.sweep_note_rows, *self.sweep_depth_rows)

    def check_fits(self, n_params: int, n_classes: int, n_bins: int) -> None:
        """ConfigError unless the readout fits a network of ``n_params`` parameters of
        ``n_classes`` classes over ``n_bins`` frequency bins."""
        if max(self.rows) >= n_params:
            raise ConfigError(f"sweeptcn rows {self.rows} must be distinct parameter indices in "
                              f"0..{n_params - 1}")
        for name in ("sweep_note_bins", "sweep_depth_bins"):
            if len(getattr(self, name)) != n_classes:
                raise ConfigError(f"{name} needs one position per class ({n_classes}), "
                                  f"got {len(getattr(self, name))}")
        check_geometry(self.sweep_note_bins, self.sweep_depth_bins, self.sweep_harmonics,
                       self.oscillators, n_bins)
        if self.trajectory_read:
            check_trajectory_geometry(self.trajectory_rates, self.trajectory_rate_rows, self.rows,
                                      n_classes, n_params)

    def to_dict(self) -> dict[str, Any]:
        data = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SweepReadoutConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"sweep readout config must be a mapping, got {type(data).__name__}")
        unknown = set(data) - SWEEP_FIELDS
        if unknown:
            raise ConfigError(f"unknown sweep readout config fields: {sorted(unknown)}")
        return cls(**dict(data))


#: Field names of :class:`SweepReadoutConfig` (flat in the config of older model files).
SWEEP_FIELDS = frozenset(f.name for f in dataclasses.fields(SweepReadoutConfig))


@dataclass(frozen=True)
class InversionModelConfig:
    """Architecture of one inversion network (saved inside every model file).

    Every network maps a log spectrogram ``(batch, *input_shape)`` to ``(batch, n_params,
    n_classes)`` class scores (``sigmoid``/``softmax`` heads) or ``(batch, n_params)`` normalised
    values (``regression``).

    Attributes:
        arch: one of ``ARCHS``.
        head: one of ``HEADS``.
        n_params: synth parameters predicted.
        n_classes: quantisation classes per parameter, >= 2.
        n_bins: frequency bins of the input spectrogram.
        n_frames: time frames of the input spectrogram.
        bins_first: the input is ``(n_bins, n_frames)`` (else ``(n_frames, n_bins)``).
        fc_units: width of the hidden fully connected layer (Barkan: 512).
        summary_units: width of the ``*tcn`` spectral-summary dense layer (0 = the trunk's
            channel count; ``conv6xl`` has none).
        width_scale: multiplies every convolution's filter count (1.0 = the paper's sizes).
        feature_mean: input standardisation offset (fitted on training spectrograms).
        feature_std: input standardisation scale, > 0.
        sweep: the sweep readout, for ``sweeptcn`` only (required there).
    """

    arch: str = "conv6xl"
    head: str = "sigmoid"
    n_params: int = 23
    n_classes: int = 16
    n_bins: int = 257
    n_frames: int = 64
    bins_first: bool = False
    fc_units: int = 512
    summary_units: int = 0
    width_scale: float = 1.0
    feature_mean: float = 0.0
    feature_std: float = 1.0
    sweep: SweepReadoutConfig | None = None

    def __post_init__(self) -> None:
        if self.arch in REMOVED_ARCHS:
            raise ConfigError(f"inversion arch {self.arch!r} was removed; choose one of {', '.join(ARCHS)}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown inversion arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown inversion head {self.head!r}; choose one of {', '.join(HEADS)}")
        for name in ("n_params", "n_classes", "n_bins", "n_frames", "fc_units"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not _is_int(self.summary_units) or self.summary_units < 0:
            raise ConfigError(f"summary_units must be 0 (= channels) or a positive integer, "
                              f"got {self.summary_units!r}")
        if self.n_classes < 2:
            raise ConfigError(f"n_classes must be at least 2, got {self.n_classes}")
        if not isinstance(self.bins_first, bool):
            raise ConfigError(f"bins_first must be a bool, got {self.bins_first!r}")
        if not 0.05 <= float(self.width_scale) <= 8.0:
            raise ConfigError(f"width_scale must be in 0.05..8, got {self.width_scale!r}")
        if not np.isfinite(self.feature_mean):
            raise ConfigError(f"feature_mean must be finite, got {self.feature_mean!r}")
        if not (np.isfinite(self.feature_std) and self.feature_std > 0):
            raise ConfigError(f"feature_std must be finite and positive, got {self.feature_std!r}")
        if self.arch != "sweeptcn":
            if self.sweep is not None:
                raise ConfigError(f"sweep (the sweep readout) is for the sweeptcn arch, not {self.arch!r}")
            return
        if not isinstance(self.sweep, SweepReadoutConfig):
            raise ConfigError(f"sweeptcn needs sweep, a SweepReadoutConfig (see sweep_geometry), "
                              f"got {self.sweep!r}")
        if self.head == "regression":
            raise ConfigError("sweeptcn adds class scores to logits: use the softmax or sigmoid head")
        self.sweep.check_fits(self.n_params, self.n_classes, self.n_bins)

    @property
    def input_shape(self) -> tuple[int, int]:
        """The spectrogram the network takes, without the batch axis."""
        return (self.n_bins, self.n_frames) if self.bins_first else (self.n_frames, self.n_bins)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; ``sweep`` is present for ``sweeptcn`` only."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sweep"}
        if self.sweep is not None:
            data["sweep"] = self.sweep.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InversionModelConfig":
        """A config from :meth:`to_dict`'s mapping, or from the flat mapping of an older file.

        Raises:
            ConfigError: not a mapping, unknown fields, a removed architecture, or a removed
                field that holds anything but its unused value (naming it).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"inversion model config must be a mapping, got {type(data).__name__}")
        values = dict(data)
        for name, unused in REMOVED_FIELDS.items():
            if name not in values:
                continue
            value = values.pop(name)
            if unused is None or values.get("arch") in REMOVED_ARCHS:
                continue  # a removed arch is reported by name below
            if value != unused:
                raise ConfigError(f"inversion model config field {name} = {value!r} belongs to a "
                                  f"removed architecture (only {unused!r} can be read)")
        flat_sweep = {name: values.pop(name) for name in SWEEP_FIELDS & set(values)}
        if flat_sweep:
            if "sweep" in values:
                raise ConfigError(f"inversion model config has both sweep and flat sweep fields "
                                  f"{sorted(flat_sweep)}")
            if values.get("arch") == "sweeptcn":
                values["sweep"] = flat_sweep
            else:
                _check_unused_sweep(flat_sweep, values.get("arch"))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"unknown inversion model config fields: {sorted(unknown)}")
        if values.get("sweep") is not None:
            values["sweep"] = SweepReadoutConfig.from_dict(values["sweep"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


#: What the flat sweep fields of an older file held when its arch was not ``sweeptcn``.
_UNUSED_SWEEP = {"sweep_note_bins": (), "sweep_depth_bins": (), "sweep_note_rows": (),
                 "sweep_depth_rows": (), "sweep_harmonics": 1, "sweep_cell_units": 0,
                 "sweep_read": False, "trajectory_read": False, "trajectory_rates": (),
                 "trajectory_rate_rows": ()}


def _check_unused_sweep(flat: Mapping[str, Any], arch: Any) -> None:
    """ConfigError naming the first flat sweep field of a non-``sweeptcn`` config that is set."""
    for name in sorted(flat):
        value = flat[name]
        unused = _UNUSED_SWEEP[name]
        if (tuple(value) if isinstance(value, (list, tuple)) else value) != unused:
            raise ConfigError(f"{name} is for the sweeptcn arch, not {arch!r} (got {value!r})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _set_tuple(config: Any, name: str, kind: type) -> None:
    """Store field ``name`` of a frozen dataclass as a tuple of ``kind`` (JSON gives lists)."""
    value = getattr(config, name)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name} must be a list, got {value!r}")
    if kind is int and not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                               for v in value):
        raise ConfigError(f"{name} must list integers, got {list(value)!r}")
    if kind is float and not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                                 for v in value):
        raise ConfigError(f"{name} must list numbers, got {list(value)!r}")
    object.__setattr__(config, name, tuple(kind(v) for v in value))
