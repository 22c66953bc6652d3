"""MIDI learn: build a controller map by moving each control when asked (``latent perform --learn``).

:class:`MapLearner` walks through a list of roles (fader 1..8, knob 1..8, then transport
buttons; optionally the per-unit solo/mute/reset buttons). For the current role it records the
first control change on a CC not yet assigned (buttons: a press, value > 0), then moves on. Moving
an already-assigned control again is ignored, so a fader still sliding does not steal the next
role. :meth:`MapLearner.skip` leaves a role unassigned. The result is a normal YAML map
(validated by ``controllers.maps``) that ``--controller`` accepts.

:func:`run_learn` runs a learner on a real input port, prompting for each role and skipping a
role after ``timeout_s`` seconds without a new control.
"""

from __future__ import annotations

import queue
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import mido

from controllers.maps import ControllerMap, map_from_dict, save_map
from controllers.midi_api import midi_backend, resolve_api_name
from controllers.ports import PortLister, match_port
from instrument.errors import DeviceError


@dataclass(frozen=True)
class LearnRole:
    """One thing to assign: a prompt ``name`` and the map entry it becomes."""

    name: str
    kind: str  # fader / knob / button
    action: str
    slot: int | None = None
    args: tuple[tuple[str, Any], ...] = field(default=())
    gesture: str = "press"  # see controllers.maps: quit is learned as a hold, never one touch


TRANSPORT_ROLES: tuple[LearnRole, ...] = (
    LearnRole("bank < (previous 8 units)", "button", "bank_prev"),
    LearnRole("bank > (next 8 units)", "button", "bank_next"),
    LearnRole("play / pause", "button", "play_pause"),
    LearnRole("stop", "button", "stop"),
    LearnRole("source original / synthesised (toggle)", "button", "toggle_source"),
    LearnRole("zero all units", "button", "zero_all"),
    LearnRole("reset all units", "button", "reset_all"),
    LearnRole("previous scene", "button", "prev_scene"),
    LearnRole("next scene", "button", "next_scene"),
    LearnRole("quit (held 1 s to quit when playing)", "button", "quit", gesture="hold"),
)


def default_roles(bank_size: int = 8, knobs: bool = True, unit_buttons: bool = False,
                  transport: bool = True) -> list[LearnRole]:
    """Faders 1..bank_size, knobs, (solo/mute/reset per slot), transport buttons, in that order."""
    roles = [LearnRole(f"fader {i + 1}", "fader", "scale_unit", i) for i in range(bank_size)]
    if knobs:
        roles += [LearnRole(f"knob {i + 1}", "knob", "knob_unit", i) for i in range(bank_size)]
    if unit_buttons:
        for action, label in (("solo", "solo"), ("mute", "mute"), ("reset_unit", "reset")):
            roles += [LearnRole(f"{label} button {i + 1}", "button", action, i) for i in range(bank_size)]
    if transport:
        roles += list(TRANSPORT_ROLES)
    return roles


