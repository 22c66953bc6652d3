"""No output ever reaches full scale: real renders of the shipped models through the engine's
master gain and safety limiter, the demo render, `latent render` / `latent perform` flags, a JACK
performance's recording, and the window's limiter meter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from controllers.actions import Action
from instrument.app.render import load_automation, load_models, render, resolve_model_paths
from instrument.engine.engine import Engine, make_source
from instrument.engine.unit_state import MAX_SCALE
from instrument.io.audio_files import load_audio
from presets import PRESETS_DIR

FLUTE = PRESETS_DIR / "audio" / "flute-phrase.wav"
MODELS = ("reconstruct", "flute-to-clarinet", "none")
PHRASE_S = 2.0


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[Any, list[str], Any, np.ndarray]]:
    """Each playable shipped model (and none) with the flute phrase trimmed to 2 s."""
    out = {}
    for name in MODELS:
        models, names, spectral = load_models(resolve_model_paths([name], live=False))
        audio = load_audio(FLUTE, spectral.audio)[:int(PHRASE_S * spectral.sample_rate)]
        out[name] = (models, names, spectral, audio)
    return out


def _engine(entry: tuple[Any, list[str], Any, np.ndarray], phase: str = "streaming") -> Engine:
    models, names, spectral, audio = entry
    return Engine(spectral, models, names, source=make_source("file", spectral.stft.hop_length, audio),
                  phase=phase)


def _set_all(engine: Engine, value: float) -> None:
    for unit in range(engine.n_units if engine.model_names else 0):
        engine.apply(Action("scale_unit", {"unit": unit, "value": value}))
        engine.apply(Action("knob_unit", {"unit": unit, "value": value}))


def _full_scale_share(audio: np.ndarray) -> float:
    return float(np.mean(np.abs(audio) >= 0.999))


@pytest.mark.parametrize("value", [MAX_SCALE, 0.0])
@pytest.mark.parametrize("name", MODELS)
def test_every_fader_and_knob_at_max_or_zero_never_reaches_full_scale(loaded: dict, name: str,
                                                                      value: float) -> None:
    engine = _engine(loaded[name])
    _set_all(engine, value)
    out = render(engine, len(loaded[name][3])).audio
    assert np.isfinite(out).all()
    assert np.abs(out).max() < 1.0 and _full_scale_share(out) == 0.0
    assert np.abs(out).max() <= engine.limiter.ceiling
    if name != "none" and value == MAX_SCALE:  # it was the limiter that held it
        assert engine.limiter_meter_db > 6.0


def test_one_unit_at_two_with_master_gain_plus_12_db_does_not_clip(loaded: dict) -> None:
    engine = _engine(loaded["reconstruct"])
    engine.apply(Action("scale_unit", {"unit": 0, "value": 2.0}))
    engine.apply(Action("master_gain", {"db": 12.0}))
    out = render(engine, len(loaded["reconstruct"][3])).audio
    assert np.abs(out).max() <= engine.limiter.ceiling < 1.0


def test_offline_phase_render_is_limited_too(loaded: dict) -> None:
    engine = _engine(loaded["reconstruct"], phase="offline")
    _set_all(engine, MAX_SCALE)
    out = render(engine, len(loaded["reconstruct"][3]), gl_iterations=4).audio
    assert np.isfinite(out).all() and np.abs(out).max() <= engine.limiter.ceiling < 1.0


def test_master_gain_scales_the_output_and_starts_without_a_fade(loaded: dict) -> None:
    entry = loaded["none"]
    plain = render(_engine(entry), len(entry[3])).audio
    engine = _engine(entry)
    engine.apply(Action("master_gain", {"db": -20.0}))  # before hop 0: applies at once
    quiet = render(engine, len(entry[3])).audio
    np.testing.assert_allclose(quiet, plain * 0.1, atol=1e-6)


def test_gain_changes_and_auto_gain_replay_bit_exact(loaded: dict, tmp_path: Path) -> None:
    entry = loaded["reconstruct"]
    spectral = entry[2]
    log = tmp_path / "gain.jsonl"
    events = [(0.0, Action("master_gain", {"db": -6.0})), (0.3, Action("scale_unit", {"unit": 2, "value": 2.5})),
              (0.5, Action("master_gain", {"db": 12.0})), (0.8, Action("auto_gain", {"on": True})),
              (1.4, Action("auto_gain", {"on": False}))]
    log.write_text("".join(json.dumps(action.to_record(t)) + "\n" for t, action in events))
    automation = load_automation(log, spectral)
    first = render(_engine(entry), len(entry[3]), automation).audio
    second = render(_engine(entry), len(entry[3]), automation).audio
    np.testing.assert_array_equal(first, second)
    assert np.abs(first).max() < 1.0
    # the +18 dB step at 0.5 s ramps (no zipper): no sample-to-sample jump larger than the signal's own
    hop = spectral.stft.hop_length
    at = int(0.5 * spectral.sample_rate) // hop * hop
    assert np.abs(np.diff(first[at - hop:at + 4 * hop])).max() < 0.5


def test_auto_gain_holds_the_level_when_a_unit_is_swept(loaded: dict) -> None:
    entry = loaded["reconstruct"]
    sample_rate = entry[2].sample_rate
    levels: dict[bool, list[float]] = {False: [], True: []}
    for auto in (False, True):
        for value in (0.0, 1.0, 2.0):
            engine = _engine(entry)
            engine.apply(Action("scale_unit", {"unit": 0, "value": value}))
            engine.apply(Action("auto_gain", {"on": auto}))
            tail = render(engine, len(entry[3])).audio[sample_rate:].astype(np.float64)
            levels[auto].append(10 * np.log10(np.mean(tail ** 2)))
    spread = {auto: max(v) - min(v) for auto, v in levels.items()}
    assert spread[False] > 10.0, levels  # the sweep really changes the level without compensation
    assert spread[True] < 4.0, levels


def _latent(argv: list[str], repo_root: Path, timeout_s: float = 300.0) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(repo_root), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "instrument.cli", *argv], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=timeout_s)


def test_cli_master_gain_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.cli import main

    wav = tmp_path / "in.wav"
    t = np.arange(22050) / 22050
    sf.write(wav, (0.9 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050, subtype="FLOAT")
    out = tmp_path / "out.wav"
    assert main(["render", "--model", "none", "--input", str(wav), "-o", str(out), "--no-progress",
                 "--master-gain", "12", "--auto-gain"]) == 0
    data, _ = sf.read(out, dtype="float32")
    assert 0.9 < np.abs(data).max() < 1.0 and _full_scale_share(data) == 0.0
    capsys.readouterr()
    assert main(["render", "--model", "none", "--input", str(wav), "-o", str(out), "--master-gain", "13"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "latent render: error: --master-gain must be a number of dB in -60..12, got 13"
    assert main(["perform", "--model", "none", "--headless", "--no-midi", "--master-gain", "-61"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "latent perform: error: --master-gain must be a number of dB in -60..12, got -61.0"


def test_demo_render_has_no_sample_at_full_scale(tmp_path: Path) -> None:
    from instrument.cli import main

    out = tmp_path / "demo-out.wav"
    assert main(["demo", "--offline", "--no-bench", "-o", str(out)]) == 0
    data, _ = sf.read(out, dtype="float32")
    assert len(data) > 22050 and np.abs(data).max() < 1.0 and _full_scale_share(data) == 0.0


def test_jack_performance_records_below_full_scale_and_replays(jack_server: str, tmp_path: Path,
                                                               repo_root: Path) -> None:
    sample_rate = 22050
    t = np.arange(3 * sample_rate) / sample_rate
    wav = tmp_path / "loud.wav"
    sf.write(wav, (0.95 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sample_rate, subtype="FLOAT")
    record, events = tmp_path / "rec.wav", tmp_path / "ev.jsonl"
    # --model none: no Keras import, so the run starts in a few seconds; +12 dB would clip 4x over
    done = _latent(["perform", "--model", "none", "--headless", "--no-midi", "--input", str(wav),
                    "--duration", "2", "--master-gain", "12", "--record", str(record),
                    "--log-events", str(events)], repo_root)
    assert done.returncode == 0, done.stderr[-2000:]
    recording, rate = sf.read(record, dtype="float32")
    assert rate == sample_rate and len(recording) > sample_rate
    assert 0.9 < np.abs(recording).max() < 1.0 and _full_scale_share(recording) == 0.0
    first = json.loads(events.read_text().splitlines()[0])
    assert first == {"time": 0.0, "action": "master_gain", "db": 12.0}
    models, names, spectral = load_models([])
    engine = Engine(spectral, models, names, source=make_source("file", spectral.stft.hop_length,
                                                                 load_audio(wav, spectral.audio), loop=True))
    replay = render(engine, len(recording), load_automation(events, spectral))
    np.testing.assert_array_equal(replay.audio, recording)


def test_window_shows_the_limiter_and_master_gain(loaded: dict, tmp_path: Path) -> None:
    pygame = pytest.importorskip("pygame")
    from instrument.app.display import EngineView
    from instrument.app.window import ACTIVATION, SPEC_HEIGHT, SPEC_WIDTH, WARN, PerformanceWindow

    engine = _engine(loaded["reconstruct"])
    _set_all(engine, MAX_SCALE)
    engine.apply(Action("master_gain", {"db": -3.0}))
    for _ in range(60):
        engine.process_hop()
    snapshot = EngineView()(engine)
    assert snapshot.gain_reduction_db > 6.0 and snapshot.master_gain_db == -3.0
    window = PerformanceWindow()
    try:
        window.update(snapshot)
        window.draw()
        path = window.save_screenshot(tmp_path / "meter.png")
        rgb = pygame.surfarray.array3d(pygame.image.load(str(path)))
    finally:
        window.close()
    x = 16 + SPEC_WIDTH + 12
    meter = rgb[x:x + 24, 398:398 + SPEC_HEIGHT]
    lit = np.all(meter == np.array(WARN, np.uint8), axis=-1) | np.all(meter == np.array(ACTIVATION, np.uint8),
                                                                      axis=-1)
    rows = lit.any(axis=0)
    expected = SPEC_HEIGHT * min(snapshot.gain_reduction_db, 24.0) / 24.0
    assert abs(int(rows.sum()) - expected) <= 2 and rows[0], "the bar falls from the top"
