"""OSC in and out, with real UDP on 127.0.0.1: the address space covers every action, bad messages
are counted and never fatal, the state goes out, and `latent perform --osc-port/--osc-send` applies,
logs and replays OSC actions like MIDI ones."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import soundfile as sf
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from controllers.actions import ACTIONS, Action, read_events
from controllers.osc import OSC_ROUTES, osc_to_action
from controllers.osc_input import OscInput
from instrument.app.osc_state import STATE_ADDRESSES, OscStateSender, engine_state, peak_db
from instrument.app.worker import ActionInbox
from instrument.errors import DeviceError, OscMessageError

SR = 22050
HOP = 256
N_UNITS = 16

#: (address, OSC arguments, expected action name, expected action arguments): one row per action.
TRANSLATIONS: list[tuple[str, tuple[Any, ...], str, dict[str, Any]]] = [
    ("/latent/unit/3/scale", (1.2,), "scale_unit", {"unit": 3, "value": 1.2}),
    ("/latent/unit/3/knob", (0.5,), "knob_unit", {"unit": 3, "value": 0.5}),
    ("/latent/unit/3/solo", (1,), "solo", {"unit": 3, "on": True}),
    ("/latent/unit/3/mute", (0,), "mute", {"unit": 3, "on": False}),
    ("/latent/unit/3/reset", (), "reset_unit", {"unit": 3}),
    ("/latent/wet_dry", (0.5,), "wet_dry", {"value": 0.5}),
    ("/latent/master_gain", (-6,), "master_gain", {"db": -6.0}),
    ("/latent/auto_gain", (1,), "auto_gain", {"on": True}),
    ("/latent/bank", (2,), "bank", {"bank": 2}),
    ("/latent/zero_all", (), "zero_all", {}),
    ("/latent/reset_all", (), "reset_all", {}),
    ("/latent/source/synth", (1,), "set_source", {"synth": True}),
    ("/latent/source/toggle", (), "toggle_source", {}),
    ("/latent/play_pause", (), "play_pause", {}),
    ("/latent/stop", (), "stop", {}),
    ("/latent/scene", ("verse",), "recall_scene", {"scene": "verse"}),
    ("/latent/scene/next", (), "next_scene", {}),
    ("/latent/scene/prev", (), "prev_scene", {}),
    ("/latent/model", (1,), "switch_model", {"model": 1}),
    ("/latent/model/next", (), "next_model", {}),
    ("/latent/model/prev", (), "prev_model", {}),
    ("/latent/capture_latent", (), "capture_latent", {}),
    ("/latent/quit", (), "quit", {}),
]


def test_the_address_space_covers_every_action_once() -> None:
    assert sorted(row[2] for row in TRANSLATIONS) == sorted(ACTIONS)
    assert sorted(route.action for route in OSC_ROUTES) == sorted(ACTIONS)
    for route in OSC_ROUTES:  # each route fills exactly the action's arguments
        names = {name for name, _ in route.params} | ({"unit"} if route.per_unit else set())
        assert names == set(ACTIONS[route.action][0]), route


@pytest.mark.parametrize("address, args, name, expected", TRANSLATIONS, ids=[row[2] for row in TRANSLATIONS])
def test_translation_of_every_action(address: str, args: tuple[Any, ...], name: str,
                                     expected: dict[str, Any]) -> None:
    action = osc_to_action(address, args, N_UNITS)
    assert action == Action(name, expected)
    assert type(action.args.get("unit", 0)) is int


@pytest.mark.parametrize("address, args, expected", [
    ("/latent/bank", (2.0,), {"bank": 2}),  # Pure Data and Max send numbers as floats
    ("/latent/unit/0/solo", (1.0,), {"unit": 0, "on": True}),  # TouchOSC toggles send 1.0 / 0.0
    ("/latent/unit/15/mute", (True,), {"unit": 15, "on": True}),  # OSC T
    ("/latent/auto_gain", (False,), {"on": False}),  # OSC F
    ("/latent/unit/0/scale", (2,), {"unit": 0, "value": 2.0}),  # an int where a float is expected
])
def test_argument_kinds_accept_what_osc_senders_send(address: str, args: tuple[Any, ...],
                                                     expected: dict[str, Any]) -> None:
    assert dict(osc_to_action(address, args, N_UNITS).args) == expected


@pytest.mark.parametrize("address, args, reason", [
    ("/latent/nothing", (), "unknown OSC address"),
    ("/other/wet_dry", (0.5,), "unknown OSC address"),
    ("/latent/unit/3/fly", (1.0,), "unknown OSC address"),
    ("/latent/unit/x/scale", (1.0,), "unknown OSC address"),
    ("/latent/unit/16/scale", (1.0,), r"unit 16 out of range \(0..15\)"),
    ("/latent/unit/999/reset", (), "unit 999 out of range"),
    ("/latent/wet_dry", (), "got 0 argument"),
    ("/latent/wet_dry", (0.5, 0.5), "got 2 argument"),
    ("/latent/quit", (1,), "takes no arguments"),
    ("/latent/wet_dry", ("half",), "must be a finite number"),
    ("/latent/wet_dry", (float("nan"),), "must be a finite number"),
    ("/latent/unit/1/scale", (True,), "must be a finite number"),
    ("/latent/master_gain", (b"\x00",), "must be a finite number"),
    ("/latent/bank", (2.5,), "must be a whole number"),
    ("/latent/unit/1/solo", ("on",), "must be T/F or a number"),
    ("/latent/scene", (3,), "must be a string"),
])
def test_bad_messages_are_refused_with_a_reason(address: str, args: tuple[Any, ...], reason: str) -> None:
    with pytest.raises(OscMessageError, match=reason):
        osc_to_action(address, args, N_UNITS)


def test_a_model_without_units_refuses_every_unit_address() -> None:
    with pytest.raises(OscMessageError, match="no latent units"):
        osc_to_action("/latent/unit/0/scale", (1.0,), 0)


# --------------------------------------------------------------------------------- real UDP

def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def osc_input() -> Iterator[tuple[OscInput, ActionInbox]]:
    inbox = ActionInbox()
    receiver = OscInput(0)  # port 0: the system picks a free one
    receiver.start(inbox.submit, lambda: N_UNITS)
    try:
        yield receiver, inbox
    finally:
        receiver.close()


def test_udp_messages_reach_the_action_queue_in_order_and_bad_ones_are_counted(
        osc_input: tuple[OscInput, ActionInbox]) -> None:
    receiver, inbox = osc_input
    assert receiver.host == "127.0.0.1" and receiver.port > 0
    client = SimpleUDPClient("127.0.0.1", receiver.port)
    client.send_message("/latent/wet_dry", 0.25)
    client.send_message("/latent/unit/99/scale", 1.0)  # out of range
    client.send_message("/latent/unit/1/scale", 1.5)
    client.send_message("/latent/warp", [])  # unknown
    client.send_message("/latent/bank", "two")  # wrong type
    client.send_message("/latent/unit/2/mute", [1, 2])  # wrong count
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"not osc at all", ("127.0.0.1", receiver.port))
    client.send_message("/latent/stop", [])
    client.close()
    assert _wait_for(lambda: receiver.received == 8), receiver.status_text()
    assert receiver.ignored == 5
    assert receiver.status_text() == "OSC: 8 received, 5 ignored"
    assert inbox.drain() == [Action("wet_dry", {"value": 0.25}), Action("scale_unit", {"unit": 1, "value": 1.5}),
                             Action("stop")]


def test_a_bundle_is_unpacked_without_waiting_for_its_time_tag(osc_input: tuple[OscInput, ActionInbox]) -> None:
    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    receiver, inbox = osc_input
    bundle = OscBundleBuilder(time.time() + 60.0)  # a minute in the future
    for value in (0.1, 0.2):
        msg = OscMessageBuilder("/latent/wet_dry")
        msg.add_arg(value)
        bundle.add_content(msg.build())
    client = SimpleUDPClient("127.0.0.1", receiver.port)
    client.send(bundle.build())
    client.close()
    assert _wait_for(lambda: receiver.received == 2, 5.0)
    assert [round(a.args["value"], 6) for a in inbox.drain()] == [0.1, 0.2]


def test_a_taken_port_is_a_device_error_naming_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(DeviceError, match=f"OSC port {port} on 127.0.0.1: cannot bind"):
            OscInput(port)


class StateListener:
    """A test OSC server on 127.0.0.1 that keeps the last arguments of every address received."""

    def __init__(self) -> None:
        self.last: dict[str, list[Any]] = {}
        self.history: list[tuple[str, list[Any]]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._on_message)
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)

    def _on_message(self, address: str, *args: Any) -> None:
        self.last[address] = list(args)
        self.history.append((address, list(args)))

    def __enter__(self) -> "StateListener":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_state_sender_sends_every_state_address(input_wav: Path) -> None:
    from instrument.config import SpectralConfig
    from instrument.engine.engine import Engine, make_source

    engine = Engine(SpectralConfig(), (), source=make_source("file", HOP, sf.read(input_wav, dtype="float32")[0]))
    engine.apply_all([Action("wet_dry", {"value": 0.25}), Action("master_gain", {"db": -6.0})])
    engine.process_hop()
    with StateListener() as listener:
        sender = OscStateSender(engine, "127.0.0.1", listener.port, osc_counts=lambda: (7, 2), rate_hz=100.0)
        sender.start()
        try:
            assert _wait_for(lambda: len(listener.last) == len(STATE_ADDRESSES), 5.0), sorted(listener.last)
            assert _wait_for(lambda: sender.updates >= 3, 5.0), "sends repeatedly at its rate"
        finally:
            sender.stop()
    assert not sender.is_alive() and sender.send_errors == 0
    last = listener.last
    assert set(last) == set(STATE_ADDRESSES)
    assert last["/latent/state/wet_dry"] == [0.25]
    assert last["/latent/state/master_gain"] == [-6.0]
    assert last["/latent/state/model"] == [0, "none"]
    assert last["/latent/state/osc"] == [7, 2]
    assert last["/latent/state/transport"] == [1, 1]
    assert last["/latent/state/scales"] == []  # no model: no units
    assert last["/latent/state/latency_ms"] == [pytest.approx(engine.latency_ms, rel=1e-6)]


def test_engine_state_and_peak_level() -> None:
    assert peak_db(np.zeros(8, np.float32)) == -120.0
    assert peak_db(np.array([0.0, -0.5, 0.25], np.float32)) == pytest.approx(20 * math.log10(0.5))
    from instrument.config import SpectralConfig
    from instrument.engine.engine import Engine

    messages = engine_state(Engine(SpectralConfig(), ()), (0, 0))
    assert [address for address, _ in messages] == list(STATE_ADDRESSES)


def test_the_window_shows_the_osc_counter() -> None:
    pygame = pytest.importorskip("pygame")
    from instrument.app.window import HEIGHT, DisplaySnapshot, PerformanceWindow

    window = PerformanceWindow()
    try:
        lit = []
        for status in ("", "OSC: 12 received, 3 ignored"):
            window.update(DisplaySnapshot(osc_status=status))
            window.draw()
            rgb = pygame.surfarray.array3d(window.screen)
            lit.append(int(np.count_nonzero(rgb[660:940, HEIGHT - 48:HEIGHT - 34].max(axis=-1) > 100)))
    finally:
        window.close()
    assert lit[0] == 0 and lit[1] > 50, lit


# --------------------------------------------------------------------------------- flags

@pytest.mark.parametrize("flags, message", [
    (["--osc-port", "70000"], "--osc-port must be a UDP port in 1..65535, got 70000"),
    (["--osc-port", "0"], "--osc-port must be a UDP port in 1..65535, got 0"),
    (["--osc-send", "nohost"], "--osc-send must be HOST:PORT"),
    (["--osc-send", "127.0.0.1:0"], "--osc-send must be HOST:PORT"),
    (["--osc-send", "127.0.0.1:port"], "--osc-send must be HOST:PORT"),
])
def test_bad_osc_flags_exit_2_with_one_line(flags: list[str], message: str, input_wav: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.cli import main

    assert main(["perform", "--model", "none", "--headless", "--no-midi", "--input", str(input_wav), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("latent perform: error: ") and message in err, err


def test_osc_flags_become_options(input_wav: Path) -> None:
    from instrument.app.perform_options import osc_target
    from instrument.cli import build_parser
    from instrument.commands.perform import options_from_args

    args = build_parser().parse_args(["perform", "--model", "none", "--headless", "--no-midi", "--input",
                                      str(input_wav), "--osc-port", "9000", "--osc-host", "0.0.0.0",
                                      "--osc-send", "localhost:9001"])
    options = options_from_args(args)
    assert (options.osc_port, options.osc_host, options.osc_send) == (9000, "0.0.0.0", "localhost:9001")
    assert osc_target("[::1]:9001") == ("::1", 9001)


# --------------------------------------------------------------------------------- latent perform

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-unit dense latent model (random weights) in the shipped file format."""
    import keras

    from instrument.models.autoencoders import build_autoencoder
    from instrument.models.config import AutoencoderConfig
    from instrument.models.io import save_latent_model

    keras.utils.set_random_seed(7)
    config = AutoencoderConfig(arch="dense", hidden_units=(N_UNITS,))
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    save_latent_model(path, build_autoencoder(config), metadata={"config": config})
    return path


