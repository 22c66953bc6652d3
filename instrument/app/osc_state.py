"""OSC state out (``latent perform --osc-send HOST:PORT``): the engine's state ~30 times a second.

:class:`OscStateSender` is a thread of its own (never the audio callback, never the processing
thread): every ``1 / rate_hz`` seconds it reads the engine's display state -- plain attributes
and small arrays the processing thread updates in place, copied here; a value may be one hop
older than its neighbour, never a torn number -- and sends one OSC message per address of
:data:`STATE_ADDRESSES` with python-osc's UDP client. Unit lists are 0-based, one float per
unit of the heard model. A failed send (no route, buffer full) is counted, never raised.
"""

from __future__ import annotations

import math
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from pythonosc.udp_client import SimpleUDPClient

from instrument.errors import DeviceError

if TYPE_CHECKING:
    from instrument.engine.engine import Engine

#: Address -> OSC arguments sent there (the README's state table).
STATE_ADDRESSES: dict[str, str] = {
    "/latent/state/scales": "f per unit: fader scales (unit 0 first)",
    "/latent/state/knobs": "f per unit: knob multipliers",
    "/latent/state/activations": "f per unit: latent activations of the last frame",
    "/latent/state/model": "i s: index and name of the heard model",
    "/latent/state/bank": "i: bank of 8 units in view",
    "/latent/state/wet_dry": "f: transfer mix 0..1",
    "/latent/state/master_gain": "f: master gain in dB",
    "/latent/state/auto_gain": "i: loudness compensation on (1) / off (0)",
    "/latent/state/output_db": "f: peak of the last output hop in dBFS (-120 for silence)",
    "/latent/state/limiter_db": "f: the safety limiter's gain reduction in dB (0 = not limiting)",
    "/latent/state/transport": "i i: playing (1/0), synthesised sound (1) or original (0)",
    "/latent/state/time": "f: seconds of audio performed",
    "/latent/state/latency_ms": "f: engine latency in ms",
    "/latent/state/osc": "i i: OSC messages received, ignored",
}
#: The level reported for digital silence.
SILENCE_DB = -120.0


def resolve_target(host: str, port: int) -> None:
    """Check that ``host`` resolves for UDP; raises DeviceError naming ``--osc-send`` otherwise."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:  # socket.gaierror
        raise DeviceError(f"--osc-send {host}:{port}: cannot resolve host {host!r} ({exc})") from exc


def peak_db(hop: np.ndarray) -> float:
    """Peak magnitude of ``hop`` in dBFS, floored at :data:`SILENCE_DB`."""
    peak = float(np.max(np.abs(hop))) if hop.size else 0.0
    return max(SILENCE_DB, 20.0 * math.log10(peak)) if peak > 0.0 and math.isfinite(peak) else SILENCE_DB


def engine_state(engine: Engine, osc_counts: tuple[int, int]) -> list[tuple[str, list[Any]]]:
    """The messages of one state update, ``(address, args)`` in :data:`STATE_ADDRESSES` order."""
    state = engine.unit_state
    n_units = int(engine.n_units)  # a model-less engine keeps one placeholder unit: send none
    return [
        ("/latent/state/scales", state.scales[:n_units].tolist()),
        ("/latent/state/knobs", state.knobs[:n_units].tolist()),
        ("/latent/state/activations", engine.stage.latent.tolist()),
        ("/latent/state/model", [int(engine.model_index), str(engine.model_name)]),
        ("/latent/state/bank", [int(engine.bank)]),
        ("/latent/state/wet_dry", [float(engine.wet_dry)]),
        ("/latent/state/master_gain", [float(engine.master_gain_db)]),
        ("/latent/state/auto_gain", [int(bool(engine.auto_gain))]),
        ("/latent/state/output_db", [peak_db(engine.output_hop)]),
        ("/latent/state/limiter_db", [float(engine.limiter_meter_db)]),
        ("/latent/state/transport", [int(bool(engine.playing)), int(bool(engine.synth))]),
        ("/latent/state/time", [float(engine.time_s)]),
        ("/latent/state/latency_ms", [float(engine.latency_ms)]),
        ("/latent/state/osc", [int(osc_counts[0]), int(osc_counts[1])]),
    ]


class OscStateSender(threading.Thread):
    """Sends :func:`engine_state` to ``host:port`` every ``1 / rate_hz`` s until :meth:`stop`.

    Args:
        engine: the running ``instrument.engine.engine.Engine`` (read only).
        host, port: where to send (a name is resolved once, here).
        osc_counts: returns (received, ignored) of the OSC input; None: (0, 0).
        rate_hz: updates per second (the window's 30 by default).
    Raises:
        DeviceError: ``host`` cannot be resolved, naming it.
    """

    def __init__(self, engine: Engine, host: str, port: int,
                 osc_counts: Callable[[], tuple[int, int]] | None = None, rate_hz: float = 30.0) -> None:
        super().__init__(name="latent-osc-out", daemon=True)
        self.engine = engine
        self.target = f"{host}:{port}"
        resolve_target(host, port)
        self._client = SimpleUDPClient(host, int(port))
        self._osc_counts = osc_counts or (lambda: (0, 0))
        self.period_s = 1.0 / float(rate_hz)
        self.updates = 0
        self.send_errors = 0
        self.last_error = ""
        self._finish = threading.Event()

    def send_once(self) -> None:
        """Send one state update now (counts a failed send instead of raising)."""
        try:
            for address, args in engine_state(self.engine, self._osc_counts()):
                self._client.send_message(address, args)
        except OSError as exc:
            self.send_errors += 1
            self.last_error = f"OSC state to {self.target}: {exc}"
            return
        self.updates += 1

    def run(self) -> None:
        while not self._finish.wait(self.period_s):  # sleeps between updates: no busy wait
            self.send_once()

    def stop(self) -> None:
        """End the thread (the last update in flight completes) and close the socket."""
        self._finish.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=2.0)
        self._client.close()
