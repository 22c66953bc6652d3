"""ControlSurface (messages -> Actions, banks, toggles, takeover, LEDs) and the keyboard fallback."""

from __future__ import annotations

import mido
import pytest
from pygame import locals as pg

from controllers.actions import Action
from controllers.feedback import LedFeedback
from controllers.keyboard import KeyboardControl
from controllers.maps import load_map
from presets import CONTROLLER_MAPS_DIR
from controllers.surface import ControlSurface


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def press(surface: ControlSurface, control: int) -> list[Action]:
    """Press and release a button; only the press may produce actions."""
    out = surface.handle(cc(control, 127))
    assert surface.handle(cc(control, 0)) == []
    return out


@pytest.fixture
def surface() -> ControlSurface:
    return ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=20)


def pick_up(surface: ControlSurface, control: int) -> None:
    """Sweep a fader through its unit's value so soft takeover lets it through."""
    surface.handle(cc(control, 0))
    surface.handle(cc(control, 127))


def test_fader_scales_unit_in_view_after_pickup(surface: ControlSurface) -> None:
    assert surface.handle(cc(3, 10)) == []  # armed at start: fader far below unit value 1.0
    out = surface.handle(cc(3, 100))  # crosses 1.0
    assert len(out) == 1 and out[0].name == "scale_unit"
    assert out[0].args["unit"] == 3 and out[0].args["value"] == pytest.approx(load_map("nanokontrol2", CONTROLLER_MAPS_DIR).scale_curve(100))
    assert surface.handle(cc(3, 64)) == [Action("scale_unit", {"unit": 3, "value": 1.0})]
    assert surface.handle(cc(3, 0)) == [Action("scale_unit", {"unit": 3, "value": 0.0})]
    assert surface.scales[3] == 0.0


def test_knob_is_second_multiplier(surface: ControlSurface) -> None:
    assert surface.handle(cc(18, 64)) == [Action("knob_unit", {"unit": 2, "value": 1.0})]
    assert surface.handle(cc(18, 127)) == [Action("knob_unit", {"unit": 2, "value": 2.0})]


def test_bank_moves_cyclically_and_offsets_units(surface: ControlSurface) -> None:
    assert surface.n_banks == 3
    assert press(surface, 59) == [Action("bank", {"bank": 1})]
    pick_up(surface, 0)
    assert surface.handle(cc(0, 64)) == [Action("scale_unit", {"unit": 8, "value": 1.0})]
    assert press(surface, 59) == [Action("bank", {"bank": 2})]
    assert surface.units_in_view() == [16, 17, 18, 19]
    assert surface.handle(cc(5, 64)) == []  # slot 5 of the last bank is past unit 19
    assert press(surface, 37) == []
    assert press(surface, 59) == [Action("bank", {"bank": 0})]  # wraps
    assert press(surface, 58) == [Action("bank", {"bank": 2})]  # wraps backwards


def test_bank_move_arms_soft_takeover(surface: ControlSurface) -> None:
    pick_up(surface, 0)
    surface.handle(cc(0, 0))  # unit 0 -> 0.0, fader at bottom
    press(surface, 59)  # fader 1 now shows unit 8 (value 1.0)
    assert surface.armed_units() == list(range(8, 16))
    assert surface.handle(cc(0, 20)) == []  # would jump 1.0 -> 0.3: ignored
    assert surface.scales[8] == 1.0
    assert surface.handle(cc(0, 70))[0].args == {"unit": 8, "value": load_map("nanokontrol2", CONTROLLER_MAPS_DIR).scale_curve(70)}
    press(surface, 58)  # back to bank 0: fader 1 at 1.1 but unit 0 is 0.0
    assert surface.handle(cc(0, 60)) == []
    assert surface.handle(cc(0, 5)) == []  # 0.08: still more than tolerance 0.06 above 0.0
    assert surface.handle(cc(0, 2)) == [Action("scale_unit", {"unit": 0, "value": surface.map.scale_curve(2)})]

