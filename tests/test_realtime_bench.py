"""`latent bench realtime`: timing a block-mode engine, describing its block, its options, its JACK server."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.realtime import main
from benchmarks.realtime_measure import block_text, test_signal as bench_signal, time_engine
from instrument.config import SpectralConfig, StftConfig
from instrument.engine.engine import Engine
from instrument.models.latent_model import LatentModel
from instrument.engine.sources import FileSource
from instrument.models import autoencoders as M
from instrument.models.config import AutoencoderConfig

SPECTRAL = SpectralConfig(stft=StftConfig(n_fft=64, hop_length=16))


def _non_causal() -> LatentModel:
    config = AutoencoderConfig(arch="dilated", spectral=SPECTRAL, frames=24, channels=4, latent_channels=3)
    return LatentModel(M.build_autoencoder(config), config)


@pytest.mark.parametrize("spread", [0, 2])
def test_time_engine_reports_block_mode_cost_and_latency(spread: int) -> None:
    model = _non_causal()
    engine = Engine(SPECTRAL, [model], ["tiny"], source=FileSource(bench_signal(SPECTRAL, 1.0), 16, loop=True),
                    block_frames=4, compute_hops=spread)
    stats = time_engine(engine, 40, warmup=4)
    assert block_text(engine) == f"4 (K {spread})"
    assert stats["block"] == f"4 (K {spread})"
    assert 0 < stats["median_ms"] <= stats["p99_ms"] <= stats["max_ms"]
    assert stats["rtf_cpu"] > 0 and np.isfinite(stats["rtf"])
    frames = model.lookahead_frames + 3 + spread
    expected_ms = 1000.0 * (frames * 16 + engine.phase.latency_samples) / SPECTRAL.sample_rate
    assert stats["latency_ms"] == pytest.approx(expected_ms)


def test_frame_by_frame_engine_has_block_one() -> None:
    engine = Engine(SPECTRAL, source=FileSource(bench_signal(SPECTRAL, 0.5), 16, loop=True))
    assert block_text(engine) == "1"


def test_bench_rejects_a_bad_latency() -> None:
    with pytest.raises(SystemExit):
        main(["--latency", "soon", "--seconds", "0"])


def test_bench_refuses_a_perform_setting_naming_the_flag() -> None:
    from instrument.errors import ConfigError

    with pytest.raises(ConfigError, match="--ahead"):
        main(["--ahead-hops", "0", "--seconds", "0"])


def test_jack_server_starts_accepts_clients_and_is_reaped() -> None:
    import os
    import shutil
    import subprocess

    from benchmarks.jack_server import JackServer

    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.skip("jackd / jack_lsp not installed")
    before = os.environ.get("JACK_DEFAULT_SERVER")
    with JackServer(22050, 256, ready_timeout_s=20.0) as server:
        assert os.environ["JACK_DEFAULT_SERVER"] == server.name
        probe = subprocess.run(["jack_lsp", "-s", server.name], capture_output=True, timeout=10)
        assert probe.returncode == 0
        proc = server.proc
    assert proc is not None and proc.poll() is not None  # terminated and reaped
    assert os.environ.get("JACK_DEFAULT_SERVER") == before


def test_jack_server_without_jackd_is_a_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.jack_server import JackServer
    from instrument.errors import DeviceError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DeviceError, match="jackd not found"):
        JackServer().start()


def test_a_killed_jack_server_does_not_use_up_the_registry() -> None:
    """JACK keeps 8 server slots and a SIGKILLed jackd keeps its slot: the helper frees such slots
    (here one killed on purpose) instead of failing with "Too many servers already active"."""
    import shutil
    import signal

    from benchmarks.jack_server import REGISTRY, JackServer, reclaim_dead_servers

    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.skip("jackd / jack_lsp not installed")
    killed = JackServer(22050, 256, ready_timeout_s=20.0).start()
    pid = killed.pid
    killed.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    killed.proc.wait()  # type: ignore[union-attr]
    killed.stop()
    assert pid.to_bytes(4, "little") in REGISTRY.read_bytes()[:2136]  # the slot outlives its server
    assert reclaim_dead_servers() >= 1
    assert pid.to_bytes(4, "little") not in REGISTRY.read_bytes()[:2136]
    with JackServer(22050, 256, ready_timeout_s=20.0) as server:
        assert server.proc is not None and server.proc.poll() is None
