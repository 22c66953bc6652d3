"""`latent perform` end to end with real parts: a JACK dummy sound card, a virtual nanoKONTROL2 on
JACK MIDI, a small real Keras model, the recorder, the event log, and `latent render` replay.

One scripted performance (~5 s of audio) is run as a subprocess and checked from its event log and
its recording; a second run is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from controllers.actions import read_events
from controllers.maps import load_map
from presets import CONTROLLER_MAPS_DIR

SR = 22050
HOP = 256
DURATION_S = 5.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-unit dense latent model (random weights) in the shipped file format."""
    import keras

    from instrument.models.io import save_latent_model
    from instrument.models.config import AutoencoderConfig
    from instrument.models.autoencoders import build_autoencoder

    keras.utils.set_random_seed(7)
    config = AutoencoderConfig(arch="dense", hidden_units=(16,))
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    save_latent_model(path, build_autoencoder(config), metadata={"config": config})
    return path


@pytest.fixture(scope="module")
def input_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of stationary sound (two sines and noise): spectra only change when the controls do."""
    t = np.arange(6 * SR) / SR
    rng = np.random.default_rng(5)
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.15 * np.sin(2 * np.pi * 1760 * t) + 0.03 * rng.standard_normal(len(t))
    path = tmp_path_factory.mktemp("audio") / "input.wav"
    sf.write(path, y.astype(np.float32), SR, subtype="FLOAT")
    return path


class Perform:
    """`latent perform` as a subprocess; waits for its "playing" line on stderr."""

    def __init__(self, args: list[str], repo_root: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(repo_root), TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen([sys.executable, "-m", "instrument.cli", "perform", *args],
                                     cwd=repo_root, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        self.playing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("latent perform: playing"):
                self.playing.set()

    def wait_playing(self, timeout_s: float = 240.0) -> str:
        if not self.playing.wait(timeout_s):
            self.proc.kill()
            pytest.fail("perform did not start:\n" + "".join(self.stderr[-30:]))
        return next(line for line in self.stderr if line.startswith("latent perform: playing"))

    def finish(self, timeout_s: float = 120.0) -> str:
        out, _ = self.proc.communicate(timeout=timeout_s)
        self._reader.join(5)
        assert self.proc.returncode == 0, "".join(self.stderr[-30:]) + out
        return out


def _cc(port: mido.ports.BaseOutput, control: int, value: int) -> None:
    port.send(mido.Message("control_change", channel=0, control=control, value=value))


def _press(port: mido.ports.BaseOutput, control: int) -> None:
    _cc(port, control, 127)
    _cc(port, control, 0)


def _at(t0: float, seconds: float) -> None:
    time.sleep(max(0.0, t0 + seconds - time.perf_counter()))


def _spectrum(y: np.ndarray, start_s: float, stop_s: float) -> np.ndarray:
    seg = y[int(start_s * SR):int(stop_s * SR)]
    frames = np.lib.stride_tricks.sliding_window_view(seg, 1024)[::256] * np.hanning(1024)
    return np.log1p(np.abs(np.fft.rfft(frames, axis=1))).mean(axis=0)


def _relative_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-9))


@pytest.mark.slow
def test_scripted_nanokontrol2_performance_is_logged_recorded_and_replays_bit_exact(
        jack_server: str, tiny_model: Path, input_wav: Path, tmp_path: Path, repo_root: Path) -> None:
    record, events = tmp_path / "out.wav", tmp_path / "ev.jsonl"
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    fader_curve = load_map("nanokontrol2", CONTROLLER_MAPS_DIR).control(1).curve
    flood_values = [64] + [40 + (i * 7) % 80 for i in range(1, 4999)] + [100]
    leds: list[mido.Message] = []
    with backend.open_output("nanoKONTROL2 virtual", virtual=True) as port, \
            backend.open_input("nanoKONTROL2 LEDs", virtual=True, callback=leds.append):
        perform = Perform(["--model", str(tiny_model), "--headless", "--midi-api", "jack",
                           "--input", str(input_wav), "--duration", str(DURATION_S), "--seed", "3",
                           "--record", str(record), "--log-events", str(events)], repo_root)
        playing_line = perform.wait_playing()
        assert "processing thread real-time" in playing_line or "processing thread normal priority" in playing_line
        t0 = time.perf_counter()
        _at(t0, 0.3)
        _press(port, 59)  # track >: bank 1 (units 8..15)
        _at(t0, 0.5)
        _cc(port, 0, 0)  # fader 1 at 0 while the unit is at 1.0: soft takeover ignores it
        _at(t0, 0.7)
        _cc(port, 0, 64)  # fader reaches the unit's value: picked up
        _at(t0, 0.9)
        _cc(port, 0, 0)  # now it acts: unit 8 -> 0
        _at(t0, 1.4)
        for i, value in enumerate(flood_values):  # 5,000 fader-2 messages in ~1 s
            _cc(port, 1, value)
            if i % 50 == 49:
                _at(t0, 1.4 + (i + 1) / 5000)
        _at(t0, 2.6)
        _press(port, 60)  # marker set: zero all units
        _at(t0, 3.0)
        _press(port, 43)  # rewind: original (bypass) audio
        _at(t0, 3.4)
        _press(port, 42)  # stop: pause and rewind the file
        _at(t0, 3.9)
        _press(port, 41)  # play
        summary = perform.finish()
    assert "connected" in playing_line, playing_line
    # LED feedback on the controller's output port: play lit, dark after stop, lit after play, and
    # every LED off when perform closes; rewind (original sound) lit after it was pressed
    play_led = [m.value for m in leds if m.type == "control_change" and m.control == 41]
    assert play_led == [127, 0, 127, 0], play_led
    assert 127 in [m.value for m in leds if m.type == "control_change" and m.control == 43]
    assert "stopped by --duration" in summary, summary
    print(summary)

    log = list(read_events(events))
    names = [a.name for _, a in log]
    assert names[0] == "bank" and log[0][1].args["bank"] == 1
    unit8 = [(t, a.args["value"]) for t, a in log if a.name == "scale_unit" and a.args["unit"] == 8]
    assert unit8[0][1] == 1.0, "soft takeover: the first value applied is the pickup at the unit's value"
    assert unit8[-1][1] == 0.0
    t_zero8 = unit8[-1][0]
    unit9 = [(t, a.args["value"]) for t, a in log if a.name == "scale_unit" and a.args["unit"] == 9]
    assert unit9, "the flood did not reach the engine"
    assert unit9[-1][1] == pytest.approx(fader_curve(100)), "the final fader value of the flood must win"
    order = [n for n in names if n in ("zero_all", "set_source", "stop", "play_pause")]
    # (under a MIDI flood JACK has been seen to deliver a button press twice; a repeat is harmless)
    order = [n for i, n in enumerate(order) if i == 0 or n != order[i - 1]]
    assert order == ["zero_all", "set_source", "stop", "play_pause"], names
    times = {a.name: t for t, a in log}
    assert times["zero_all"] > unit9[-1][0]
    for t, _ in log:  # every action logged on a hop boundary
        assert abs(t * SR / HOP - round(t * SR / HOP)) < 1e-3

    # the recording: engine output hops minus the engine latency, exactly --duration of hops
    recording, rate = sf.read(record, dtype="float32")
    assert rate == SR
    hops = int(np.ceil(DURATION_S * SR / HOP))
    from instrument.engine.engine import Engine, make_source
    from instrument.app.render import load_automation, load_models, render
    models, model_names, spectral = load_models([tiny_model])
    audio_in = sf.read(input_wav, dtype="float32")[0]
    engine = Engine(spectral, models, model_names, source=make_source("file", HOP, audio_in), seed=3)
    assert len(recording) == hops * HOP - engine.latency_samples

    # fader 1 at 0 changed the output spectrum; zero_all changed it again
    before = _spectrum(recording, t_zero8 - 0.3, t_zero8 - 0.05)
    after = _spectrum(recording, t_zero8 + 0.1, t_zero8 + 0.35)
    steady = _spectrum(recording, t_zero8 - 0.6, t_zero8 - 0.35)
    assert _relative_change(before, after) > 3 * _relative_change(steady, before)
    zeroed = _spectrum(recording, times["zero_all"] + 0.1, times["set_source"] - 0.05)
    assert _relative_change(after, zeroed) > 0.05

    # stop: the original path is exact silence; play: the file starts again from sample 0, exactly
    t_stop, t_play = times["stop"], times["play_pause"]
    stopped = recording[int((t_stop + 0.1) * SR):int(t_play * SR) - 2 * HOP]
    assert len(stopped) > 0.2 * SR and np.all(stopped == 0.0)
    start = int(round(t_play * SR))
    np.testing.assert_array_equal(recording[start:start + SR // 2], audio_in[:SR // 2])

    # replay the log offline: bit-exact with the live recording (same model, input and seed)
    replay = render(engine, len(recording), load_automation(events, spectral))
    np.testing.assert_array_equal(replay.audio, recording)


@pytest.mark.slow
def test_sigterm_leaves_a_valid_recording(jack_server: str, input_wav: Path,
                                          tmp_path: Path, repo_root: Path) -> None:
    record = tmp_path / "term.wav"
    # --model none: no Keras import, so this run starts in a few seconds
    perform = Perform(["--model", "none", "--headless", "--no-midi", "--input", str(input_wav),
                       "--loop", "--record", str(record)], repo_root)
    perform.wait_playing()
    time.sleep(1.5)
    perform.proc.send_signal(signal.SIGTERM)
    summary = perform.finish()
    assert "stopped by SIGTERM" in summary
    frames = sf.info(str(record)).frames
    reported = int(summary.split("recorded ")[1].split(" frames")[0])
    assert frames == reported
    assert 1.0 * SR < frames < 30 * SR
    data, _ = sf.read(record, dtype="float32")
    assert np.isfinite(data).all() and np.abs(data).max() > 0.01


def test_processing_thread_applies_every_action_in_order_without_starving_the_audio(
        jack_server: str, input_wav: Path, tmp_path: Path) -> None:
    """In-process: a control thread floods 10,000 actions in ~1 s (twice a fast MIDI flood) while the
    worker feeds a real JACK stream."""
    from controllers.actions import Action
    from instrument.app.perform import ActionInbox, ProcessingWorker
    from instrument.config import SpectralConfig
    from instrument.engine.engine import Engine, make_source
    from instrument.io.eventlog import EventLog
    from instrument.io.devices import AudioIO

    spectral = SpectralConfig()
    audio_in = sf.read(input_wav, dtype="float32")[0]
    engine = Engine(spectral, (), source=make_source("file", HOP, audio_in, loop=True))
    io = AudioIO(SR, 256, 16 * HOP)
    inbox = ActionInbox()
    stop = threading.Event()
    log_path = tmp_path / "flood.jsonl"
    n_actions = 10_000
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # as `latent perform` does: the callback gets the GIL promptly
    with EventLog(log_path, spectral.hop_seconds) as log:
        worker = ProcessingWorker(engine, HOP, SR, io.out_ring, inbox, None, stop, ahead_hops=8,
                                  event_log=log, max_hops=int(2.0 * SR / HOP))
        worker.start()
        assert worker.primed.wait(30)
        io.start()
        try:
            t0 = time.perf_counter()
            for i in range(n_actions):
                inbox.submit([Action("wet_dry", {"value": (i + 1) / n_actions})])
                if i % 100 == 99:
                    _at(t0, (i + 1) / n_actions)
            worker.join(30)
        finally:
            io.close()
            sys.setswitchinterval(switch_interval)
    assert worker.error is None and not worker.is_alive()
    stats = io.stats()
    print(f"hops {worker.stats.hops}, callbacks {stats.callbacks}, underflows {stats.output_underflows}, "
          f"xrun flags {stats.status_xruns}, worker CPU {100 * worker.stats.mean_cpu_load:.1f}%")
    values = [a.args["value"] for _, a in read_events(log_path)]
    assert values == [(i + 1) / n_actions for i in range(n_actions)], "every action, in order"
    assert engine.wet_dry == 1.0
    times = [t for t, _ in read_events(log_path)]
    assert times == sorted(times)
    assert len(set(times)) > 10, "actions are spread over many hop boundaries, not held back"
    # the audio thread was fed: underflows stay a small part of the callbacks even on a loaded machine
    assert stats.callbacks >= worker.stats.hops - 8 - 2  # all but the 8 hops queued ahead were played
    assert stats.output_underflows <= 0.2 * stats.callbacks  # 0-10 % seen at load average 15 on 2 cores


def test_window_screenshot_of_a_running_performance(jack_server: str, input_wav: Path, tmp_path: Path,
                                                    repo_root: Path) -> None:
    import pygame

    shot = tmp_path / "perform.png"
    assert os.environ.get("SDL_VIDEODRIVER") == "dummy"  # conftest: the window draws off-screen
    perform = Perform(["--model", "none", "--no-midi", "--input", str(input_wav), "--duration", "1.5",
                       "--screenshot", str(shot)], repo_root)
    perform.wait_playing()
    summary = perform.finish()
    assert "stopped by --duration" in summary
    rgb = pygame.surfarray.array3d(pygame.image.load(str(shot)))
    assert rgb.shape[:2] == (960, 600)
    spectrogram = rgb[16:456, 404:554].reshape(-1, 3)
    lit = np.count_nonzero(spectrogram.max(axis=1) > 120)
    assert lit > 500, "the input spectrogram shows the playing file"
    status_line = rgb[:, 572:590].reshape(-1, 3)
    assert np.count_nonzero(status_line.min(axis=1) > 150) > 100, "status line text (CPU, xruns) drawn"


def test_quit_action_stops_the_worker_and_only_applied_actions_are_logged(jack_server: str, input_wav: Path, tmp_path: Path) -> None:
    from controllers.actions import Action
    from instrument.app.perform import ActionInbox, ProcessingWorker
    from instrument.config import SpectralConfig
    from instrument.engine.engine import Engine, make_source
    from instrument.io.eventlog import EventLog
    from instrument.io.ringbuffer import RingBuffer

    spectral = SpectralConfig()
    engine = Engine(spectral, (), source=make_source("file", HOP, sf.read(input_wav, dtype="float32")[0]))
    ring = RingBuffer(8 * HOP)
    inbox, stop = ActionInbox(), threading.Event()
    with EventLog(tmp_path / "q.jsonl", spectral.hop_seconds) as log:
        worker = ProcessingWorker(engine, HOP, SR, ring, inbox, None, stop, ahead_hops=4, event_log=log)
        worker.start()
        assert worker.primed.wait(30)
        inbox.submit([Action("next_scene"), Action("stop"), Action("quit")])  # no scenes: skipped
        out = np.zeros(HOP, np.float32)
        while not worker.finished.wait(HOP / SR):  # play the part of the sound card
            ring.read_into(out)
        worker.join(5)
    assert worker.quit_requested and stop.is_set() and not worker.is_alive()
    assert [a.name for _, a in read_events(tmp_path / "q.jsonl")] == ["stop", "quit"]  # only applied ones
    assert len(worker.stats.action_errors) == 1 and worker.stats.action_errors[0].startswith("next_scene")


def test_no_audio_device_is_reported_clearly(input_wav: Path, repo_root: Path) -> None:
    import sounddevice as sd

    jack = {i for i, api in enumerate(sd.query_hostapis()) if "JACK" in api["name"]}
    if any(d["max_output_channels"] > 0 and d["hostapi"] not in jack for d in sd.query_devices()):
        pytest.skip("this machine has a sound card outside JACK")
    env = dict(os.environ, PYTHONPATH=str(repo_root), JACK_DEFAULT_SERVER="latent-no-such-server",
               JACK_NO_START_SERVER="1")
    proc = subprocess.run([sys.executable, "-m", "instrument.cli", "perform", "--model", "none", "--headless",
                           "--no-midi", "--input", str(input_wav), "--duration", "1"],
                          cwd=repo_root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no audio output device found" in proc.stderr and "latent render" in proc.stderr


@pytest.mark.parametrize("option", [["--rt-priority", "100"], ["--block", "0"], ["--compute-hops", "-1"]])
def test_bad_scheduling_options_are_refused(option: list[str], input_wav: Path) -> None:
    from instrument.cli import build_parser
    from instrument.commands.perform import options_from_args
    from instrument.errors import ConfigError

    args = build_parser().parse_args(["perform", "--model", "none", "--headless", "--no-midi",
                                      "--input", str(input_wav), *option])
    with pytest.raises(ConfigError, match=option[0]):
        options_from_args(args)


def test_demo_renders_offline_when_asked(tmp_path: Path, repo_root: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    out = tmp_path / "demo-out.wav"
    proc = subprocess.run([sys.executable, "-m", "instrument.commands.demo", "--offline", "--no-bench", "--output", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "demo: rendered demo-loop.wav" in proc.stdout
    info = sf.info(str(out))
    assert info.samplerate == SR and info.frames > 5 * SR
    png = out.with_suffix(".png")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_shift_layer_switches_models_plays_the_mix_and_quits_only_on_a_hold(
        jack_server: str, tiny_model: Path, input_wav: Path, tmp_path: Path, repo_root: Path) -> None:
    """Two loaded models; the nanoKONTROL2's shift layer (hold cycle) over a JACK virtual port."""
    import shutil

    model_b = tmp_path / "other.keras"
    shutil.copy(tiny_model, model_b)
    events = tmp_path / "ev.jsonl"
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    with backend.open_output("nanoKONTROL2 virtual", virtual=True) as port:
        perform = Perform(["--model", str(tiny_model), "--model", str(model_b), "--headless",
                           "--midi-api", "jack", "--input", str(input_wav), "--loop", "--duration", "30",
                           "--log-events", str(events)], repo_root)
        perform.wait_playing()
        t0 = time.perf_counter()
        _at(t0, 0.3)
        _press(port, 46)  # one touch of cycle (the old quit button): nothing happens
        _at(t0, 0.5)
        _cc(port, 46, 127)  # hold cycle: shift layer
        _at(t0, 0.7)
        _press(port, 59)  # shift + track >: next model
        _at(t0, 0.9)
        _cc(port, 23, 127)  # shift + knob 8 at wet 1.0: picked up
        _at(t0, 1.0)
        _cc(port, 23, 64)  # wet/dry 0.5
        _at(t0, 1.2)
        _press(port, 42)  # one touch of shift + stop: no quit
        _at(t0, 1.5)
        _cc(port, 46, 0)  # release shift
        _at(t0, 1.7)
        _press(port, 59)  # track > without shift: bank 1
        _at(t0, 1.9)
        _cc(port, 46, 127)
        _cc(port, 42, 127)  # hold shift + stop for 1.2 s: quit
        _at(t0, 3.1)
        _cc(port, 42, 0)
        _cc(port, 46, 0)
        summary = perform.finish()
    assert "stopped by quit action" in summary, summary
    log = list(read_events(events))
    names = [a.name for _, a in log]
    assert names.count("quit") == 1 and names[-1] == "quit", names
    assert "stop" not in names, "shift + stop must not stop"
    assert [n for n in names if n in ("next_model", "wet_dry", "bank")][:1] == ["next_model"]
    wet = [a.args["value"] for _, a in log if a.name == "wet_dry"]
    assert wet and wet[-1] == pytest.approx(64 / 127)
    assert [a.args for _, a in log if a.name == "bank"] == [{"bank": 1}]
    t_quit = log[-1][0]
    t_bank = next(t for t, a in log if a.name == "bank")
    assert t_quit - t_bank > 1.0, "quit came before the hold was long enough"


