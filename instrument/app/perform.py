"""Thread wiring of ``latent perform``.

::

    MIDI thread (controllers.ports) ─┐
    window / keyboard (main thread) ─┴─► action queue ──► ProcessingWorker ─► output RingBuffer ─► audio callback
                                                          (engine, model,        ▲                (copies only)
                                   display queue ◄──────── phase; recorder,      └── input RingBuffer ◄── (live input)
                                   (snapshots, status)     event log)

* Exactly one queue per direction: :class:`controllers.actions.Action` objects
  go in on the action queue (``controllers.ports.MidiInput``'s queue, which the
  MIDI callback and the window's ``submit`` both feed, or :class:`ActionInbox`
  without MIDI); :class:`instrument.app.window.DisplaySnapshot` objects come out on
  ``snapshots`` (display state, CPU load, xruns, and the engine's unit state
  after zero/reset/scene actions so soft takeover and LEDs stay in sync).
* The worker keeps the output ring filled ``ahead_hops`` hops ahead of the
  callback. Before each hop it takes EVERY action that arrived since the last
  hop, in arrival order, and applies them all at that hop boundary
  (``engine.apply_all``); each applied action is logged with
  ``time = hop_index * hop_seconds`` (``instrument.engine.engine.time_for_hop``).
* Nothing busy-waits: while the ring is full the worker sleeps on the stop
  Event with a timeout equal to the time until the ring needs the next hop
  (actions are only applied at hop boundaries, so waking earlier gains nothing).
  With live input it is paced by the input ring instead.
* The worker measures its own CPU load (thread CPU time / wall time) and the
  time it spends per hop relative to the hop duration.
* The recorder gets the engine's output hops (not the device output), minus
  the engine latency: the same samples ``latent render`` produces.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from controllers.actions import Action
from instrument.io.eventlog import EventLog
from instrument.io.recorder import WavRecorder
from instrument.io.ringbuffer import RingBuffer
from instrument.app.window import BANK_SIZE, DisplaySnapshot


#: Actions after which the control side's mirror (soft takeover, LEDs) is re-synced to the engine.
_SYNC_ACTIONS = ("zero_all", "reset_all", "recall_scene", "next_scene", "prev_scene", "switch_model",
                 "play_pause", "stop")


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


class EngineView:
    """Builds display snapshots from ``instrument.engine.engine.Engine``'s display state (worker thread)."""

    def __init__(self) -> None:
        self._latent = np.zeros(BANK_SIZE, np.float32)
        self._scales = np.zeros(BANK_SIZE, np.float32)

    def __call__(self, engine: Any) -> DisplaySnapshot:
        view = engine.units_in_view
        count = len(view)
        units = np.full(BANK_SIZE, -1)
        units[:count] = np.arange(view.start, view.stop)
        state = engine.unit_state
        knobs = np.zeros(BANK_SIZE, np.float32)
        muted = np.zeros(BANK_SIZE, bool)
        soloed = np.zeros(BANK_SIZE, bool)
        knobs[:count] = state.knobs[view.start:view.stop]
        muted[:count] = state.muted[view.start:view.stop]
        soloed[:count] = state.soloed[view.start:view.stop]
        source = engine.source
        return DisplaySnapshot(
            model_name=engine.model_name, n_units=engine.n_units, bank=engine.bank, units=units,
            scales=engine.scales_view(self._scales).copy(),
            activations=engine.latent_view(self._latent).copy(),
            knobs=knobs, muted=muted, soloed=soloed, source_mode=engine.source_mode,
            synth=bool(engine.synth), playing=bool(engine.playing),
            progress=getattr(source, "progress", None), latency_ms=float(engine.latency_ms))


@dataclass
class PerformSummary:
    """What a performance did, printed at exit."""

    hops: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    stopped_by: str = ""
    underflows: int = 0
    underflow_frames: int = 0
    status_xruns: int = 0
    callbacks: int = 0
    cpu_load_max: float = 0.0
    dsp_load_max: float = 0.0
    max_hop_ms: float = 0.0
    mean_cpu_load: float = 0.0
    latency_ms: float = 0.0
    actions_applied: int = 0
    midi_messages: int = 0
    record: str | None = None
    recorded_frames: int = 0
    log_events: str | None = None
    events_logged: int = 0
    action_errors: list[str] = field(default_factory=list)
    inversion: str = ""

    def report(self) -> str:
        lines = [
            f"performed {self.seconds:.2f} s ({self.hops} hops) in {self.wall_seconds:.2f} s; "
            f"stopped by {self.stopped_by}",
            f"audio: {self.callbacks} callbacks, {self.underflows} ring underflows "
            f"({self.underflow_frames} frames), {self.status_xruns} PortAudio xrun flags; "
            f"engine latency {self.latency_ms:.1f} ms",
            f"processing thread: CPU load mean {100 * self.mean_cpu_load:.1f}% "
            f"(max {100 * self.cpu_load_max:.1f}% per 0.5 s), "
            f"slowest hop {self.max_hop_ms:.1f} ms",
            f"control: {self.actions_applied} actions applied, {self.midi_messages} MIDI messages",
        ]
        if self.record:
            lines.append(f"recorded {self.recorded_frames} frames to {self.record}")
        if self.log_events:
            lines.append(f"logged {self.events_logged} events to {self.log_events}")
        if self.inversion:
            lines.append(self.inversion)
        for err in self.action_errors[:5]:
            lines.append(f"skipped action: {err}")
        return "\n".join(lines)


