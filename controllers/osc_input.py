"""OSC input on a background thread: every message of the address space becomes an Action.

:class:`OscInput` binds a UDP port with python-osc's ``BlockingOSCUDPServer`` when it is made (so
a taken port fails at once, before any model loads) and serves it on its own thread once started.
Messages are handled one at a time, in arrival order, on that thread: each goes through
:func:`controllers.osc.osc_to_action` and the action is handed to ``submit`` -- the same
control -> processing queue the MIDI input feeds (``controllers.ports.MidiInput.submit`` or
``instrument.app.worker.ActionInbox.submit``), so OSC actions are applied at the next hop
boundary, logged in the event log and replayed exactly like MIDI ones.

A message that does not fit (unknown address, wrong arguments, unit out of range) and a datagram
that is not OSC at all are ignored and counted (:attr:`OscInput.ignored`, last reason in
:attr:`OscInput.last_error`); nothing a sender does stops the thread. Bundles are unpacked and
their messages handled at once (time tags are not waited for).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from controllers.actions import Action
from controllers.osc import osc_to_action
from instrument.errors import DeviceError, OscMessageError

#: Seconds between checks of the shutdown flag while no datagram arrives (socketserver's poll).
POLL_INTERVAL_S = 0.25


class _CountingServer(BlockingOSCUDPServer):
    """python-osc's blocking UDP server that also counts datagrams that are not OSC."""

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher,
                 on_not_osc: Callable[[], None]) -> None:
        self._on_not_osc = on_not_osc
        super().__init__(address, dispatcher)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        ok = super().verify_request(request, client_address)
        if not ok:
            self._on_not_osc()
        return ok


class OscInput:
    """The OSC control port: bound on construction, served on a thread after :meth:`start`.

    Args:
        port: UDP port, 1..65535.
        host: address to bind (default ``127.0.0.1``: this machine only; ``0.0.0.0`` for the network).
    Raises:
        DeviceError: the port cannot be bound (taken, not permitted, unknown host), naming it.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = int(port)
        self.received = 0  # every message and non-OSC datagram that arrived
        self.ignored = 0  # of those, the ones not turned into an action
        self.last_error = ""
        self._submit: Callable[[Sequence[Action]], Any] | None = None
        self._n_units: Callable[[], int] = lambda: 0
        dispatcher = Dispatcher(strict_timing=False)  # never sleep on a bundle's time tag
        dispatcher.set_default_handler(self._on_message)
        try:
            self._server = _CountingServer((host, self.port), dispatcher, self._on_not_osc)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DeviceError(f"OSC port {self.port} on {host}: cannot bind ({reason})") from exc
        self.port = int(self._server.server_address[1])  # the real port when 0 was asked for
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, submit: Callable[[Sequence[Action]], Any], n_units: Callable[[], int]) -> "OscInput":
        """Serve on a thread; actions go to ``submit``; units are checked against ``n_units()``."""
        self._submit = submit
        self._n_units = n_units
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_INTERVAL_S,),
                                        name="latent-osc-in", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread (if started) and release the port."""
        if self._thread is not None:
            self._server.shutdown()  # returns once serve_forever has ended
            self._thread.join(timeout=5.0)
            self._thread = None
        self._server.server_close()

    def status_text(self) -> str:
        """One line for the window and the summary, e.g. ``OSC: 12 received, 1 ignored``."""
        return f"OSC: {self.received} received, {self.ignored} ignored"

    # ------------------------------------------------------------------ OSC thread

    def _reject(self, reason: str) -> None:
        self.ignored += 1
        self.last_error = reason

    def _on_not_osc(self) -> None:
        self.received += 1
        self._reject(f"a datagram on port {self.port} is not an OSC message")

    def _on_message(self, address: str, *args: Any) -> None:
        """python-osc handler for every address: translate, then queue or count as ignored."""
        self.received += 1
        try:
            action = osc_to_action(address, args, self._n_units())
        except OscMessageError as exc:
            self._reject(str(exc))
            return
        if self._submit is None:
            self._reject(f"{address}: OSC input is not started")
            return
        self._submit([action])
