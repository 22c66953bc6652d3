"""Controller maps: YAML files that say what every CC of a MIDI controller does.

Any MIDI controller that sends control-change messages works through a map. A map file::

    name: nanoKONTROL2
    ports: [nanoKONTROL2]          # case-insensitive substrings of the input port name
    channel: 1                     # MIDI channel as printed on devices (1-16), or "any"
    bank_size: 8                   # unit slots in view; bank_prev/bank_next move by this many
    curves:                        # named value curves (raw 0..127 -> value)
      fader: {type: detent, min: 0.0, max: 2.0, unity: 1.0, detent: 64, width: 2}
    takeover: {enabled: true, tolerance: 0.03}
    leds: {enabled: true, ports: [nanoKONTROL2], on_value: 127, off_value: 0}
    controls:
      - {ccs: [0, 1, 2, 3, 4, 5, 6, 7], kind: fader, action: scale_unit, curve: fader}
      - {cc: 41, kind: button, action: play_pause, label: play}
      - {cc: 43, kind: button, action: set_source, args: {synth: false}, label: rewind}

Each control entry has ``cc`` (one CC) or ``ccs`` (a list; the i-th CC drives unit slot
``first_slot + i``), a ``kind`` (``fader``, ``knob`` or ``button``) and an ``action``:

* unit actions, which act on the unit in view at the control's ``slot``: ``scale_unit``
  and ``knob_unit`` (faders/knobs), ``solo``, ``mute``, ``reset_unit`` (buttons);
* ``wet_dry`` (fader/knob, value 0..1 from the curve) and ``master_gain`` (fader/knob, dB from
  the curve; default curve :data:`DEFAULT_GAIN_CURVE`);
* ``bank_prev`` / ``bank_next`` (buttons; move the view of units, handled by the surface);
* ``shift`` (button): while it is held, controls of the ``shift`` layer replace the base ones;
* ``auto_gain`` without ``args`` (button): toggles loudness compensation;
* any other action of :data:`controllers.actions.ACTIONS` (buttons), with fixed ``args``.

Layers and gestures (optional keys of a control entry):

* ``layer: base`` (default) or ``layer: shift``. A CC may have one control per layer (same
  ``kind``); while a ``shift`` button is held, a CC with a shift-layer control does that, every
  other CC keeps its base control. The shift button's own CC has no other control.
* ``gesture`` (buttons only): ``press`` (default; fires on press), ``hold`` (fires once the
  button has been held ``gestures.hold_s`` seconds, default 1.0) or ``double`` (fires on the
  second press within ``gestures.double_s`` seconds, default 0.5). A single touch of a hold or
  double button does nothing, so e.g. ``quit`` can never happen by accident.
* Top level ``gestures: {hold_s: 1.0, double_s: 0.5}`` sets both times (0.05..5 s).

Buttons fire on press (value > 0) and ignore the release (except to end a hold or a shift).
``led: false`` excludes a button from LED feedback (which only runs when ``leds.enabled`` or
``--midi-out`` names a port).

Value curves (``type``):

* ``linear``: ``min + (max - min) * raw / 127``.
* ``detent`` (default for faders and knobs): piecewise linear through ``(0, min)``,
  ``(detent - width, unity)``, ``(detent + width, unity)``, ``(127, max)``; every raw value within
  ``width`` of ``detent`` gives exactly ``unity``, so a fader parked near its middle is exactly 1.0.
  With the defaults (min 0, max 2, unity 1, detent 64, width 2): raw 0 -> 0.0, 31 -> 0.5,
  62..66 -> 1.0, 127 -> 2.0.
* ``points``: piecewise linear through ``points: [[raw, value], ...]``: raws strictly increasing
  from 0 to 127, values non-decreasing (``min``/``max`` come from the points). Two points with the
  same value make a detent, e.g. the master gain fader ``[[0, -60], [40, -24], [80, -6], [98, 0],
  [102, 0], [127, 6]]``: 0 dB (unity) for raw 98..102, about three quarters of the travel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Mapping

import yaml

from controllers.actions import ACTIONS, Action
from instrument.errors import ControllerMapError

KINDS = ("fader", "knob", "button")
#: Continuous actions acting on one unit slot (value from a curve).
UNIT_VALUE_ACTIONS = ("scale_unit", "knob_unit")
#: Button actions acting on one unit slot.
UNIT_BUTTON_ACTIONS = ("solo", "mute", "reset_unit")
UNIT_ACTIONS = UNIT_VALUE_ACTIONS + UNIT_BUTTON_ACTIONS
#: Continuous actions not tied to a unit -> the name of their value argument.
GLOBAL_VALUE_ARGS = {"wet_dry": "value", "master_gain": "db"}
#: Continuous actions (faders and knobs).
VALUE_ACTIONS = UNIT_VALUE_ACTIONS + tuple(GLOBAL_VALUE_ARGS)
#: Buttons that toggle the surface's mirror of an on/off state when given no ``on`` argument.
TOGGLE_ACTIONS = ("auto_gain",)
#: Actions handled by the surface itself (never sent to the engine as such).
SURFACE_ACTIONS = ("bank_prev", "bank_next", "shift")
CURVE_TYPES = ("linear", "detent", "points")
#: Layers a control can belong to; ``shift`` is active while a shift button is held.
LAYERS = ("base", "shift")
#: Button gestures: fire on press, after a hold, or on a double press.
GESTURES = ("press", "hold", "double")

_TOP_KEYS = {"name", "description", "ports", "channel", "bank_size", "curves", "takeover", "leds",
             "gestures", "controls"}
_CONTROL_KEYS = {"cc", "ccs", "kind", "action", "slot", "first_slot", "args", "curve", "led", "label",
                 "layer", "gesture"}


@dataclass(frozen=True)
class ValueCurve:
    """Maps a raw 7-bit controller value (0..127) to a float value; see the module docstring."""

    type: str = "detent"
    min: float = 0.0
    max: float = 2.0
    unity: float = 1.0
    detent: int = 64
    width: int = 2
    points: tuple[tuple[int, float], ...] = ()
    table: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.type not in CURVE_TYPES:
            raise ControllerMapError(f"curve type {self.type!r} unknown; choose {CURVE_TYPES}")
        if self.type == "points":
            self._check_points()
        if not self.max > self.min:
            raise ControllerMapError(f"curve max ({self.max}) must exceed min ({self.min})")
        if self.type == "detent":
            if not self.min <= self.unity <= self.max:
                raise ControllerMapError(f"curve unity {self.unity} outside [{self.min}, {self.max}]")
            if not (0 <= self.width and 0 < self.detent - self.width
                    and self.detent + self.width < 127):
                raise ControllerMapError(
                    f"curve detent {self.detent} +- width {self.width} must lie inside 1..126")
        object.__setattr__(self, "table", tuple(self._compute(raw) for raw in range(128)))

    def _check_points(self) -> None:
        points = self.points
        if len(points) < 2 or points[0][0] != 0 or points[-1][0] != 127:
            raise ControllerMapError(f"curve points must run from raw 0 to raw 127, got {list(points)}")
        for (raw0, value0), (raw1, value1) in pairwise(points):
            if raw1 <= raw0 or value1 < value0:
                raise ControllerMapError(f"curve points need increasing raws and non-decreasing values: "
                                         f"{[raw0, value0]} then {[raw1, value1]}")
        object.__setattr__(self, "min", float(points[0][1]))
        object.__setattr__(self, "max", float(points[-1][1]))

    def _compute(self, raw: int) -> float:
        if self.type == "points":
            for (raw0, value0), (raw1, value1) in pairwise(self.points):
                if raw <= raw1:
                    return value0 + (value1 - value0) * (raw - raw0) / (raw1 - raw0)
        if self.type == "linear":
            return self.min + (self.max - self.min) * raw / 127.0
        lo, hi = self.detent - self.width, self.detent + self.width
        if raw <= lo:
            return self.min + (self.unity - self.min) * raw / lo
        if raw < hi:
            return self.unity
        return self.unity + (self.max - self.unity) * (raw - hi) / (127 - hi)

    def __call__(self, raw: int) -> float:
        """The value for raw controller value ``raw`` (clipped to 0..127)."""
        return self.table[min(127, max(0, int(raw)))]

    def raw_for(self, value: float) -> int:
        """The raw value whose curve value is closest to ``value`` (for learn/feedback)."""
        return min(range(128), key=lambda raw: abs(self.table[raw] - value))

    def clip(self, value: float) -> float:
        return min(self.max, max(self.min, float(value)))

    def to_dict(self) -> dict[str, Any]:
        if self.type == "points":
            return {"type": "points", "points": [[raw, value] for raw, value in self.points]}
        out: dict[str, Any] = {"type": self.type, "min": self.min, "max": self.max}
        if self.type == "detent":
            out.update(unity=self.unity, detent=self.detent, width=self.width)
        return out


DEFAULT_CURVE = ValueCurve()
#: Master gain fader: -60 dB at the bottom, 0 dB (unity) for raw 98..102, +6 dB at the top.
DEFAULT_GAIN_CURVE = ValueCurve(type="points", points=((0, -60.0), (40, -24.0), (80, -6.0), (98, 0.0),
                                                       (102, 0.0), (127, 6.0)))


@dataclass(frozen=True)
class Control:
    """One CC of the controller: what it is and what it does."""

    cc: int
    kind: str
    action: str
    slot: int | None = None
    args: tuple[tuple[str, Any], ...] = ()
    curve: ValueCurve | None = None
    led: bool = False
    label: str = ""
    layer: str = "base"
    gesture: str = "press"

    @property
    def is_button(self) -> bool:
        return self.kind == "button"

    @property
    def key(self) -> tuple[str, int]:
        """``(layer, cc)``: unique within a map."""
        return (self.layer, self.cc)

    def action_args(self) -> dict[str, Any]:
        return dict(self.args)


@dataclass(frozen=True)
class TakeoverConfig:
    """Soft takeover: ``tolerance`` is a fraction of the curve's range (see controllers.takeover)."""

    enabled: bool = True
    tolerance: float = 0.03


