"""Shared fixtures: a private JACK dummy server, tiny inversion models, a seeded rng and Keras init,
headless pygame."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Test processes (make test runs two) must not compile numba's cached gufuncs (librosa's onset
    # and pYIN helpers) into one shared cache at once: numba/numba#10128, a race that writes a
    # function and its gufunc wrapper from two processes and segfaults the next to load them. Each
    # worker (and the commands it starts) gets its own cache folder.
    import tempfile

    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
        tempfile.gettempdir(), f"latent-tests-numba-{os.getuid()}-{os.environ['PYTEST_XDIST_WORKER']}"))

JACK_SAMPLE_RATE = 22050
JACK_PERIOD = 256


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """Start a private JACK server with the dummy backend and point clients at it.

    Yields the server name; ``JACK_DEFAULT_SERVER`` is set for this process and its children.
    """
    from benchmarks.jack_server import JackServer, reinit_portaudio, terminate_portaudio
    from instrument.errors import DeviceError

    if shutil.which("jackd") is None:
        pytest.skip("jackd not installed (Debian package jackd2); `make test` installs it as root")
    server = JackServer(JACK_SAMPLE_RATE, JACK_PERIOD, ready_timeout_s=15.0)
    try:
        server.start()
    except DeviceError as exc:
        pytest.fail(str(exc))
    try:
        reinit_portaudio()
        yield server.name
    finally:
        terminate_portaudio()
        server.stop()


@pytest.fixture(scope="session")
def dx7() -> object:
    """The shipped dx7 synth (skips where the optional extra dexed-py is not installed)."""
    pytest.importorskip("dexed")
    from instrument.synths.registry import get_synth

    return get_synth("dx7")


@pytest.fixture(scope="session")
def tiny_inversion_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Factory: ``make(synth_name)`` -> an untrained small conv6xl inversion network for that
    synth's shipped spec, saved once per session and synth."""
    made: dict[str, Path] = {}

    def make(synth_name: str) -> Path:
        if synth_name not in made:
            from instrument.inversion.model import save_inversion_model
            from instrument.inversion.networks.build import build_inversion_model
            from instrument.inversion.networks.config import InversionModelConfig
            from instrument.synths.spec import SynthSpec
            from training.inversion.train import spec_dict

            spec = SynthSpec.from_dict(spec_dict(synth_name))
            config = InversionModelConfig(arch="conv6xl", n_params=spec.n_params,
                                          n_classes=max(spec.levels), n_bins=spec.n_bins,
                                          n_frames=spec.n_frames, width_scale=0.1, fc_units=16,
                                          feature_mean=0.3, feature_std=0.5)
            path = tmp_path_factory.mktemp(f"{synth_name}-tiny") / f"{synth_name}-tiny.keras"
            made[synth_name] = save_inversion_model(build_inversion_model(config), path, config,
                                                    synth_name, spec_dict(synth_name))
        return made[synth_name]

    return make


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
