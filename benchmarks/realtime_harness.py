"""Sound-card harness of ``latent bench realtime``: play an engine on a private JACK dummy server.

:func:`underflow_run` plays the pipeline for a number of seconds through a
sounddevice output stream on a :class:`benchmarks.jack_server.JackServer`
(``jackd -n <unique> -d dummy -r 22050 -p 256``), wired as ``latent perform``
wires it (``instrument.io.devices.AudioIO``, ``instrument.app.worker.ProcessingWorker``,
PortAudio latency ``"high"``, GIL switch interval 1 ms, ring filled before the
stream starts), optionally with a busy loop on the other core, and counts ring
underflows, PortAudio status flags (and at which callback they came), jackd's
own xrun reports and the scheduling of every thread involved.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any, Sequence

import numpy as np

from benchmarks.jack_server import JackServer, reinit_portaudio, terminate_portaudio
from benchmarks.realtime_measure import block_text
from instrument.app.worker import ActionInbox, ProcessingWorker
from instrument.engine.engine import Engine
from instrument.errors import DeviceError
from instrument.inversion.follower import InversionWorker
from instrument.io.devices import AudioIO
from instrument.io.scheduling import realtime_scheduling

JACK_PERIOD = 256
#: as ``latent perform``: PortAudio latency and the GIL switch interval of the live app
STREAM_LATENCY = "high"
SWITCH_INTERVAL_S = 0.001


def xrun_lines(jackd_output: str) -> list[str]:
    """jackd's own xrun reports (lines of its output mentioning xrun)."""
    return [line for line in jackd_output.splitlines() if "xrun" in line.lower()]


def xrun_summary(jackd_output: str) -> str:
    """jackd's xrun lines by cause: our client late (started / not started) or the driver itself."""
    lines = xrun_lines(jackd_output)
    running = sum("not finished" in line and "Running" in line for line in lines)
    triggered = sum("not finished" in line and "Triggered" in line for line in lines)
    driver = sum("Driver" in line for line in lines)
    other = len(lines) - running - triggered - driver
    return (f"{running} client started but not finished in the period, {triggered} client not started,"
            f" {driver} driver overruns, {other} other")


