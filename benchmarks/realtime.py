"""`latent bench realtime`: per-hop cost, real-time factor, latency and underflows per shipped model.

For every latent model in ``presets/models`` (inversion models are skipped) and
for ``--model none`` (analysis/resynthesis only), the whole engine (file
source, STFT, model, streaming RTISI-LA) runs at default settings on a looping
test signal: per-hop processing time (median, p99, max), real-time factor
(total processing time over audio time) and algorithmic latency in ms.
Targets: RTF <= 0.25 and latency <= 60 ms with a causal model.

Underflow run: the pipeline plays for ``--seconds`` (default 60) through a
sounddevice output stream on a private JACK dummy server the benchmark starts
itself (``jackd -n <unique> -d dummy -r 22050 -p 256``; ``JACK_DEFAULT_SERVER``
is set before sounddevice is imported), with a busy-loop subprocess loading the
other core. Output uses the app's ring buffer and sound-card wiring
(``instrument.io.AudioIO``, ``instrument.app.ProcessingWorker`` when present).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from instrument.config import SpectralConfig
from instrument.engine import DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD, Engine
from instrument.errors import DeviceError, LatentError
from instrument.sources import FileSource
from presets import PRESETS_DIR

RTF_TARGET = 0.25
LATENCY_TARGET_MS = 60.0
JACK_PERIOD = 256


def test_signal(spectral: SpectralConfig, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A looping test input: the shipped demo loop if present, else harmonic glides plus noise."""
    demo = PRESETS_DIR / "audio" / "demo-loop.wav"
    if demo.is_file():
        from instrument.audio import load_audio

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
        from instrument.model_io import load_latent_model
    except ModuleNotFoundError as exc:
        return found, [f"latent models not loadable in this installation ({exc})"]
    for path in sorted(folder.glob("*.keras")):
        try:
            found.append((path, load_latent_model(path)))
        except LatentError as exc:
            skipped.append(f"{path.name}: skipped ({str(exc)[:80]})")
    return found, skipped


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
            "latency_ms": engine.latency_ms}