@pytest.mark.slow
def test_perform_and_its_window_show_the_model_name(jack_server: str, input_wav: Path, tmp_path: Path,
                                                    repo_root: Path) -> None:
    """A model saved with a name (as `latent train --name` stores it): the start-up line and the
    window's snapshot show that name, not the file's."""
    from instrument.app.display import EngineView
    from instrument.app.render import load_models
    from instrument.engine.engine import Engine, make_source
    from instrument.models.autoencoders import build_autoencoder
    from instrument.models.config import AutoencoderConfig
    from instrument.models.io import save_latent_model

    config = AutoencoderConfig(arch="dense", hidden_units=(16,))
    path = tmp_path / "model.keras"
    save_latent_model(path, build_autoencoder(config), metadata={"config": config, "name": "tiny-flute"})
    models, names, spectral = load_models([path])
    assert names == ["tiny-flute"]
    engine = Engine(spectral, models, names, source=make_source("file", HOP, np.zeros(SR, np.float32)))
    assert EngineView()(engine).model_name == "tiny-flute"
    perform = Perform(["--model", str(path), "--headless", "--no-midi", "--input", str(input_wav),
                       "--duration", "1"], repo_root)
    assert perform.wait_playing().startswith("latent perform: playing tiny-flute at 22050 Hz")
    perform.finish()