def thread_scheduling(pid: int, tids: Sequence[int] | None = None) -> str:
    """Highest-priority scheduling of ``pid``'s threads (or of ``tids``): ``FIFO 10``, ``OTHER``..."""
    names = {os.SCHED_OTHER: "OTHER", os.SCHED_FIFO: "FIFO", os.SCHED_RR: "RR"}
    best: tuple[int, str] = (-1, "unknown")
    try:
        ids = list(tids) if tids is not None else [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return "unknown"
    for tid in ids:
        try:
            policy = os.sched_getscheduler(tid)
            priority = os.sched_getparam(tid).sched_priority
        except OSError:
            continue
        rank = priority + (1000 if policy in (os.SCHED_FIFO, os.SCHED_RR) else 0)
        if rank > best[0]:
            best = (rank, f"{names.get(policy, str(policy))} {priority}" if priority else names.get(policy, "?"))
    return best[1]


def _jack_output_device(sd: Any) -> int:
    for _ in range(3):
        apis = [i for i, api in enumerate(sd.query_hostapis()) if "JACK" in api["name"]]
        if apis:
            device = sd.query_hostapis(apis[0])["default_output_device"]
            if device is not None and device >= 0:
                return int(device)
        sd._terminate()
        sd._initialize()
        time.sleep(0.3)
    raise DeviceError("PortAudio does not see the JACK dummy server")


def _start_busy_loop() -> subprocess.Popen:
    """A second process spinning on the other core for the whole run."""
    return subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _counting_io(sample_rate: int, ring_frames: int, device: int, latency: str | float,
                 measured_callbacks: int) -> Any:
    """An ``AudioIO`` whose callback also notes which status flags came at which callback.

    The callback stays real-time safe: integer updates and one store into a
    preallocated array, then the app's own copy-only callback.
    """
    class CountingIO(AudioIO):
        def __init__(self) -> None:
            super().__init__(sample_rate, JACK_PERIOD, ring_frames, device=device, latency=latency)
            self.flag_output_underflow = 0
            self.flag_priming = 0
            self.flag_other = 0
            self.flagged_at = np.full(256, -1, np.int64)
            self.n_flagged = 0
            self.min_level = ring_frames
            self.measured_callbacks = measured_callbacks

        def _callback_out(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if status:
                if status.output_underflow:
                    self.flag_output_underflow += 1
                elif status.priming_output:
                    self.flag_priming += 1
                else:
                    self.flag_other += 1
                if self.n_flagged < 256:
                    self.flagged_at[self.n_flagged] = self._callbacks
                self.n_flagged += 1
            if self._callbacks < self.measured_callbacks:
                level = self.out_ring.available_read()
                if level < self.min_level:
                    self.min_level = level
            AudioIO._callback_out(self, outdata, frames, time_info, status)

    return CountingIO()


def underflow_run(engine: Engine, seconds: float, ahead_hops: int = 6, load_other_core: bool = True,
                  latency: str | float = STREAM_LATENCY, follower: Any = None,
                  rt_priority: int | None = None) -> dict[str, Any]:
    """Play ``engine`` for ``seconds`` on a private JACK dummy server; count underflows.

    ``follower``: an inversion follower fed every input hop through an
    ``InversionWorker`` (as ``latent perform --invert-model``), messages counted.
    ``rt_priority``: run the processing thread SCHED_FIFO at this priority (needs
    the right to; the result says whether it was applied).
    """
    with JackServer(engine.spectral.sample_rate, JACK_PERIOD) as server:
        busy = _start_busy_loop() if load_other_core else None
        switch = sys.getswitchinterval()
        try:
            reinit_portaudio()  # so PortAudio sees this run's server
            return _play(engine, server, seconds, ahead_hops, latency, follower, rt_priority)
        finally:
            sys.setswitchinterval(switch)
            terminate_portaudio()
            if busy is not None:
                busy.terminate()
                busy.wait(timeout=5)


def _play(engine: Engine, server: JackServer, seconds: float, ahead_hops: int, latency: str | float,
          follower: Any, rt_priority: int | None) -> dict[str, Any]:
    """The run of :func:`underflow_run` on a started ``server``; closes the stream and the follower."""
    import sounddevice as sd

    sample_rate = engine.spectral.sample_rate
    hop = engine.hop_length
    device = _jack_output_device(sd)
    ring_frames = (ahead_hops + 4) * hop + 2 * JACK_PERIOD
    measured = int(seconds * sample_rate / JACK_PERIOD) - ahead_hops * hop // JACK_PERIOD - 2
    io = _counting_io(sample_rate, ring_frames, device, latency, measured)
    inversion = None
    try:
        stop = threading.Event()
        max_hops = int(np.ceil(seconds * sample_rate / hop))
        tap = None
        sent = [0]
        if follower is not None:
            inversion = InversionWorker(follower, lambda messages: sent.__setitem__(0, sent[0] + len(messages)))
            inversion.start()
            tap = inversion.submit
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        worker = ProcessingWorker(engine, hop, sample_rate, io.out_ring, ActionInbox(), None, stop,
                                  ahead_hops=ahead_hops, max_hops=max_hops, input_tap=tap)
        worker.start()  # fills the ring ahead, then paces itself on the callback's reads
        worker_scheduling = "OTHER"
        if rt_priority is not None:
            applied = realtime_scheduling(worker.native_id, rt_priority)
            worker_scheduling = f"FIFO {rt_priority}" if applied else "OTHER (FIFO not permitted)"
        worker.primed.wait(60.0)
        prefilled = io.out_ring.available_read()
        io.start()
        deadline = time.monotonic() + seconds + 30.0
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.1)
        stats = io.stats()  # before the ring drains: the tail after the last hop is not an underflow
        stop.set()
        worker.join(timeout=5.0)
        flagged = [int(i) for i in io.flagged_at[:min(io.n_flagged, 256)]]
        jackd_output = server.output()
        result = {"seconds": seconds, "underflows": stats.output_underflows,
                  "underflow_frames": stats.output_underflow_frames, "xruns": stats.status_xruns,
                  "callbacks": stats.callbacks, "server": server.name,
                  "flag_output_underflow": io.flag_output_underflow, "flag_priming": io.flag_priming,
                  "flag_other": io.flag_other, "flagged_at": flagged,
                  "startup_flags": sum(1 for i in flagged if i * JACK_PERIOD < sample_rate),
                  "min_ahead_ms": 1000.0 * io.min_level / sample_rate,
                  "prefill_ms": 1000.0 * prefilled / sample_rate,
                  "jack_xruns": len(xrun_lines(jackd_output)), "jack_xrun_summary": xrun_summary(jackd_output),
                  "jack_scheduling": thread_scheduling(server.pid), "latency": latency,
                  "worker_scheduling": worker_scheduling,
                  "callback_scheduling": thread_scheduling(os.getpid()),
                  "stream_latency_ms": 1000.0 * io.output_latency_s,
                  "block": block_text(engine), "max_hop_ms": float(worker.stats.max_hop_ms)}
        if inversion is not None:
            inversion.stop(timeout=10.0)
            result.update(inversion_calls=follower.inferences, inversion_dropped=inversion.dropped,
                          inversion_messages=sent[0],
                          inversion_error=None if inversion.error is None else repr(inversion.error))
            inversion = None
        return result
    finally:
        if inversion is not None:
            inversion.stop(timeout=10.0)
        io.close()