@pytest.fixture(scope="module")
def input_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = np.arange(6 * SR) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1760 * t)
    path = tmp_path_factory.mktemp("audio") / "input.wav"
    sf.write(path, y.astype(np.float32), SR, subtype="FLOAT")
    return path


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _perform(args: list[str], repo_root: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(repo_root), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "instrument.cli", "perform", *args], cwd=repo_root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_taken_osc_port_stops_perform_with_one_line(jack_server: str, input_wav: Path,
                                                       repo_root: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = _perform(["--model", "none", "--headless", "--no-midi", "--input", str(input_wav),
                         "--duration", "1", "--osc-port", str(port)], repo_root)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.strip() == f"latent perform: error: OSC port {port} on 127.0.0.1: cannot bind (Address already in use)"


@pytest.mark.slow
def test_perform_applies_logs_and_reports_osc_actions(jack_server: str, tiny_model: Path, input_wav: Path,
                                                      tmp_path: Path, repo_root: Path) -> None:
    events, record = tmp_path / "ev.jsonl", tmp_path / "out.wav"
    osc_port = _free_udp_port()
    with StateListener() as listener:
        proc = _perform(["--model", str(tiny_model), "--headless", "--no-midi", "--input", str(input_wav),
                         "--duration", "5", "--seed", "3", "--log-events", str(events), "--record", str(record),
                         "--osc-port", str(osc_port), "--osc-send", f"127.0.0.1:{listener.port}"], repo_root)
        stderr: list[str] = []
        playing = threading.Event()

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                stderr.append(line)
                if line.startswith("latent perform: playing"):
                    playing.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if not playing.wait(240):
            proc.kill()
            pytest.fail("perform did not start:\n" + "".join(stderr[-30:]))
        assert _wait_for(lambda: "/latent/state/scales" in listener.last, 10.0), "no state arrives"
        assert listener.last["/latent/state/scales"] == [1.0] * N_UNITS
        assert listener.last["/latent/state/wet_dry"] == [1.0]
        client = SimpleUDPClient("127.0.0.1", osc_port)
        client.send_message("/latent/wet_dry", 0.5)
        client.send_message("/latent/unit/1/scale", 1.5)
        client.send_message("/latent/unit/16/scale", 1.0)  # bad: the model has units 0..15
        client.send_message("/latent/wet_dry", "loud")  # bad: wrong type
        client.close()
        arrived = _wait_for(lambda: listener.last["/latent/state/wet_dry"] == [0.5]
                            and listener.last["/latent/state/scales"][1] == 1.5, 10.0)
        out, _ = proc.communicate(timeout=120)
        reader.join(5)
    assert proc.returncode == 0, "".join(stderr[-30:]) + out
    assert arrived, listener.last
    state = listener.last
    assert state["/latent/state/scales"] == [1.0, 1.5] + [1.0] * (N_UNITS - 2)
    assert len(state["/latent/state/activations"]) == N_UNITS
    assert state["/latent/state/model"] == [0, "tiny"]
    assert state["/latent/state/osc"] == [4, 2]
    assert "OSC: 4 received, 2 ignored" in out, out
    rate = sum(1 for address, _ in listener.history if address == "/latent/state/wet_dry")
    assert rate > 30, "about 30 updates a second over the run"

    log = [(t, a) for t, a in read_events(events)]
    assert [a for _, a in log] == [Action("wet_dry", {"value": 0.5}), Action("scale_unit", {"unit": 1, "value": 1.5})]
    for t, _ in log:  # applied on hop boundaries, like MIDI actions
        assert abs(t * SR / HOP - round(t * SR / HOP)) < 1e-3

    # the OSC performance replays offline sample for sample, like a MIDI one
    from instrument.app.render import load_automation, load_models, render
    from instrument.engine.engine import Engine, make_source

    recording = sf.read(record, dtype="float32")[0]
    models, names, spectral = load_models([tiny_model])
    engine = Engine(spectral, models, names, seed=3,
                    source=make_source("file", HOP, sf.read(input_wav, dtype="float32")[0]))
    replay = render(engine, len(recording), load_automation(events, spectral))
    np.testing.assert_array_equal(replay.audio, recording)
