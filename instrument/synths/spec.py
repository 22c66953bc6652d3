"""Synth specs: the parameter schema needed to sample, quantise, render and send a patch.

Patches are in :mod:`instrument.synths.patch`, the prior in :mod:`instrument.synths.prior`,
the renderer interface in :mod:`instrument.synths.base`.

A spec is a YAML file (read with ``yaml.safe_load``)::

    name: inversynth
    sample_rate: 16384
    seconds: 1.0
    levels: 16                      # default quantisation levels (Barkan: 16 classes)
    stft: {n_fft: 512, hop_length: 256}
    options: {...}                  # synth specific, free form
    parameters:
      - {name: f_cut, min: 200, max: 4000, scale: linear, group: filter}
      - {name: f_sin, min: 440, max: 1046.5, scale: log, group: notes}
      - {name: waveform, scale: [80, 81, 62], group: oscillator, program: true}
      - {name: cutoff, min: -4800, max: 0, group: filter,
         nrpn: {msb: 120, lsb: 8, center: 8192, units_per_step: 2}}
      - {name: brightness, min: 0, max: 1, cc: 74}

Values are arrays in spec parameter order: one patch is ``(n_params,)``, a batch
``(batch, n_params)`` float64. Classes are the quantisation levels ``0..levels-1``
(first and last class are the range limits, as in Barkan et al.); "normalised" is
the position in ``[0, 1]`` along the parameter's scale (log scales are even in
log space, list scales by index).

MIDI mapping of a value (external synths):

* ``cc: N`` -> normalised position mapped to ``0..127`` (or ``cc: {number, range: [lo, hi]}``).
* ``nrpn: {msb, lsb, range: [lo, hi]}`` -> normalised position mapped to the 14-bit ``lo..hi``
  (default ``0..16383``); or ``nrpn: {msb, lsb, center, units_per_step}`` -> the value is an
  offset in the target's units: ``center + round(value / units_per_step)`` (SoundFont NRPN).
* ``program: true`` -> the value (from a list scale) is the program number itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from instrument.config import StftConfig
from instrument.errors import SynthError

SCALES = ("linear", "log", "list")
#: Controller numbers the NRPN protocol itself uses (select, data entry MSB/LSB, increment).
NRPN_CONTROLLERS = (6, 38, 96, 97, 98, 99)
MAX_14BIT = 16383
DEFAULT_LEVELS = 16
#: Upper bounds of the sizes a spec file can set (every array a spec sizes stays small).
MAX_LEVELS = 1024
MAX_PARAMETERS = 256
MAX_N_FFT = 16384


@dataclass(frozen=True)
class MidiMapping:
    """How one parameter is sent over MIDI.

    Attributes:
        kind: ``"cc"``, ``"nrpn"`` or ``"program"``.
        number: controller number (cc only).
        msb, lsb: NRPN parameter number bytes (CC 99 / CC 98).
        lo, hi: MIDI value range the normalised position maps onto (range mode).
        center, units_per_step: offset mode (nrpn only): ``center + round(value / units_per_step)``.
    """

    kind: str
    number: int = 0
    msb: int = 0
    lsb: int = 0
    lo: int = 0
    hi: int = 127
    center: int | None = None
    units_per_step: float = 1.0

    @property
    def max_value(self) -> int:
        return MAX_14BIT if self.kind == "nrpn" else 127

    @property
    def key(self) -> tuple[str, int, int]:
        """What two parameters must not share (same controller / NRPN number)."""
        if self.kind == "cc":
            return ("cc", self.number, 0)
        if self.kind == "nrpn":
            return ("nrpn", self.msb, self.lsb)
        return ("program", 0, 0)

    def describe(self) -> str:
        if self.kind == "cc":
            return f"CC {self.number}"
        if self.kind == "nrpn":
            return f"NRPN {self.msb}/{self.lsb}"
        return "program change"


@dataclass(frozen=True)
class ParamSpec:
    """One synth parameter.

    Attributes:
        name: unique identifier (used in patch files).
        min, max: range limits (first and last class); for list scales the smallest/largest value.
        scale: ``"linear"``, ``"log"`` (even steps in log space; min > 0) or ``"list"``.
        levels: quantisation levels (classes); for list scales ``len(values)``.
        values: the allowed values of a list scale, in class order.
        group: functional group (filter, notes, amplitude lfo, ...), for per-group metrics.
        midi: how to send it to an external synth, or ``None``.
    """

    name: str
    min: float
    max: float
    scale: str = "linear"
    levels: int = DEFAULT_LEVELS
    values: tuple[float, ...] = ()
    group: str = "other"
    midi: MidiMapping | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SynthError(f"parameter name must be a non-empty string, got {self.name!r}")
        if self.scale not in SCALES:
            raise SynthError(f"parameter {self.name!r}: unknown scale {self.scale!r}; "
                             f"use linear, log or a list of values")
        if self.scale == "list":
            if len(self.values) < 1:
                raise SynthError(f"parameter {self.name!r}: a list scale needs at least one value")
            if len(self.values) != self.levels:
                raise SynthError(f"parameter {self.name!r}: levels {self.levels} != "
                                 f"{len(self.values)} listed values")
            if len(set(self.values)) != len(self.values):
                raise SynthError(f"parameter {self.name!r}: list scale has repeated values")
        elif self.levels < 2:
            raise SynthError(f"parameter {self.name!r}: levels must be >= 2, got {self.levels}")
        if self.levels > MAX_LEVELS:
            raise SynthError(f"parameter {self.name!r}: levels {self.levels} is above the limit "
                             f"of {MAX_LEVELS}")
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise SynthError(f"parameter {self.name!r}: range [{self.min}, {self.max}] is not finite")
        if self.scale != "list" and not self.min < self.max:
            raise SynthError(f"parameter {self.name!r}: min {self.min} must be below max {self.max}")
        if self.scale == "log" and self.min <= 0:
            raise SynthError(f"parameter {self.name!r}: a log scale needs min > 0, got {self.min}")
        if self.midi is not None:
            self._check_midi(self.midi)

    def _check_midi(self, m: MidiMapping) -> None:
        top = m.max_value
        if m.kind == "cc" and not 0 <= m.number <= 127:
            raise SynthError(f"parameter {self.name!r}: CC number {m.number} not in 0..127")
        if m.kind == "nrpn" and not (0 <= m.msb <= 127 and 0 <= m.lsb <= 127):
            raise SynthError(f"parameter {self.name!r}: NRPN {m.msb}/{m.lsb} bytes not in 0..127")
        if m.kind == "program":
            if self.scale != "list" or any(v != int(v) or not 0 <= v <= 127 for v in self.values):
                raise SynthError(f"parameter {self.name!r}: a program parameter needs a list "
                                 f"scale of program numbers 0..127")
            return
        if m.center is not None:
            if m.kind != "nrpn":
                raise SynthError(f"parameter {self.name!r}: center/units_per_step is for nrpn only")
            if not m.units_per_step > 0:
                raise SynthError(f"parameter {self.name!r}: units_per_step must be > 0")
            for v in (self.min, self.max):
                midi = m.center + round(v / m.units_per_step)
                if not 0 <= midi <= top:
                    raise SynthError(f"parameter {self.name!r}: value {v} maps to MIDI {midi}, "
                                     f"outside 0..{top}")
        elif not (0 <= m.lo <= top and 0 <= m.hi <= top and m.lo != m.hi):
            raise SynthError(f"parameter {self.name!r}: MIDI range [{m.lo}, {m.hi}] not a "
                             f"non-empty part of 0..{top}")

    # -- class grid ---------------------------------------------------------
    def grid(self) -> np.ndarray:
        """The value of every class, shape ``(levels,)`` float64 (first/last = range limits)."""
        if self.scale == "list":
            return np.asarray(self.values, dtype=np.float64)
        if self.scale == "log":
            return np.geomspace(self.min, self.max, self.levels)
        return np.linspace(self.min, self.max, self.levels)

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """Position along the scale in ``[0, 1]`` (list: nearest class / (levels - 1))."""
        v = np.asarray(values, dtype=np.float64)
        if self.scale == "list":
            return self.to_classes(v) / max(self.levels - 1, 1)
        if self.scale == "log":
            return (np.log(np.maximum(v, 1e-300)) - math.log(self.min)) / math.log(self.max / self.min)
        return (v - self.min) / (self.max - self.min)

    def denormalize(self, u: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize` (list scales snap to the nearest class)."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        if self.scale == "list":
            return self.grid()[np.rint(u * (self.levels - 1)).astype(np.int64)]
        if self.scale == "log":
            return self.min * np.exp(u * math.log(self.max / self.min))
        return self.min + u * (self.max - self.min)

    def to_classes(self, values: np.ndarray) -> np.ndarray:
        """Nearest class index of each value (in scale space), int64, same shape."""
        v = np.asarray(values, dtype=np.float64)
        if self.scale == "list":
            return np.abs(v[..., None] - self.grid()).argmin(axis=-1)
        u = self.normalize(v)
        return np.clip(np.rint(u * (self.levels - 1)), 0, self.levels - 1).astype(np.int64)

    def from_classes(self, classes: np.ndarray) -> np.ndarray:
        """Value of each class index, float64, same shape."""
        c = np.asarray(classes, dtype=np.int64)
        if np.any((c < 0) | (c >= self.levels)):
            raise SynthError(f"parameter {self.name!r}: class index out of 0..{self.levels - 1}")
        return self.grid()[c]

    def in_range(self, value: float) -> bool:
        if self.scale == "list":
            return bool(np.isclose(self.grid(), value, rtol=0, atol=1e-9).any())
        tol = 1e-9 * max(1.0, abs(self.min), abs(self.max))
        return self.min - tol <= value <= self.max + tol

    def to_midi(self, value: float) -> int:
        """The MIDI value (7- or 14-bit) sent for ``value``; SynthError if it has no mapping."""
        m = self.midi
        if m is None:
            raise SynthError(f"parameter {self.name!r} has no MIDI mapping")
        if m.kind == "program":
            return int(round(float(self.from_classes(self.to_classes(value)))))
        if m.center is not None:
            return int(np.clip(m.center + round(float(value) / m.units_per_step), 0, m.max_value))
        u = float(np.clip(self.normalize(value), 0.0, 1.0))
        return int(round(m.lo + u * (m.hi - m.lo)))


@dataclass(frozen=True)
class SynthSpec:
    """A whole synth: audio format, STFT, parameters in order.

    Attributes:
        name: synth name (registry key, patch files refer to it).
        sample_rate: Hz. seconds: clip length.
        n_fft, hop_length: STFT used by :meth:`instrument.synths.base.Synth.features`.
        parameters: tuple of :class:`ParamSpec`, the order of value/class arrays.
        options: synth specific settings (free form mapping, read by the renderer).
    """

    name: str
    sample_rate: int
    seconds: float
    n_fft: int
    hop_length: int
    parameters: tuple[ParamSpec, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or not 1000 <= self.sample_rate <= 384000:
            raise SynthError(f"synth {self.name!r}: sample_rate must be an integer in 1000..384000, "
                             f"got {self.sample_rate!r}")
        if not 0 < self.seconds <= 60:
            raise SynthError(f"synth {self.name!r}: seconds must be in (0, 60], got {self.seconds!r}")
        if self.n_fft > MAX_N_FFT:
            raise SynthError(f"synth {self.name!r}: n_fft {self.n_fft} is above the limit of {MAX_N_FFT}")
        if self.n_fft <= 0 or self.n_fft % 2 or self.hop_length <= 0 or self.n_fft % self.hop_length:
            raise SynthError(f"synth {self.name!r}: n_fft {self.n_fft} must be even and a multiple "
                             f"of hop_length {self.hop_length}")
        if not self.parameters:
            raise SynthError(f"synth {self.name!r} has no parameters")
        if len(self.parameters) > MAX_PARAMETERS:
            raise SynthError(f"synth {self.name!r}: {len(self.parameters)} parameters is above the "
                             f"limit of {MAX_PARAMETERS}")
        seen: dict[str, ParamSpec] = {}
        midi_owner: dict[tuple[str, int, int], str] = {}
        for p in self.parameters:
            if p.name in seen:
                raise SynthError(f"synth {self.name!r}: parameter {p.name!r} is defined twice")
            seen[p.name] = p
            if p.midi is not None:
                other = midi_owner.get(p.midi.key)
                if other is not None:
                    raise SynthError(f"synth {self.name!r}: parameters {other!r} and {p.name!r} "
                                     f"both use {p.midi.describe()}")
                midi_owner[p.midi.key] = p.name
        nrpn_params = [p.name for p in self.parameters if p.midi and p.midi.kind == "nrpn"]
        if nrpn_params:
            for p in self.parameters:
                if p.midi and p.midi.kind == "cc" and p.midi.number in NRPN_CONTROLLERS:
                    raise SynthError(f"synth {self.name!r}: parameter {p.name!r} uses CC "
                                     f"{p.midi.number}, which NRPN parameter {nrpn_params[0]!r} "
                                     f"needs for NRPN select/data entry")

    # -- shape helpers ------------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self.parameters)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(p.levels for p in self.parameters)

    @property
    def n_samples(self) -> int:
        return int(round(self.seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """STFT frames of one clip: ``n_samples // hop_length`` (frame t ends at (t+1)*hop), i.e.
        ``instrument.dsp.spectral.frame_count(n_samples, stft, pad_end=False)``."""
        return self.n_samples // self.hop_length

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def stft(self) -> StftConfig:
        """The analysis of :meth:`instrument.synths.base.Synth.features` (periodic Hann)."""
        return StftConfig(n_fft=self.n_fft, hop_length=self.hop_length)

    @property
    def groups(self) -> dict[str, list[int]]:
        """Group name -> parameter indices (insertion ordered)."""
        out: dict[str, list[int]] = {}
        for i, p in enumerate(self.parameters):
            out.setdefault(p.group, []).append(i)
        return out

    def index(self, name: str) -> int:
        for i, p in enumerate(self.parameters):
            if p.name == name:
                return i
        raise SynthError(f"synth {self.name!r} has no parameter {name!r}; "
                         f"known: {', '.join(self.names)}")

    def param(self, name: str) -> ParamSpec:
        return self.parameters[self.index(name)]

    # -- conversions (last axis = parameters) --------------------------------
    def _check_last_axis(self, a: np.ndarray, what: str) -> None:
        if a.ndim < 1 or a.shape[-1] != self.n_params:
            raise SynthError(f"synth {self.name!r}: {what} must have last axis {self.n_params}, "
                             f"got shape {a.shape}")

    def to_classes(self, values: np.ndarray) -> np.ndarray:
        """Values ``(..., n_params)`` -> nearest class indices ``(..., n_params)`` int64."""
        v = np.asarray(values, dtype=np.float64)
        self._check_last_axis(v, "values")
        return np.stack([p.to_classes(v[..., i]) for i, p in enumerate(self.parameters)], axis=-1)

    def from_classes(self, classes: np.ndarray) -> np.ndarray:
        """Class indices ``(..., n_params)`` -> values ``(..., n_params)`` float64."""
        c = np.asarray(classes)
        self._check_last_axis(c, "classes")
        return np.stack([p.from_classes(c[..., i]) for i, p in enumerate(self.parameters)], axis=-1)

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """Values -> positions in ``[0, 1]`` per parameter, shape kept."""
        v = np.asarray(values, dtype=np.float64)
        self._check_last_axis(v, "values")
        return np.stack([p.normalize(v[..., i]) for i, p in enumerate(self.parameters)], axis=-1)

    def denormalize(self, u: np.ndarray) -> np.ndarray:
        """Positions in ``[0, 1]`` -> values (clipped; list scales snap), shape kept."""
        u = np.asarray(u, dtype=np.float64)
        self._check_last_axis(u, "normalised values")
        return np.stack([p.denormalize(u[..., i]) for i, p in enumerate(self.parameters)], axis=-1)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Snap values to the nearest class value."""
        return self.from_classes(self.to_classes(values))

    def one_hot(self, classes: np.ndarray) -> np.ndarray:
        """Classes ``(batch, n_params)`` -> concatenated one-hot ``(batch, sum(levels))`` float32."""
        c = np.asarray(classes, dtype=np.int64)
        self._check_last_axis(c, "classes")
        offsets = np.concatenate([[0], np.cumsum(self.levels)[:-1]])
        out = np.zeros(c.shape[:-1] + (sum(self.levels),), dtype=np.float32)
        np.put_along_axis(out, c + offsets, 1.0, axis=-1)
        return out

    def random_classes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform classes per parameter (Barkan's sampling), shape ``(n, n_params)`` int64."""
        return np.stack([rng.integers(0, p.levels, size=n) for p in self.parameters], axis=-1)

    def default_values(self) -> np.ndarray:
        """Middle class of every parameter, shape ``(n_params,)``."""
        return self.from_classes(np.array([p.levels // 2 for p in self.parameters]))

    def values_from_dict(self, values: Mapping[str, float], where: str = "patch") -> np.ndarray:
        """A name -> value mapping -> array ``(n_params,)``; every parameter required and in range."""
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise SynthError(f"{where}: unknown parameter {unknown[0]!r} for synth {self.name!r}; "
                             f"known: {', '.join(self.names)}")
        missing = [n for n in self.names if n not in values]
        if missing:
            raise SynthError(f"{where}: missing parameter {missing[0]!r} for synth {self.name!r}")
        out = np.empty(self.n_params, dtype=np.float64)
        for i, p in enumerate(self.parameters):
            raw = values[p.name]
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise SynthError(f"{where}: parameter {p.name!r} must be a finite number, got {raw!r}")
            if not p.in_range(float(raw)):
                allowed = (f"one of {list(p.values)}" if p.scale == "list"
                           else f"[{p.min}, {p.max}]")
                raise SynthError(f"{where}: parameter {p.name!r} value {raw} is outside {allowed}")
            out[i] = float(raw)
        return out

    def values_to_dict(self, values: np.ndarray) -> dict[str, float]:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        self._check_last_axis(v, "values")
        return {p.name: float(x) for p, x in zip(self.parameters, v)}

    # -- YAML ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "synth spec") -> "SynthSpec":
        if not isinstance(data, Mapping):
            raise SynthError(f"{where}: a synth spec must be a mapping, got {type(data).__name__}")
        known = {"name", "sample_rate", "seconds", "levels", "stft", "parameters", "options"}
        unknown = set(data) - known
        if unknown:
            raise SynthError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("name", "sample_rate", "seconds", "parameters"):
            if key not in data:
                raise SynthError(f"{where}: missing key {key!r}")
        default_levels = data.get("levels", DEFAULT_LEVELS)
        stft = data.get("stft", {}) or {}
        params_raw = data["parameters"]
        if not isinstance(params_raw, list):
            raise SynthError(f"{where}: 'parameters' must be a list")
        params = tuple(_param_from_dict(p, default_levels, where) for p in params_raw)
        try:
            return cls(name=str(data["name"]), sample_rate=data["sample_rate"],
                       seconds=float(data["seconds"]), n_fft=int(stft.get("n_fft", 512)),
                       hop_length=int(stft.get("hop_length", 256)), parameters=params,
                       options=dict(data.get("options", {}) or {}))
        except (TypeError, ValueError) as exc:
            raise SynthError(f"{where}: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> "SynthSpec":
        path = Path(path)
        if not path.is_file():
            raise SynthError(f"synth spec not found: {path}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise SynthError(f"synth spec {path} is not valid YAML: {exc}") from exc
        except RecursionError as exc:
            raise SynthError(f"synth spec {path}: YAML nested too deeply to be a synth spec") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SynthError(f"synth spec {path} cannot be read as text: {exc}") from exc
        return cls.from_dict(data, where=f"synth spec {path}")


def _param_from_dict(raw: Any, default_levels: int, where: str) -> ParamSpec:
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise SynthError(f"{where}: every parameter needs a mapping with a 'name', got {raw!r}")
    name = raw["name"]
    known = {"name", "min", "max", "scale", "levels", "group", "cc", "nrpn", "program"}
    unknown = set(raw) - known
    if unknown:
        raise SynthError(f"{where}: parameter {name!r} has unknown keys {sorted(unknown)}")
    scale = raw.get("scale", "linear")
    values: tuple[float, ...] = ()
    try:
        if isinstance(scale, list):
            values = tuple(float(v) for v in scale)
            scale = "list"
            lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
            levels = len(values)
        else:
            if "min" not in raw or "max" not in raw:
                raise SynthError(f"{where}: parameter {name!r} needs min and max")
            lo, hi = float(raw["min"]), float(raw["max"])
            levels = int(raw.get("levels", default_levels))
    except (TypeError, ValueError) as exc:
        raise SynthError(f"{where}: parameter {name!r}: bad range or scale ({exc})") from exc
    midi_keys = [k for k in ("cc", "nrpn", "program") if k in raw]
    if len(midi_keys) > 1:
        raise SynthError(f"{where}: parameter {name!r} has more than one MIDI mapping {midi_keys}")
    midi = _midi_from_dict(raw, midi_keys[0], name, where) if midi_keys else None
    return ParamSpec(name=str(name), min=lo, max=hi, scale=str(scale), levels=levels,
                     values=values, group=str(raw.get("group", "other")), midi=midi)


def _midi_from_dict(raw: Mapping[str, Any], kind: str, name: str, where: str) -> MidiMapping | None:
    entry = raw[kind]
    try:
        if kind == "program":
            return MidiMapping(kind="program") if entry else None
        if kind == "cc":
            if isinstance(entry, Mapping):
                lo, hi = entry.get("range", (0, 127))
                return MidiMapping(kind="cc", number=int(entry["number"]), lo=int(lo), hi=int(hi))
            return MidiMapping(kind="cc", number=int(entry))
        if not isinstance(entry, Mapping):
            raise SynthError(f"{where}: parameter {name!r}: nrpn needs a mapping {{msb, lsb}}")
        lo, hi = entry.get("range", (0, MAX_14BIT))
        center = entry.get("center")
        return MidiMapping(kind="nrpn", msb=int(entry["msb"]), lsb=int(entry["lsb"]), lo=int(lo),
                           hi=int(hi), center=None if center is None else int(center),
                           units_per_step=float(entry.get("units_per_step", 1.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise SynthError(f"{where}: parameter {name!r}: bad {kind} mapping {entry!r} ({exc})") from exc