def test_buttons_toggle_on_press_only(surface: ControlSurface) -> None:
    assert press(surface, 33) == [Action("solo", {"unit": 1, "on": True})]
    assert press(surface, 33) == [Action("solo", {"unit": 1, "on": False})]
    assert press(surface, 50) == [Action("mute", {"unit": 2, "on": True})]
    assert press(surface, 66) == [Action("reset_unit", {"unit": 2})]
    press(surface, 59)
    assert press(surface, 50) == [Action("mute", {"unit": 10, "on": True})]
    assert surface.mute[2] and surface.mute[10]


def test_transport_buttons(surface: ControlSurface) -> None:
    assert press(surface, 46) == []  # cycle is the shift button: one touch never quits
    expected = {60: "zero_all", 61: "prev_scene", 62: "next_scene", 42: "stop",
                41: "play_pause", 45: "reset_all"}
    for control, name in expected.items():
        assert press(surface, control) == [Action(name)]
    assert press(surface, 43) == [Action("set_source", {"synth": False})]
    assert press(surface, 44) == [Action("set_source", {"synth": True})]


def test_zero_all_and_reset_all_update_mirror_and_arm(surface: ControlSurface) -> None:
    pick_up(surface, 1)
    surface.handle(cc(1, 127))
    press(surface, 34)
    press(surface, 60)  # zero_all
    assert surface.scales == [0.0] * 20
    assert surface.handle(cc(1, 120)) == []  # armed: unit 1 is now 0
    press(surface, 45)  # reset_all
    assert surface.scales == [1.0] * 20 and not any(surface.solo)
    assert surface.handle(cc(1, 66))[0].args == {"unit": 1, "value": 1.0}  # crossed 1.0 from 120


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sync_after_scene_recall_arms_changed_units() -> None:
    clock = FakeClock()
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=20, sync_grace_s=0.5, clock=clock)
    pick_up(surface, 0)
    surface.handle(cc(0, 64))
    press(surface, 62)  # next_scene: engine will change values
    clock.now += 1.0
    surface.sync(scales=[0.5] + [1.0] * 19, playing=True)
    assert surface.scales[0] == 0.5 and surface.playing
    assert surface.handle(cc(0, 100)) == []  # fader at 1.0+ must come back to 0.5
    assert surface.handle(cc(0, 31))[0].args["value"] == pytest.approx(0.5)


def test_unknown_messages_are_ignored(surface: ControlSurface) -> None:
    junk = [mido.Message("note_on", note=60, velocity=100), mido.Message("sysex", data=[0x42, 0x40, 0x00]),
            mido.Message("pitchwheel", pitch=1000), mido.Message("clock"), mido.Message("program_change", program=3),
            cc(0, 64, channel=5), cc(99, 127), cc(120, 0)]
    for msg in junk:
        assert surface.handle(msg) == []
    assert surface.scales == [1.0] * 20 and surface.bank == 0


def test_observe_from_elsewhere_arms_the_fader(surface: ControlSurface) -> None:
    pick_up(surface, 2)
    surface.handle(cc(2, 64))
    surface.observe(Action("scale_unit", {"unit": 2, "value": 1.8}))
    assert surface.scales[2] == 1.8 and 2 in surface.armed_units()
    assert surface.handle(cc(2, 70)) == []
    surface.observe(Action("play_pause"))
    assert surface.playing


def test_led_states_follow_solo_mute_play_and_source(surface: ControlSurface) -> None:
    feedback = LedFeedback(surface.map)
    first = feedback.messages(surface.led_states())
    assert {m.control for m in first} == {c.cc for c in surface.map.controls if c.led}
    assert {m.control: m.value for m in first}[44] == 127  # synthesised source lit
    assert feedback.messages(surface.led_states()) == []  # nothing changed: nothing sent
    press(surface, 32)
    press(surface, 41)
    press(surface, 43)
    changed = {m.control: m.value for m in feedback.messages(surface.led_states())}
    assert changed == {32: 127, 41: 127, 43: 127, 44: 0}
    press(surface, 59)  # bank 1: unit 8 not soloed -> S1 dark
    assert {m.control: m.value for m in feedback.messages(surface.led_states())} == {32: 0}


