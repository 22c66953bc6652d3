"""The actions controllers send to the engine, and their JSON-lines event-log form.

An action is a name plus keyword arguments. Controllers (MIDI maps, keyboard,
window) produce them; the engine applies every action received in a block, in
order, at the block boundary, and logs each applied one as one JSON object per
line: ``{"time": <s since start>, "action": <name>, **args}``.
``latent render --automation`` reads exactly these lines back.

Unit indices in actions are absolute (0-based over all latent units); the bank
view is the controller side's business (see ``controllers.surface``).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from instrument.errors import ControllerMapError

#: Action name -> (required argument names, one-line meaning).
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "scale_unit": (("unit", "value"), "set the scale of one latent unit (fader); value >= 0"),
    "knob_unit": (("unit", "value"), "set the second multiplier of one unit (knob); value >= 0"),
    "wet_dry": (("value",), "transfer mix: 0 = dry input, 1 = fully transferred"),
    "bank": (("bank",), "the bank of 8 units in view (display only)"),
    "zero_all": ((), "set the output of all units to 0 (marker set)"),
    "reset_all": ((), "reset every unit to scale 1, unmuted, unsoloed (record)"),
    "reset_unit": (("unit",), "reset one unit to scale 1 (R button)"),
    "solo": (("unit", "on"), "solo a unit: only soloed units pass (S button)"),
    "mute": (("unit", "on"), "mute a unit (M button)"),
    "toggle_source": ((), "switch between original (bypass) and synthesised audio (rewind/ff)"),
    "set_source": (("synth",), "choose synthesised (true) or original (false) audio"),
    "play_pause": ((), "play or pause the source (play)"),
    "stop": ((), "stop and rewind the source (stop)"),
    "recall_scene": (("scene",), "recall a saved scene by name"),
    "next_scene": ((), "recall the next saved scene (marker >)"),
    "prev_scene": ((), "recall the previous saved scene (marker <)"),
    "switch_model": (("model",), "switch to another loaded model by index"),
    "next_model": ((), "switch to the next loaded model (wraps around)"),
    "prev_model": ((), "switch to the previous loaded model (wraps around)"),
    "master_gain": (("db",), "master output gain in dB, -60..+12 (before the safety limiter)"),
    "auto_gain": (("on",), "loudness compensation: the output follows the input's loudness"),
    "capture_latent": ((), "hold the current latent frame for no-input mode"),
    "quit": ((), "quit cleanly, saving the recording and log (cycle)"),
}


#: Argument name -> its type, the same in every action that takes it:
#: ``int>=0`` an integer >= 0 (unit index, bank, model index), ``float`` a finite number,
#: ``bool`` true/false (JSON ``true``, never ``1``), ``str`` a non-empty string.
#: Ranges that depend on the engine (unit count, model count, dB range) are the engine's check.
ARG_TYPES: dict[str, str] = {
    "unit": "int>=0",
    "value": "float",
    "bank": "int>=0",
    "on": "bool",
    "synth": "bool",
    "scene": "str",
    "model": "int>=0",
    "db": "float",
}
#: Longest scene name an action may carry.
MAX_ARG_STRING = 256


def _check_arg(action: str, name: str, value: Any) -> None:
    """Raise ControllerMapError when ``value`` does not have the type of argument ``name``."""
    kind = ARG_TYPES[name]
    numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    is_bool = isinstance(value, bool) or numpy_bool
    if kind == "bool":
        ok = is_bool
        expected = "true or false"
    elif kind == "int>=0":
        ok = not is_bool and isinstance(value, numbers.Integral) and value >= 0
        expected = "an integer >= 0"
    elif kind == "float":
        ok = (not is_bool and isinstance(value, numbers.Real) and math.isfinite(float(value)))
        expected = "a finite number"
    else:
        ok = isinstance(value, str) and 0 < len(value) <= MAX_ARG_STRING
        expected = f"a non-empty string of at most {MAX_ARG_STRING} characters"
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ControllerMapError(f"action {action!r}: argument {name!r} must be {expected}, got {shown}")


@dataclass(frozen=True)
class Action:
    """One control action: ``name`` from :data:`ACTIONS` and its arguments."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in ACTIONS:
            raise ControllerMapError(f"unknown action {self.name!r}; known: {', '.join(ACTIONS)}")
        missing = [a for a in ACTIONS[self.name][0] if a not in self.args]
        if missing:
            raise ControllerMapError(f"action {self.name!r} needs argument(s) {missing}")
        if "time" in self.args or "action" in self.args:
            raise ControllerMapError(f"action {self.name!r}: 'time' and 'action' are reserved names")
        expected = ACTIONS[self.name][0]
        extra = [a for a in self.args if a not in expected]
        if extra:
            raise ControllerMapError(f"action {self.name!r} takes "
                                     + (f"only {', '.join(map(repr, expected))}" if expected
                                        else "no arguments")
                                     + f", got extra argument(s) {', '.join(map(repr, map(str, extra)))}")
        for name in expected:
            _check_arg(self.name, name, self.args[name])

    def to_record(self, time_s: float) -> dict[str, Any]:
        """The event-log object for this action applied at ``time_s`` seconds."""
        return {"time": round(float(time_s), 6), "action": self.name, **dict(self.args)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> tuple[float, "Action"]:
        """Parse one event-log object back into ``(time_s, action)``."""
        if "action" not in record or "time" not in record:
            raise ControllerMapError(f"event record needs 'time' and 'action': {dict(record)}")
        time_s = record["time"]
        if isinstance(time_s, bool) or not isinstance(time_s, (int, float)):
            raise ControllerMapError(f"event time must be a number of seconds, got {time_s!r}")
        if not isinstance(record["action"], str):
            raise ControllerMapError(f"event action must be a name, got {record['action']!r}")
        try:
            time_f = float(time_s)
        except OverflowError as exc:  # a huge JSON integer
            raise ControllerMapError(f"event time {time_s} s is too large") from exc
        args = {k: v for k, v in record.items() if k not in ("time", "action")}
        return time_f, cls(record["action"], args)


#: Longest event-log line read (an event is one flat object of a few short arguments).
MAX_EVENT_LINE = 4096


def write_event(stream: Any, time_s: float, action: Action) -> None:
    """Append one action as a JSON line to an open text stream."""
    stream.write(json.dumps(action.to_record(time_s)) + "\n")


def read_events(path: str | Path) -> Iterator[tuple[float, Action]]:
    """Read an event log (JSON lines) as ``(time_s, action)`` pairs in file order."""
    path = Path(path)
    if not path.is_file():
        raise ControllerMapError(f"automation file not found: {path}")
    with path.open() as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            if len(line) > MAX_EVENT_LINE:
                raise ControllerMapError(f"{path}:{number}: line of {len(line)} characters is longer "
                                         f"than the {MAX_EVENT_LINE} an event needs")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ControllerMapError(f"{path}:{number}: not a JSON object: {exc}") from exc
            except RecursionError as exc:
                raise ControllerMapError(f"{path}:{number}: not an event: nested too deeply") from exc
            if not isinstance(record, dict):
                raise ControllerMapError(f"{path}:{number}: expected a JSON object")
            try:
                yield Action.from_record(record)
            except ControllerMapError as exc:
                raise ControllerMapError(f"{path}:{number}: {exc}") from exc
