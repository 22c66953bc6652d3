"""`latent render`: deterministic offline bounce with automation, offline phase, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from controllers.actions import Action, read_events
from instrument.cli import main
from instrument.config import SpectralConfig
from instrument.engine.engine import Engine, hop_index_for_time, time_for_hop
from instrument.errors import AudioFileError, ConfigError, ControllerMapError, ModelError
from instrument.app.render import load_automation, render, resolve_model_paths
from instrument.engine.sources import FileSource
from instrument.dsp.spectral import spectral_convergence_db, stft
from presets import PRESETS_DIR

SPECTRAL = SpectralConfig()
SR = SPECTRAL.sample_rate
HOP = SPECTRAL.stft.hop_length


def tone(seconds: float, f0: float = 330.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return sum(0.2 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 5)).astype(np.float32)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "in.wav"
    sf.write(path, tone(1.5), SR)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped default model, or a tiny causal model built with the training code."""
    shipped = PRESETS_DIR / "models" / "reconstruct.keras"
    if shipped.is_file():
        return shipped
    import keras

    from instrument.models.io import save_latent_model
    from instrument.models.config import AutoencoderConfig
    from instrument.models.autoencoders import build_autoencoder_parts

    keras.utils.set_random_seed(5)
    config = AutoencoderConfig(arch="dense", hidden_units=(32, 8), dropout=0.0, causal=True)
    model, encoder, decoder = build_autoencoder_parts(config)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    save_latent_model(path, model, encoder, decoder, {"config": config})
    return path


