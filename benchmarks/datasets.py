"""`latent bench datasets`: synth dataset generation speed (one-second clips + spectrograms / s).

Measures steady-state throughput (render + log1p STFT features), after warm-up, for
``inversynth`` (numba kernel) and ``fluidsynth`` (one CLI process per batch of clips),
in one process and with a pool of worker processes. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from typing import Sequence

import numpy as np
from instrument.cli_support import LatentArgumentParser

_WORKER: dict[str, object] = {}


def _init(name: str) -> None:
    from instrument.synths.registry import get_synth

    synth = get_synth(name)
    synth.features(synth.render(synth.random_patches(np.random.default_rng(0), 2)))  # warm up
    _WORKER["synth"] = synth


def _chunk(task: tuple[int, int]) -> tuple[int, float]:
    """Render + features for one batch; returns (clips, CPU seconds of this process)."""
    seed, n = task
    synth = _WORKER["synth"]
    cpu = time.process_time()
    values = synth.random_patches(np.random.default_rng(seed), n)  # type: ignore[attr-defined]
    synth.features(synth.render(values))  # type: ignore[attr-defined]
    return n, time.process_time() - cpu


def measure(name: str, clips: int, batch: int, workers: int) -> tuple[float, float]:
    """(wall-clock clips/s, CPU ms per clip in the rendering processes), steady state
    (pool start-up and warm-up excluded). For fluidsynth most CPU is in its child process,
    which the CPU column does not see."""
    tasks = [(k, min(batch, clips - k * batch)) for k in range(-(-clips // batch))]
    if workers == 1:
        _init(name)
        start = time.perf_counter()
        results = [_chunk(t) for t in tasks]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init, initargs=(name,)) as pool:
            pool.map(_chunk, [(10_000 + k, 2) for k in range(workers)])  # all workers up
            start = time.perf_counter()
            results = pool.map(_chunk, tasks, chunksize=1)
    wall = time.perf_counter() - start
    done = sum(n for n, _ in results)
    return done / wall, 1000 * sum(c for _, c in results) / done


def main(argv: Sequence[str] | None = None) -> int:
    parser = LatentArgumentParser(prog="latent bench datasets", description=__doc__)
    parser.add_argument("--synths", default="inversynth,fluidsynth",
                        help="comma-separated synths (default: inversynth,fluidsynth)")
    parser.add_argument("--clips", type=int, default=4096, help="inversynth clips per run")
    parser.add_argument("--fluid-clips", type=int, default=256, help="fluidsynth clips per run")
    parser.add_argument("--batch", type=int, default=64, help="clips per render call")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="pool size for the multi-process row (default: all cores)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores: {os.cpu_count()}, load average at start: {load:.2f}\n")
    print("| synth | clips | processes | wall clips/s | CPU ms/clip | clips/s per core from CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in [s.strip() for s in args.synths.split(",") if s.strip()]:
        clips = args.clips if name == "inversynth" else args.fluid_clips
        for workers in sorted({1, args.workers}):
            rate, cpu_ms = measure(name, clips, args.batch, workers)
            per_core = f"{1000 / cpu_ms:.0f}" if name == "inversynth" else "n/a (child process)"
            print(f"| {name} | {clips} | {workers} | {rate:.0f} | {cpu_ms:.3f} | {per_core} |",
                  flush=True)
    print("\nWall-clock rates depend on other load; on an idle machine the inversynth rate with "
          "N processes approaches N x the per-core CPU rate (clips are independent).")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
