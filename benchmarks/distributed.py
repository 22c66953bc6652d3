"""Training throughput with 1 vs 2 local tf.distribute workers, and a projection to N machines.

Runs real worker processes on loopback (``TF_CONFIG``, ``MultiWorkerMirroredStrategy``) with
the same per-worker batch (weak scaling), for a latent autoencoder and an inversion network:

    latent bench distributed [--steps 30] [--per-worker-batch 32]

Both workers share this machine's cores, so the 2-worker figure is a lower bound. The
projection assumes a ring all-reduce: ``t_step(N) = t_compute + t_allreduce(2) * 2(N-1)/N``
with ``t_allreduce(2) = t_step(2 workers) - t_step(1 worker)`` measured here (loopback is
faster than a real network; measure on the target cluster before planning).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from instrument.cli_support import LatentArgumentParser
from instrument.config import SpectralConfig
from instrument.models.config import AutoencoderConfig

JOBS = ("autoencoder", "inversion")


def _build(job: str):
    """(model builder, per-example loss, example input shape, target fn) for a job."""
    import numpy as np

    from training.distributed.jobs import bce_per_example, mse_per_example

    if job == "autoencoder":
        from instrument.models.autoencoders import build_autoencoder

        config = AutoencoderConfig(arch="residual", causal=True, latent_channels=16, dropout=0.0,
                                   sparsity_beta=0.0, spectral=SpectralConfig(), frames=16)
        return (lambda: build_autoencoder(config)), mse_per_example, config.input_shape, (lambda x: x)
    from instrument.inversion.networks.build import build_inversion_model
    from instrument.inversion.networks.config import InversionModelConfig

    config = InversionModelConfig(arch="conv6xl")
    n_params, n_classes = config.n_params, config.n_classes

    def targets(x):
        rng = np.random.default_rng(0)
        return np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, (len(x), n_params))]

    return (lambda: build_inversion_model(config)), bce_per_example, config.input_shape, targets


def worker(job: str, steps: int, per_worker_batch: int, out: Path) -> None:
    """One worker: train ``steps`` steps on random data, write step times as JSON."""
    import numpy as np

    from training.distributed.strategy import make_strategy, tf_config, worker_index
    from training.distributed.jobs import train_arrays

    workers = len(tf_config()["cluster"]["worker"]) if tf_config() else 1
    strategy = make_strategy("multiworker")
    build, loss, shape, targets = _build(job)
    global_batch = per_worker_batch * workers
    rng = np.random.default_rng(0)
    x = rng.random((max(256, global_batch * 4), *shape), dtype=np.float32)
    y = targets(x).astype(np.float32)
    with tempfile.TemporaryDirectory() as ckpt:
        _, run = train_arrays(strategy, build, 1e-3, x, y, loss, global_batch, steps, Path(ckpt) / "c",
                              seed=0, checkpoint_every=10 ** 9)
    times = [h["seconds"] for h in run.history][5:]  # skip tracing / warm-up steps
    out.write_text(json.dumps({"worker": worker_index(), "workers": workers,
                               "global_batch": global_batch, "step_seconds": times}))


def _run_cluster(job: str, workers: int, steps: int, per_worker_batch: int, tmp: Path) -> dict:
    from training.distributed.strategy import free_loopback_ports

    ports = free_loopback_ports(workers)
    procs = []
    for index in range(workers):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                         "task": {"type": "worker", "index": index}}))
        out = tmp / f"{job}-{workers}-{index}.json"
        procs.append((subprocess.Popen(
            [sys.executable, "-m", "benchmarks.distributed", "--worker", job, "--steps", str(steps),
             "--per-worker-batch", str(per_worker_batch), "--out", str(out)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out))
    for proc, _ in procs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode:
            raise RuntimeError(f"worker failed: {err.decode(errors='replace')[-1500:]}")
    chief = json.loads(procs[0][1].read_text())
    times = sorted(chief["step_seconds"])
    median = times[len(times) // 2]
    return {"global_batch": chief["global_batch"], "step_s": median,
            "examples_per_s": chief["global_batch"] / median}


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(prog="latent bench distributed", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="steps per run (first 5 not timed)")
    parser.add_argument("--per-worker-batch", type=int, default=32,
                        help="examples per step on each worker (the global batch grows with workers)")
    parser.add_argument("--jobs", nargs="+", choices=JOBS, default=list(JOBS),
                        help="models to time (default: " + " ".join(JOBS) + ")")
    parser.add_argument("--worker", choices=JOBS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.per_worker_batch, args.out)
        return 0
    print(f"| job | workers | global batch | step (ms) | examples/s | speed-up |")
    print("|---|---|---|---|---|---|")
    projections = []
    with tempfile.TemporaryDirectory() as tmp:
        for job in args.jobs:
            one = _run_cluster(job, 1, args.steps, args.per_worker_batch, Path(tmp))
            two = _run_cluster(job, 2, args.steps, args.per_worker_batch, Path(tmp))
            for n, r in ((1, one), (2, two)):
                print(f"| {job} | {n} | {r['global_batch']} | {r['step_s'] * 1e3:.1f} | "
                      f"{r['examples_per_s']:.0f} | {r['examples_per_s'] / one['examples_per_s']:.2f} |",
                      flush=True)
            allreduce = max(two["step_s"] - one["step_s"], 0.0)
            projections.append((job, one["step_s"], allreduce))
    print("\nProjected throughput on N machines (one worker each, same per-worker batch, ring all-reduce;"
          " the 2-worker overhead here includes sharing 2 cores, so this is pessimistic):")
    print("| job | compute/step (ms) | all-reduce+sharing (ms) | N=2 | N=4 | N=8 | N=16 |")
    print("|---|---|---|---|---|---|---|")
    for job, compute, allreduce in projections:
        cells = []
        for n in (2, 4, 8, 16):
            step = compute + allreduce * 2 * (n - 1) / n
            cells.append(f"{n * args.per_worker_batch / step:.0f}/s ({n * compute / step:.1f}x)")
        print(f"| {job} | {compute * 1e3:.1f} | {allreduce * 1e3:.1f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