class MapLearner:
    """Assign roles to CCs from incoming messages, in order; pure (no ports)."""

    def __init__(self, roles: Sequence[LearnRole], name: str = "learned",
                 ports: Sequence[str] = (), bank_size: int = 8) -> None:
        if not roles:
            raise ValueError("MapLearner needs at least one role")
        self.roles = list(roles)
        self.name = name
        self.ports = list(ports)
        self.bank_size = bank_size
        self.index = 0
        self.assigned: dict[int, tuple[LearnRole, int]] = {}  # cc -> (role, channel)
        self.skipped: list[LearnRole] = []

    @property
    def current(self) -> LearnRole | None:
        """The role waiting for a control, or None when done."""
        return self.roles[self.index] if self.index < len(self.roles) else None

    @property
    def done(self) -> bool:
        return self.index >= len(self.roles)

    def feed(self, msg: mido.Message) -> LearnRole | None:
        """Offer one message; returns the role it was assigned to, or None (ignored)."""
        role = self.current
        if role is None or getattr(msg, "type", None) != "control_change":
            return None
        if msg.control in self.assigned:
            return None
        if role.kind == "button" and msg.value == 0:
            return None  # a release (of a button pressed for an earlier role)
        self.assigned[msg.control] = (role, msg.channel)
        self.index += 1
        return role

    def skip(self) -> LearnRole | None:
        """Leave the current role unassigned and move on."""
        role = self.current
        if role is not None:
            self.skipped.append(role)
            self.index += 1
        return role

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of the learned map (one entry per CC)."""
        if not self.assigned:
            raise ValueError("nothing learned: no control was assigned")
        channels = {channel for _, channel in self.assigned.values()}
        controls = []
        for cc, (role, _) in self.assigned.items():
            entry: dict[str, Any] = {"cc": cc, "kind": role.kind, "action": role.action, "label": role.name}
            if role.slot is not None:
                entry["slot"] = role.slot
            if role.args:
                entry["args"] = dict(role.args)
            if role.gesture != "press":
                entry["gesture"] = role.gesture
            controls.append(entry)
        return {
            "name": self.name,
            "description": "learned with latent perform --learn",
            "ports": self.ports,
            "channel": channels.pop() + 1 if len(channels) == 1 else "any",
            "bank_size": self.bank_size,
            "takeover": {"enabled": True, "tolerance": 0.03},
            "leds": {"enabled": False},
            "controls": controls,
        }

    def to_map(self) -> ControllerMap:
        return map_from_dict(self.to_dict(), source=f"<learned {self.name}>")


def port_pattern(port_name: str) -> str:
    """A stable auto-detection pattern from a port name (drops ALSA's ``20:0`` client numbers)."""
    name = re.sub(r"\s+\d+:\d+$", "", port_name)
    return name.split(":", 1)[1] if ":" in name and not name.startswith(":") else name


def run_learn(out_path: str | Path, *, port: str | None = None, patterns: Sequence[str] = (),
              api: str | None = None, roles: Sequence[LearnRole] | None = None,
              timeout_s: float = 20.0, name: str | None = None,
              prompt: Callable[[str], None] = print) -> ControllerMap:
    """Learn a map on a real input port and write it to ``out_path`` (YAML); returns the map.

    ``port``: exact name or substring; else the first port matching ``patterns``; else the first
    input port that is not ALSA's "Midi Through". Raises DeviceError if no input port is found.
    """
    api = resolve_api_name(api)
    lister = PortLister(api)
    try:
        names = lister.inputs()
    finally:
        lister.close()
    if port or patterns:
        chosen = match_port(names, patterns, port)
    else:  # the first real device: ALSA's "Midi Through" loopback is never a controller
        chosen = next((n for n in names if "midi through" not in n.lower()), None)
    if chosen is None:
        raise DeviceError(f"MIDI learn: no input port matching {port or list(patterns)!r}; "
                          f"available ({api}): {names or 'none'}")
    learner = MapLearner(roles if roles is not None else default_roles(),
                         name=name or port_pattern(chosen), ports=[port_pattern(chosen)])
    inbox: queue.SimpleQueue[mido.Message] = queue.SimpleQueue()
    with midi_backend(api).open_input(chosen, callback=inbox.put):
        prompt(f"MIDI learn on {chosen!r}: move each control when asked "
               f"({timeout_s:.0f} s without a new control skips it)")
        while not learner.done:
            role = learner.current
            assert role is not None
            prompt(f"  {role.name}: move or press it now")
            deadline = time.monotonic() + timeout_s
            while learner.current is role:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    learner.skip()
                    prompt(f"  {role.name}: skipped")
                    break
                try:
                    msg = inbox.get(timeout=remaining)
                except queue.Empty:
                    continue
                if learner.feed(msg) is role:
                    prompt(f"  {role.name} -> CC {msg.control} (channel {msg.channel + 1})")
    cmap = learner.to_map()
    save_map(cmap, out_path)
    prompt(f"wrote {out_path}")
    return cmap
