"""Shared fixtures: a private JACK dummy server, a seeded rng and Keras init, headless pygame."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

JACK_SAMPLE_RATE = 22050
JACK_PERIOD = 256


def _jack_ready(name: str, timeout_s: float) -> bool:
    """Poll until a client can reach the server ``name`` (mido's JACK backend connects as a client)."""
    import mido

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            backend.get_output_names()
            return True
        except (OSError, RuntimeError, SystemError):
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """Start a private JACK server with the dummy backend and point clients at it.

    Yields the server name; ``JACK_DEFAULT_SERVER`` is set for this process and its children.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd not installed (Debian package jackd2); `make test` installs it as root")
    # Short names: some JACK tools (jack_lsp) abort on long server names.
    name = f"lt-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    proc = subprocess.Popen(
        [jackd, "-n", name, "-d", "dummy", "-r", str(JACK_SAMPLE_RATE), "-p", str(JACK_PERIOD)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    previous = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        time.sleep(0.3)
        if proc.poll() is not None or not _jack_ready(name, 15.0):
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
            pytest.fail(f"JACK dummy server {name} did not start: {err[-500:]}")
        _reinit_portaudio()
        yield name
    finally:
        _terminate_portaudio()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _terminate_portaudio() -> None:
    """Close PortAudio's JACK client before the server goes, or PortAudio aborts at exit."""
    try:
        import sounddevice as sd
    except OSError:
        return
    while sd._initialized:
        sd._terminate()


def _reinit_portaudio() -> None:
    """PortAudio enumerates host APIs once; re-initialise it so the new JACK server is seen."""
    try:
        import sounddevice as sd
    except OSError:
        return
    sd._terminate()
    sd._initialize()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def seeded_weight_init() -> None:
    """Seed Keras (Python, numpy, TF) before every test, so untrained models start the same each run.

    An unseeded init made tests flaky: now and then a tiny ReLU decoder was dead from the start.
    """
    import keras

    keras.utils.set_random_seed(1234)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
