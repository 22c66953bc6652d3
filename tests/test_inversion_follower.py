"""Live inversion follower: ring buffer timing, changed-only messages, and a real JACK MIDI port."""

from __future__ import annotations

import time
from pathlib import Path

import mido
import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.follower import InversionFollower, InversionWorker
from instrument.inversion.model import InversionModel, load_inversion_model, save_inversion_model
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import InversionModelConfig
from training.inversion.train import spec_dict
from instrument.synths.midi_send import send_messages
from instrument.synths.spec import SynthSpec


@pytest.fixture(scope="module")
def fluid_model(tmp_path_factory: pytest.TempPathFactory) -> InversionModel:
    """An untrained small network over the fluidsynth spec (every parameter has a MIDI mapping)."""
    spec = SynthSpec.from_dict(spec_dict("fluidsynth"))
    config = InversionModelConfig(arch="conv6xl", n_params=spec.n_params, n_classes=max(spec.levels),
                                  n_bins=spec.n_bins, n_frames=spec.n_frames, width_scale=0.1, fc_units=16,
                                  feature_mean=0.3, feature_std=0.5)
    path = tmp_path_factory.mktemp("follower") / "fluid.keras"
    save_inversion_model(build_inversion_model(config), path, config, "fluidsynth",
                         spec_dict("fluidsynth"))
    return load_inversion_model(path)


def _tone(freq_hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sign(np.sin(2 * np.pi * freq_hz * t)) * np.exp(-3 * t)).astype(np.float32)


def test_first_inference_after_one_window_then_every_period(fluid_model: InversionModel) -> None:
    rate = fluid_model.spec.sample_rate
    f = InversionFollower(fluid_model, window_seconds=1.0, every_seconds=0.25,
                          min_interval_seconds=0.0)
    audio = _tone(220.0, 2.0, rate)
    block = 256
    bursts = []
    for i in range(0, len(audio), block):
        out = f.push(audio[i:i + block])
        if out:
            bursts.append((i + block, out))
    # nothing before a full window, one inference per 0.25 s of input after it
    assert f.inferences == 5
    first_at, first = bursts[0]
    assert first_at >= rate
    mapped = [p for p in fluid_model.spec.parameters if p.midi is not None]
    assert len(first) >= len(mapped)          # a whole patch first (NRPN = 4 CCs each)
    assert all(m.type in ("control_change", "program_change") for m in first)
    # the same steady input afterwards yields no repeated messages
    again = [m for _, out in bursts[1:] for m in out]
    assert len(again) < len(first)


def test_silence_sends_nothing_and_rate_limit_holds(fluid_model: InversionModel) -> None:
    rate = fluid_model.spec.sample_rate
    f = InversionFollower(fluid_model, every_seconds=0.25, min_interval_seconds=10.0)
    assert f.push(np.zeros(2 * rate, np.float32)) == []
    assert f.inferences == 0
    first = f.push(_tone(300.0, 1.0, rate))
    assert first
    later = [f.push(_tone(f0, 0.25, rate)) for f0 in (500.0, 900.0, 1400.0, 2000.0)]
    assert all(m == [] for m in later)        # within min_interval: inferred but not sent
    assert f.inferences == 5


def test_resampled_input_and_bad_settings(fluid_model: InversionModel) -> None:
    f = InversionFollower(fluid_model, input_sample_rate=22050, every_seconds=0.5)
    out = f.push(_tone(330.0, 1.0, 22050))
    assert out and f.window == 22050
    with pytest.raises(ConfigError):
        InversionFollower(fluid_model, every_seconds=0.0)
    with pytest.raises(ConfigError):
        InversionFollower(fluid_model, channel=16)


def test_worker_sends_changed_parameters_to_a_jack_midi_port(fluid_model: InversionModel,
                                                             jack_server: str) -> None:
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    received: list[mido.Message] = []
    with backend.open_input("inversion-recorder", virtual=True,
                            callback=received.append) as _inport:
        names = [n for n in backend.get_output_names() if "inversion-recorder" in n]
        assert names, backend.get_output_names()
        with backend.open_output(names[0]) as outport:
            follower = InversionFollower(fluid_model, every_seconds=0.25, min_interval_seconds=0.0)
            worker = InversionWorker(follower, lambda msgs: send_messages(outport, msgs))
            worker.start()
            rate = fluid_model.spec.sample_rate
            audio = np.concatenate([_tone(220.0, 1.5, rate), _tone(1500.0, 1.0, rate)])
            for i in range(0, len(audio), 512):
                assert worker.submit(audio[i:i + 512])
            worker.stop(timeout=120)
            assert worker.error is None
            deadline = time.monotonic() + 5.0
            while len(received) < worker.sent and time.monotonic() < deadline:
                time.sleep(0.05)
    assert worker.sent > 0
    assert len(received) == worker.sent
    assert {m.type for m in received} <= {"control_change", "program_change"}
    # NRPN selects (CC 99 = 120, SoundFont generators) arrive as sent
    assert any(m.type == "control_change" and m.control == 99 and m.value == 120 for m in received)
