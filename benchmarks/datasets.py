"""`latent bench datasets`: synth dataset generation speed (one-second clips + spectrograms / s).

Measurements per synth:

* **render alone** (in-process synths): the synth's own renderer (``render_raw`` when the synth has
  one: Dexed's level, no peak normalisation), the ceiling of the rows below;
* **render + features**: steady-state throughput of render + log1p STFT features, after warm-up,
  in one process and in a pool of worker processes (``inversynth``: numba kernel; ``dx7``: Dexed
  through dexed-py; ``fluidsynth``: one CLI process per batch of clips);
* **dataset command**: what ``latent dataset synth`` does end to end (:func:`generate_dataset`:
  pool start-up, prior sampling, features, float16 shards written to a temporary folder), for the
  synths rendered inside the Python process.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from typing import Sequence

import numpy as np

from instrument.cli_support import LatentArgumentParser, bounded_int
from instrument.synths.allocator import keep_freed_memory

_WORKER: dict[str, object] = {}
#: Synths rendered inside the Python process (their CPU time is the rendering's); the others
#: render in a child process the CPU column does not see.
IN_PROCESS = ("inversynth", "dx7")


def _init(name: str) -> None:
    from instrument.synths.registry import get_synth

    keep_freed_memory()  # as dataset generation does
    synth = get_synth(name)
    synth.render_features(synth.random_patches(np.random.default_rng(0), 2))  # warm up
    _WORKER["synth"] = synth


def _chunk(task: tuple[int, int, bool]) -> tuple[int, float]:
    """Render + features (or, ``render_only``, the synth's renderer alone) for one batch of
    patches drawn beforehand; returns (clips, CPU seconds of this process)."""
    seed, n, render_only = task
    synth = _WORKER["synth"]
    values = synth.random_patches(np.random.default_rng(seed), n)  # type: ignore[attr-defined]
    cpu = time.process_time()
    if render_only:
        getattr(synth, "render_raw", synth.render)(values)  # type: ignore[attr-defined]
    else:
        synth.render_features(values)  # type: ignore[attr-defined]
    return n, time.process_time() - cpu


def measure(name: str, clips: int, batch: int, workers: int, render_only: bool = False
            ) -> tuple[float, float]:
    """(wall-clock clips/s, CPU ms per clip in the rendering processes), steady state
    (pool start-up and warm-up excluded). For fluidsynth most CPU is in its child process,
    which the CPU column does not see. The wall clock includes drawing the patches; the CPU
    column does not."""
    tasks = [(k, min(batch, clips - k * batch), render_only) for k in range(-(-clips // batch))]
    if workers == 1:
        _init(name)
        start = time.perf_counter()
        results = [_chunk(t) for t in tasks]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init, initargs=(name,)) as pool:
            pool.map(_chunk, [(10_000 + k, 2, render_only) for k in range(workers)])  # all up
            start = time.perf_counter()
            results = pool.map(_chunk, tasks, chunksize=1)
    wall = time.perf_counter() - start
    done = sum(n for n, _ in results)
    return done / wall, 1000 * sum(c for _, c in results) / done


def measure_command(name: str, clips: int, shard_size: int, workers: int) -> tuple[float, float]:
    """(clips/s, seconds) of :func:`generate_dataset` writing ``clips`` clips into a temporary
    folder that is removed afterwards: the ``latent dataset synth`` path, start-up included."""
    from training.synth_dataset import generate_dataset

    folder = tempfile.mkdtemp(prefix=f"bench-{name}-dataset-")
    try:
        start = time.perf_counter()
        generate_dataset(name, clips, 0, folder, shard_size=shard_size, workers=workers,
                         progress=False)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return clips / seconds, seconds


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(prog="latent bench datasets", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synths", default="inversynth,fluidsynth",
                        help="comma-separated synths: inversynth, dx7, fluidsynth "
                             "(default: inversynth,fluidsynth)")
    parser.add_argument("--clips", type=bounded_int(1, 10_000_000), default=4096,
                        help="clips per run of inversynth and dx7 (default 4096)")
    parser.add_argument("--fluid-clips", type=bounded_int(1, 1_000_000), default=256,
                        help="fluidsynth clips per run (default 256)")
    parser.add_argument("--batch", type=bounded_int(1, 100_000), default=64,
                        help="clips per render call")
    parser.add_argument("--workers", type=bounded_int(1, 256), default=os.cpu_count() or 1,
                        help="pool size for the multi-process rows (default: all cores)")
    parser.add_argument("--command-clips", type=bounded_int(0, 10_000_000), default=16000,
                        help="clips the dataset-command row writes (0 = skip it; default 16000)")
    parser.add_argument("--shard-size", type=bounded_int(1, 10_000), default=1000,
                        help="clips per shard in the dataset-command row (default 1000, the "
                             "command's default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores: {os.cpu_count()}, load average at start: {load:.2f}\n")
    print("| synth | what | clips | processes | wall clips/s | CPU ms/clip | clips/s per core from CPU |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in [s.strip() for s in args.synths.split(",") if s.strip()]:
        in_process = name in IN_PROCESS
        clips = args.clips if in_process else args.fluid_clips
        if in_process:
            for workers in sorted({1, args.workers}):
                rate, cpu_ms = measure(name, clips, args.batch, workers, render_only=True)
                print(f"| {name} | render alone | {clips} | {workers} | {rate:.0f} | {cpu_ms:.3f} "
                      f"| {1000 / cpu_ms:.0f} |", flush=True)
        for workers in sorted({1, args.workers}):
            rate, cpu_ms = measure(name, clips, args.batch, workers)
            per_core = f"{1000 / cpu_ms:.0f}" if in_process else "n/a (child process)"
            print(f"| {name} | render + features | {clips} | {workers} | {rate:.0f} | {cpu_ms:.3f} "
                  f"| {per_core} |", flush=True)
        if in_process and args.command_clips:
            rate, seconds = measure_command(name, args.command_clips, args.shard_size, args.workers)
            print(f"| {name} | `latent dataset synth` ({seconds:.1f} s, shards of {args.shard_size}) "
                  f"| {args.command_clips} | {args.workers} | {rate:.0f} | - | - |", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at the end: {load:.2f}. Wall-clock rates depend on other load; on an idle "
          "machine the in-process synths' rate with N processes approaches N x the per-core CPU "
          "rate (clips are independent).")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
