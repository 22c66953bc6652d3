"""`latent perform` guard rails, with real parts: a JACK server killed under a running performance,
typos in ports and output paths that must not touch the previous recording, a write error that must
not pass for a success, and MIDI port names matched one way everywhere.

The performances run as subprocesses (`--model none`: no Keras import, they start in a few seconds).
"""

from __future__ import annotations

import json
import os
import resource
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

from benchmarks.jack_server import JackServer
from instrument.errors import DeviceError

SR = 22050
HOP = 256
ERROR = "latent perform: error: "


@pytest.fixture(scope="module")
def input_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = np.arange(3 * SR) / SR
    path = tmp_path_factory.mktemp("audio") / "input.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR, subtype="FLOAT")
    return path


class Perform:
    """`latent perform` as a subprocess; stderr lines are kept with the time each arrived."""

    def __init__(self, args: list[str], repo_root: Path, preexec_fn: object = None) -> None:
        env = dict(os.environ, PYTHONPATH=str(repo_root), TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen([sys.executable, "-m", "instrument.cli", "perform", *args],
                                     cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=preexec_fn)  # type: ignore[arg-type]
        self.stderr: list[tuple[float, str]] = []
        self.stdout: list[str] = []
        self.playing = threading.Event()
        # one reader thread per pipe (communicate() would race the stderr reader for lines)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._out_reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self._out_reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append((time.monotonic(), line.rstrip("\n")))
            if line.startswith("latent perform: playing"):
                self.playing.set()

    def wait_playing(self, timeout_s: float = 120.0) -> None:
        if not self.playing.wait(timeout_s):
            self.proc.kill()
            pytest.fail("perform did not start:\n" + self.text())

    def finish(self, timeout_s: float) -> tuple[int, str]:
        self.proc.wait(timeout=timeout_s)
        self._reader.join(5)
        self._out_reader.join(5)
        return self.proc.returncode, "".join(self.stdout)

    def text(self) -> str:
        return "\n".join(line for _, line in self.stderr)

    def last_line(self) -> str:
        lines = [line for _, line in self.stderr if line.strip()]
        return lines[-1] if lines else ""


def _run(args: list[str], repo_root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(repo_root), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "instrument.cli", "perform", *args], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(ERROR), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# -- 1. the JACK server dies under a running performance ------------------------------------------

@pytest.mark.slow
def test_jack_server_killed_mid_performance_ends_the_run_and_saves_the_files(
        input_wav: Path, tmp_path: Path, repo_root: Path) -> None:
    record, events = tmp_path / "take.wav", tmp_path / "take.jsonl"
    with JackServer(SR, HOP, ready_timeout_s=15.0) as server:  # a private server: this test kills it
        perform = Perform(["--model", "none", "--headless", "--no-midi", "--input", str(input_wav), "--loop",
                           "--duration", "60", "--master-gain", "-3", "--record", str(record),
                           "--log-events", str(events)], repo_root)
        perform.wait_playing()
        time.sleep(2.0)
        server.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        killed = time.monotonic()
        try:
            rc, out = perform.finish(timeout_s=15.0)
        except subprocess.TimeoutExpired:
            perform.proc.kill()
            pytest.fail("perform still running 15 s after the JACK server died:\n" + perform.text())
    print(f"exited {time.monotonic() - killed:.1f} s after the kill\n{out}{perform.text()}")
    assert rc == 2
    last = perform.last_line()
    assert last.startswith(ERROR + "audio device stopped (JACK server gone?)"), perform.text()
    assert str(record) in last and str(events) in last
    assert "Traceback" not in perform.text()
    assert "stopped by audio device stopped" in out
    # the recording is a valid WAV with the ~2 s played before the kill; the event log valid JSON lines
    info = sf.info(str(record))
    assert info.samplerate == SR and 1.0 * SR < info.frames < 20 * SR
    data, _ = sf.read(record, dtype="float32")
    assert np.isfinite(data).all() and np.abs(data).max() > 0.01
    lines = events.read_text().splitlines()
    assert lines and json.loads(lines[0])["action"] == "master_gain"
    assert all(json.loads(line) for line in lines)
    assert not list(tmp_path.glob(".*.partial"))


# -- 2. typos on the command line leave the previous files alone ------------------------------------

@pytest.mark.parametrize("case", ["midi-in typo", "record in a missing folder", "log-events is a folder",
                                  "record is the input"])
def test_bad_port_or_output_path_exits_2_and_changes_no_file(
        case: str, jack_server: str, input_wav: Path, tmp_path: Path, repo_root: Path) -> None:
    record, events = tmp_path / "take.wav", tmp_path / "take.jsonl"
    sf.write(record, np.full(SR, 0.25, np.float32), SR, subtype="FLOAT")  # yesterday's recording
    events.write_text('{"time": 0.0, "action": "zero_all", "args": {}}\n')
    (tmp_path / "folder").mkdir()
    before = {p: p.read_bytes() for p in (record, events, input_wav)}
    args = ["--model", "none", "--headless", "--input", str(input_wav), "--duration", "1", "--midi-api", "jack"]
    record_arg, events_arg, extra, named = str(record), str(events), ["--no-midi"], ""
    if case == "midi-in typo":
        extra, named = ["--midi-in", "no-such-controller"], "'no-such-controller'"
    elif case == "record in a missing folder":
        record_arg = named = str(tmp_path / "missing" / "take.wav")
    elif case == "log-events is a folder":
        events_arg = named = str(tmp_path / "folder")
    else:
        record_arg = named = str(input_wav)
    proc = _run([*args, *extra, "--record", record_arg, "--log-events", events_arg], repo_root)
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc)
    assert named in line, line
    assert {p: p.read_bytes() for p in before} == before, "an existing file was changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "take.jsonl", "take.wav"]


