"""MIDI learn: the pure MapLearner and run_learn on a JACK virtual port."""

from __future__ import annotations

import threading
from pathlib import Path

import mido
import pytest

from controllers.actions import Action
from controllers.learn import MapLearner, default_roles, port_pattern, run_learn
from controllers.maps import load_map
from controllers.surface import ControlSurface
from instrument.errors import DeviceError


def cc(control: int, value: int, channel: int = 2) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def test_learner_assigns_roles_in_order_and_ignores_repeats() -> None:
    roles = default_roles(bank_size=2, knobs=False)
    learner = MapLearner(roles, name="mine", ports=["My Device"], bank_size=2)
    assert learner.current is not None and learner.current.name == "fader 1"
    assert learner.feed(mido.Message("note_on", note=1)) is None
    assert learner.feed(cc(20, 10)).name == "fader 1"
    assert learner.feed(cc(20, 11)) is None  # fader 1 still moving: not fader 2
    assert learner.feed(cc(21, 5)).name == "fader 2"
    assert learner.current.action == "bank_prev"
    assert learner.feed(cc(30, 0)) is None  # a release never assigns a button
    assert learner.feed(cc(30, 127)).action == "bank_prev"
    assert learner.skip().action == "bank_next"
    assert learner.feed(cc(31, 127)).action == "play_pause"
    while not learner.done:
        learner.skip()
    assert learner.feed(cc(40, 127)) is None and learner.current is None
    cmap = learner.to_map()
    assert cmap.channel == 2 and cmap.ports == ("My Device",) and cmap.bank_size == 2
    assert {c.cc: (c.action, c.slot) for c in cmap.controls} == {
        20: ("scale_unit", 0), 21: ("scale_unit", 1), 30: ("bank_prev", None), 31: ("play_pause", None)}
    surface = ControlSurface(cmap, n_units=4)
    assert surface.handle(cc(30, 127)) == [Action("bank", {"bank": 1})]
    assert surface.handle(cc(21, 64)) == [Action("scale_unit", {"unit": 3, "value": 1.0})]


def test_learner_needs_a_role_and_an_assignment() -> None:
    with pytest.raises(ValueError):
        MapLearner([])
    with pytest.raises(ValueError):
        MapLearner(default_roles()).to_dict()


def test_default_roles_cover_the_nanokontrol2_layout() -> None:
    roles = default_roles(unit_buttons=True)
    assert len(roles) == 8 * 5 + 10
    assert [r.action for r in roles[:8]] == ["scale_unit"] * 8 and roles[7].slot == 7
    assert {r.action for r in roles} >= {"solo", "mute", "reset_unit", "quit", "next_scene", "toggle_source"}


def test_port_pattern_drops_client_numbers() -> None:
    assert port_pattern("nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0") == "nanoKONTROL2 MIDI 1"
    assert port_pattern("RtMidiOut Client:nanoKONTROL2 SLIDER/KNOB") == "nanoKONTROL2 SLIDER/KNOB"
    assert port_pattern("nanoKONTROL2 SLIDER/KNOB") == "nanoKONTROL2 SLIDER/KNOB"


def test_run_learn_on_a_virtual_port_writes_a_usable_map(jack_server: str, tmp_path: Path) -> None:
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    roles = default_roles(bank_size=3, knobs=False, transport=False) + default_roles(0, knobs=False)[:2]
    plan = {"fader 1": 7, "fader 2": 8, "bank < (previous 8 units)": 9}  # fader 3 and bank > time out
    prompts: list[str] = []
    with backend.open_output("Learnable Box", virtual=True) as device:
        def prompt(text: str) -> None:
            prompts.append(text)
            for role, control in plan.items():
                if text.strip().startswith(f"{role}: move"):
                    # play the move from another thread, as a hand would, a little later
                    threading.Timer(0.1, lambda c=control: [device.send(cc(c, v, channel=0))
                                                           for v in (127, 0)]).start()
        out = tmp_path / "learned.yaml"
        cmap = run_learn(out, patterns=["learnable"], api="jack", roles=roles, timeout_s=1.0,
                         prompt=prompt)
    assert {c.cc: c.action for c in cmap.controls} == {7: "scale_unit", 8: "scale_unit", 9: "bank_prev"}
    assert any("skipped" in p for p in prompts)
    again = load_map(out)
    assert again.controls == cmap.controls and again.ports == ("Learnable Box",) and again.channel == 0
    with pytest.raises(DeviceError, match="no-such-box"):
        run_learn(tmp_path / "x.yaml", port="no-such-box", api="jack", roles=roles, prompt=prompts.append)
