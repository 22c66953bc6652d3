"""`latent bench realtime`: per-hop cost, real-time factor, latency and underflows per shipped model.

For every latent model in ``presets/models`` (inversion models are skipped) and
for ``--model none`` (analysis/resynthesis only), the whole engine (file
source, STFT, model, streaming RTISI-LA) runs at default settings on a looping
test signal: per-hop processing time (median, p99, max), real-time factor
(total processing time over audio time) and algorithmic latency in ms.
Non-causal models run in block mode (one model call every ``B`` hops on a
helper thread, column ``block``: ``B (K compute hops)``); for them the hops are
also timed on a real-time schedule with the call inline (``K 0``) and on the
helper thread. Targets: RTF <= 0.25 and latency <= 60 ms with a causal model.

Underflow runs (every latent model by default): the pipeline plays for
``--seconds`` (default 60) through a sounddevice output stream on a private
JACK dummy server the benchmark starts itself (``jackd -n <unique> -d dummy -r
22050 -p 256``; ``JACK_DEFAULT_SERVER`` is set before sounddevice is imported),
with a busy-loop subprocess loading the other core. Output uses the app's ring
buffer, sound-card wiring and settings (``instrument.io.devices.AudioIO``,
``instrument.app.perform.ProcessingWorker``, PortAudio latency ``"high"``, GIL switch
interval 1 ms, ring filled before the stream starts). Two counters are
reported: ring underflows (the processing thread fell behind: audible gaps we
cause) and PortAudio status flags. PortAudio's JACK backend raises
``output_underflow | input_overflow`` on the callback after *any* JACK server
xrun (its xrun callback cannot tell which client or why), so the benchmark also
records at which callback each flag came, the least audio queued in the ring
at any callback, jackd's own xrun reports by cause and the scheduling of
jackd's driver thread, of our process's PortAudio callback thread and of the
processing thread. ``--rt-priority P`` runs the processing thread SCHED_FIFO:
the JACK callback thread is real-time but needs Python's GIL, so a
normal-priority GIL holder preempted by other processes delays it (priority
inversion).

Inversion stage (``latent perform --invert-model``): per-call time of the
shipped inversion model's follower on 1 s windows (it runs every 250 ms of
input, on its own thread) and its share of one core; with ``--seconds`` > 0
one more underflow run plays the default model with the follower attached to
the processing worker's input tap, as ``latent perform`` wires it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from instrument.config import SpectralConfig
from instrument.engine.engine import DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD, Engine
from instrument.errors import DeviceError, LatentError
from instrument.engine.sources import FileSource
from presets import PRESETS_DIR

RTF_TARGET = 0.25
LATENCY_TARGET_MS = 60.0
JACK_PERIOD = 256
#: as ``latent perform``: PortAudio latency and the GIL switch interval of the live app
STREAM_LATENCY = "high"
SWITCH_INTERVAL_S = 0.001
INVERSION_EVERY_S = 0.25


def test_signal(spectral: SpectralConfig, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A looping test input: the shipped demo loop if present, else harmonic glides plus noise."""
    demo = PRESETS_DIR / "audio" / "demo-loop.wav"
    if demo.is_file():
        from instrument.io.audio_files import load_audio

        try:
            return load_audio(demo, spectral.audio)
        except LatentError:
            pass
    sr = spectral.sample_rate
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110.0 * 2 ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    y = y + 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    return (y * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def find_latent_models(folder: Path) -> tuple[list[tuple[Path, Any]], list[str]]:
    """Load every ``*.keras`` in ``folder`` that is a latent model; returns (models, skipped notes)."""
    found: list[tuple[Path, Any]] = []
    skipped: list[str] = []
    try:
        from instrument.models.io import load_latent_model
    except ModuleNotFoundError as exc:
        return found, [f"latent models not loadable in this installation ({exc})"]
    for path in sorted(folder.glob("*.keras")):
        try:
            found.append((path, load_latent_model(path)))
        except LatentError as exc:
            skipped.append(f"{path.name}: skipped ({str(exc)[:80]})")
    return found, skipped


def _block_text(engine: Engine) -> str:
    """``B`` frames per model call and ``K`` compute hops of the engine's block-mode stage (``1`` otherwise)."""
    for stage in getattr(engine.bank_models, "stages", []):
        streaming = getattr(stage, "streaming", None)
        if streaming is not None and getattr(streaming, "mode", "") == "block":
            return f"{streaming.block_frames} (K {streaming.compute_hops})"
    return "1"


def time_engine(engine: Engine, hops: int, warmup: int = 20) -> dict[str, float]:
    """Per-hop processing times of ``hops`` hops after ``warmup`` hops."""
    for _ in range(warmup):
        engine.process_hop()
    times = np.empty(hops)
    cpu0 = time.process_time()
    for i in range(hops):
        t0 = time.perf_counter()
        engine.process_hop()
        times[i] = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    audio_s = hops * engine.hop_seconds
    return {"median_ms": 1000 * float(np.median(times)), "p99_ms": 1000 * float(np.percentile(times, 99)),
            "max_ms": 1000 * float(times.max()), "rtf": float(times.sum() / audio_s),
            "rtf_median": float(np.median(times) / engine.hop_seconds), "rtf_cpu": cpu / audio_s,
            "latency_ms": engine.latency_ms, "block": _block_text(engine)}


def paced_hops(engine: Engine, hops: int, warmup: int = 40) -> dict[str, float]:
    """Per-hop wall time with hops started on a real-time schedule (one per hop period).

    Shows how a block-mode model's calls land on the processing thread: inline
    (``compute_hops=0``) the hop that completes a block carries the whole call;
    on the helper thread every hop stays short while the call fits in ``K`` hops.
    """
    for _ in range(warmup):
        engine.process_hop()
    times = np.empty(hops)
    late = 0
    next_start = time.perf_counter()
    for i in range(hops):
        now = time.perf_counter()
        if now < next_start:
            time.sleep(next_start - now)
        elif now - next_start > engine.hop_seconds:
            late += 1
        t0 = time.perf_counter()
        engine.process_hop()
        times[i] = time.perf_counter() - t0
        next_start += engine.hop_seconds
    return {"median_ms": 1000 * float(np.median(times)), "p99_ms": 1000 * float(np.percentile(times, 99)),
            "max_ms": 1000 * float(times.max()), "late_hops": late}


# ------------------------------------------------------------------ JACK underflow run
class JackDummy:
    """A private ``jackd`` dummy server (started and stopped by this process)."""

    def __init__(self, sample_rate: int, period: int = JACK_PERIOD) -> None:
        jackd = shutil.which("jackd")
        if jackd is None:
            raise DeviceError("jackd not found (Debian package jackd2): cannot run the underflow test")
        self.name = f"lb-{uuid.uuid4().hex[:8]}"  # short: jack_lsp aborts on some long server names
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([jackd, "-n", self.name, "-d", "dummy", "-r", str(sample_rate),
                                      "-p", str(period)], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"
        if not self._wait_ready(40.0):
            exited = self.proc.poll() is not None
            err = self.output() if exited else ""
            self.stop()
            reason = f"jackd exited: {err[-300:]}" if exited else "no client could connect within 40 s"
            raise DeviceError(f"JACK dummy server {self.name} did not start ({reason})")

    def _wait_ready(self, timeout_s: float) -> bool:
        lsp = shutil.which("jack_lsp")
        time.sleep(1.0)  # a client probing a server that is still starting can crash (jack_lsp aborts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if lsp is None:
                time.sleep(1.0)
                return True
            probe = subprocess.run([lsp, "-s", self.name], capture_output=True, timeout=10,
                                   env=dict(os.environ, JACK_NO_START_SERVER="1"))
            if probe.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def output(self) -> str:
        """Everything jackd printed so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def xrun_lines(self) -> list[str]:
        """jackd's own xrun reports (lines mentioning xrun)."""
        return [line for line in self.output().splitlines() if "xrun" in line.lower()]

    def xrun_summary(self) -> str:
        """jackd's xrun lines by cause: our client late (started / not started) or the driver itself."""
        lines = self.xrun_lines()
        running = sum("not finished" in line and "Running" in line for line in lines)
        triggered = sum("not finished" in line and "Triggered" in line for line in lines)
        driver = sum("Driver" in line for line in lines)
        other = len(lines) - running - triggered - driver
        return (f"{running} client started but not finished in the period, {triggered} client not started,"
                f" {driver} driver overruns, {other} other")

    def scheduling(self) -> str:
        """The highest scheduling policy among jackd's threads (its driver thread is real-time when allowed)."""
        return thread_scheduling(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


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


def _minimal_worker(engine: Engine, ring: Any, stop: threading.Event, ahead_frames: int,
                    max_hops: int) -> threading.Thread:
    """Fallback processing thread: keep ``ahead_frames`` queued in the output ring."""

    def run() -> None:
        hops = 0
        while not stop.is_set() and hops < max_hops:
            if ring.available_read() >= ahead_frames:
                stop.wait(0.001)
                continue
            ring.write(engine.process_hop())
            hops += 1
        stop.set()

    return threading.Thread(target=run, name="bench-processing", daemon=True)


def _counting_io(sample_rate: int, ring_frames: int, device: int, latency: str | float,
                 measured_callbacks: int) -> Any:
    """An ``AudioIO`` whose callback also notes which status flags came at which callback.

    The callback stays real-time safe: integer updates and one store into a
    preallocated array, then the app's own copy-only callback.
    """
    from instrument.io.devices import AudioIO

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


def load_follower(path: Path, sample_rate: int) -> Any:
    """The live inversion follower for ``path`` at the engine's sample rate (as ``latent perform``)."""
    from instrument.inversion.model import load_inversion_model
    from instrument.inversion.follower import InversionFollower

    return InversionFollower(load_inversion_model(path), input_sample_rate=sample_rate,
                             every_seconds=INVERSION_EVERY_S)


def time_inversion(follower: Any, audio: np.ndarray, calls: int = 20) -> dict[str, float]:
    """Wall and CPU time of one follower inference on 1 s windows of ``audio``."""
    window = follower.window
    starts = np.linspace(0, max(0, len(audio) - window), calls + 2).astype(int)
    follower.infer_values(audio[:window])  # trace
    wall = np.empty(calls)
    cpu0 = time.process_time()
    for i, start in enumerate(starts[1:-1]):
        chunk = np.zeros(window, np.float32)
        piece = audio[start:start + window]
        chunk[:len(piece)] = piece
        t0 = time.perf_counter()
        follower.infer_values(chunk)
        wall[i] = time.perf_counter() - t0
    cpu = (time.process_time() - cpu0) / calls
    return {"median_ms": 1000 * float(np.median(wall)), "p99_ms": 1000 * float(np.percentile(wall, 99)),
            "max_ms": 1000 * float(wall.max()), "cpu_ms": 1000 * cpu,
            "core_share": cpu / INVERSION_EVERY_S, "wall_share": float(np.median(wall)) / INVERSION_EVERY_S}


def underflow_run(engine: Engine, seconds: float, ahead_hops: int = 6, load_other_core: bool = True,
                  latency: str | float = STREAM_LATENCY, follower: Any = None,
                  rt_priority: int | None = None) -> dict[str, Any]:
    """Play ``engine`` for ``seconds`` on a private JACK dummy server; count underflows.

    ``follower``: an inversion follower fed every input hop through an
    ``InversionWorker`` (as ``latent perform --invert-model``), messages counted.
    ``rt_priority``: run the processing thread SCHED_FIFO at this priority (needs
    the right to; the result says whether it was applied).
    """
    sample_rate = engine.spectral.sample_rate
    hop = engine.hop_length
    server = JackDummy(sample_rate)
    busy = _start_busy_loop() if load_other_core else None
    io = None
    inversion = None
    switch = sys.getswitchinterval()
    try:
        import sounddevice as sd

        while sd._initialized:  # re-initialise so PortAudio sees this run's server
            sd._terminate()
        sd._initialize()
        device = _jack_output_device(sd)
        ring_frames = (ahead_hops + 4) * hop + 2 * JACK_PERIOD
        measured = int(seconds * sample_rate / JACK_PERIOD) - ahead_hops * hop // JACK_PERIOD - 2
        io = _counting_io(sample_rate, ring_frames, device, latency, measured)
        stop = threading.Event()
        max_hops = int(np.ceil(seconds * sample_rate / hop))
        tap = None
        if follower is not None:
            from instrument.inversion.follower import InversionWorker

            sent = [0]
            inversion = InversionWorker(follower, lambda messages: sent.__setitem__(0, sent[0] + len(messages)))
            inversion.start()
            tap = inversion.submit
        wiring = "minimal"
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            from instrument.app.perform import ActionInbox, ProcessingWorker

            worker: threading.Thread = ProcessingWorker(engine, hop, sample_rate, io.out_ring, ActionInbox(),
                                                        None, stop, ahead_hops=ahead_hops, max_hops=max_hops,
                                                        input_tap=tap)
            wiring = "app worker"
        except (ImportError, TypeError):
            worker = _minimal_worker(engine, io.out_ring, stop, ahead_hops * hop, max_hops)
        worker.start()  # fills the ring ahead, then paces itself on the callback's reads
        worker_scheduling = "OTHER"
        if rt_priority is not None:
            from instrument.io.scheduling import realtime_scheduling

            applied = realtime_scheduling(worker.native_id, rt_priority)
            worker_scheduling = f"FIFO {rt_priority}" if applied else "OTHER (FIFO not permitted)"
        primed = getattr(worker, "primed", None)
        if primed is not None:
            primed.wait(60.0)
        else:
            while io.out_ring.available_read() < ahead_hops * hop and worker.is_alive():
                time.sleep(0.005)
        prefilled = io.out_ring.available_read()
        io.start()
        deadline = time.monotonic() + seconds + 30.0
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.1)
        stats = io.stats()  # before the ring drains: the tail after the last hop is not an underflow
        stop.set()
        worker.join(timeout=5.0)
        flagged = [int(i) for i in io.flagged_at[:min(io.n_flagged, 256)]]
        result = {"seconds": seconds, "underflows": stats.output_underflows,
                  "underflow_frames": stats.output_underflow_frames, "xruns": stats.status_xruns,
                  "callbacks": stats.callbacks, "wiring": wiring, "server": server.name,
                  "flag_output_underflow": io.flag_output_underflow, "flag_priming": io.flag_priming,
                  "flag_other": io.flag_other, "flagged_at": flagged,
                  "startup_flags": sum(1 for i in flagged if i * JACK_PERIOD < sample_rate),
                  "min_ahead_ms": 1000.0 * io.min_level / sample_rate,
                  "prefill_ms": 1000.0 * prefilled / sample_rate,
                  "jack_xruns": len(server.xrun_lines()), "jack_xrun_summary": server.xrun_summary(),
                  "jack_scheduling": server.scheduling(), "latency": latency,
                  "worker_scheduling": worker_scheduling,
                  "callback_scheduling": thread_scheduling(os.getpid()),
                  "stream_latency_ms": 1000.0 * io.output_latency_s,
                  "block": _block_text(engine),
                  "max_hop_ms": float(getattr(getattr(worker, "stats", None), "max_hop_ms", float("nan")))}
        if inversion is not None:
            inversion.stop(timeout=10.0)
            result.update(inversion_calls=follower.inferences, inversion_dropped=inversion.dropped,
                          inversion_messages=sent[0],
                          inversion_error=None if inversion.error is None else repr(inversion.error))
            inversion = None
        return result
    finally:
        sys.setswitchinterval(switch)
        if inversion is not None:
            inversion.stop(timeout=10.0)
        if io is not None:
            io.close()
        try:
            import sounddevice as sd

            while sd._initialized:
                sd._terminate()
        except OSError:
            pass
        if busy is not None:
            busy.terminate()
            busy.wait(timeout=5)
        server.stop()


# ------------------------------------------------------------------ table
def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _engine(spectral: SpectralConfig, model: Any, name: str, args: argparse.Namespace) -> Engine:
    return Engine(spectral, [model] if model is not None else [], [name] if model is not None else None,
                  source=FileSource(test_signal(spectral), spectral.stft.hop_length, loop=True),
                  phase_lookahead=args.phase_lookahead, phase_iterations=args.phase_iterations,
                  block_frames=args.block, compute_hops=args.compute_hops)


def _latency_arg(text: str) -> str | float:
    if text in ("low", "high"):
        return text
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"latency must be low, high or seconds, got {text!r}") from exc


def _underflow_text(u: dict[str, Any]) -> str:
    if "error" in u:
        return "n/a"
    return f"{u['underflows']} ring, {u['xruns']} PortAudio flags"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latent bench realtime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", metavar="M",
                        help="model files (default: every latent model in presets/models)")
    parser.add_argument("--hops", type=int, default=800, help="timed hops per model (default 800)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="underflow run length in seconds, per model (default 60; 0 skips them)")
    parser.add_argument("--underflow-models", nargs="*", metavar="NAME",
                        help="model names (file stems) given an underflow run (default: every latent model)")
    parser.add_argument("--ahead-hops", type=int, default=6, help="hops queued ahead of the callback (as perform)")
    parser.add_argument("--latency", type=_latency_arg, default=STREAM_LATENCY,
                        help=f"PortAudio stream latency: low, high or seconds (default {STREAM_LATENCY}, as perform)")
    parser.add_argument("--block", type=int, default=None, metavar="B",
                        help="block length of non-causal models (default: each model's default)")
    parser.add_argument("--compute-hops", type=int, default=None, metavar="K",
                        help="hops a block's model call may take on its helper thread (0: inline; "
                             "default half a block)")
    parser.add_argument("--paced-hops", type=int, default=400, metavar="N",
                        help="block-mode models: N hops timed on a real-time schedule, with the model call inline "
                             "(K 0) and on its helper thread (default 400; 0 skips)")
    parser.add_argument("--rt-priority", type=int, default=1, metavar="P",
                        help="run the processing thread SCHED_FIFO at priority P where permitted, as "
                             "`latent perform` does (default 1; 0 = normal scheduling)")
    parser.add_argument("--no-load", action="store_true", help="do not load the other core during the run")
    parser.add_argument("--inversion-model", default=None, metavar="PATH",
                        help="inversion model for the follower cost and run (default: the shipped one; 'none' skips)")
    parser.add_argument("--phase-lookahead", type=int, default=DEFAULT_PHASE_LOOKAHEAD)
    parser.add_argument("--phase-iterations", type=int, default=DEFAULT_PHASE_ITERATIONS)
    args = parser.parse_args(list(argv or []))

    if args.models:
        from instrument.models.io import load_latent_model

        entries = [(Path(p), load_latent_model(p)) for p in args.models]
        skipped: list[str] = []
    else:
        entries, skipped = find_latent_models(PRESETS_DIR / "models")
    rows = [("none", None)] + [(p.stem, m) for p, m in entries]
    results = []
    for name, model in rows:
        spectral = model.spectral if model is not None else SpectralConfig()
        engine = _engine(spectral, model, name, args)
        stats = time_engine(engine, args.hops)
        kind = getattr(model, "kind", "analysis/resynthesis") if model is not None else "analysis/resynthesis"
        causal = model is None or int(getattr(model, "lookahead_frames", 0)) == 0
        ok = stats["rtf_cpu"] <= RTF_TARGET and (not causal or stats["latency_ms"] <= LATENCY_TARGET_MS)
        results.append((name, kind, causal, stats, ok, spectral, model))

    paced: list[tuple[str, str, dict[str, float]]] = []
    for name, _, _, stats, _, spectral, model in results:
        if model is None or stats["block"] == "1" or args.paced_hops <= 0:
            continue
        for spread in sorted({0, args.compute_hops} - {None}) + ([None] if args.compute_hops is None else []):
            engine = _engine(spectral, model, name, argparse.Namespace(**{**vars(args), "compute_hops": spread}))
            paced.append((name, _block_text(engine), paced_hops(engine, args.paced_hops)))

    inversion_path: Path | None = None
    if args.inversion_model != "none":
        from instrument.inversion.model import DEFAULT_MODELS

        candidate = Path(args.inversion_model) if args.inversion_model else DEFAULT_MODELS["inversynth"]
        inversion_path = candidate if candidate.is_file() else None
    inversion_cost = None
    if inversion_path is not None:
        spectral = results[1][5] if len(results) > 1 else SpectralConfig()
        try:
            follower = load_follower(inversion_path, spectral.sample_rate)
            inversion_cost = time_inversion(follower, test_signal(spectral))
        except LatentError as exc:
            inversion_cost = {"error": str(exc)}

    runs: list[tuple[str, dict[str, Any]]] = []
    if args.seconds > 0:
        latent_rows = [r for r in results if r[6] is not None] or results[:1]
        wanted = args.underflow_models
        picked = [r for r in latent_rows if wanted is None or r[0] in wanted]
        for name, _, _, _, _, spectral, model in picked:
            try:
                runs.append((name, underflow_run(_engine(spectral, model, name, args), args.seconds,
                                                 args.ahead_hops, not args.no_load, args.latency,
                                                 rt_priority=args.rt_priority or None)))
            except DeviceError as exc:
                runs.append((name, {"error": str(exc)}))
        if inversion_cost is not None and "error" not in inversion_cost:
            name, _, _, _, _, spectral, model = next(
                (r for r in latent_rows if r[0] == "reconstruct"), latent_rows[0])
            try:
                follower = load_follower(inversion_path, spectral.sample_rate)
                runs.append((f"{name} + inversion follower",
                             underflow_run(_engine(spectral, model, name, args), args.seconds, args.ahead_hops,
                                           not args.no_load, args.latency, follower=follower,
                                           rt_priority=args.rt_priority or None)))
            except DeviceError as exc:
                runs.append((f"{name} + inversion follower", {"error": str(exc)}))

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nReal-time engine benchmark (phase look-ahead {args.phase_lookahead}, "
          f"{args.phase_iterations} iterations, {args.hops} hops; targets RTF <= {RTF_TARGET}, "
          f"latency <= {LATENCY_TARGET_MS:g} ms causal; {os.cpu_count()} CPUs, load average {load})\n")
    print(_row(["model", "kind", "causal", "block", "hop ms median", "p99", "max", "RTF wall", "RTF median",
                "RTF cpu", "latency ms", "underflows", "targets"]))
    print(_row(["---"] * 13))
    by_name = dict(runs)
    for name, kind, causal, stats, ok, _, _ in results:
        under = _underflow_text(by_name[name]) if name in by_name else "-"
        print(_row([name, kind, "yes" if causal else "no", str(stats["block"]), f"{stats['median_ms']:.2f}",
                    f"{stats['p99_ms']:.2f}", f"{stats['max_ms']:.2f}", f"{stats['rtf']:.3f}",
                    f"{stats['rtf_median']:.3f}", f"{stats['rtf_cpu']:.3f}", f"{stats['latency_ms']:.1f}",
                    under, "ok" if ok else "MISSED"]))
    print("\nRTF wall = total wall time / audio time (includes preemption by other processes); RTF median ="
          " median hop / hop; RTF cpu = process CPU time / audio time. The RTF target is judged on RTF cpu"
          " (the pipeline's own cost; wall figures on a shared machine include other processes). block ="
          " B frames per model call (K: hops the call runs on a helper thread; K 0: the hop completing a"
          " block carries the whole call, see max).")
    for note in skipped:
        print(f"- {note}")
    if paced:
        print(f"\nBlock mode, {args.paced_hops} hops started on a real-time schedule (processing thread's hop"
              " wall time):\n")
        print(_row(["model", "block", "hop ms median", "p99", "max", "hops started late"]))
        print(_row(["---"] * 6))
        for name, block, p in paced:
            print(_row([name, block, f"{p['median_ms']:.2f}", f"{p['p99_ms']:.2f}", f"{p['max_ms']:.2f}",
                        str(p["late_hops"])]))
    if runs:
        print(f"\nUnderflow runs: {args.seconds:g} s each on a private JACK dummy server (22050 Hz, period "
              f"{JACK_PERIOD}), PortAudio latency {args.latency!r}, {args.ahead_hops} hops queued ahead, other core "
              f"{'idle' if args.no_load else 'loaded by a busy loop'}\n")
        print(_row(["run", "ring underflows", "PortAudio flags (first 1 s)", "flagged callbacks",
                    "jackd xrun lines", "least queued ms", "max hop ms", "callbacks", "jackd / ours / worker"]))
        print(_row(["---"] * 9))
        for name, u in runs:
            if "error" in u:
                print(_row([name, "n/a", "n/a", u["error"][:60], "", "", "", "", ""]))
                continue
            print(_row([name, f"{u['underflows']} ({u['underflow_frames']} frames)",
                        f"{u['xruns']} ({u['startup_flags']})",
                        " ".join(str(i) for i in u["flagged_at"][:8]) or "-", str(u["jack_xruns"]),
                        f"{u['min_ahead_ms']:.1f}", f"{u['max_hop_ms']:.1f}", str(u["callbacks"]),
                        f"{u['jack_scheduling']} / {u['callback_scheduling']} / {u['worker_scheduling']}"]))
        print("\nPortAudio flags: callbacks whose status was set (JACK backend: after any xrun of the JACK"
              " server); ring underflows: hops the processing thread had not computed in time.")
        for name, u in runs:
            if u.get("jack_xrun_summary"):
                print(f"- {name}: PortAudio output latency {u['stream_latency_ms']:.1f} ms; jackd xruns: "
                      f"{u['jack_xrun_summary']}")
            if "inversion_calls" in u:
                print(f"- {name}: {u['inversion_calls']} inferences, {u['inversion_messages']} MIDI messages,"
                      f" {u['inversion_dropped']} input blocks dropped"
                      + (f", error {u['inversion_error']}" if u["inversion_error"] else ""))
    if inversion_cost is not None:
        if "error" in inversion_cost:
            print(f"- inversion follower: {inversion_cost['error']}")
        else:
            c = inversion_cost
            print(f"\nInversion follower ({inversion_path.name}, one inference per "
                  f"{1000 * INVERSION_EVERY_S:g} ms of input, on its own thread): {c['median_ms']:.1f} ms median,"
                  f" p99 {c['p99_ms']:.1f}, max {c['max_ms']:.1f} ms wall per call; {c['cpu_ms']:.1f} ms CPU per"
                  f" call = {100 * c['core_share']:.1f}% of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
