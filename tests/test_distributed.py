"""Multi-worker training with real local TensorFlow workers on loopback (tf.distribute).

Two CPU worker processes get a TF_CONFIG naming 127.0.0.1 ports and run the real
``latent train autoencoder --strategy multiworker`` command.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrument.errors import ConfigError
from training.distributed.strategy import free_loopback_ports
from training.distributed.latent import DISTRIBUTED_METRICS

pytestmark = pytest.mark.slow

SAMPLE_RATE = 22050
#: Relative tolerance between a 2-worker and a 1-worker run on the same global batches. The
#: replicas' partial sums are added in another order, so float32 rounding differs slightly.
LOSS_RTOL = 1e-4


@pytest.fixture(scope="module")
def note_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notes")
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    for i, name in enumerate(["C4", "D4", "E4", "G4", "A4"]):
        f0 = 261.63 * 2 ** ([0, 2, 4, 7, 9][i] / 12)
        y = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 5)) * np.minimum(1, t * 20)
        sf.write(folder / f"flute_{name}.wav", y.astype(np.float32), SAMPLE_RATE)
    return folder


def _train_command(data: Path, out: Path, steps_epochs: int, *extra: str) -> list[str]:
    # sparsity 0: the KL sparsity penalty depends on per-replica batch statistics, so it is
    # not additive over replicas; without it a 2-worker step equals the 1-worker step.
    return [sys.executable, "-m", "instrument.cli", "train", "autoencoder", "--data", str(data),
            "--arch", "dense", "--hidden-units", "16,4", "--sparsity", "0", "--dropout", "0",
            "--n-fft", "256", "--hop-length", "64", "--frames", "8", "--batch-size", "16",
            "--epochs", str(steps_epochs), "--val-fraction", "0.2", "--no-tensorboard", "--quiet",
            "--checkpoint-every", "5", "-o", str(out), *extra]


def _env(ports: list[int] | None, index: int = 0) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    if ports:
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": index}})
    return env


def _start_workers(cmd: list[str], logs: Path, tag: str) -> tuple[list[subprocess.Popen], list[Path]]:
    ports = free_loopback_ports(2)
    procs, paths = [], []
    for index in range(2):
        log = logs / f"{tag}-worker{index}.log"
        paths.append(log)
        procs.append(subprocess.Popen(cmd, env=_env(ports, index), stdout=log.open("w"),
                                      stderr=subprocess.STDOUT))
    return procs, paths


def _wait(procs: list[subprocess.Popen], logs: list[Path], timeout_s: float = 420,
          stall: type[Exception] | None = None) -> None:
    for proc, log in zip(procs, logs):
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.wait(timeout=30)
            message = f"worker timed out; log:\n{log.read_text()[-2000:]}"
            if stall is not None:
                raise stall(message) from None
            pytest.fail(message)
        assert code == 0, f"worker exited {code}; log:\n{log.read_text()[-3000:]}"


class _Stalled(Exception):
    """The workers did not finish in time (TensorFlow's gRPC start-up on loopback can stall)."""


def _run_workers(cmd: list[str], out: Path, logs: Path, tag: str, timeout_s: float = 240) -> None:
    """Start two workers writing ``out`` and wait for both; a stalled start is retried once with
    new ports and an empty ``out`` (a second stall, or any worker error, fails the test)."""
    procs, paths = _start_workers(cmd, logs, f"{tag}-0")
    try:
        _wait(procs, paths, timeout_s, stall=_Stalled)
        return
    except _Stalled:
        shutil.rmtree(out, ignore_errors=True)
    procs, paths = _start_workers(cmd, logs, f"{tag}-1")
    _wait(procs, paths, timeout_s)


def _step_losses(out: Path) -> list[float]:
    return json.loads((out / DISTRIBUTED_METRICS).read_text())["step_losses"]


def test_two_workers_match_one_worker_and_only_chief_writes(note_folder: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    result = subprocess.run(_train_command(note_folder, single, 1, "--strategy", "multiworker"),
                            env=_env(free_loopback_ports(1)[:1], 0), capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    multi = tmp_path / "multi"
    _run_workers(_train_command(note_folder, multi, 1, "--strategy", "multiworker"), multi, tmp_path,
                 "multi")
    assert (multi / "model.keras").is_file() and (multi / "metrics.json").is_file()
    assert not list(tmp_path.glob(".multi*-scratch")), "a non-chief worker left files behind"
    info = json.loads((multi / DISTRIBUTED_METRICS).read_text())
    assert info["replicas"] == 2 and info["global_batch_size"] == 16
    one, two = _step_losses(single), _step_losses(multi)
    assert len(one) == len(two) > 5
    np.testing.assert_allclose(two, one, rtol=LOSS_RTOL)
    assert two[-1] < two[0]
    from instrument.models.io import load_latent_model

    model = load_latent_model(multi / "model.keras")
    assert model.n_units == 4


def _inversion_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "instrument.cli", "train", "inversion", "--synth", "inversynth",
            "--arch", "conv6xl", "--width-scale", "0.1", "--epochs", "1", "--steps-per-epoch", "6",
            "--batch-size", "8", "--val-count", "16", "--strategy", "multiworker",
            "--checkpoint-every", "3", "-o", str(out)]


def test_inversion_two_workers_match_one_worker(tmp_path: Path) -> None:
    single = tmp_path / "single"
    result = subprocess.run(_inversion_command(single), env=_env(free_loopback_ports(1)[:1], 0),
                            capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    multi = tmp_path / "multi"
    _run_workers(_inversion_command(multi), multi, tmp_path, "inversion")
    assert (multi / "model.keras").is_file()
    one, two = _step_losses(single), _step_losses(multi)
    assert len(one) == len(two) == 6
    np.testing.assert_allclose(two, one, rtol=LOSS_RTOL)


def test_killed_worker_resumes_from_last_checkpoint(note_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = _train_command(note_folder, out, 6, "--strategy", "multiworker")
    procs, logs = _start_workers(cmd, tmp_path, "first")
    checkpoints = out / "distributed-checkpoints"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(checkpoints.glob("ckpt-1[05]*.index")):
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.2)
    assert list(checkpoints.glob("ckpt-*.index")), logs[0].read_text()[-2000:]
    procs[1].send_signal(signal.SIGKILL)      # a worker dies mid-run ...
    procs[0].kill()  # ... and its peer with it (waiting first let a fast machine finish the run)
    for p in procs:
        p.wait(timeout=30)
    assert not (out / DISTRIBUTED_METRICS).exists(), "the run finished before the kill"
    procs, logs = _start_workers(cmd + ["--resume"], tmp_path, "resumed")
    _wait(procs, logs)
    log = logs[0].read_text()
    assert "resumed from the checkpoint at step" in log
    info = json.loads((out / DISTRIBUTED_METRICS).read_text())
    assert info["resumed_from_step"] >= 5
    assert info["resumed_from_step"] + len(info["step_losses"]) == info["steps"]
    assert (out / "model.keras").is_file()


def test_multiworker_without_tf_config_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.distributed.strategy import make_strategy, tf_config

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        tf_config()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                                                "task": {"type": "worker", "index": 3}}))
    with pytest.raises(ConfigError, match="index 3"):
        tf_config()
    with pytest.raises(ConfigError, match="bogus"):
        make_strategy("bogus")
