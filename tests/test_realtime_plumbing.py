"""Real audio and MIDI plumbing through a private JACK dummy server."""

from __future__ import annotations

import threading
import time

import mido
import numpy as np
import pytest

from controllers.midi_api import MIDI_APIS, midi_backend, resolve_api_name
from instrument.errors import DeviceError


def test_sounddevice_output_stream_runs_on_jack(jack_server: str) -> None:
    import sounddevice as sd

    calls = []
    done = threading.Event()

    def callback(outdata: np.ndarray, frames: int, time_info, status) -> None:
        outdata[:] = 0.0
        calls.append(frames)
        if len(calls) >= 20:
            done.set()

    jack_api = [i for i, api in enumerate(sd.query_hostapis()) if "JACK" in api["name"]]
    assert jack_api, "PortAudio does not list the JACK host API"
    device = sd.query_hostapis(jack_api[0])["default_output_device"]
    with sd.OutputStream(device=device, samplerate=22050, channels=1, blocksize=256,
                         dtype="float32", callback=callback):
        assert done.wait(10.0), f"only {len(calls)} callbacks in 10 s"
    assert all(f == 256 for f in calls)


def test_virtual_midi_port_round_trips_a_message(jack_server: str) -> None:
    backend = midi_backend("jack")
    received: list[mido.Message] = []
    with backend.open_input("latent-test-in", virtual=True) as inport:
        names = [n for n in backend.get_output_names() if "latent-test-in" in n]
        assert names, backend.get_output_names()
        with backend.open_output(names[0]) as out:
            sent = mido.Message("control_change", channel=0, control=3, value=77)
            deadline = time.monotonic() + 5
            while not received and time.monotonic() < deadline:
                out.send(sent)
                time.sleep(0.05)
                received.extend(inport.iter_pending())
    assert received and received[0].type == "control_change"
    assert (received[0].control, received[0].value) == (3, 77)


def test_midi_api_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LATENT_MIDI_API", raising=False)
    assert resolve_api_name(None) == "alsa"
    assert resolve_api_name("JACK") == "jack"
    monkeypatch.setenv("LATENT_MIDI_API", "jack")
    assert resolve_api_name(None) == "jack"
    assert MIDI_APIS["jack"].endswith("UNIX_JACK")
    with pytest.raises(DeviceError, match="bogus"):
        resolve_api_name("bogus")
