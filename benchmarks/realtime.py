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
22050 -p 256``, :class:`benchmarks.jack_server.JackServer`),
with a busy-loop subprocess loading the other core. Output uses the app's ring
buffer, sound-card wiring and settings (``instrument.io.devices.AudioIO``,
``instrument.app.worker.ProcessingWorker``, PortAudio latency ``"high"``, GIL switch
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

Files: this one reads the options and prints the tables; the timings are in
:mod:`benchmarks.realtime_measure`, the sound-card runs in :mod:`benchmarks.realtime_harness`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from benchmarks.realtime_harness import JACK_PERIOD, STREAM_LATENCY, underflow_run
from benchmarks.realtime_measure import (INVERSION_EVERY_S, block_text, find_latent_models, load_follower,
                                         paced_hops, test_signal, time_engine, time_inversion)
from instrument.app.perform_options import PerformOptions
from instrument.cli_support import LatentArgumentParser
from instrument.config import SpectralConfig
from instrument.engine.engine import DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD, Engine
from instrument.engine.sources import FileSource
from instrument.errors import DeviceError, LatentError
from instrument.inversion.model import DEFAULT_MODELS
from presets import PRESETS_DIR

RTF_TARGET = 0.25
LATENCY_TARGET_MS = 60.0


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _engine(spectral: SpectralConfig, model: Any, name: str, settings: PerformOptions) -> Engine:
    """The engine ``latent perform`` would build with ``settings``, playing the looping test signal."""
    return Engine(spectral, [model] if model is not None else [], [name] if model is not None else None,
                  source=FileSource(test_signal(spectral), spectral.stft.hop_length, loop=True),
                  phase_lookahead=settings.phase_lookahead, phase_iterations=settings.phase_iterations,
                  block_frames=settings.block_frames, compute_hops=settings.compute_hops)


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


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(prog="latent bench realtime", description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--phase-lookahead", type=int, default=DEFAULT_PHASE_LOOKAHEAD,
                        help="RTISI-LA look-ahead frames (as perform)")
    parser.add_argument("--phase-iterations", type=int, default=DEFAULT_PHASE_ITERATIONS,
                        help="RTISI-LA iterations per frame (as perform)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv or []))
    # the live app's own settings, validated as `latent perform` validates its flags
    settings = PerformOptions(source="none", headless=True, use_midi=False, phase_lookahead=args.phase_lookahead,
                              phase_iterations=args.phase_iterations, block_frames=args.block,
                              compute_hops=args.compute_hops, latency=args.latency, ahead_hops=args.ahead_hops,
                              realtime_priority=args.rt_priority)

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
        engine = _engine(spectral, model, name, settings)
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
            engine = _engine(spectral, model, name, dataclasses.replace(settings, compute_hops=spread))
            paced.append((name, block_text(engine), paced_hops(engine, args.paced_hops)))

    inversion_path: Path | None = None
    if args.inversion_model != "none":
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
                runs.append((name, underflow_run(_engine(spectral, model, name, settings), args.seconds,
                                                 settings.ahead_hops, not args.no_load, settings.latency,
                                                 rt_priority=settings.realtime_priority or None)))
            except DeviceError as exc:
                runs.append((name, {"error": str(exc)}))
        if inversion_cost is not None and "error" not in inversion_cost:
            name, _, _, _, _, spectral, model = next(
                (r for r in latent_rows if r[0] == "reconstruct"), latent_rows[0])
            try:
                follower = load_follower(inversion_path, spectral.sample_rate)
                runs.append((f"{name} + inversion follower",
                             underflow_run(_engine(spectral, model, name, settings), args.seconds, settings.ahead_hops,
                                           not args.no_load, settings.latency, follower=follower,
                                           rt_priority=settings.realtime_priority or None)))
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
    terms = list(results[0][3]["latency_terms_ms"]) if results else []
    if terms:
        print("\nEngine latency term by term (ms):\n")
        print(_row(["model", *terms, "total"]))
        print(_row(["---"] * (len(terms) + 2)))
        for name, _, _, stats, _, _, _ in results:
            print(_row([name, *(f"{stats['latency_terms_ms'][t]:.1f}" for t in terms),
                        f"{stats['latency_ms']:.1f}"]))
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