def write_log(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def automation_records() -> list[dict]:
    t = SPECTRAL.hop_seconds
    return [
        {"time": round(time_for_hop(5, SPECTRAL), 6), "action": "scale_unit", "unit": 0, "value": 0.0},
        {"time": round(time_for_hop(5, SPECTRAL), 6), "action": "knob_unit", "unit": 1, "value": 2.0},
        {"time": 20 * t, "action": "bank", "bank": 1},
        {"time": 30 * t, "action": "zero_all"},
        {"time": 40 * t, "action": "reset_all"},
        {"time": 50 * t, "action": "toggle_source"},
        {"time": 60 * t, "action": "toggle_source"},
        {"time": 70 * t, "action": "mute", "unit": 2, "on": True},
    ]


def test_render_with_automation_is_bit_exact(tmp_path: Path, wav: Path, model_path: Path) -> None:
    log = write_log(tmp_path / "auto.jsonl", automation_records())
    outs = []
    for run in range(2):
        out = tmp_path / f"out{run}.wav"
        assert main(["render", "--model", str(model_path), "--input", str(wav), "-o", str(out),
                     "--automation", str(log), "--seed", "7", "--no-progress"]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    audio, rate = sf.read(tmp_path / "out0.wav", dtype="float32")
    assert rate == SR and len(audio) == int(1.5 * SR) and np.abs(audio).max() > 0.01


def test_render_function_replays_a_logged_live_session_exactly(model_path: Path) -> None:
    """A live engine applying actions at hop boundaries == render of its log."""
    from instrument.models.io import load_latent_model

    model = load_latent_model(model_path)
    y = tone(1.0)
    live = Engine(model.spectral, [model], ["m"], source=FileSource(y, HOP), seed=3)
    schedule = {3: [Action("scale_unit", {"unit": 1, "value": 0.25})], 17: [Action("zero_all")],
                30: [Action("reset_all"), Action("solo", {"unit": 0, "on": True})]}
    log = []
    hops = -(-(len(y) + live.latency_samples) // HOP)
    live_out = np.zeros(hops * HOP, np.float32)
    for i in range(hops):
        for action in schedule.get(i, []):
            live.apply(action)
            log.append((hop_index_for_time(round(time_for_hop(i, model.spectral), 6), model.spectral), action))
        live_out[i * HOP:(i + 1) * HOP] = live.process_hop()
    offline = Engine(model.spectral, [model], ["m"], source=FileSource(y, HOP), seed=3)
    result = render(offline, len(y), log)
    np.testing.assert_array_equal(result.audio, live_out[live.latency_samples:live.latency_samples + len(y)])
    assert result.actions_applied == 4


def test_action_time_maps_to_the_hop_boundary() -> None:
    y = tone(1.0)
    engine = Engine(SPECTRAL, source=FileSource(y, HOP))
    switch_hop = 40
    events = [(hop_index_for_time(time_for_hop(switch_hop, SPECTRAL) + 0.3 * SPECTRAL.hop_seconds, SPECTRAL),
               Action("set_source", {"synth": False}))]
    result = render(engine, len(y), events)
    start = (switch_hop + 1) * HOP - engine.latency_samples  # after the one-hop crossfade
    np.testing.assert_array_equal(result.audio[start:], y[start:])
    assert not np.array_equal(result.audio[:start - HOP], y[:start - HOP])


def test_render_none_offline_phase_and_plot(tmp_path: Path, wav: Path) -> None:
    out, png = tmp_path / "gl.wav", tmp_path / "gl.png"
    assert main(["render", "--model", "none", "--input", str(wav), "-o", str(out), "--phase", "offline",
                 "--plot", str(png), "--no-progress"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    y = tone(1.5)
    assert len(audio) == len(y)
    assert spectral_convergence_db(np.abs(stft(y, SPECTRAL.stft)), audio, SPECTRAL.stft) < -20.0
    assert png.stat().st_size > 10_000


def test_render_streaming_none_reproduces_input(tmp_path: Path, wav: Path) -> None:
    out = tmp_path / "rt.wav"
    assert main(["render", "--model", "none", "--input", str(wav), "-o", str(out), "--no-progress"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    y = tone(1.5)
    assert spectral_convergence_db(np.abs(stft(y, SPECTRAL.stft)), audio, SPECTRAL.stft) < -25.0


def test_render_offline_phase_with_a_model_and_source_toggle(tmp_path: Path, wav: Path, model_path: Path) -> None:
    log = write_log(tmp_path / "a.jsonl", [{"time": 0.5, "action": "toggle_source"}])
    out = tmp_path / "m.wav"
    assert main(["render", "--model", str(model_path), "--input", str(wav), "-o", str(out), "--phase", "offline",
                 "--automation", str(log), "--no-progress"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    y = tone(1.5)
    tail = int(0.6 * SR)
    np.testing.assert_allclose(audio[tail:], y[tail:], atol=1.0 / 32768 + 1e-6)  # original path, PCM_16


def test_no_input_render_and_quit(tmp_path: Path, model_path: Path) -> None:
    log = write_log(tmp_path / "q.jsonl", [{"time": 0.25, "action": "scale_unit", "unit": 0, "value": 3.0},
                                           {"time": 0.5, "action": "quit"}])
    out = tmp_path / "noin.wav"
    assert main(["render", "--model", str(model_path), "--no-input", "-o", str(out), "--automation", str(log),
                 "--duration", "2", "--no-progress"]) == 0
    audio, _ = sf.read(out, dtype="float32")
    quit_hop = hop_index_for_time(0.5, SPECTRAL)
    assert len(audio) == quit_hop * HOP - Engine(SPECTRAL).latency_samples


def test_bad_inputs_raise_the_right_errors(tmp_path: Path, wav: Path, model_path: Path) -> None:
    out = str(tmp_path / "x.wav")
    with pytest.raises(ModelError, match="missing.keras"):
        resolve_model_paths([str(tmp_path / "missing.keras")])
    assert main(["render", "--model", str(tmp_path / "missing.keras"), "--input", str(wav), "-o", out]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"time": 0.1, "action": "zero_all"}\nnot json\n')
    with pytest.raises(ControllerMapError, match="bad.jsonl:2"):
        main(["--debug", "render", "--model", "none", "--input", str(wav), "-o", out, "--automation", str(bad)])
    unknown = write_log(tmp_path / "unknown.jsonl", [{"time": 0.1, "action": "explode"}])
    with pytest.raises(ControllerMapError, match="explode"):
        load_automation(unknown, SPECTRAL)
    negative = write_log(tmp_path / "neg.jsonl", [{"time": -1, "action": "zero_all"}])
    with pytest.raises(ConfigError, match="time"):
        load_automation(negative, SPECTRAL)
    out_of_range = write_log(tmp_path / "range.jsonl", [{"time": 0.1, "action": "scale_unit", "unit": 999,
                                                          "value": 1.0}])
    with pytest.raises(ConfigError, match="unit 999"):
        main(["--debug", "render", "--model", str(model_path), "--input", str(wav), "-o", out,
              "--automation", str(out_of_range), "--no-progress"])
    with pytest.raises(AudioFileError, match="nope.wav"):
        main(["--debug", "render", "--model", "none", "--input", str(tmp_path / "nope.wav"), "-o", out])
    with pytest.raises(ConfigError, match="--no-input"):
        main(["--debug", "render", "--model", "none", "-o", out])
    with pytest.raises(ConfigError, match="duration"):
        main(["--debug", "render", "--model", "none", "--input", str(wav), "-o", out, "--duration", "-1"])
    with pytest.raises(ControllerMapError, match="not found"):
        load_automation(tmp_path / "absent.jsonl", SPECTRAL)


def test_shipped_demo_automation_is_valid() -> None:
    path = PRESETS_DIR / "automation" / "demo.jsonl"
    events = list(read_events(path))
    names = {action.name for _, action in events}
    assert {"bank", "scale_unit", "zero_all", "reset_all", "toggle_source"} <= names
    times = [t for t, _ in events]
    assert times == sorted(times) and times[0] >= 0


def test_render_two_models_with_switch_model(tmp_path: Path, wav: Path, model_path: Path) -> None:
    log = write_log(tmp_path / "sw.jsonl", [{"time": 0.3, "action": "switch_model", "model": 1},
                                            {"time": 0.9, "action": "switch_model", "model": 0}])
    outs = []
    for name, extra in (("switched", ["--automation", str(log)]), ("plain", [])):
        out = tmp_path / f"{name}.wav"
        assert main(["render", "--model", str(model_path), "--model", str(model_path), "--input", str(wav),
                     "-o", str(out), "--no-progress", *extra]) == 0
        outs.append(sf.read(out, dtype="float32")[0])
    # the same model twice, fed the same frames: switching between them is seamless
    np.testing.assert_allclose(outs[0], outs[1], atol=2.0 / 32768)
    bad = write_log(tmp_path / "bad-model.jsonl", [{"time": 0.3, "action": "switch_model", "model": 5}])
    with pytest.raises(ConfigError, match="model 5 out of range"):
        main(["--debug", "render", "--model", str(model_path), "--input", str(wav), "-o", str(tmp_path / "x.wav"),
              "--automation", str(bad), "--no-progress"])