# ------------------------------------------------------------------ JACK underflow run
class JackDummy:
    """A private ``jackd`` dummy server (started and stopped by this process)."""

    def __init__(self, sample_rate: int, period: int = JACK_PERIOD) -> None:
        jackd = shutil.which("jackd")
        if jackd is None:
            raise DeviceError("jackd not found (Debian package jackd2): cannot run the underflow test")
        self.name = f"lb-{uuid.uuid4().hex[:8]}"  # short: jack_lsp aborts on some long server names
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
        self.proc = subprocess.Popen([jackd, "-n", self.name, "-d", "dummy", "-r", str(sample_rate),
                                      "-p", str(period)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"
        if not self._wait_ready(40.0):
            exited = self.proc.poll() is not None
            err = self.proc.stderr.read().decode(errors="replace") if exited else ""
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

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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


def underflow_run(engine: Engine, seconds: float, ahead_hops: int = 6, load_other_core: bool = True
                  ) -> dict[str, Any]:
    """Play ``engine`` for ``seconds`` on a private JACK dummy server; count underflows."""
    sample_rate = engine.spectral.sample_rate
    hop = engine.hop_length
    server = JackDummy(sample_rate)
    busy = _start_busy_loop() if load_other_core else None
    io = None
    try:
        import sounddevice as sd

        sd._terminate()
        sd._initialize()
        device = _jack_output_device(sd)
        from instrument.io import AudioIO

        ring_frames = (ahead_hops + 4) * hop + 2 * JACK_PERIOD
        io = AudioIO(sample_rate, JACK_PERIOD, ring_frames, device=device, latency="low")
        stop = threading.Event()
        max_hops = int(np.ceil(seconds * sample_rate / hop))
        wiring = "minimal"
        try:
            from instrument.app import ActionInbox, ProcessingWorker

            worker: threading.Thread = ProcessingWorker(engine, hop, sample_rate, io.out_ring, ActionInbox(),
                                                        None, stop, ahead_hops=ahead_hops, max_hops=max_hops)
            wiring = "app worker"
        except (ImportError, TypeError):
            worker = _minimal_worker(engine, io.out_ring, stop, ahead_hops * hop, max_hops)
        worker.start()  # fills the ring ahead, then paces itself on the callback's reads
        primed = getattr(worker, "primed", None)
        if primed is not None:
            primed.wait(10.0)
        else:
            while io.out_ring.available_read() < ahead_hops * hop and worker.is_alive():
                time.sleep(0.005)
        io.start()
        deadline = time.monotonic() + seconds + 30.0
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.1)
        stats = io.stats()  # before the ring drains: the tail after the last hop is not an underflow
        stop.set()
        worker.join(timeout=5.0)
        return {"seconds": seconds, "underflows": stats.output_underflows,
                "underflow_frames": stats.output_underflow_frames, "xruns": stats.status_xruns,
                "callbacks": stats.callbacks, "wiring": wiring, "server": server.name}
    finally:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latent bench realtime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", metavar="M",
                        help="model files (default: every latent model in presets/models)")
    parser.add_argument("--hops", type=int, default=800, help="timed hops per model (default 800)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="underflow run length in seconds (default 60; 0 skips it)")
    parser.add_argument("--ahead-hops", type=int, default=6, help="hops queued ahead of the callback")
    parser.add_argument("--no-load", action="store_true", help="do not load the other core during the run")
    parser.add_argument("--phase-lookahead", type=int, default=DEFAULT_PHASE_LOOKAHEAD)
    parser.add_argument("--phase-iterations", type=int, default=DEFAULT_PHASE_ITERATIONS)
    args = parser.parse_args(list(argv or []))

    if args.models:
        from instrument.model_io import load_latent_model

        entries = [(Path(p), load_latent_model(p)) for p in args.models]
        skipped: list[str] = []
    else:
        entries, skipped = find_latent_models(PRESETS_DIR / "models")
    rows = [("none", None)] + [(p.stem, m) for p, m in entries]
    results = []
    for name, model in rows:
        spectral = model.spectral if model is not None else SpectralConfig()
        models = [model] if model is not None else []
        engine = Engine(spectral, models, [name] if model is not None else None,
                        source=FileSource(test_signal(spectral), spectral.stft.hop_length, loop=True),
                        phase_lookahead=args.phase_lookahead, phase_iterations=args.phase_iterations)
        stats = time_engine(engine, args.hops)
        kind = getattr(model, "kind", "analysis/resynthesis") if model is not None else "analysis/resynthesis"
        causal = engine.model_lookahead_frames == 0
        ok = stats["rtf_cpu"] <= RTF_TARGET and (not causal or stats["latency_ms"] <= LATENCY_TARGET_MS)
        results.append((name, kind, causal, stats, ok, spectral, model))

    underflow = None
    if args.seconds > 0:
        # the default model if shipped, else the first latent model, else analysis/resynthesis
        pick = next((r for r in results if r[0] == "reconstruct"), results[1] if len(results) > 1 else results[0])
        name, _, _, _, _, spectral, model = pick
        engine = Engine(spectral, [model] if model is not None else [], [name] if model is not None else None,
                        source=FileSource(test_signal(spectral), spectral.stft.hop_length, loop=True),
                        phase_lookahead=args.phase_lookahead, phase_iterations=args.phase_iterations)
        try:
            underflow = (name, underflow_run(engine, args.seconds, args.ahead_hops, not args.no_load))
        except DeviceError as exc:
            underflow = (name, {"error": str(exc)})

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nReal-time engine benchmark (phase look-ahead {args.phase_lookahead}, "
          f"{args.phase_iterations} iterations, {args.hops} hops; targets RTF <= {RTF_TARGET}, "
          f"latency <= {LATENCY_TARGET_MS:g} ms causal; {os.cpu_count()} CPUs, load average {load})\n")
    print(_row(["model", "kind", "causal", "hop ms median", "p99", "max", "RTF wall", "RTF median",
                "RTF cpu", "latency ms", "underflows", "targets"]))
    print(_row(["---"] * 12))
    for name, kind, causal, stats, ok, _, _ in results:
        under = "-"
        if underflow is not None and underflow[0] == name:
            u = underflow[1]
            under = (f"{u['underflows']} in {u['seconds']:g} s ({u['xruns']} xruns)" if "error" not in u
                     else "n/a")
        print(_row([name, kind, "yes" if causal else "no", f"{stats['median_ms']:.2f}",
                    f"{stats['p99_ms']:.2f}", f"{stats['max_ms']:.2f}", f"{stats['rtf']:.3f}",
                    f"{stats['rtf_median']:.3f}", f"{stats['rtf_cpu']:.3f}", f"{stats['latency_ms']:.1f}",
                    under, "ok" if ok else "MISSED"]))
    print("\nRTF wall = total wall time / audio time (includes preemption by other processes); RTF median ="
          " median hop / hop; RTF cpu = process CPU time / audio time. The RTF target is judged on RTF cpu"
          " (the pipeline's own cost; wall figures on a shared machine include other processes).")
    for note in skipped:
        print(f"- {note}")
    if underflow is not None:
        u = underflow[1]
        if "error" in u:
            print(f"- underflow run on {underflow[0]}: {u['error']}")
        else:
            print(f"- underflow run: {underflow[0]}, {u['seconds']:g} s on JACK dummy {u['server']} "
                  f"(22050 Hz, period {JACK_PERIOD}), {u['callbacks']} callbacks, "
                  f"{u['underflow_frames']} underflow frames, other core "
                  f"{'loaded by a busy loop' if not args.no_load else 'idle'}, {u['wiring']} wiring")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