@dataclass(frozen=True)
class LedConfig:
    """LED feedback: CC values ``on_value``/``off_value`` sent to the output port matching ``ports``."""

    enabled: bool = False
    ports: tuple[str, ...] = ()
    on_value: int = 127
    off_value: int = 0


@dataclass(frozen=True)
class GestureConfig:
    """Times of the ``hold`` and ``double`` button gestures, in seconds."""

    hold_s: float = 1.0
    double_s: float = 0.5


@dataclass(frozen=True)
class ControllerMap:
    """A validated controller map (see the module docstring for the YAML form)."""

    name: str
    ports: tuple[str, ...]
    channel: int | None  # 0-based mido channel, None = any channel
    bank_size: int
    controls: tuple[Control, ...]
    takeover: TakeoverConfig = TakeoverConfig()
    leds: LedConfig = LedConfig()
    gestures: GestureConfig = GestureConfig()
    description: str = ""
    source: str = "<memory>"
    by_key: Mapping[tuple[str, int], Control] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {c.key: c for c in self.controls})

    def control(self, cc: int, layer: str = "base") -> Control | None:
        """The control for CC number ``cc`` in ``layer`` (falling back to the base layer), or None."""
        return self.by_key.get((layer, cc)) or self.by_key.get(("base", cc))

    def layer_controls(self, cc: int) -> tuple[Control, ...]:
        """Every control on CC ``cc`` (one per layer)."""
        return tuple(c for c in self.controls if c.cc == cc)

    @property
    def has_shift(self) -> bool:
        return any(c.action == "shift" for c in self.controls)

    def accepts_channel(self, channel: int) -> bool:
        return self.channel is None or self.channel == channel

    def controls_for(self, action: str) -> tuple[Control, ...]:
        return tuple(c for c in self.controls if c.action == action)

    @property
    def scale_curve(self) -> ValueCurve:
        """The curve of the first fader that scales units (defines the scale range)."""
        for control in self.controls:
            if control.action == "scale_unit" and control.curve is not None:
                return control.curve
        return DEFAULT_CURVE

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (one entry per CC); ``map_from_dict(m.to_dict())`` gives ``m`` back."""
        controls = []
        for c in self.controls:
            entry: dict[str, Any] = {"cc": c.cc, "kind": c.kind, "action": c.action}
            if c.slot is not None:
                entry["slot"] = c.slot
            if c.args:
                entry["args"] = dict(c.args)
            if c.curve is not None:
                entry["curve"] = c.curve.to_dict()
            if c.is_button and not c.led:
                entry["led"] = False
            if c.label:
                entry["label"] = c.label
            if c.layer != "base":
                entry["layer"] = c.layer
            if c.gesture != "press":
                entry["gesture"] = c.gesture
            controls.append(entry)
        return {
            "name": self.name,
            "description": self.description,
            "ports": list(self.ports),
            "channel": "any" if self.channel is None else self.channel + 1,
            "bank_size": self.bank_size,
            "takeover": {"enabled": self.takeover.enabled, "tolerance": self.takeover.tolerance},
            "leds": {"enabled": self.leds.enabled, "ports": list(self.leds.ports),
                     "on_value": self.leds.on_value, "off_value": self.leds.off_value},
            "gestures": {"hold_s": self.gestures.hold_s, "double_s": self.gestures.double_s},
            "controls": controls,
        }


# ----------------------------------------------------------------------------------- parsing

def _err(source: str, where: str, message: str) -> ControllerMapError:
    return ControllerMapError(f"controller map {source}: {where}: {message}")


def _int(value: Any, source: str, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(source, where, f"expected an integer {lo}..{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise _err(source, where, f"{value} out of range {lo}..{hi}")
    return value


def _float(value: Any, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(source, where, f"expected a number, got {value!r}")
    return float(value)


def _str_list(value: Any, source: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _err(source, where, f"expected a list of non-empty strings, got {value!r}")
    return tuple(value)


def _curve(spec: Any, source: str, where: str) -> ValueCurve:
    if not isinstance(spec, dict):
        raise _err(source, where, f"a curve must be a mapping, got {spec!r}")
    unknown = set(spec) - {"type", "min", "max", "unity", "detent", "width", "points"}
    if unknown:
        raise _err(source, where, f"unknown curve key(s) {sorted(unknown)}")
    kwargs: dict[str, Any] = {"type": str(spec.get("type", "detent"))}
    if (kwargs["type"] == "points") != ("points" in spec):
        raise _err(source, f"{where}.points", "a 'points' curve needs 'points' (and only it has them)")
    if kwargs["type"] == "points":
        if set(spec) - {"type", "points"}:
            raise _err(source, where, f"a 'points' curve takes only 'points', got {sorted(spec)}")
        raw_points = spec["points"]
        if not isinstance(raw_points, list) or not all(isinstance(p, list) and len(p) == 2 for p in raw_points):
            raise _err(source, f"{where}.points", f"expected a list of [raw, value] pairs, got {raw_points!r}")
        kwargs["points"] = tuple((_int(p[0], source, f"{where}.points", 0, 127),
                                  _float(p[1], source, f"{where}.points")) for p in raw_points)
    for key in ("min", "max", "unity"):
        if key in spec:
            kwargs[key] = _float(spec[key], source, f"{where}.{key}")
    for key in ("detent", "width"):
        if key in spec:
            kwargs[key] = _int(spec[key], source, f"{where}.{key}", 0, 127)
    try:
        return ValueCurve(**kwargs)
    except ControllerMapError as exc:
        raise _err(source, where, str(exc)) from exc


def map_from_dict(data: Any, source: str = "<memory>") -> ControllerMap:
    """Validate a parsed YAML document into a :class:`ControllerMap`.

    Raises ControllerMapError naming ``source`` and the offending key or CC.
    """
    if not isinstance(data, dict):
        raise _err(source, "top level", f"expected a mapping, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _err(source, "top level", f"unknown key(s) {sorted(unknown)}")
    for key in ("name", "controls"):
        if key not in data:
            raise _err(source, key, "missing required field")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise _err(source, "name", f"expected a non-empty string, got {name!r}")
    ports = _str_list(data.get("ports", [name]), source, "ports")
    channel_raw = data.get("channel", 1)
    channel = None if channel_raw == "any" else _int(channel_raw, source, "channel", 1, 16) - 1
    bank_size = _int(data.get("bank_size", 8), source, "bank_size", 1, 128)

    curves_raw = data.get("curves", {}) or {}
    if not isinstance(curves_raw, dict):
        raise _err(source, "curves", "expected a mapping of name -> curve")
    curves = {str(k): _curve(v, source, f"curves.{k}") for k, v in curves_raw.items()}

    takeover_raw = data.get("takeover", {}) or {}
    if not isinstance(takeover_raw, dict) or set(takeover_raw) - {"enabled", "tolerance"}:
        raise _err(source, "takeover", f"expected {{enabled, tolerance}}, got {takeover_raw!r}")
    tolerance = _float(takeover_raw.get("tolerance", 0.03), source, "takeover.tolerance")
    if not 0.0 <= tolerance <= 0.5:
        raise _err(source, "takeover.tolerance", f"{tolerance} out of range 0..0.5")
    takeover = TakeoverConfig(enabled=bool(takeover_raw.get("enabled", True)), tolerance=tolerance)

    leds_raw = data.get("leds", {}) or {}
    if not isinstance(leds_raw, dict) or set(leds_raw) - {"enabled", "ports", "on_value", "off_value"}:
        raise _err(source, "leds", f"expected {{enabled, ports, on_value, off_value}}, got {leds_raw!r}")
    leds = LedConfig(enabled=bool(leds_raw.get("enabled", False)),
                     ports=_str_list(leds_raw.get("ports", list(ports)), source, "leds.ports"),
                     on_value=_int(leds_raw.get("on_value", 127), source, "leds.on_value", 0, 127),
                     off_value=_int(leds_raw.get("off_value", 0), source, "leds.off_value", 0, 127))

    gestures_raw = data.get("gestures", {}) or {}
    if not isinstance(gestures_raw, dict) or set(gestures_raw) - {"hold_s", "double_s"}:
        raise _err(source, "gestures", f"expected {{hold_s, double_s}}, got {gestures_raw!r}")
    times = {}
    for key, default in (("hold_s", 1.0), ("double_s", 0.5)):
        times[key] = _float(gestures_raw.get(key, default), source, f"gestures.{key}")
        if not 0.05 <= times[key] <= 5.0:
            raise _err(source, f"gestures.{key}", f"{times[key]} out of range 0.05..5 s")
    gestures = GestureConfig(**times)

    entries = data["controls"]
    if not isinstance(entries, list) or not entries:
        raise _err(source, "controls", "expected a non-empty list of control entries")
    controls: list[Control] = []
    seen: dict[tuple[str, int], tuple[str, Control]] = {}
    for index, entry in enumerate(entries):
        for control in _controls_from_entry(entry, index, source, curves, bank_size):
            where = f"controls[{index}] (cc {control.cc})"
            if control.key in seen:
                raise _err(source, where, f"duplicate CC {control.cc} in layer {control.layer!r}, "
                                          f"already used by {seen[control.key][0]}")
            seen[control.key] = (where, control)
            controls.append(control)
    _check_layers(seen, source)
    return ControllerMap(name=name, ports=ports, channel=channel, bank_size=bank_size,
                         controls=tuple(controls), takeover=takeover, leds=leds, gestures=gestures,
                         description=str(data.get("description", "") or ""), source=source)


def _check_layers(seen: dict[tuple[str, int], tuple[str, Control]], source: str) -> None:
    """A shift layer needs a shift button; a shift CC does nothing else; layers agree on kinds."""
    shift_ccs = {cc for (layer, cc), (_, c) in seen.items() if c.action == "shift"}
    for (layer, cc), (where, control) in seen.items():
        if layer == "shift" and not shift_ccs:
            raise _err(source, f"{where}.layer", "a 'shift' layer control needs a button with action 'shift'")
        if cc in shift_ccs and control.action != "shift":
            raise _err(source, where, f"CC {cc} is a shift button and cannot also do {control.action!r}")
        base = seen.get(("base", cc))
        if layer == "shift" and base is not None and base[1].kind != control.kind:
            raise _err(source, f"{where}.kind",
                       f"{control.kind} in the shift layer, but {base[1].kind} in the base layer ({base[0]})")


def _controls_from_entry(entry: Any, index: int, source: str, curves: dict[str, ValueCurve],
                         bank_size: int) -> list[Control]:
    where = f"controls[{index}]"
    if not isinstance(entry, dict):
        raise _err(source, where, f"expected a mapping, got {entry!r}")
    unknown = set(entry) - _CONTROL_KEYS
    if unknown:
        raise _err(source, where, f"unknown key(s) {sorted(unknown)}")
    if ("cc" in entry) == ("ccs" in entry):
        raise _err(source, where, "needs exactly one of 'cc' or 'ccs'")
    if "ccs" in entry:
        if not isinstance(entry["ccs"], list) or not entry["ccs"]:
            raise _err(source, f"{where}.ccs", f"expected a non-empty list, got {entry['ccs']!r}")
        ccs = [_int(cc, source, f"{where}.ccs", 0, 127) for cc in entry["ccs"]]
    else:
        ccs = [_int(entry["cc"], source, f"{where}.cc", 0, 127)]
    where = f"{where} (cc {ccs[0]})"
    for key in ("kind", "action"):
        if key not in entry:
            raise _err(source, f"{where}.{key}", "missing required field")
    kind, action = entry["kind"], entry["action"]
    if kind not in KINDS:
        raise _err(source, f"{where}.kind", f"unknown kind {kind!r}; choose {KINDS}")
    if action not in ACTIONS and action not in SURFACE_ACTIONS:
        raise _err(source, f"{where}.action",
                   f"unknown action {action!r}; known: {', '.join(list(ACTIONS) + list(SURFACE_ACTIONS))}")
    if action == "bank":
        raise _err(source, f"{where}.action", "use bank_prev / bank_next to move the bank")
    continuous = action in VALUE_ACTIONS
    if continuous and kind == "button":
        raise _err(source, f"{where}.kind", f"action {action!r} needs a fader or knob, not a button")
    if not continuous and kind != "button":
        raise _err(source, f"{where}.kind", f"action {action!r} needs a button, not a {kind}")

    layer = entry.get("layer", "base")
    if layer not in LAYERS:
        raise _err(source, f"{where}.layer", f"unknown layer {layer!r}; choose {LAYERS}")
    gesture = entry.get("gesture", "press")
    if gesture not in GESTURES:
        raise _err(source, f"{where}.gesture", f"unknown gesture {gesture!r}; choose {GESTURES}")
    if gesture != "press" and kind != "button":
        raise _err(source, f"{where}.gesture", f"only buttons have gestures, not a {kind}")
    if action == "shift" and (layer != "base" or gesture != "press"):
        raise _err(source, f"{where}.layer" if layer != "base" else f"{where}.gesture",
                   "a shift button belongs to the base layer and works by being held (gesture press)")

    curve: ValueCurve | None = None
    if continuous:
        spec = entry.get("curve")
        if spec is None:
            curve = {"wet_dry": ValueCurve(type="linear", min=0.0, max=1.0),
                     "master_gain": DEFAULT_GAIN_CURVE}.get(action, DEFAULT_CURVE)
        elif isinstance(spec, str):
            if spec not in curves:
                raise _err(source, f"{where}.curve", f"unknown curve {spec!r}; defined: {sorted(curves)}")
            curve = curves[spec]
        else:
            curve = _curve(spec, source, f"{where}.curve")
    elif "curve" in entry:
        raise _err(source, f"{where}.curve", "only faders and knobs have a curve")

    args = entry.get("args", {}) or {}
    if not isinstance(args, dict):
        raise _err(source, f"{where}.args", f"expected a mapping, got {args!r}")
    unit_action = action in UNIT_ACTIONS
    if unit_action or continuous:
        if args:
            raise _err(source, f"{where}.args", f"action {action!r} takes no fixed args")
    elif action in SURFACE_ACTIONS:
        if args:
            raise _err(source, f"{where}.args", f"action {action!r} takes no args")
    elif not (action in TOGGLE_ACTIONS and not args):
        try:
            Action(action, args)
        except ControllerMapError as exc:
            raise _err(source, f"{where}.args", str(exc)) from exc

    if unit_action:
        if "ccs" in entry:
            first = _int(entry.get("first_slot", 0), source, f"{where}.first_slot", 0, bank_size - 1)
            slots: list[int | None] = list(range(first, first + len(ccs)))
            if slots[-1] is not None and slots[-1] >= bank_size:
                raise _err(source, f"{where}.ccs", f"{len(ccs)} CCs from slot {first} exceed bank_size {bank_size}")
        else:
            if "slot" not in entry:
                raise _err(source, f"{where}.slot", f"missing required field for unit action {action!r}")
            slots = [_int(entry["slot"], source, f"{where}.slot", 0, bank_size - 1)]
    else:
        if "slot" in entry or "first_slot" in entry:
            raise _err(source, f"{where}.slot", f"action {action!r} does not act on a unit slot")
        slots = [None] * len(ccs)

    led = bool(entry.get("led", True)) and kind == "button"
    label = str(entry.get("label", ""))
    frozen_args = tuple(sorted(args.items()))
    return [Control(cc=cc, kind=kind, action=action, slot=slot, args=frozen_args, curve=curve, led=led,
                    label=(f"{label} {slot + 1}" if label and slot is not None and len(ccs) > 1 else label),
                    layer=layer, gesture=gesture)
            for cc, slot in zip(ccs, slots)]


def shipped_maps(maps_dir: Path) -> list[str]:
    """Names of the maps in ``maps_dir`` (the shipped ones: ``presets.CONTROLLER_MAPS_DIR``)."""
    return sorted(p.stem for p in Path(maps_dir).glob("*.yaml"))


def resolve_map_path(name_or_path: str | Path, maps_dir: Path | None = None) -> Path:
    """A map file: an existing path, else a map in ``maps_dir`` by (case-insensitive) name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    wanted = str(name_or_path).lower().removesuffix(".yaml")
    names = shipped_maps(maps_dir) if maps_dir is not None else []
    for name in names:
        if name.lower() == wanted:
            return Path(maps_dir) / f"{name}.yaml"
    known = f"shipped maps: {', '.join(names)}" if names else "no map folder given"
    raise ControllerMapError(f"controller map {name_or_path!r} not found (not a file; {known})")


def load_map(name_or_path: str | Path = "nanokontrol2", maps_dir: Path | None = None) -> ControllerMap:
    """Load and validate a map from a YAML file path, or by name from ``maps_dir``."""
    path = resolve_map_path(name_or_path, maps_dir)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ControllerMapError(f"controller map {path}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ControllerMapError(f"controller map {path}: not valid YAML: {exc}") from exc
    return map_from_dict(data, source=str(path))


def save_map(cmap: ControllerMap, path: str | Path) -> Path:
    """Write a map as YAML (readable back by :func:`load_map`)."""
    path = Path(path)
    path.write_text(yaml.safe_dump(cmap.to_dict(), sort_keys=False, default_flow_style=None))
    return path
