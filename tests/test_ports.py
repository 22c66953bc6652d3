"""MidiInput on real (JACK virtual) MIDI ports: detection, every message in order, floods, hot-plug, LEDs."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import mido
import pytest

from controllers.actions import Action
from controllers.maps import load_map
from presets import CONTROLLER_MAPS_DIR
from controllers.ports import MidiInput, PortStatus, list_ports, match_port
from controllers.surface import ControlSurface
from instrument.errors import DeviceError

DEVICE_OUT = "nanoKONTROL2 SLIDER/KNOB"  # what the device sends from (a source: our input)
DEVICE_IN = "nanoKONTROL2 CTRL"  # where its LEDs listen (a sink: our LED output)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def handshake(midi: MidiInput, device: mido.ports.BaseOutput, timeout_s: float = 10.0) -> None:
    """Probe until a message gets through, so the JACK connection is live; then zero the count.

    A fixed sleep was not enough on a loaded 2-core CI machine: JACK had not made the
    connection yet, and messages sent into an unconnected port are lost. The probe (an unmapped
    CC on channel 16) changes no state and yields no Action.
    """
    deadline = time.monotonic() + timeout_s
    while midi.n_messages == 0 and time.monotonic() < deadline:
        device.send(cc(99, 0, channel=15))
        wait_until(lambda: midi.n_messages > 0, 0.1)
    assert midi.n_messages > 0, f"no message reached {midi.port_name!r} in {timeout_s} s"
    landed = -1
    while midi.n_messages != landed:  # until no late probe lands for 0.2 s
        landed = midi.n_messages
        time.sleep(0.2)
    assert midi.drain() == []
    midi.n_messages = 0


def collect(midi: MidiInput, count: int, timeout_s: float = 5.0) -> list[Action]:
    """Drain until ``count`` actions arrived (or time out)."""
    got: list[Action] = []
    wait_until(lambda: len(got) >= count or bool(got.extend(midi.drain())), timeout_s)
    got.extend(midi.drain())
    return got


@pytest.fixture
def backend(jack_server: str) -> mido.Backend:
    return mido.Backend("mido.backends.rtmidi/UNIX_JACK")


@pytest.fixture
def device(backend: mido.Backend) -> Iterator[mido.ports.BaseOutput]:
    """A virtual port named like the nanoKONTROL2, playing into our input."""
    port = backend.open_output(DEVICE_OUT, virtual=True)
    yield port
    port.close()


@pytest.fixture
def midi(device: mido.ports.BaseOutput) -> Iterator[MidiInput]:
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=20)
    with MidiInput(surface, api="jack", poll_interval_s=0.2) as midi_input:
        handshake(midi_input, device)
        yield midi_input


def test_match_port_names_on_every_platform() -> None:
    mac = ["IAC Driver Bus 1", "nanoKONTROL2 SLIDER/KNOB"]
    alsa = ["Midi Through:Midi Through Port-0 14:0", "nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0"]
    jack = ["system:midi_capture_1", "RtMidiOut Client:nanoKONTROL2 SLIDER/KNOB"]
    for names in (mac, alsa, jack):
        assert match_port(names, ["nanoKONTROL2"]) == names[1]
        assert match_port(names, ["NANOkontrol2"]) == names[1]
    assert match_port(alsa, [], exact="Midi Through:Midi Through Port-0 14:0") == alsa[0]
    assert match_port(alsa, [], exact="through") == alsa[0]  # --midi-in substring
    assert match_port(alsa, ["launchpad"]) is None


def test_autodetects_and_translates_faders_buttons_and_banks(midi: MidiInput,
                                                             device: mido.ports.BaseOutput) -> None:
    assert midi.status == PortStatus.CONNECTED and "nanoKONTROL2" in (midi.port_name or "")
    assert "connected" in midi.status_text()
    assert DEVICE_OUT in list_ports("jack")[0][0] or any(DEVICE_OUT in n for n in list_ports("jack")[0])
    for msg in (cc(2, 0), cc(2, 64), cc(2, 127), cc(34, 127), cc(34, 0), cc(59, 127), cc(59, 0),
                cc(2, 100), cc(2, 66), cc(41, 127)):
        device.send(msg)
    got = collect(midi, 5)
    assert got == [Action("scale_unit", {"unit": 2, "value": 2.0}),
                   Action("solo", {"unit": 2, "on": True}),
                   Action("bank", {"bank": 1}),
                   # soft takeover: fader 3 now shows unit 10 (1.0); 100 -> 1.56 is ignored, 66 crosses back
                   Action("scale_unit", {"unit": 10, "value": 1.0}),
                   Action("play_pause")]
    assert midi.n_messages == 10


def test_unknown_messages_and_sysex_are_ignored(midi: MidiInput, device: mido.ports.BaseOutput) -> None:
    device.send(mido.Message("sysex", data=[0x42, 0x40, 0x00, 0x01, 0x13, 0x00]))
    device.send(mido.Message("note_on", note=60, velocity=90))
    device.send(cc(41, 127, channel=9))
    device.send(cc(99, 127))
    device.send(mido.Message("pitchwheel", pitch=-300))
    device.send(cc(42, 127))
    got = collect(midi, 1)
    assert got == [Action("stop")]
    assert wait_until(lambda: midi.n_messages == 6)


def test_flood_keeps_every_button_and_the_last_fader_values(midi: MidiInput,
                                                            device: mido.ports.BaseOutput) -> None:
    # pick both faders up first
    for msg in (cc(0, 0), cc(0, 127), cc(1, 0), cc(1, 127)):
        device.send(msg)
    assert len(collect(midi, 2)) >= 2
    sent = 0
    presses = 0
    t0 = time.monotonic()
    drained: list[Action] = []
    for i in range(5000):
        if i % 500 == 250:
            msg = cc(48, 127)  # M1 press: toggles mute of unit 0 - must never be coalesced away
            presses += 1
        else:
            msg = cc((i // 100) % 2, (i * 7) % 128)  # runs of 100 moves of fader 1, then fader 2...
        device.send(msg)
        sent += 1
        if i % 50 == 49:  # 5,000 messages spread over ~1 s
            time.sleep(max(0.0, t0 + (i + 1) / 5000 - time.monotonic()))
        if i % 1000 == 999:  # the engine drains now and then, not after every message
            drained.extend(midi.drain())
    device.send(cc(0, 3))
    device.send(cc(1, 120))
    elapsed = time.monotonic() - t0
    assert elapsed < 3.0
    assert wait_until(lambda: bool(drained.extend(midi.drain())) or midi.n_messages >= 4 + sent + 2, 10.0)
    drained.extend(midi.drain())
    curve = midi.surface.map.scale_curve
    assert midi.surface.scales[0] == curve(3) and midi.surface.scales[1] == curve(120)
    last = {a.args["unit"]: a.args["value"] for a in drained if a.name == "scale_unit"}
    assert last == {0: curve(3), 1: curve(120)}
    mutes = [a for a in drained if a.name == "mute"]
    assert len(mutes) == presses and [a.args["on"] for a in mutes] == [True, False] * (presses // 2)
    # coalescing: far fewer fader actions than messages, but never merged across the button presses
    assert len(drained) < sent / 10
    assert midi.n_messages >= 4 + sent + 2


def test_explicit_missing_port_raises_unless_waiting(backend: mido.Backend) -> None:
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=8)
    with pytest.raises(DeviceError, match="NoSuchController"):
        MidiInput(surface, api="jack", port="NoSuchController").start()
    with MidiInput(surface, api="jack", port="NoSuchController", wait=True) as waiting:
        assert waiting.status == PortStatus.WAITING and "waiting" in waiting.status_text()
        assert waiting.drain() == []


def test_port_disappears_and_comes_back(backend: mido.Backend) -> None:
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=16)
    with MidiInput(surface, api="jack", poll_interval_s=0.2) as midi:
        assert midi.status == PortStatus.WAITING  # no device yet: keep looking, no error
        device = backend.open_output(DEVICE_OUT, virtual=True)
        try:
            assert wait_until(lambda: midi.status == PortStatus.CONNECTED, 5.0)
            handshake(midi, device)
            device.send(cc(59, 127))
            assert collect(midi, 1) == [Action("bank", {"bank": 1})]
        finally:
            device.close()
        assert wait_until(lambda: midi.status == PortStatus.DISCONNECTED, 5.0)
        assert "disconnected" in midi.status_text()
        device = backend.open_output(DEVICE_OUT, virtual=True)
        try:
            assert wait_until(lambda: midi.status == PortStatus.CONNECTED, 5.0)
            handshake(midi, device)
            device.send(cc(59, 127))
            device.send(cc(33, 127))
            assert collect(midi, 2) == [Action("bank", {"bank": 0}), Action("solo", {"unit": 1, "on": True})]
        finally:
            device.close()
    assert midi.status == PortStatus.CLOSED


def test_led_feedback_arrives_on_the_device_input(backend: mido.Backend,
                                                  device: mido.ports.BaseOutput) -> None:
    with backend.open_input(DEVICE_IN, virtual=True) as leds:
        surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=16)
        with MidiInput(surface, api="jack", poll_interval_s=0.2) as midi:
            assert midi.output_name is not None and DEVICE_IN in midi.output_name
            received: list[mido.Message] = []

            def lit() -> dict[int, int]:
                received.extend(leds.iter_pending())
                return {m.control: m.value for m in received}

            # the first refresh sends every LED state once
            assert wait_until(lambda: len(lit()) == len(surface.led_states()), 5.0)
            assert lit()[32] == 0 and lit()[44] == 127  # synthesised source lit
            received.clear()
            handshake(midi, device)
            device.send(cc(32, 127))  # S1 on
            device.send(cc(32, 0))
            device.send(cc(41, 127))  # play
            assert wait_until(lambda: lit().get(32) == 127 and lit().get(41) == 127, 5.0)
            count = len(received)
            device.send(cc(99, 127))  # unmapped: nothing changes, nothing is sent
            time.sleep(0.4)
            assert len(lit()) and len(received) == count
            device.send(cc(59, 127))  # bank 1: unit 8 is not soloed -> S1 dark
            assert wait_until(lambda: lit().get(32) == 0, 5.0)
            midi.drain()
        # closing turns every LED off
        assert wait_until(lambda: lit().get(41) == 0, 2.0)


def test_midi_out_override_drives_leds_for_a_map_without_leds(backend: mido.Backend) -> None:
    cmap = load_map("generic-8-faders", CONTROLLER_MAPS_DIR)
    assert not cmap.leds.enabled
    with backend.open_output("Generic Box out", virtual=True) as box, \
            backend.open_input("Generic Box LEDs", virtual=True) as leds:
        surface = ControlSurface(cmap, n_units=8)
        with MidiInput(surface, api="jack", port="generic box out", output_port="Box LEDs",
                       poll_interval_s=0.2) as midi:
            assert midi.status == PortStatus.CONNECTED and midi.output_name is not None
            handshake(midi, box)
            box.send(cc(11, 127))  # play
            got: list[mido.Message] = []
            assert wait_until(lambda: bool(got.extend(leds.iter_pending()))
                              or any(m.control == 11 and m.value == 127 for m in got), 5.0)
            assert collect(midi, 1) == [Action("play_pause")]
