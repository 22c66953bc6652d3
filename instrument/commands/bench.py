"""`latent bench NAME`: run a benchmark from ``benchmarks/`` and print its table."""

from __future__ import annotations

import argparse
import importlib

from instrument.errors import LatentError

#: Benchmark name -> one-line summary. Each is ``benchmarks/<name>.py`` with ``main(argv) -> int``.
BENCHMARKS = {
    "phase": "spectral convergence and cost of offline GL vs streaming RTISI-LA",
    "quality": "validation loss / reconstruction error per architecture (Paterna Table 3.1 layout)",
    "realtime": "per-hop time, real-time factor, latency and underflows per shipped model",
    "inversion": "MPR, top-k, PCC and spectral metrics of inversion models and baselines",
    "identifiability": "MPR ceiling set by what the sound tells (re-rendered near-patches) vs a model",
    "datasets": "synth dataset generation speed (clips/s)",
    "synth_prior": "share of silent and clipped random patches of a synth (the dx7's musical prior)",
    "distributed": "training throughput with 1 vs 2 workers",
    "output_level": "output peak, full-scale share and limiter gain reduction; loudness compensation sweep",
    "cli_startup": "how fast latent answers --help and a missing input, and that TensorFlow stays unloaded",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="run benchmarks and print tables",
        description="Run a benchmark and print its table. Benchmarks: "
        + "; ".join(f"{k}: {v}" for k, v in BENCHMARKS.items()) + ". 'all' runs each in turn.")
    parser.add_argument("name", choices=[*BENCHMARKS, "all"], help="which benchmark")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER,
                        help="options passed to the benchmark (see latent bench NAME --help)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.{name}":
                raise
            raise LatentError(f"benchmark {name!r} is not available in this installation") from exc
        status |= int(module.main(args.bench_args) or 0)
    return status
