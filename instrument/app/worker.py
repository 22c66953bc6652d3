"""The processing thread of ``latent perform``: runs the engine hop by hop off the audio callback.

* Before each hop it takes EVERY action that arrived on the one control ->
  processing queue (:class:`ActionInbox`, or ``controllers.ports.MidiInput``)
  since the last hop, in arrival order, and applies them all at that hop
  boundary (``engine.apply_all``); each applied action is logged with
  ``time = hop_index * hop_seconds`` (``instrument.engine.engine.time_for_hop``).
* It keeps the output ring filled ``ahead_hops`` hops ahead of the callback.
  Nothing busy-waits: while the ring is full it sleeps on the stop Event with a
  timeout equal to the time until the ring needs the next hop. With live input
  it is paced by the input ring instead.
* It measures its own CPU load (thread CPU time / wall time) and the time it
  spends per hop relative to the hop duration, and publishes display snapshots
  on the one processing -> display queue.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from controllers.actions import Action
from instrument.app.window import DisplaySnapshot
from instrument.io.eventlog import EventLog
from instrument.io.recorder import WavRecorder
from instrument.io.ringbuffer import RingBuffer


#: Actions after which the control side's mirror (soft takeover, LEDs) is re-synced to the engine.
_SYNC_ACTIONS = ("zero_all", "reset_all", "recall_scene", "next_scene", "prev_scene", "switch_model",
                 "next_model", "prev_model", "play_pause", "stop")


class HopEngine(Protocol):
    """What the worker needs from ``instrument.engine.engine.Engine``."""

    def process_hop(self, input_hop: np.ndarray | None) -> np.ndarray: ...

    def apply_all(self, actions: Sequence[Action], strict: bool = True) -> list[tuple[Action, Exception]]: ...


@dataclass
class WorkerStats:
    """Figures the worker publishes (plain numbers; read by any thread)."""

    hops: int = 0
    actions_applied: int = 0
    cpu_load: float = 0.0  # thread CPU seconds / wall seconds over the last window
    cpu_load_max: float = 0.0
    dsp_load: float = 0.0  # mean seconds per hop / hop seconds over the last window
    dsp_load_max: float = 0.0
    max_hop_ms: float = 0.0
    mean_cpu_load: float = 0.0  # thread CPU seconds / wall seconds since the first hop
    action_errors: list[str] = field(default_factory=list)


class ActionInbox:
    """The one control -> processing queue (used when no MIDI input owns it).

    Same interface as ``controllers.ports.MidiInput``: ``submit`` from any control
    thread, ``drain`` (every pending action, in order) from the processing thread.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Action] = queue.SimpleQueue()

    def submit(self, actions: Sequence[Action]) -> None:
        for action in actions:
            self._queue.put(action)

    def drain(self) -> list[Action]:
        out: list[Action] = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out