def test_keyboard_selects_nudges_and_shares_bank(surface: ControlSurface) -> None:
    kb = KeyboardControl(surface)
    assert kb.handle_key(pg.K_3) == [] and kb.selected_unit == 2
    assert kb.handle_key(pg.K_UP) == [Action("scale_unit", {"unit": 2, "value": 1.05})]
    assert kb.handle_key(pg.K_DOWN, pg.KMOD_LSHIFT) == [Action("scale_unit", {"unit": 2, "value": 0.8})]
    for _ in range(10):
        kb.handle_key(pg.K_DOWN, pg.KMOD_SHIFT)
    assert surface.scales[2] == 0.0  # clipped at the curve's minimum
    assert kb.handle_key(pg.K_RIGHTBRACKET) == [Action("bank", {"bank": 1})]
    assert kb.selected_unit == 10
    assert kb.handle_key(pg.K_m) == [Action("mute", {"unit": 10, "on": True})]
    assert kb.handle_key(pg.K_k) == [Action("solo", {"unit": 10, "on": True})]
    assert kb.handle_key(pg.K_BACKSPACE) == [Action("reset_unit", {"unit": 10})]
    assert kb.handle_key(pg.K_LEFTBRACKET) == [Action("bank", {"bank": 0})]
    simple = {pg.K_SPACE: "play_pause", pg.K_s: "stop", pg.K_o: "toggle_source", pg.K_z: "zero_all",
              pg.K_r: "reset_all", pg.K_COMMA: "prev_scene", pg.K_PERIOD: "next_scene",
              pg.K_n: "next_model", pg.K_p: "prev_model", pg.K_c: "capture_latent"}
    for key, name in simple.items():
        assert kb.handle_key(key) == [Action(name)]
    assert kb.handle_key(pg.K_F12) == []
    assert kb.handle_key(pg.K_LEFT) == [] and kb.selected_unit == 1


def test_keyboard_on_partial_bank_ignores_missing_units() -> None:
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=10)
    kb = KeyboardControl(surface)
    kb.handle_key(pg.K_RIGHTBRACKET)
    kb.handle_key(pg.K_5)
    assert kb.selected_unit is None and kb.handle_key(pg.K_UP) == []


def test_sync_ignores_stale_truth_about_recent_local_changes() -> None:
    clock = FakeClock()
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=8, sync_grace_s=0.5, clock=clock)
    pick_up(surface, 0)
    surface.handle(cc(0, 100))  # unit 0 -> 1.56; the engine has not applied it yet
    press(surface, 33)  # solo unit 1
    clock.now += 0.1
    surface.sync(scales=[1.0] * 8, solo=[False] * 8)  # stale snapshot from before the moves
    assert surface.scales[0] == pytest.approx(surface.map.scale_curve(100)) and surface.solo[1]
    assert 0 not in surface.armed_units()  # the fader keeps control
    # float32 copies of the same values are equal, arm nothing
    import numpy as np
    clock.now += 1.0
    surface.sync(scales=np.asarray(surface.scales, dtype=np.float32).tolist())
    assert 0 not in surface.armed_units()
    surface.sync(scales=[0.25] * 8, solo=[False] * 8)  # later truth wins
    assert surface.scales[0] == 0.25 and not surface.solo[1] and 0 in surface.armed_units()


def test_scene_recall_lets_the_next_truth_win_over_recent_moves() -> None:
    clock = FakeClock()
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=8, sync_grace_s=0.5, clock=clock)
    pick_up(surface, 0)
    surface.handle(cc(0, 127))
    press(surface, 62)  # next_scene right after the move
    clock.now += 0.05
    surface.sync(scales=[0.3] * 8)
    assert surface.scales[0] == 0.3 and 0 in surface.armed_units()
