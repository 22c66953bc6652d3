"""The run loop of ``latent perform``: open every part, play until stopped, close them, summarise.

::

    MIDI thread (controllers.ports) ─┐
    window / keyboard (main thread) ─┴─► action queue ──► ProcessingWorker ─► output RingBuffer ─► audio callback
                                                          (engine, model,        ▲                (copies only)
                                   display queue ◄──────── phase; recorder,      └── input RingBuffer ◄── (live input)
                                   (snapshots, status)     event log)

* Exactly one queue per direction: :class:`controllers.actions.Action` objects
  go in on the action queue (``controllers.ports.MidiInput``'s queue, which the
  MIDI callback and the window's ``submit`` both feed, or
  :class:`instrument.app.worker.ActionInbox` without MIDI);
  :class:`instrument.app.window.DisplaySnapshot` objects come out on
  ``snapshots`` (display state, CPU load, xruns, and the engine's unit state
  after zero/reset/scene actions so soft takeover and LEDs stay in sync).
* The processing thread (:mod:`instrument.app.worker`) applies actions at hop
  boundaries, logs them and keeps the output ring ahead of the callback; the
  display side is :mod:`instrument.app.display` and :mod:`instrument.app.window`.
* The recorder gets the engine's output hops (not the device output), minus
  the engine latency: the same samples ``latent render`` produces.
* Everything that can fail on user input (:class:`~instrument.app.perform_options.PerformOptions`,
  controller map, display, sound card, models, input file) fails before anything starts.
"""

from __future__ import annotations

import dataclasses
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from controllers.actions import Action
from controllers.maps import load_map
from controllers.osc_input import OscInput
from controllers.surface import ControlSurface
from instrument.app.display import EngineView, control_status, key_handler, sync_one, sync_surface, unit_truth
from instrument.app.inversion_link import inversion_report, open_inversion_follower
from instrument.app.osc_state import OscStateSender, resolve_target
from instrument.app.perform_options import PerformOptions, osc_target
from instrument.app.perform_summary import PerformSummary
from instrument.app.render import load_models
from instrument.app.window import DisplaySnapshot, PerformanceWindow, display_available
from instrument.app.worker import ActionInbox, ProcessingWorker
from instrument.engine.engine import Engine, latency_breakdown, make_source
from instrument.engine.scenes import SceneBook
from instrument.errors import DeviceError
from instrument.io.audio_files import load_audio
from instrument.io.devices import AudioIO, resolve_device
from instrument.io.eventlog import EventLog
from instrument.io.recorder import WavRecorder
from instrument.io.scheduling import realtime_scheduling
from instrument.quiet import library_noise_hidden
from presets import CONTROLLER_MAPS_DIR


def _control_map(options: PerformOptions) -> Any:
    """The controller map: learned now (``--learn``) or loaded; LEDs on ``--midi-out`` if given."""
    if options.learn:
        from controllers.learn import run_learn

        controller = options.controller
        learned = Path(controller) if str(controller).endswith((".yaml", ".yml")) else Path("learned-map.yaml")
        cmap = run_learn(learned, port=options.midi_in, api=options.midi_api)
    else:
        cmap = load_map(options.controller, CONTROLLER_MAPS_DIR)
    if options.midi_out:  # LED feedback on the named port instead of the map's
        cmap = dataclasses.replace(cmap, leds=dataclasses.replace(cmap.leds, enabled=True,
                                                                  ports=(options.midi_out,)))
    return cmap


def _build_engine(options: PerformOptions) -> Engine:
    """Load the models, the input file and the scenes; the engine that plays them."""
    models, names, spectral = load_models(list(options.model_paths))
    audio_in = load_audio(options.input_path, spectral.audio) if options.source == "file" else None
    scenes = SceneBook.from_dir(options.scenes_dir) if options.scenes_dir is not None else None
    return Engine(spectral, models, model_names=names,
                  source=make_source(options.source, spectral.stft.hop_length, audio_in, loop=options.loop),
                  phase_lookahead=options.phase_lookahead, phase_iterations=options.phase_iterations,
                  seed=options.seed, scenes=scenes, block_frames=options.block_frames,
                  compute_hops=options.compute_hops)


