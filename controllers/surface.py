"""The control surface: raw MIDI messages in, engine Actions (absolute unit indices) out.

:class:`ControlSurface` is pure logic (no ports, no threads) and keeps:

* the **bank**: which ``bank_size`` units the faders/knobs/buttons see; ``bank_prev`` /
  ``bank_next`` move it by one bank, cyclically, and emit a ``bank`` action;
* a **mirror** of every unit's scale, knob multiplier, solo and mute flags, plus play and source
  state, used for soft takeover (``controllers.takeover``), toggles and LED feedback;
* the soft-takeover state of every fader and knob (per layer: a fader with a shift-layer control
  has two, and moving it in one layer makes the other wait for pickup again);
* the **shift** state (which shift buttons are held) and the **gestures** in progress: buttons
  being held towards a ``hold`` gesture, and the first press of a ``double`` gesture.

Time is explicit: :meth:`ControlSurface.handle` and :meth:`ControlSurface.tick` take a ``now_s``
timestamp (default: the surface's clock), so gestures are testable without sleeping. A ``hold``
fires from :meth:`tick` once the button has been held long enough (``controllers.ports`` calls it
when :meth:`next_deadline` is due), or at the latest on the release; a release before that
cancels it. A ``double`` fires on the second press within the map's ``double_s``.
:meth:`prompt` says what a pending gesture will do ("hold stop to quit", "press q again to quit").

Semantics the mirror assumes (the app corrects them with :meth:`ControlSurface.sync`):
``zero_all`` sets every scale to 0; ``reset_all`` sets scales and knobs to 1 and clears solo/mute;
``reset_unit`` sets one unit's scale and knob to 1; scene recalls change values the surface cannot
know, so it arms every control and waits for ``sync``.

Messages that are not control changes (notes, sysex, clock...), other channels and CCs the map does
not use are ignored without raising. Buttons fire on press (value > 0), never on release
(releases only end a shift or a hold).
All public methods take an internal lock, so the MIDI thread and the window thread (keyboard)
may share one surface.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Hashable, Sequence

import mido

from controllers.actions import Action
from controllers.maps import (
    GLOBAL_VALUE_ARGS,
    TOGGLE_ACTIONS,
    UNIT_ACTIONS,
    Control,
    ControllerMap,
)
from controllers.takeover import SoftTakeover

#: Values closer than this are equal (the engine may hold float32 copies of the mirror's floats).
SYNC_EPSILON = 1e-4
#: Actions after which every unit value may have changed behind the faders' backs.
_ARM_ALL_ACTIONS = ("zero_all", "reset_all", "recall_scene", "next_scene", "prev_scene", "switch_model",
                    "next_model", "prev_model")
#: Master gain bounds in dB (the engine's range for the ``master_gain`` action).
MASTER_GAIN_MIN_DB, MASTER_GAIN_MAX_DB = -60.0, 12.0


class ControlSurface:
    """Translate messages of one controller (described by ``cmap``) for ``n_units`` latent units."""

    def __init__(self, cmap: ControllerMap, n_units: int, sync_grace_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if n_units < 1:
            raise ValueError(f"n_units must be >= 1, got {n_units}")
        self.map = cmap
        self.n_units = int(n_units)
        self.bank_size = cmap.bank_size
        self.n_banks = -(-self.n_units // self.bank_size)
        self.bank = 0
        self.scales = [1.0] * self.n_units
        self.knobs = [1.0] * self.n_units
        self.solo = [False] * self.n_units
        self.mute = [False] * self.n_units
        self.playing = False
        self.synth = True
        self.wet = 1.0
        self.master_db = 0.0
        self.auto_gain = False
        curve = cmap.scale_curve
        self.scale_min, self.scale_max = curve.min, curve.max
        self._takeover: dict[tuple[str, int], SoftTakeover] = {}
        for control in cmap.controls:
            if control.curve is not None:
                span = control.curve.max - control.curve.min
                self._takeover[control.key] = SoftTakeover(cmap.takeover.tolerance * span,
                                                           cmap.takeover.enabled)
        self._shift_held: set[int] = set()  # CCs of shift buttons held now
        self._holding: dict[int, tuple[Control, float]] = {}  # CC -> (hold control, press time)
        self._first_tap: dict[tuple[str, int], float] = {}  # double-gesture key -> first press time
        self._prompt = ("", 0.0)  # (text, until time): a prompt set by another control (keyboard)
        self._lock = threading.RLock()
        # sync() ignores truth about anything this surface changed less than sync_grace_s ago:
        # the engine's state may lag the surface by a few blocks (stale snapshot).
        self.sync_grace_s = float(sync_grace_s)
        self._clock = clock
        self._touched: dict[Hashable, float] = {}

    # ------------------------------------------------------------------ views for the window

    def unit_for_slot(self, slot: int) -> int | None:
        """The absolute unit a slot of the current bank shows, or None past the last unit."""
        unit = self.bank * self.bank_size + slot
        return unit if 0 <= slot < self.bank_size and unit < self.n_units else None

    def units_in_view(self) -> list[int]:
        return [u for u in (self.unit_for_slot(s) for s in range(self.bank_size)) if u is not None]

    def now(self) -> float:
        """The surface's clock (seconds; the time base of gestures and prompts)."""
        return self._clock()

    @property
    def shift(self) -> bool:
        """True while a shift button is held."""
        return bool(self._shift_held)

    @property
    def layer(self) -> str:
        """The active layer: ``shift`` while a shift button is held, else ``base``."""
        return "shift" if self._shift_held else "base"

    def is_armed(self, cc: int, layer: str = "base") -> bool:
        """True if the fader/knob at ``cc`` (in ``layer``) waits for soft-takeover pickup."""
        takeover = self._takeover.get((layer, cc))
        return takeover is not None and takeover.is_armed((layer, cc))

    def armed_units(self) -> list[int]:
        """Units in view whose fader waits for pickup (for the window to flag)."""
        with self._lock:
            out = []
            for control in self.map.controls_for("scale_unit"):
                unit = self.unit_for_slot(control.slot if control.slot is not None else -1)
                if unit is not None and self.is_armed(control.cc, control.layer):
                    out.append(unit)
            return out

    def led_states(self) -> dict[int, bool]:
        """CC -> LED on, for every button with LED feedback (see ``controllers.feedback``).

        A CC with a shift-layer control shows that control's state while shift is held.
        """
        with self._lock:
            states: dict[int, bool] = {}
            for cc in sorted({c.cc for c in self.map.controls if c.led}):
                control = self.map.control(cc, self.layer)
                states[cc] = control is not None and control.led and self._led_on(control)
            return states

    def _led_on(self, control: Control) -> bool:
        action = control.action
        if action == "shift":
            return self.shift
        if action == "auto_gain":
            return self.auto_gain
        if action in ("solo", "mute"):
            unit = self.unit_for_slot(control.slot if control.slot is not None else -1)
            flags = self.solo if action == "solo" else self.mute
            return unit is not None and flags[unit]
        if action == "play_pause":
            return self.playing
        if action == "set_source":
            return self.synth == bool(control.action_args().get("synth"))
        if action == "toggle_source":
            return self.synth
        return False

    # ------------------------------------------------------------------ input

    def handle(self, msg: mido.Message, now_s: float | None = None) -> list[Action]:
        """The actions one raw message received at ``now_s`` causes (often none).

        Never raises on odd messages. ``now_s`` defaults to the surface's clock.
        """
        if getattr(msg, "type", None) != "control_change":
            return []
        with self._lock:
            now = self._clock() if now_s is None else float(now_s)
            if not self.map.accepts_channel(msg.channel):
                return []
            control = self.map.control(msg.control, self.layer)
            if control is None:
                return []
            if control.is_button:
                return self._button(control, msg.value > 0, now)
            return self._move(control, msg.value)

    def _button(self, control: Control, down: bool, now: float) -> list[Action]:
        """A button went down or up: shift, gestures, or a plain press."""
        cc = control.cc
        if control.action == "shift":
            if down:
                self._shift_held.add(cc)
            else:
                self._shift_held.discard(cc)
            return []
        if not down:  # the release ends a hold: fire if it was long enough, else cancel
            held = self._holding.pop(cc, None)
            if held is not None and now - held[1] >= self.map.gestures.hold_s:
                return self.press(held[0])
            return []
        if control.gesture == "hold":
            self._holding[cc] = (control, now)
            return []
        if control.gesture == "double":
            first = self._first_tap.pop(control.key, None)
            if first is not None and now - first <= self.map.gestures.double_s:
                return self.press(control)
            self._first_tap[control.key] = now
            return []
        return self.press(control)

    def tick(self, now_s: float | None = None) -> list[Action]:
        """Actions of ``hold`` gestures whose time has come at ``now_s`` (buttons still held)."""
        with self._lock:
            now = self._clock() if now_s is None else float(now_s)
            due = [cc for cc, (_, t) in self._holding.items() if now - t >= self.map.gestures.hold_s]
            out: list[Action] = []
            for cc in due:
                out += self.press(self._holding.pop(cc)[0])
            return out

    def next_deadline(self) -> float | None:
        """The clock time at which the next pending hold fires, or None if no button is held."""
        with self._lock:
            if not self._holding:
                return None
            return min(t for _, t in self._holding.values()) + self.map.gestures.hold_s

    def set_prompt(self, text: str, until_s: float) -> None:
        """Show ``text`` (e.g. "press q again to quit") until clock time ``until_s``; "" clears it."""
        with self._lock:
            self._prompt = (text, float(until_s))

    def prompt(self, now_s: float | None = None) -> str:
        """What a pending gesture will do, for the window ("" when none)."""
        with self._lock:
            now = self._clock() if now_s is None else float(now_s)
            texts = [f"keep holding {c.label or f'CC {c.cc}'} to {_meaning(c)}"
                     for c, t in self._holding.values() if now - t < self.map.gestures.hold_s]
            texts += [f"press {c.label or f'CC {c.cc}'} again to {_meaning(c)}"
                      for key, t in self._first_tap.items() if now - t <= self.map.gestures.double_s
                      for c in [self.map.by_key[key]]]
            text, until = self._prompt
            if text and now <= until:
                texts.append(text)
            return "; ".join(texts)

    def press(self, control: Control) -> list[Action]:
        """A button press that fires (also used by ``--learn`` tests and the keyboard)."""
        with self._lock:
            action = control.action
            if action == "shift":
                return []
            if action in TOGGLE_ACTIONS and "on" not in control.action_args():
                return [self.toggle(action)]
            if action in ("bank_prev", "bank_next"):
                return [self.move_bank(-1 if action == "bank_prev" else 1)]
            if action in UNIT_ACTIONS:
                unit = self.unit_for_slot(control.slot if control.slot is not None else -1)
                if unit is None:
                    return []
                return [self.unit_button(action, unit)]
            out = Action(action, control.action_args())
            self.observe(out)
            return [out]

    def _move(self, control: Control, raw: int) -> list[Action]:
        assert control.curve is not None  # maps guarantee a curve on faders and knobs
        value = control.curve(raw)
        for other in self.map.layer_controls(control.cc):
            if other is not control and other.key in self._takeover:
                # the physical control moved under another layer's meaning: that one must pick up again
                self._takeover[other.key].forget(other.key)
        if control.action in GLOBAL_VALUE_ARGS:
            if not self._takeover[control.key].move(control.key, value, self._global_value(control.action)):
                return []
            action = Action(control.action, {GLOBAL_VALUE_ARGS[control.action]: value})
            self._set_global(action)
            self._touch(control.action)
            return [action]
        unit = self.unit_for_slot(control.slot if control.slot is not None else -1)
        if unit is None:
            return []
        mirror = self.scales if control.action == "scale_unit" else self.knobs
        if not self._takeover[control.key].move(control.key, value, mirror[unit]):
            return []
        mirror[unit] = value
        self._touch((control.action, unit))
        return [Action(control.action, {"unit": unit, "value": value})]

    def _global_value(self, action: str) -> float:
        return self.wet if action == "wet_dry" else self.master_db

    def _set_global(self, action: Action) -> None:
        if action.name == "wet_dry":
            self.wet = float(action.args["value"])
        else:
            self.master_db = float(action.args["db"])

    # ------------------------------------------------------------------ state changes

    def move_bank(self, step: int) -> Action:
        """Move the view by ``step`` banks, cyclically; arms every fader and knob."""
        with self._lock:
            self.bank = (self.bank + step) % self.n_banks
            self._arm_all()
            return Action("bank", {"bank": self.bank})

    def toggle(self, action: str) -> Action:
        """Flip an on/off state of :data:`~controllers.maps.TOGGLE_ACTIONS` (updates the mirror)."""
        with self._lock:
            out = Action(action, {"on": not self.auto_gain})
            self.observe(out)
            return out

    def unit_button(self, action: str, unit: int) -> Action:
        """solo/mute toggle, or reset_unit, for absolute ``unit`` (updates the mirror)."""
        with self._lock:
            if action in ("solo", "mute"):
                flags = self.solo if action == "solo" else self.mute
                out = Action(action, {"unit": unit, "on": not flags[unit]})
            else:
                out = Action(action, {"unit": unit})
            self.observe(out)
            return out

    def observe(self, action: Action) -> None:
        """Update the mirror for an action that did NOT come from this surface (automation, window).

        Actions returned by :meth:`handle`, :meth:`press`, :meth:`move_bank`, :meth:`unit_button` and
        ``KeyboardControl`` are already mirrored: observing them again would flip toggles twice.
        A unit value set from elsewhere arms the fader/knob showing that unit (soft takeover).
        """
        with self._lock:
            name, args = action.name, action.args
            if "unit" in args:
                self._touch((name if name != "reset_unit" else "scale_unit", int(args["unit"])))
                if name == "reset_unit":
                    self._touch(("knob_unit", int(args["unit"])))
            elif name in ("play_pause", "stop", "set_source", "toggle_source"):
                self._touch("playing" if name in ("play_pause", "stop") else "synth")
            elif name in GLOBAL_VALUE_ARGS or name == "auto_gain":
                self._touch(name)
            if name in ("scale_unit", "knob_unit"):
                unit = int(args["unit"])
                mirror = self.scales if name == "scale_unit" else self.knobs
                if 0 <= unit < self.n_units and mirror[unit] != float(args["value"]):
                    mirror[unit] = float(args["value"])
                    self._arm_unit(unit, name)
            elif name in ("solo", "mute"):
                unit = int(args["unit"])
                if 0 <= unit < self.n_units:
                    (self.solo if name == "solo" else self.mute)[unit] = bool(args["on"])
            elif name == "reset_unit":
                unit = int(args["unit"])
                if 0 <= unit < self.n_units:
                    self.scales[unit] = self.knobs[unit] = 1.0
                    self._arm_unit(unit, "scale_unit")
                    self._arm_unit(unit, "knob_unit")
            elif name == "zero_all":
                self.scales = [0.0] * self.n_units
            elif name == "reset_all":
                self.scales = [1.0] * self.n_units
                self.knobs = [1.0] * self.n_units
                self.solo = [False] * self.n_units
                self.mute = [False] * self.n_units
            elif name == "bank":
                self.bank = int(args["bank"]) % self.n_banks
                self._arm_all()
            elif name == "play_pause":
                self.playing = not self.playing
            elif name == "stop":
                self.playing = False
            elif name == "set_source":
                self.synth = bool(args["synth"])
            elif name == "toggle_source":
                self.synth = not self.synth
            elif name in GLOBAL_VALUE_ARGS:
                if self._global_value(name) != float(args[GLOBAL_VALUE_ARGS[name]]):
                    self._set_global(action)
                    self._arm_action(name)
            elif name == "auto_gain":
                self.auto_gain = bool(args["on"])
            if name in _ARM_ALL_ACTIONS:
                self._arm_all()
                # the engine applies this after every earlier action: its next truth wins
                self._touched.clear()

    def sync(self, scales: Sequence[float] | None = None, knobs: Sequence[float] | None = None,
             solo: Sequence[bool] | None = None, mute: Sequence[bool] | None = None,
             playing: bool | None = None, synth: bool | None = None, wet_dry: float | None = None,
             master_gain_db: float | None = None, auto_gain: bool | None = None) -> None:
        """Set the mirror to the engine's truth (e.g. after a scene recall); arms changed units.

        Values differing by less than ``SYNC_EPSILON`` are equal. Anything this surface (or the
        keyboard) changed less than ``sync_grace_s`` ago is left alone: the truth may be stale.
        """
        with self._lock:
            now = self._clock()
            for name, values, mirror in (("scale_unit", scales, self.scales), ("knob_unit", knobs, self.knobs)):
                if values is None:
                    continue
                for unit, value in enumerate(list(values)[: self.n_units]):
                    if abs(float(value) - mirror[unit]) > SYNC_EPSILON and not self._recent((name, unit), now):
                        mirror[unit] = float(value)
                        self._arm_unit(unit, name)
            for name, values, flags in (("solo", solo, self.solo), ("mute", mute, self.mute)):
                if values is None:
                    continue
                for unit, flag in enumerate(list(values)[: self.n_units]):
                    if not self._recent((name, unit), now):
                        flags[unit] = bool(flag)
            if playing is not None and not self._recent("playing", now):
                self.playing = bool(playing)
            if synth is not None and not self._recent("synth", now):
                self.synth = bool(synth)
            for name, value in (("wet_dry", wet_dry), ("master_gain", master_gain_db)):
                if value is not None and not self._recent(name, now) \
                        and abs(float(value) - self._global_value(name)) > SYNC_EPSILON:
                    self._set_global(Action(name, {GLOBAL_VALUE_ARGS[name]: float(value)}))
                    self._arm_action(name)
            if auto_gain is not None and not self._recent("auto_gain", now):
                self.auto_gain = bool(auto_gain)

    def forget_positions(self) -> None:
        """The device reconnected: physical fader positions are unknown, every control waits for pickup."""
        with self._lock:
            for takeover in self._takeover.values():
                takeover.forget_positions()

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the state for the window: bank, units in view, values, flags."""
        with self._lock:
            return {"bank": self.bank, "n_banks": self.n_banks, "units": self.units_in_view(),
                    "scales": list(self.scales), "knobs": list(self.knobs), "solo": list(self.solo),
                    "mute": list(self.mute), "playing": self.playing, "synth": self.synth,
                    "wet": self.wet, "master_db": self.master_db, "auto_gain": self.auto_gain,
                    "shift": self.shift, "armed": self.armed_units()}

    def _touch(self, key: Hashable) -> None:
        self._touched[key] = self._clock()

    def _recent(self, key: Hashable, now: float) -> bool:
        touched = self._touched.get(key)
        return touched is not None and now - touched < self.sync_grace_s

    def _arm_all(self) -> None:
        for key, takeover in self._takeover.items():
            takeover.arm(key)

    def _arm_action(self, action: str) -> None:
        """Arm every control of a global value action (its value changed behind their backs)."""
        for control in self.map.controls_for(action):
            self._takeover[control.key].arm(control.key)

    def _arm_unit(self, unit: int, action: str) -> None:
        slot = unit - self.bank * self.bank_size
        if not 0 <= slot < self.bank_size:
            return  # not in view: the bank move will arm it anyway
        for control in self.map.controls_for(action):
            if control.slot == slot:
                self._takeover[control.key].arm(control.key)


def _meaning(control: Control) -> str:
    """A few words for what a button does, e.g. "quit" (for prompts)."""
    return control.action.replace("_", " ")