def test_output_paths_are_checked_by_the_options(tmp_path: Path) -> None:
    from instrument.app.perform_options import PerformOptions
    from instrument.errors import ConfigError

    wav = tmp_path / "in.wav"
    wav.write_bytes(b"RIFF")
    ok = PerformOptions(input_path=wav, record=tmp_path / "out.wav", log_events=tmp_path / "ev.jsonl")
    assert ok.record == tmp_path / "out.wav"
    with pytest.raises(ConfigError, match="--record .*missing does not exist"):
        PerformOptions(input_path=wav, record=tmp_path / "missing" / "out.wav")
    with pytest.raises(ConfigError, match="--log-events .* is a folder"):
        PerformOptions(input_path=wav, log_events=tmp_path)
    with pytest.raises(ConfigError, match="same file as --input"):
        PerformOptions(input_path=wav, record=tmp_path / "." / "in.wav")
    with pytest.raises(ConfigError, match="--log-events .*same file as --record"):
        PerformOptions(input_path=wav, record=tmp_path / "x", log_events=tmp_path / "x")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ConfigError, match="not writable"):
            PerformOptions(input_path=wav, record=locked / "out.wav")
    assert wav.read_bytes() == b"RIFF"


# -- 3. a write error is an error, at once and in the exit status -----------------------------------