def _unit_truth(engine: Any) -> dict[str, Any]:
    """The engine's full control state, for ``ControlSurface.sync`` on the control side."""
    state = engine.unit_state
    return {"scales": state.scales.tolist(), "knobs": state.knobs.tolist(),
            "solo": state.soloed.tolist(), "mute": state.muted.tolist(),
            "playing": bool(engine.playing), "synth": bool(engine.synth)}


def perform(model_paths: Sequence[Any], source: tuple[str, Any], loop: bool = True, seed: int = 0,
            phase_lookahead: int | None = None, phase_iterations: int | None = None, device: Any = None,
            blocksize: int = 256, latency: Any = "high", ahead_hops: int = 6,
            controller: str = "nanokontrol2", midi_in: str | None = None, midi_out: str | None = None,
            midi_api: str | None = None, use_midi: bool = True, learn: bool = False,
            record: Any = None, log_events: Any = None, headless: bool = False,
            screenshot: Any = None, duration_s: float | None = None,
            scenes_dir: Any = None, invert_model: Any = None,
            invert_midi_out: str | None = None, realtime_priority: int = 1,
            block_frames: int | None = None, compute_hops: int | None = None) -> PerformSummary:
    """Run a live performance until quit, ``duration_s``, Ctrl-C or SIGTERM (see module doc).

    ``realtime_priority`` (1..99; 0 = leave it) runs the processing thread SCHED_FIFO where the
    system permits, so other processes cannot preempt it while it holds the GIL the audio
    callback needs. ``block_frames`` / ``compute_hops`` tune block-mode (non-causal) models
    (see :class:`instrument.engine.engine.Engine`).

    Raises:
        DeviceError: no audio device / display / MIDI port named explicitly.
        ModelError, AudioFileError, ConfigError, ControllerMapError: bad inputs.
    """
    import dataclasses
    import signal
    import sys

    from controllers.maps import load_map
    from controllers.surface import ControlSurface
    from instrument.io.audio_files import load_audio
    from instrument.engine.engine import Engine, make_source
    from instrument.io.scheduling import realtime_scheduling
    from instrument.errors import DeviceError
    from instrument.io.devices import AudioIO, resolve_device
    from instrument.app.render import load_models
    from instrument.engine.scenes import SceneBook
    from instrument.app.window import PerformanceWindow, display_available

    # -- everything that can fail on user input fails before anything starts ---------------------
    if learn:
        from controllers.learn import run_learn
        learned = Path(controller) if str(controller).endswith((".yaml", ".yml")) else Path("learned-map.yaml")
        cmap = run_learn(learned, port=midi_in, api=midi_api)
    else:
        cmap = load_map(controller)
    if midi_out:  # LED feedback on the named port instead of the map's
        cmap = dataclasses.replace(cmap, leds=dataclasses.replace(cmap.leds, enabled=True, ports=(midi_out,)))
    window = None
    if not headless and not display_available():
        raise DeviceError("no display for the performance window (DISPLAY is not set): "
                          "use --headless, or SDL_VIDEODRIVER=dummy to draw off-screen")
    resolve_device(device, "output")  # no sound card: say so before the (slow) model load
    if source[0] == "live":
        resolve_device(device, "input")
    models, names, spectral = load_models(list(model_paths))
    mode, path = source
    audio_in = load_audio(path, spectral.audio) if mode == "file" else None
    scenes = SceneBook.from_dir(scenes_dir) if scenes_dir is not None else None
    from instrument.engine.engine import DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD
    phase_lookahead = DEFAULT_PHASE_LOOKAHEAD if phase_lookahead is None else phase_lookahead
    phase_iterations = DEFAULT_PHASE_ITERATIONS if phase_iterations is None else phase_iterations
    engine = Engine(spectral, models, model_names=names,
                    source=make_source(mode, spectral.stft.hop_length, audio_in, loop=loop),
                    phase_lookahead=phase_lookahead, phase_iterations=phase_iterations, seed=seed,
                    scenes=scenes, block_frames=block_frames, compute_hops=compute_hops)
    hop = spectral.stft.hop_length
    sample_rate = spectral.sample_rate
    ahead_hops = max(ahead_hops, -(-blocksize // hop) + 1)  # at least one callback block ahead
    ring_frames = (ahead_hops + 4) * hop + 2 * max(blocksize, hop)
    io = AudioIO(sample_rate, blocksize, ring_frames, device=device, latency=latency,
                 live_input=(mode == "live"))

    stop = threading.Event()
    stopped_by = ["quit"]
    snapshots: "queue.Queue[DisplaySnapshot]" = queue.Queue(maxsize=64)
    surface = ControlSurface(cmap, max(1, engine.n_units))  # shared by MIDI and the computer keyboard
    surface.sync(playing=engine.playing, synth=engine.synth)
    midi = None
    inbox: Any = ActionInbox()
    if use_midi:
        from controllers.ports import MidiInput
        midi = MidiInput(surface, api=midi_api, port=midi_in, leds=True)
        inbox = midi
    # the recording is the engine's output hops (not the device output) minus the engine latency:
    # sample k lines up with input sample k and equals `latent render` sample k for the same log
    recorder = WavRecorder(record, sample_rate, skip_frames=engine.latency_samples) if record else None
    event_log = EventLog(log_events, spectral.hop_seconds) if log_events else None
    max_hops = int(np.ceil(duration_s * sample_rate / hop)) if duration_s else None
    view = EngineView()
    follower = _open_inversion_follower(invert_model, invert_midi_out, midi_api, sample_rate) \
        if invert_model else None

    def status() -> dict[str, Any]:
        stats = io.stats()
        out: dict[str, Any] = {"xruns": stats.xruns, "underflows": stats.output_underflows,
                               "ahead_ms": 1000.0 * io.out_ring.available_read() / sample_rate}
        return out

    worker = ProcessingWorker(engine, hop, sample_rate, io.out_ring, inbox, snapshots, stop,
                              ahead_hops=ahead_hops, in_ring=io.in_ring if mode == "live" else None,
                              recorder=recorder, event_log=event_log, max_hops=max_hops,
                              snapshot_fn=view, snapshot_hz=30.0 if not headless else 5.0,
                              status_fn=status, truth_fn=_unit_truth,
                              input_tap=follower[0].submit if follower is not None else None,
                              n_bins=spectral.stft.n_bins)

    def on_signal(signum: int, frame: Any) -> None:
        stopped_by[0] = signal.Signals(signum).name
        stop.set()

    previous: dict[int, Any] = {}
    wall0 = time.perf_counter()
    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        if not headless:
            window = PerformanceWindow(submit=inbox.submit, key_handler=_key_handler(surface),
                                       title=f"Latent Instrument - {engine.model_name}")
            window.on_snapshot = lambda snap: _sync_one(surface, snap)
        if recorder is not None:
            recorder.start()
        if event_log is not None:
            event_log.start()
        if midi is not None:
            midi.start()
        if follower is not None:
            follower[0].start()
        sys.setswitchinterval(0.001)  # let the audio callback get the GIL promptly
        worker.start()
        realtime = realtime_priority > 0 and realtime_scheduling(worker.native_id, realtime_priority)
        worker.primed.wait(60.0)  # the first hop traces the model; fill the ring before sound starts
        if mode == "live":  # paced by the input: give the output a cushion of --ahead hops of silence
            io.out_ring.write(np.zeros(ahead_hops * hop, np.float32))
        if not stop.is_set():
            io.start()
            print(f"latent perform: playing {engine.model_name} at {sample_rate} Hz, "
                  f"{mode} input, engine latency {engine.latency_ms:.1f} ms, "
                  f"processing thread {'real-time' if realtime else 'normal priority'}, "
                  f"{midi.status_text() if midi is not None else 'MIDI off'}", file=sys.stderr, flush=True)
        midi_text = (lambda: midi.status_text()) if midi is not None else (lambda: "MIDI off")
        if window is not None:
            window.run(snapshots, stop, fps=30, midi_status=midi_text)
            if window.closed:
                stopped_by[0] = "window closed"
        else:
            while not stop.wait(0.1):
                _sync_surface(surface, snapshots)
        if worker.quit_requested:
            stopped_by[0] = "quit action"
        elif max_hops is not None and worker.hop_index >= max_hops:
            stopped_by[0] = "--duration"
            # let the sound card play what is queued; the worker has ended, so this thread may now
            # produce: a block of silence after the end keeps the last callbacks from underflowing
            worker.join(10.0)
            pad = 8 * max(blocksize, hop)  # stopping the stream takes a few more callbacks
            io.out_ring.write(np.zeros(min(pad, io.out_ring.available_write()), np.float32))
            deadline = time.perf_counter() + io.out_ring.available_read() / sample_rate + 0.5
            while io.started and io.out_ring.available_read() > pad // 2 and time.perf_counter() < deadline:
                time.sleep(hop / sample_rate)  # plain sleeps for < 1 s of tail: not a busy wait
        if window is not None and screenshot is not None:
            window.drain(snapshots)
            window.snapshot.midi_status = midi_text()
            window.draw()
            window.save_screenshot(screenshot)
    finally:
        stop.set()
        worker.join(10.0)
        io.close()
        if follower is not None:
            follower[0].stop()
            follower[1].close()
        if midi is not None:
            midi.close()
        if recorder is not None:
            recorder.close()
        if event_log is not None:
            event_log.close()
        if window is not None:
            window.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if worker.error is not None:
        raise worker.error
    stats = io.stats()
    wall = time.perf_counter() - wall0
    ws = worker.stats
    return PerformSummary(
        hops=ws.hops, seconds=ws.hops * hop / sample_rate, wall_seconds=wall, stopped_by=stopped_by[0],
        underflows=stats.output_underflows, underflow_frames=stats.output_underflow_frames,
        status_xruns=stats.status_xruns, callbacks=stats.callbacks, cpu_load_max=ws.cpu_load_max,
        dsp_load_max=ws.dsp_load_max, max_hop_ms=ws.max_hop_ms, mean_cpu_load=ws.mean_cpu_load,
        latency_ms=float(engine.latency_ms), actions_applied=ws.actions_applied,
        midi_messages=midi.n_messages if midi is not None else 0,
        record=str(record) if record else None,
        recorded_frames=recorder.frames_written if recorder is not None else 0,
        log_events=str(log_events) if log_events else None,
        events_logged=event_log.events_written if event_log is not None else 0,
        action_errors=list(ws.action_errors),
        inversion=_inversion_report(follower[0]) if follower is not None else "")


def _inversion_report(worker: Any) -> str:
    text = (f"inversion follower: {worker.follower.inferences} inferences, {worker.sent} MIDI messages sent, "
            f"{worker.dropped} input blocks dropped")
    return text + (f", stopped by {type(worker.error).__name__}: {worker.error}" if worker.error else "")


def _open_inversion_follower(model_path: Any, port: str | None, midi_api: str | None,
                             sample_rate: int) -> tuple[Any, Any]:
    """``--invert-model``: an InversionWorker following the input, sending MIDI to ``port``.

    Returns ``(worker, output port)``; the worker is not started yet.
    """
    from controllers.midi_api import midi_backend
    from controllers.ports import match_port
    from instrument.errors import ConfigError, DeviceError

    if not port:
        raise ConfigError("--invert-model needs --invert-midi-out PORT (the synth's MIDI input)")
    try:
        from instrument.inversion.follower import InversionFollower, InversionWorker
    except ImportError as exc:
        raise ConfigError(f"the live inversion follower is not installed: {exc}") from exc
    from instrument.inversion.model import load_inversion_model
    from instrument.synths.midi_send import send_messages

    backend = midi_backend(midi_api)
    names = backend.get_output_names()
    name = match_port(names, (), port)
    if name is None:
        raise DeviceError(f"--invert-midi-out: MIDI output port {port!r} not found; available: {names or 'none'}")
    follower = InversionFollower(load_inversion_model(model_path), input_sample_rate=sample_rate)
    out = backend.open_output(name)
    worker = InversionWorker(follower, lambda messages: send_messages(out, messages))
    return worker, out


def _sync_one(surface: Any, snap: DisplaySnapshot) -> None:
    if snap.unit_truth is not None:
        surface.sync(**snap.unit_truth)


def _sync_surface(surface: Any, snapshots: "queue.Queue[DisplaySnapshot]") -> None:
    """Headless control side: drain snapshots and keep the control surface's mirror in sync."""
    while True:
        try:
            _sync_one(surface, snapshots.get_nowait())
        except queue.Empty:
            return


def _key_handler(surface: Any) -> Callable[[Any], list[Action]]:
    """Computer-keyboard fallback (``controllers.keyboard``) sharing the MIDI surface."""
    from controllers.keyboard import KeyboardControl

    keyboard = KeyboardControl(surface)
    return lambda event: keyboard.handle_key(event.key, getattr(event, "mod", 0))
