"""MIDI input on a background thread: port auto-detection, reconnection, every message in order.

:class:`MidiInput` opens the controller's input port (auto-detected from the map's ``ports``
patterns, or chosen with ``--midi-in``) through mido + python-rtmidi with the API selected by
``controllers.midi_api`` (ALSA by default, JACK on request). Messages arrive by rtmidi
**callback** (no polling): each one goes through the :class:`~controllers.surface.ControlSurface`
at once, in arrival order, and every resulting Action is put on a ``queue.SimpleQueue``.
:meth:`MidiInput.drain` hands the engine all pending Actions at its block boundary; the only
coalescing is of consecutive values of the same fader/knob (the last one wins), never across
different controls or buttons, so a flood of thousands of messages a second ends on the final
fader value and loses no button.

A supervisor thread sleeps on an Event (no busy wait): it wakes every ``poll_interval_s``
(1 s) to check the port list, whenever LED feedback is due, and when a held button's ``hold``
gesture is due (:meth:`ControlSurface.next_deadline`; the actions of :meth:`ControlSurface.tick`
join the queue). If the port vanishes
(unplugged, JACK client gone) the status becomes ``disconnected``; when a matching port
reappears it is reopened (``connected``), fader positions are forgotten (soft takeover picks up
again) and all LEDs are resent. With no matching port at start the status is ``waiting`` and the
thread keeps looking; a port named explicitly that does not exist raises DeviceError, unless
``wait=True``.

Port names differ per platform: the nanoKONTROL2 is ``nanoKONTROL2 SLIDER/KNOB`` on macOS,
``nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0`` on Linux ALSA and e.g.
``RtMidiOut Client:nanoKONTROL2 ...`` as a JACK virtual port; patterns match case-insensitive
substrings, so ``nanoKONTROL2`` finds all of them. A port named on the command line
(``--midi-in``, ``--midi-out``, ``--invert-midi-out``, ``latent invert --midi-out``) is matched
the same way everywhere (:func:`find_port`): its exact name, else the one port whose name
contains it (case-insensitive); none or several raise DeviceError listing the ports.
"""

from __future__ import annotations

import enum
import os
import queue
import sys
import threading
import time
from typing import Iterable, Sequence

import mido
import rtmidi

from controllers.actions import Action
from controllers.feedback import LedFeedback
from controllers.midi_api import MIDI_APIS, midi_backend, resolve_api_name
from controllers.surface import ControlSurface
from instrument.errors import DeviceError

#: The ALSA sequencer device rtmidi's ALSA API needs (module snd-seq).
ALSA_SEQ_DEVICE = "/dev/snd/seq"

#: Actions whose consecutive values for the same unit may be coalesced by drain().
_COALESCE = ("scale_unit", "knob_unit", "wet_dry")