def _limit_file_size() -> None:
    """In the child: files may not grow past 96 kB (~1 s of float audio); writes beyond fail (EFBIG)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (96_000, resource.RLIM_INFINITY))


@pytest.mark.slow
def test_recording_write_error_is_reported_at_once_and_fails_the_run(
        jack_server: str, input_wav: Path, tmp_path: Path, repo_root: Path) -> None:
    record, events = tmp_path / "take.wav", tmp_path / "take.jsonl"
    record.write_bytes(b"yesterday's take")
    perform = Perform(["--model", "none", "--headless", "--no-midi", "--input", str(input_wav), "--loop",
                       "--duration", "5", "--record", str(record), "--log-events", str(events),
                       "--auto-gain"], repo_root, preexec_fn=_limit_file_size)
    perform.wait_playing()
    rc, out = perform.finish(timeout_s=60.0)
    exited = time.monotonic()
    assert rc == 2, perform.text() + out
    failed = [(t, line) for t, line in perform.stderr if "writing failed" in line]
    assert failed, perform.text()
    first_at, first = failed[0]
    assert first.startswith(ERROR + str(record)) and "File too large" in first and "playing on" in first
    assert exited - first_at > 2.0, "the error was only reported at exit"
    last = perform.last_line()
    assert last.startswith(ERROR + str(record) + ": writing failed after ") and "playing on" not in last
    assert record.read_bytes() == b"yesterday's take"
    partial = tmp_path / ".take.wav.partial"
    assert str(partial) in last and str(partial) in out
    written = int(last.split("writing failed after ")[1].split(" frames")[0])
    assert 0.5 * SR < written < 1.2 * SR
    data, rate = sf.read(partial, dtype="float32")  # what was written is kept, readable
    assert rate == SR and len(data) >= written and np.abs(data[:written]).max() > 0.01
    assert [json.loads(line)["action"] for line in events.read_text().splitlines()] == ["auto_gain"]


def test_recorder_write_error_keeps_the_partial_file_and_the_target(tmp_path: Path) -> None:
    from instrument.errors import AudioFileError
    from instrument.io.recorder import WavRecorder

    target = tmp_path / "take.wav"
    target.write_bytes(b"keep me")
    recorder = WavRecorder(target, 8000).start()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))  # real EFBIG from the kernel past 20 kB
    try:
        for _ in range(40):
            recorder.push(np.full(256, 0.5, np.float32))
        deadline = time.monotonic() + 10
        while recorder.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        recorder.push(np.ones(256, np.float32))  # ignored after an error
        recorder.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert isinstance(recorder.error, AudioFileError)
    message = str(recorder.error)
    assert message.startswith(f"{target}: writing failed after ") and "File too large" in message
    assert str(recorder.partial) in message and "\n" not in message
    assert target.read_bytes() == b"keep me" and not recorder.completed
    assert 0 < sf.info(str(recorder.partial)).frames <= 20_000 // 4


def test_writers_replace_the_target_only_when_complete(tmp_path: Path) -> None:
    from controllers.actions import Action
    from instrument.io.eventlog import EventLog
    from instrument.io.recorder import WavRecorder

    target, log_path = tmp_path / "take.wav", tmp_path / "ev.jsonl"
    target.write_bytes(b"old take")
    log_path.write_text("old log\n")
    recorder = WavRecorder(target, 8000).start()
    log = EventLog(log_path, 0.01).start()
    recorder.push(np.ones(100, np.float32))
    log.log(3, Action("zero_all"))
    time.sleep(0.3)
    assert target.read_bytes() == b"old take" and log_path.read_text() == "old log\n"  # still writing
    assert recorder.partial.exists() and log.partial.exists()
    recorder.close()
    log.close()
    assert recorder.completed and log.completed and recorder.error is None and log.error is None
    assert sf.info(str(target)).frames == 100
    assert json.loads(log_path.read_text())["action"] == "zero_all"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.jsonl", "take.wav"]
    never = WavRecorder(tmp_path / "never.wav", 8000)
    never.close()  # never started: nothing to join, nothing written
    assert not (tmp_path / "never.wav").exists() and never.error is None


# -- 4. MIDI ports: one way of matching names, one-line errors ---------------------------------------

def test_named_midi_ports_match_one_port_or_list_them(jack_server: str) -> None:
    from controllers.ports import find_port, resolve_ports

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    with backend.open_output("Guard Pad A", virtual=True), backend.open_output("Guard Pad B", virtual=True):
        time.sleep(0.3)
        found = resolve_ports("jack", inputs=[("--midi-in", "guard pad a")])  # substring, any case
        assert found["--midi-in"].endswith("Guard Pad A")
        with pytest.raises(DeviceError, match=r"--midi-in: MIDI input port 'guard pad' matches 2 ports"):
            resolve_ports("jack", inputs=[("--midi-in", "guard pad")])
        with pytest.raises(DeviceError, match=r"--midi-out: MIDI output port 'nothing' not found; available"):
            resolve_ports("jack", outputs=[("--midi-out", "nothing")])
    names = ["Synth:in 1", "Synth:in 10"]
    assert find_port(names, "Synth:in 1", "output", "jack") == "Synth:in 1"  # a full name is never ambiguous
    with pytest.raises(DeviceError, match="matches 2 ports"):
        find_port(names, "synth", "output", "jack")


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
@pytest.mark.parametrize("flag", ["--midi-out", "--midi-in"])
def test_alsa_without_sequencer_is_one_line_naming_the_port_and_the_fix(
        flag: str, input_wav: Path, tmp_path: Path, repo_root: Path) -> None:
    record = tmp_path / "take.wav"
    record.write_bytes(b"old")
    proc = _run(["--model", "none", "--headless", "--midi-api", "alsa", flag, "nanoKONTROL2",
                 "--input", str(input_wav), "--duration", "1", "--record", str(record)], repo_root)
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert f"{flag} 'nanoKONTROL2'" in line and "snd-seq" in line and "--midi-api jack" in line
    assert record.read_bytes() == b"old"