def start_actions(options: PerformOptions) -> list[Action]:
    """The actions that set ``--master-gain`` and ``--auto-gain`` (none at their defaults)."""
    actions = []
    if options.master_gain_db != 0.0:
        actions.append(Action("master_gain", {"db": float(options.master_gain_db)}))
    if options.auto_gain:
        actions.append(Action("auto_gain", {"on": True}))
    return actions


def _bind_osc(options: PerformOptions) -> Any:
    """The OSC control port, bound now (None without ``--osc-port``), and the ``--osc-send`` host
    resolved: a taken port or an unknown host fails before the (slow) model load."""
    if options.osc_send is not None:
        resolve_target(*osc_target(options.osc_send))
    return OscInput(options.osc_port, options.osc_host) if options.osc_port is not None else None


def _osc_sender(options: PerformOptions, engine: Engine, osc_in: Any) -> Any:
    """The ``--osc-send`` state thread (not started), or None."""
    if options.osc_send is None:
        return None

    counts = (lambda: (osc_in.received, osc_in.ignored)) if osc_in is not None else None
    return OscStateSender(engine, *osc_target(options.osc_send), osc_counts=counts)


class Watchdog(threading.Thread):
    """Watches the sound card and the output files a few times a second while the performance runs.

    * The audio backend gone (JACK server killed, device unplugged: :meth:`AudioIO.failure`):
      keeps a one-line :class:`DeviceError` in :attr:`failure` and sets ``stop``, so the run ends,
      the files are saved and ``latent perform`` exits non-zero.
    * A write error of the recorder or the event log: printed on stderr at once and shown in the
      window (:attr:`message`); the performance plays on, the error is raised at the end.
    """

    def __init__(self, io: Any, writers: list[Any], stop: threading.Event, interval_s: float = 0.2) -> None:
        super().__init__(name="latent-watchdog", daemon=True)
        self.io = io
        self.writers = writers
        self.stop_event = stop
        self.interval_s = interval_s
        self.failure: str | None = None
        self.message = ""
        self._reported: set[int] = set()

    def check_writers(self) -> None:
        """Report each writer's error once, at once."""
        for writer in self.writers:
            if writer.error is not None and id(writer) not in self._reported:
                self._reported.add(id(writer))
                self.message = f"WRITE ERROR: {writer.error}"
                print(f"latent perform: error: {writer.error} (playing on)", file=sys.stderr, flush=True)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.check_writers()
            reason = self.io.failure()
            if reason is not None:
                self.failure = reason
                self.stop_event.set()
                return


def _check_midi_ports(options: PerformOptions) -> None:
    """Ports named on the command line exist (one match each) before anything is loaded or opened."""
    from controllers.ports import resolve_ports

    inputs = [("--midi-in", options.midi_in)] if options.use_midi and options.midi_in else []
    outputs = [("--midi-out", options.midi_out)] if options.use_midi and options.midi_out else []
    if options.invert_midi_out:
        outputs.append(("--invert-midi-out", options.invert_midi_out))
    with library_noise_hidden():  # libjack prints several lines when no JACK server runs
        resolve_ports(options.midi_api, inputs, outputs)


def _saved(recorder: WavRecorder | None, event_log: EventLog | None) -> str:
    """What was saved, for the one-line failure message."""
    parts = []
    if recorder is not None:
        where = recorder.path if recorder.completed else recorder.partial
        parts.append(f"recording saved to {where} ({recorder.frames_written} frames)")
    if event_log is not None:
        where = event_log.path if event_log.completed else event_log.partial
        parts.append(f"event log saved to {where} ({event_log.events_written} events)")
    return "; " + ", ".join(parts) if parts else ""