class PortStatus(str, enum.Enum):
    """What the window shows about the MIDI controller."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # was connected, port vanished; reopened when it returns
    WAITING = "waiting"  # no matching port yet; keeps looking
    UNAVAILABLE = "unavailable"  # the MIDI API itself cannot start (no ALSA sequencer / JACK server)
    CLOSED = "closed"


def matching_ports(names: Sequence[str], wanted: str) -> list[str]:
    """The ports ``wanted`` names: ``[wanted]`` if it is a full name, else every name containing it
    (case-insensitive)."""
    if wanted in names:
        return [wanted]
    lowered = wanted.lower()
    return [name for name in names if lowered in name.lower()]


def find_port(names: Sequence[str], wanted: str, direction: str, api: str) -> str:
    """The one port among ``names`` that ``wanted`` (a name given by the user) names.

    Raises:
        DeviceError: no port or several ports match (listing them).
    """
    found = matching_ports(names, wanted)
    if len(found) == 1:
        return found[0]
    if not found:
        raise DeviceError(f"MIDI {direction} port {wanted!r} not found; available ({api}): "
                          f"{', '.join(repr(n) for n in names) or 'none'}")
    raise DeviceError(f"MIDI {direction} port {wanted!r} matches {len(found)} ports "
                      f"({', '.join(repr(n) for n in found)}); give more of the name")


def match_port(names: Sequence[str], patterns: Iterable[str] = (), exact: str | None = None) -> str | None:
    """The port to open among ``names``.

    With ``exact`` (a name the user gave): the one port :func:`matching_ports` finds, else None
    (also when several match). Otherwise the first name containing any of ``patterns``
    (case-insensitive), in pattern order (auto-detection from a controller map).
    """
    if exact is not None:
        found = matching_ports(names, exact)
        return found[0] if len(found) == 1 else None
    for pattern in patterns:
        wanted = pattern.lower()
        for name in names:
            if wanted in name.lower():
                return name
    return None


class PortLister:
    """Lists MIDI ports of one API with one persistent rtmidi client (cheap to call every second)."""

    def __init__(self, api: str | None = None) -> None:
        self.api = resolve_api_name(api)
        rtapi = getattr(rtmidi, "API_" + MIDI_APIS[self.api].split("/")[-1])
        if self.api == "alsa" and sys.platform.startswith("linux") and not os.path.exists(ALSA_SEQ_DEVICE):
            # say so before rtmidi, whose ALSA client would print its own error lines on stderr
            raise DeviceError(f"MIDI API 'alsa' cannot start ({ALSA_SEQ_DEVICE} is missing): {api_help('alsa')}")
        try:
            self._in = rtmidi.MidiIn(rtapi=rtapi, name="latent-port-list")
            self._out = rtmidi.MidiOut(rtapi=rtapi, name="latent-port-list")
        except (OSError, RuntimeError) as exc:  # rtmidi.SystemError is an OSError
            raise DeviceError(f"MIDI API {self.api!r} cannot start ({str(exc).strip()}): "
                              f"{api_help(self.api)}") from exc

    def inputs(self) -> list[str]:
        return list(self._in.get_ports())

    def outputs(self) -> list[str]:
        return list(self._out.get_ports())

    def close(self) -> None:
        self._in.delete()
        self._out.delete()


def api_help(api: str) -> str:
    """What to do when the MIDI API ``api`` cannot start."""
    if api == "alsa":
        return ("load the ALSA sequencer with `sudo modprobe snd-seq`, "
                "or use --midi-api jack with a running JACK server")
    if api == "jack":
        return "no JACK server is running: start one (e.g. `jackd -d alsa`), or use --midi-api alsa"
    return "check that the system MIDI service is available"


def resolve_ports(api: str | None, inputs: Sequence[tuple[str, str]] = (),
                  outputs: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """Check ports named by the user before anything is opened: ``(flag, name)`` pairs of input and
    output ports; returns ``{flag: full port name}``.

    Raises:
        DeviceError: naming the flag and the port: the MIDI API cannot start, or a port matches
            none or several ports (see :func:`find_port`).
    """
    if not inputs and not outputs:
        return {}
    api_name = resolve_api_name(api)
    try:
        lister = PortLister(api_name)
    except DeviceError as exc:
        flag, name = (list(inputs) + list(outputs))[0]
        raise DeviceError(f"{flag} {name!r}: {exc}") from exc
    try:
        found: dict[str, str] = {}
        for pairs, names, direction in ((inputs, lister.inputs(), "input"), (outputs, lister.outputs(), "output")):
            for flag, name in pairs:
                try:
                    found[flag] = find_port(names, name, direction, api_name)
                except DeviceError as exc:
                    raise DeviceError(f"{flag}: {exc}") from exc
        return found
    finally:
        lister.close()


def open_output(name: str, api: str | None, flag: str = "--midi-out") -> "mido.ports.BaseOutput":
    """Open the MIDI output port ``name`` names (see :func:`find_port`) with the chosen API.

    Raises:
        DeviceError: naming the flag and the port (no such port, several, API unavailable, open failed).
    """
    full = resolve_ports(api, outputs=[(flag, name)])[flag]
    try:
        return midi_backend(api).open_output(full)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DeviceError(f"{flag}: cannot open MIDI output {full!r}: {exc}") from exc


def list_ports(api: str | None = None) -> tuple[list[str], list[str]]:
    """(input names, output names) of the chosen MIDI API (for ``latent devices``)."""
    lister = PortLister(api)
    try:
        return lister.inputs(), lister.outputs()
    finally:
        lister.close()


class MidiInput:
    """The controller's input port on a background thread, feeding a :class:`ControlSurface`.

    ``port``: exact name or substring (``--midi-in``); default: auto-detect by ``surface.map.ports``.
    ``wait``: with ``port`` given, wait for it instead of raising DeviceError at start.
    ``leds``: drive LED feedback on the output port matching ``map.leds.ports`` (if enabled in the map).
    ``output_port``: LED output port by exact name or substring (``--midi-out``); turns LEDs on
    even if the map does not enable them (unless ``leds=False``).

    Use as a context manager or call :meth:`start` / :meth:`close`. Thread-safe: ``drain`` from the
    engine side, ``submit`` / ``notify`` from the window.
    """

    def __init__(self, surface: ControlSurface, *, api: str | None = None, port: str | None = None,
                 wait: bool = False, leds: bool = True, output_port: str | None = None,
                 poll_interval_s: float = 1.0) -> None:
        self.surface = surface
        self.api = resolve_api_name(api)
        self.requested_port = port
        self.patterns: tuple[str, ...] = (port,) if port else surface.map.ports
        self.wait = wait
        self.poll_interval_s = float(poll_interval_s)
        self.leds_enabled = leds and (surface.map.leds.enabled or output_port is not None)
        self.requested_output = output_port
        self.output_patterns: tuple[str, ...] = (output_port,) if output_port else surface.map.leds.ports
        self.status = PortStatus.CLOSED
        self.port_name: str | None = None
        self.output_name: str | None = None
        self.last_error = ""
        self.n_messages = 0
        self._queue: queue.SimpleQueue[Action] = queue.SimpleQueue()
        self._feedback = LedFeedback(surface.map)
        self._backend: mido.Backend | None = None
        self._lister: PortLister | None = None
        self._input: mido.ports.BaseInput | None = None
        self._output: mido.ports.BaseOutput | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._io_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "MidiInput":
        """Open the port (or start waiting for it) and start the supervisor thread."""
        try:
            self._backend = midi_backend(self.api)
            self._lister = PortLister(self.api)
        except (DeviceError, OSError, RuntimeError, ImportError) as exc:
            if self.requested_port and not self.wait:
                raise DeviceError(f"MIDI input {self.requested_port!r}: {exc}") from exc
            self.status, self.last_error = PortStatus.UNAVAILABLE, str(exc)
            return self
        self.status = PortStatus.WAITING
        self._check_ports()
        if self.status != PortStatus.CONNECTED and self.requested_port and not self.wait:
            names = self._lister.inputs()
            self.close()
            find_port(names, self.requested_port, "input", self.api)  # raises: none or several match
            raise DeviceError(f"MIDI input port {self.requested_port!r}: cannot open ({self.last_error})")
        self._thread = threading.Thread(target=self._supervise, name="latent-midi", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread, turn the LEDs off and close the ports."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        with self._io_lock:
            if self._output is not None:
                self._send(self._feedback.all_off())
                time.sleep(0.05)  # JACK sends from its process cycle: let the last LEDs leave
            self._close_input()
            self._close_output()
            if self._lister is not None:
                self._lister.close()
                self._lister = None
        self.status = PortStatus.CLOSED

    def __enter__(self) -> "MidiInput":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ consumer side

    def drain(self) -> list[Action]:
        """All pending Actions in arrival order; consecutive values of one fader/knob keep the last."""
        out: list[Action] = []
        while True:
            try:
                action = self._queue.get_nowait()
            except queue.Empty:
                return out
            if (out and action.name in _COALESCE and out[-1].name == action.name
                    and out[-1].args.get("unit") == action.args.get("unit")):
                out[-1] = action
            else:
                out.append(action)

    def submit(self, actions: Iterable[Action]) -> None:
        """Queue actions from elsewhere (keyboard, window) so drain() returns them in order too."""
        for action in actions:
            self._queue.put(action)
        self.notify()

    def notify(self) -> None:
        """The surface state changed outside MIDI (keyboard, sync): refresh the LEDs soon."""
        self._wake.set()

    def status_text(self) -> str:
        """One line for the window, e.g. ``MIDI nanoKONTROL2 SLIDER/KNOB: connected``."""
        name = self.port_name or " / ".join(self.patterns) or self.surface.map.name
        text = f"MIDI {name}: {self.status.value}"
        return f"{text} ({self.last_error})" if self.status == PortStatus.UNAVAILABLE else text

    # ------------------------------------------------------------------ MIDI thread

    def _on_message(self, msg: mido.Message) -> None:
        """rtmidi callback: translate at once, queue every action, wake the LED refresh."""
        self.n_messages += 1
        actions = self.surface.handle(msg)
        for action in actions:
            self._queue.put(action)
        control = self.surface.map.control(msg.control) if msg.type == "control_change" else None
        if control is not None and control.is_button:
            self._wake.set()  # buttons may change LEDs (shift) or start a hold; fader moves never do

    def _supervise(self) -> None:
        while not self._stop.is_set():
            timeout = self.poll_interval_s
            deadline = self.surface.next_deadline()
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - self.surface.now()) + 0.001)
            woke = self._wake.wait(timeout)
            if self._stop.is_set():
                return
            for action in self.surface.tick():
                self._queue.put(action)
                woke = True
            with self._io_lock:
                if woke:
                    self._wake.clear()
                    self._refresh_leds()
                else:
                    self._check_ports()
                    self._refresh_leds()

    def _check_ports(self) -> None:
        """Detect disappearance / (re)appearance of the input and LED output ports."""
        assert self._lister is not None and self._backend is not None  # set by start()
        try:
            inputs = self._lister.inputs()
            outputs = self._lister.outputs() if self.leds_enabled else []
        except (OSError, RuntimeError) as exc:
            self.last_error = str(exc)
            return
        if self._input is not None and self.port_name not in inputs:
            self._close_input()
            self.status = PortStatus.DISCONNECTED
        if self._output is not None and self.output_name not in outputs:
            self._close_output()
        if self._input is None:
            name = match_port(inputs, self.patterns, self.requested_port)
            if name is not None:
                try:
                    self._input = self._backend.open_input(name, callback=self._on_message)
                except (OSError, RuntimeError) as exc:
                    self.last_error = f"cannot open {name!r}: {exc}"
                else:
                    self.port_name = name
                    self.status = PortStatus.CONNECTED
                    self.surface.forget_positions()
                    self._feedback.reset()  # a replugged device lost its LEDs: resend all
        if self.leds_enabled and self._output is None:
            name = match_port(outputs, self.output_patterns, self.requested_output)
            if name is not None:
                try:
                    self._output = self._backend.open_output(name)
                except (OSError, RuntimeError) as exc:
                    self.last_error = f"cannot open LED output {name!r}: {exc}"
                else:
                    self.output_name = name
                    self._feedback.reset()

    def _refresh_leds(self) -> None:
        if self._output is not None:
            self._send(self._feedback.messages(self.surface.led_states()))

    def _send(self, messages: list[mido.Message]) -> None:
        assert self._output is not None
        try:
            for msg in messages:
                self._output.send(msg)
        except (OSError, RuntimeError) as exc:
            self.last_error = f"LED output {self.output_name!r}: {exc}"
            self._close_output()

    def _close_input(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None

    def _close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None
            self.output_name = None
            self._feedback.reset()
