"""Patch -> MIDI messages, and sending them to a JACK virtual MIDI input that records them."""

from __future__ import annotations

import time

import mido
import numpy as np
import pytest

from instrument.errors import SynthError
from instrument.synths.midi_send import changed_messages, patch_messages, send_patch
from instrument.synths.patch import Patch
from instrument.synths.spec import SynthSpec

SPEC = SynthSpec.from_dict({
    "name": "toy", "sample_rate": 16000, "seconds": 1.0,
    "options": {"nrpn_data_order": "msb_first"},
    "parameters": [
        {"name": "cutoff", "min": 0.0, "max": 1.0, "cc": 74},
        {"name": "mix", "min": 0.0, "max": 1.0, "nrpn": {"msb": 3, "lsb": 17}},
        {"name": "wave", "scale": [80, 81], "program": True},
        {"name": "internal", "min": 0.0, "max": 1.0},
    ],
})


def _as_tuples(messages: list[mido.Message]) -> list[tuple]:
    out = []
    for m in messages:
        if m.type == "control_change":
            out.append(("cc", m.channel, m.control, m.value))
        else:
            out.append((m.type, m.channel, getattr(m, "program", None)))
    return out


def test_patch_messages_program_first_then_cc_and_nrpn() -> None:
    patch = Patch("toy", {"cutoff": 1.0, "mix": 0.5, "wave": 81.0, "internal": 0.3})
    got = _as_tuples(patch_messages(patch, SPEC, channel=2))
    mix = round(0.5 * 16383)
    assert got == [("program_change", 2, 81), ("cc", 2, 74, 127), ("cc", 2, 99, 3),
                   ("cc", 2, 98, 17), ("cc", 2, 6, mix >> 7), ("cc", 2, 38, mix & 127)]


def test_changed_messages_sends_only_what_changed() -> None:
    old = np.array([0.2, 0.5, 80.0, 0.0])
    assert changed_messages(old, old.copy(), SPEC) == []
    # a change smaller than one MIDI step and a change of an unmapped parameter send nothing
    assert changed_messages(old, np.array([0.2001, 0.5, 80.0, 0.9]), SPEC) == []
    got = _as_tuples(changed_messages(old, np.array([0.9, 0.5, 81.0, 0.0]), SPEC, channel=1))
    assert got == [("program_change", 1, 81), ("cc", 1, 74, round(0.9 * 127))]
    assert len(changed_messages(None, old, SPEC)) == 6


def test_bad_channel_and_shape() -> None:
    with pytest.raises(SynthError, match="channel"):
        patch_messages(np.zeros(4) + 80, SPEC, channel=16)
    with pytest.raises(SynthError, match="4 values"):
        patch_messages(np.zeros(3), SPEC)


def test_send_patch_arrives_at_a_jack_virtual_port(jack_server: str) -> None:
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    received: list[mido.Message] = []
    inport = backend.open_input("latent-synth-recorder", virtual=True, callback=received.append)
    try:
        names = [n for n in backend.get_output_names() if "latent-synth-recorder" in n]
        assert names, backend.get_output_names()
        with backend.open_output(names[0]) as out:
            time.sleep(0.2)
            patch = Patch("toy", {"cutoff": 0.5, "mix": 1.0, "wave": 80.0, "internal": 0.0})
            sent = send_patch(out, patch, SPEC, channel=5)
            expected = patch_messages(patch, SPEC, channel=5)
            deadline = time.monotonic() + 5.0
            while len(received) < sent and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        inport.close()
    assert sent == 6
    assert _as_tuples(received) == _as_tuples(expected)