def perform(options: PerformOptions,
            on_summary: Callable[[PerformSummary], None] | None = None) -> PerformSummary:
    """Run a live performance until quit, ``--duration``, Ctrl-C or SIGTERM (see module doc).

    ``options.realtime_priority`` (1..99; 0 = leave it) runs the processing thread SCHED_FIFO where
    the system permits, so other processes cannot preempt it while it holds the GIL the audio
    callback needs. ``block_frames`` / ``compute_hops`` tune block-mode (non-causal) models
    (see :class:`instrument.engine.engine.Engine`).

    ``on_summary`` gets the summary once everything is closed, also when the performance then
    fails (the audio device stopped, a file could not be written), before that error is raised.

    Raises:
        DeviceError: no audio device / display / MIDI port named explicitly; the audio device
            stopped during the performance (the recording and event log are saved first).
        AudioFileError / ConfigError: the recording / event log could not be written completely
            (what was written is kept in the partial file the message names).
        ModelError, AudioFileError, ConfigError, ControllerMapError: bad inputs.
    """
    # -- everything that can fail on user input fails before anything starts ---------------------
    _check_midi_ports(options)  # a typo in a port name: before the (slow) model load and any output
    cmap = _control_map(options)
    if not options.headless and not display_available():
        raise DeviceError("no display for the performance window (DISPLAY is not set): "
                          "use --headless, or SDL_VIDEODRIVER=dummy to draw off-screen")
    resolve_device(options.device, "output")  # no sound card: say so before the (slow) model load
    if options.source == "live":
        resolve_device(options.device, "input")
    osc_in = _bind_osc(options)
    try:
        engine = _build_engine(options)
    except BaseException:
        if osc_in is not None:
            osc_in.close()
        raise
    spectral = engine.spectral
    hop = spectral.stft.hop_length
    sample_rate = spectral.sample_rate
    blocksize = options.blocksize
    live = options.source == "live"
    ahead_hops = max(options.ahead_hops, -(-blocksize // hop) + 1)  # at least one callback block ahead
    ring_frames = (ahead_hops + 4) * hop + 2 * max(blocksize, hop)
    io = AudioIO(sample_rate, blocksize, ring_frames, device=options.device, latency=options.latency,
                 live_input=live)

    stop = threading.Event()
    stopped_by = ["quit"]
    snapshots: "queue.Queue[DisplaySnapshot]" = queue.Queue(maxsize=64)
    surface = ControlSurface(cmap, max(1, engine.n_units))  # shared by MIDI and the computer keyboard
    surface.sync(playing=engine.playing, synth=engine.synth)
    midi = None
    inbox: Any = ActionInbox()
    if options.use_midi:
        from controllers.ports import MidiInput
        midi = MidiInput(surface, api=options.midi_api, port=options.midi_in, leds=True)
        inbox = midi
    # the recording is the engine's output hops (not the device output) minus the engine latency:
    # sample k lines up with input sample k and equals `latent render` sample k for the same log
    record, log_events = options.record, options.log_events
    recorder = WavRecorder(record, sample_rate, skip_frames=engine.latency_samples) if record else None
    event_log = EventLog(log_events, spectral.hop_seconds) if log_events else None
    writers = [w for w in (recorder, event_log) if w is not None]
    watchdog = Watchdog(io, writers, stop)
    max_hops = int(np.ceil(options.duration_s * sample_rate / hop)) if options.duration_s else None
    follower = (open_inversion_follower(options.invert_model, str(options.invert_midi_out),
                                        options.midi_api, sample_rate)
                if options.invert_model is not None else None)
    osc_out = _osc_sender(options, engine, osc_in)

    def status() -> dict[str, Any]:
        stats = io.stats()
        return {"xruns": stats.xruns, "underflows": stats.output_underflows,
                "ahead_ms": 1000.0 * io.out_ring.available_read() / sample_rate,
                "osc_status": osc_in.status_text() if osc_in is not None else "",
                **({"message": watchdog.message} if watchdog.message else {})}

    # start values as actions: applied and logged at hop 0, so `latent render --automation` replays them
    inbox.submit(start_actions(options))
    worker = ProcessingWorker(engine, hop, sample_rate, io.out_ring, inbox, snapshots, stop,
                              ahead_hops=ahead_hops, in_ring=io.in_ring if live else None,
                              recorder=recorder, event_log=event_log, max_hops=max_hops,
                              snapshot_fn=EngineView(), snapshot_hz=30.0 if not options.headless else 5.0,
                              status_fn=status, truth_fn=unit_truth,
                              input_tap=follower[0].submit if follower is not None else None,
                              n_bins=spectral.stft.n_bins)

    def on_signal(signum: int, frame: Any) -> None:
        stopped_by[0] = signal.Signals(signum).name
        stop.set()

    window = None
    previous: dict[int, Any] = {}
    wall0 = time.perf_counter()
    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        if not options.headless:
            window = PerformanceWindow(submit=inbox.submit, key_handler=key_handler(surface),
                                       title=f"Latent Instrument - {engine.model_name}")
            window.on_snapshot = lambda snap: sync_one(surface, snap)
        if midi is not None:  # inputs first: outputs are only opened once every input is open
            midi.start()
        if osc_in is not None:  # OSC actions join the MIDI ones on the one action queue
            osc_in.start(inbox.submit, lambda: engine.n_units)
        for writer in writers:  # each writes a temporary file, renamed onto its target when complete
            writer.start()
        if osc_out is not None:
            osc_out.start()
        if follower is not None:
            follower[0].start()
        sys.setswitchinterval(0.001)  # let the audio callback get the GIL promptly
        worker.start()
        priority = options.realtime_priority
        realtime = priority > 0 and realtime_scheduling(worker.native_id, priority)
        worker.primed.wait(60.0)  # the first hop traces the model; fill the ring before sound starts
        if live:  # paced by the input: give the output a cushion of --ahead hops of silence
            io.out_ring.write(np.zeros(ahead_hops * hop, np.float32))
        if not stop.is_set():
            io.start()
            watchdog.start()
            print(f"latent perform: playing {engine.model_name} at {sample_rate} Hz, "
                  f"{options.source} input, engine latency {engine.latency_ms:.1f} ms "
                  f"({latency_breakdown(engine.latency_terms_ms)}), "
                  f"processing thread {'real-time' if realtime else 'normal priority'}, "
                  f"{midi.status_text() if midi is not None else 'MIDI off'}", file=sys.stderr, flush=True)
        midi_text = (lambda: midi.status_text()) if midi is not None else (lambda: "MIDI off")
        if window is not None:
            window.run(snapshots, stop, fps=30, midi_status=midi_text, control_status=control_status(surface))
            if window.closed:
                stopped_by[0] = "window closed"
        else:
            while not stop.wait(0.1):
                sync_surface(surface, snapshots)
        if watchdog.failure is not None:
            stopped_by[0] = "audio device stopped"
        elif worker.quit_requested:
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
        if window is not None and options.screenshot is not None:
            window.drain(snapshots)
            window.snapshot.midi_status = midi_text()
            window.snapshot.shift, window.snapshot.prompt = control_status(surface)()
            window.draw()
            window.save_screenshot(options.screenshot)
    finally:
        # only what was started is stopped; every part is closed even if closing another fails
        stop.set()
        if worker.is_alive():
            worker.join(10.0)
        if watchdog.is_alive():
            watchdog.join(2.0)
        io.close()  # bounded: a stream whose backend is gone is abandoned after a few seconds
        if follower is not None:
            if follower[0].is_alive():
                follower[0].stop()
            follower[1].close()
        if midi is not None:
            midi.close()
        if osc_in is not None:
            osc_in.close()
        if osc_out is not None:
            osc_out.stop()
        for writer in writers:
            writer.close()
        if window is not None:
            window.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if worker.error is not None:
        raise worker.error
    stats = io.stats()
    wall = time.perf_counter() - wall0
    ws = worker.stats
    summary = PerformSummary(
        hops=ws.hops, seconds=ws.hops * hop / sample_rate, wall_seconds=wall, stopped_by=stopped_by[0],
        underflows=stats.output_underflows, underflow_frames=stats.output_underflow_frames,
        status_xruns=stats.status_xruns, callbacks=stats.callbacks, cpu_load_max=ws.cpu_load_max,
        dsp_load_max=ws.dsp_load_max, max_hop_ms=ws.max_hop_ms, mean_cpu_load=ws.mean_cpu_load,
        latency_ms=float(engine.latency_ms), actions_applied=ws.actions_applied,
        midi_messages=midi.n_messages if midi is not None else 0,
        record=str(recorder.path if recorder.completed else recorder.partial) if recorder is not None else None,
        recorded_frames=recorder.frames_written if recorder is not None else 0,
        log_events=(str(event_log.path if event_log.completed else event_log.partial)
                    if event_log is not None else None),
        events_logged=event_log.events_written if event_log is not None else 0,
        action_errors=list(ws.action_errors),
        inversion=inversion_report(follower[0]) if follower is not None else "",
        osc=osc_in.status_text() if osc_in is not None else "")
    if on_summary is not None:
        on_summary(summary)
    if watchdog.failure is not None:
        raise DeviceError(f"audio device stopped (JACK server gone?): {watchdog.failure}, "
                          f"after {summary.seconds:.2f} s{_saved(recorder, event_log)}")
    for writer in writers:
        if writer.error is not None:
            raise writer.error
    return summary
