"""The OSC address space of the instrument: one OSC message -> one :class:`~controllers.actions.Action`.

:func:`osc_to_action` is a pure translation (no sockets); ``controllers.osc_input`` runs it on
every message received. Every action of :data:`controllers.actions.ACTIONS` has one address
(:data:`OSC_ROUTES`). Unit numbers are **0-based**, as in the window (``unit 0`` is the first
unit), the event log and ``latent render --automation``: ``/latent/unit/3/scale 1.2`` sets the
fourth unit. A unit must be below the heard model's unit count.

Argument kinds (OSC type tags in brackets; Pure Data and Max send every number as a float):

* ``number``: ``i``, ``f``, ``d`` (finite). The engine checks the action's range (as for MIDI).
* ``index``: an integer, or a float with an integral value (``2.0``).
* ``on``: ``T`` / ``F``, or a number: on when >= 0.5 (``1``, ``1.0``, ``127``), off below.
* ``text``: ``s``.

A message that does not fit (unknown address, wrong argument count or kind, unit out of range)
raises :class:`~instrument.errors.OscMessageError` whose message is the reason; the receiver
counts it and goes on.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

from controllers.actions import Action
from instrument.errors import OscMessageError

#: Every address starts with this.
OSC_PREFIX = "/latent"
#: Stands for the 0-based unit number in a per-unit address.
UNIT_PLACEHOLDER = "<n>"
#: Argument kinds and what each accepts (see the module doc).
ARG_KINDS = ("number", "index", "on", "text")

_UNIT_ADDRESS = re.compile(r"^/latent/unit/(\d+)/([a-z_]+)$")


@dataclass(frozen=True)
class OscRoute:
    """One address of the space: ``/latent/...``, the action it sends and its arguments.

    ``params`` are the OSC arguments in order as ``(action argument, kind)``; a per-unit
    address (containing ``<n>``) also fills the action's ``unit`` argument from the address.
    """

    address: str
    action: str
    params: tuple[tuple[str, str], ...] = ()
    example: tuple[Any, ...] = ()

    @property
    def per_unit(self) -> bool:
        return UNIT_PLACEHOLDER in self.address


#: The whole address space, in the order of the README table.
OSC_ROUTES: tuple[OscRoute, ...] = (
    OscRoute("/latent/unit/<n>/scale", "scale_unit", (("value", "number"),), (1.2,)),
    OscRoute("/latent/unit/<n>/knob", "knob_unit", (("value", "number"),), (0.5,)),
    OscRoute("/latent/unit/<n>/solo", "solo", (("on", "on"),), (1,)),
    OscRoute("/latent/unit/<n>/mute", "mute", (("on", "on"),), (0,)),
    OscRoute("/latent/unit/<n>/reset", "reset_unit"),
    OscRoute("/latent/wet_dry", "wet_dry", (("value", "number"),), (0.5,)),
    OscRoute("/latent/master_gain", "master_gain", (("db", "number"),), (-6.0,)),
    OscRoute("/latent/auto_gain", "auto_gain", (("on", "on"),), (1,)),
    OscRoute("/latent/bank", "bank", (("bank", "index"),), (2,)),
    OscRoute("/latent/zero_all", "zero_all"),
    OscRoute("/latent/reset_all", "reset_all"),
    OscRoute("/latent/source/synth", "set_source", (("synth", "on"),), (1,)),
    OscRoute("/latent/source/toggle", "toggle_source"),
    OscRoute("/latent/play_pause", "play_pause"),
    OscRoute("/latent/stop", "stop"),
    OscRoute("/latent/scene", "recall_scene", (("scene", "text"),), ("verse",)),
    OscRoute("/latent/scene/next", "next_scene"),
    OscRoute("/latent/scene/prev", "prev_scene"),
    OscRoute("/latent/model", "switch_model", (("model", "index"),), (1,)),
    OscRoute("/latent/model/next", "next_model"),
    OscRoute("/latent/model/prev", "prev_model"),
    OscRoute("/latent/capture_latent", "capture_latent"),
    OscRoute("/latent/quit", "quit"),
)

_FIXED = {route.address: route for route in OSC_ROUTES if not route.per_unit}
_PER_UNIT = {route.address.rsplit("/", 1)[1]: route for route in OSC_ROUTES if route.per_unit}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _convert(value: Any, kind: str, address: str, name: str) -> Any:
    """One OSC argument as the action argument of ``kind``; raises OscMessageError naming it."""
    where = f"{address}: {name}"
    if kind == "text":
        if not isinstance(value, str):
            raise OscMessageError(f"{where} must be a string, got {value!r}")
        return value
    if kind == "on":
        if isinstance(value, bool):
            return value
        if _is_number(value) and math.isfinite(value):
            return value >= 0.5
        raise OscMessageError(f"{where} must be T/F or a number (on >= 0.5), got {value!r}")
    if not _is_number(value) or not math.isfinite(value):
        raise OscMessageError(f"{where} must be a finite number, got {value!r}")
    if kind == "index":
        if isinstance(value, float) and not value.is_integer():
            raise OscMessageError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def find_route(address: str, n_units: int) -> tuple[OscRoute, dict[str, Any]]:
    """The route of ``address`` and the arguments the address itself carries (the unit).

    Raises:
        OscMessageError: unknown address, or a unit outside ``0..n_units-1``.
    """
    route = _FIXED.get(address)
    if route is not None:
        return route, {}
    match = _UNIT_ADDRESS.match(address)
    if match is not None and match.group(2) in _PER_UNIT:
        unit = int(match.group(1))
        if not 0 <= unit < n_units:
            units = f"0..{n_units - 1}" if n_units > 0 else "none: this model has no latent units"
            raise OscMessageError(f"{address}: unit {unit} out of range ({units})")
        return _PER_UNIT[match.group(2)], {"unit": unit}
    raise OscMessageError(f"unknown OSC address {address!r}")


def osc_to_action(address: str, args: Sequence[Any], n_units: int) -> Action:
    """The action one OSC message asks for.

    Args:
        address: the OSC address, e.g. ``/latent/unit/3/scale``.
        args: the decoded OSC arguments (python-osc gives int, float, str, bool, bytes...).
        n_units: the heard model's number of latent units (unit numbers are 0-based).
    Raises:
        OscMessageError: unknown address, wrong argument count or kind, unit out of range;
            the message is the reason.
    """
    route, action_args = find_route(address, n_units)
    if len(args) != len(route.params):
        wanted = ", ".join(f"{name} ({kind})" for name, kind in route.params) or "no arguments"
        raise OscMessageError(f"{address} takes {wanted}; got {len(args)} argument(s) {list(args)!r}")
    for value, (name, kind) in zip(args, route.params):
        action_args[name] = _convert(value, kind, address, name)
    return Action(route.action, action_args)