class ProcessingWorker(threading.Thread):
    """Runs the engine hop by hop off the audio callback.

    Args:
        engine: the :class:`HopEngine`.
        hop_length: samples per hop.
        sample_rate: Hz.
        out_ring: ring read by the audio callback.
        inbox: the ONE control -> processing queue (:class:`ActionInbox` or ``MidiInput``).
        snapshots: the ONE processing -> display queue (``None`` when headless).
        stop: set by anyone to end the performance; the worker sets it itself on a
            ``quit`` action or when ``max_hops`` are done.
        ahead_hops: hops of output kept queued ahead of the callback.
        in_ring: live input ring (the worker then paces itself on the input).
        recorder / event_log: optional background writers.
        max_hops: stop after this many hops (``--duration``).
        snapshot_fn: builds the engine part of a display snapshot.
        snapshot_hz: snapshots per second.
    """

    def __init__(self, engine: HopEngine, hop_length: int, sample_rate: int, out_ring: RingBuffer,
                 inbox: "ActionInbox", snapshots: "queue.Queue[DisplaySnapshot] | None",
                 stop: threading.Event, ahead_hops: int = 4, in_ring: RingBuffer | None = None,
                 recorder: WavRecorder | None = None, event_log: EventLog | None = None,
                 max_hops: int | None = None,
                 snapshot_fn: Callable[[Any], DisplaySnapshot] | None = None,
                 snapshot_hz: float = 30.0, status_fn: Callable[[], dict[str, Any]] | None = None,
                 truth_fn: Callable[[Any], dict[str, Any]] | None = None,
                 input_tap: Callable[[np.ndarray], Any] | None = None,
                 n_bins: int | None = None) -> None:
        super().__init__(name="latent-processing", daemon=True)
        self.engine = engine
        self.hop_length = hop_length
        self.sample_rate = sample_rate
        self.hop_seconds = hop_length / sample_rate
        self.out_ring = out_ring
        self.in_ring = in_ring
        self.inbox = inbox
        self.snapshots = snapshots
        self.stop_event = stop
        self.ahead_frames = ahead_hops * hop_length
        self.recorder = recorder
        self.event_log = event_log
        self.max_hops = max_hops
        self.snapshot_fn = snapshot_fn
        self.status_fn = status_fn
        self.truth_fn = truth_fn
        self.input_tap = input_tap
        self._truth_due = truth_fn is not None
        self.snapshot_every = max(1, int(round(1.0 / (snapshot_hz * self.hop_seconds))))
        self.stats = WorkerStats()
        self.quit_requested = False
        self.finished = threading.Event()
        self.primed = threading.Event()  # set once the output ring is filled ahead
        self.error: BaseException | None = None
        self._pending: list[Action] = []
        self._input_hop = np.zeros(hop_length, np.float32)
        self.hop_index = 0
        n_bins = n_bins or 1
        self._in_frames = np.zeros((self.snapshot_every * 4, n_bins), np.float32)
        self._out_frames = np.zeros((self.snapshot_every * 4, n_bins), np.float32)
        self._frames_since = 0

    # -- pacing ---------------------------------------------------------------------------------
    def _ready(self) -> bool:
        """True when the next hop should be computed now."""
        if self.in_ring is not None:
            return self.in_ring.available_read() >= self.hop_length
        return self.out_ring.available_read() < self.ahead_frames

    def _wait_time(self) -> float:
        """Seconds until the next hop is due (a timeout for blocking on the queue)."""
        if self.in_ring is not None:
            missing = self.hop_length - self.in_ring.available_read()
        else:
            missing = self.out_ring.available_read() - self.ahead_frames + 1
        return min(0.05, max(0.0005, missing / self.sample_rate))

    def _take_actions(self) -> None:
        """Move every action received so far, in arrival order, to the pending list."""
        self._pending.extend(self.inbox.drain())

    # -- one hop --------------------------------------------------------------------------------
    def _apply_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        # a bad action (e.g. a unit past the model's last) is skipped and reported, never fatal
        failed = self.engine.apply_all(batch, strict=False)
        for action, exc in failed[:20]:
            if len(self.stats.action_errors) < 20:
                self.stats.action_errors.append(f"{action.name}: {exc}")
        if failed:  # only applied actions are logged, so `latent render` can replay the log
            skipped = {id(action) for action, _ in failed}
            batch = [a for a in batch if id(a) not in skipped]
        if self.event_log is not None:
            for action in batch:
                self.event_log.log(self.hop_index, action)
        self.stats.actions_applied += len(batch)
        if any(a.name in _SYNC_ACTIONS for a in batch):
            self._truth_due = self.truth_fn is not None
        if any(a.name == "quit" for a in batch):
            self.quit_requested = True

    def _process_one(self) -> None:
        input_hop = None
        if self.in_ring is not None:
            self.in_ring.read_into(self._input_hop, fill_underflow=False)
            input_hop = self._input_hop
        out = self.engine.process_hop(input_hop)
        if self.input_tap is not None:  # e.g. the inversion follower's queue (copies, never blocks)
            self.input_tap(self.engine.input_hop)
        self.out_ring.write(out)
        if self.recorder is not None:
            self.recorder.push(out)
        self.hop_index += 1
        self.stats.hops = self.hop_index

    def _collect_frames(self) -> None:
        """Keep ``log1p`` of this hop's input/output magnitude frames for the spectrogram."""
        if self.snapshots is None:
            return
        in_mag = getattr(self.engine, "input_magnitude", None)
        out_mag = getattr(self.engine, "output_magnitude", None)
        i = self._frames_since
        if in_mag is None or out_mag is None or i >= len(self._in_frames):
            return
        if self._in_frames.shape[1] != len(in_mag):
            self._in_frames = np.zeros((len(self._in_frames), len(in_mag)), np.float32)
            self._out_frames = np.zeros_like(self._in_frames)
        np.log1p(in_mag, out=self._in_frames[i])
        np.log1p(out_mag, out=self._out_frames[i])
        self._frames_since += 1

    def _publish(self) -> None:
        if self.snapshots is None or self.snapshot_fn is None:
            return
        snapshot = self.snapshot_fn(self.engine)
        k = self._frames_since
        snapshot.in_frames = self._in_frames[:k].copy()
        snapshot.out_frames = self._out_frames[:k].copy()
        self._frames_since = 0
        snapshot.hop_index = self.hop_index
        snapshot.time_s = self.hop_index * self.hop_seconds
        snapshot.cpu_load = self.stats.cpu_load
        snapshot.dsp_load = self.stats.dsp_load
        if self.status_fn is not None:
            for key, value in self.status_fn().items():
                setattr(snapshot, key, value)
        if self._truth_due and self.truth_fn is not None:
            snapshot.unit_truth = self.truth_fn(self.engine)
        try:
            self.snapshots.put_nowait(snapshot)
            self._truth_due = False
        except queue.Full:  # the window is behind: drop this one, never block
            pass

    def run(self) -> None:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        start_wall, start_cpu = wall0, cpu0
        busy = 0.0
        hops_in_window = 0
        try:
            while not self.stop_event.is_set():
                if self.max_hops is not None and self.hop_index >= self.max_hops:
                    break
                if not self._ready():
                    self.primed.set()
                    self.stop_event.wait(self._wait_time())  # sleeps until the next hop is due
                    continue
                t0 = time.perf_counter()
                self._take_actions()
                self._apply_pending()  # every action received, in order, at this boundary
                if self.quit_requested:
                    break
                self._process_one()
                self._collect_frames()
                if self.hop_index % self.snapshot_every == 0:
                    self._publish()
                t1 = time.perf_counter()
                busy += t1 - t0
                hops_in_window += 1
                self.stats.max_hop_ms = max(self.stats.max_hop_ms, 1000 * (t1 - t0))
                if t1 - wall0 >= 0.5:
                    cpu1 = time.thread_time()
                    self.stats.cpu_load = (cpu1 - cpu0) / (t1 - wall0)
                    self.stats.dsp_load = busy / (hops_in_window * self.hop_seconds)
                    self.stats.cpu_load_max = max(self.stats.cpu_load_max, self.stats.cpu_load)
                    self.stats.dsp_load_max = max(self.stats.dsp_load_max, self.stats.dsp_load)
                    self.stats.mean_cpu_load = (cpu1 - start_cpu) / (t1 - start_wall)
                    wall0, cpu0, busy, hops_in_window = t1, cpu1, 0.0, 0
            # actions that arrived after the last hop are still logged (applied at the end)
            self._take_actions()
            if self._pending and self.event_log is not None:
                for action in self._pending:
                    self.event_log.log(self.hop_index, action)
            self._pending = []
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            self.finished.set()
            self.primed.set()
            self.stop_event.set()
