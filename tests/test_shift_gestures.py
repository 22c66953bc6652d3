"""Shift layers, hold / double-press gestures, the master gain curve and the keyboard's new keys.

Every gesture is driven with explicit timestamps (``now_s``): no sleeps.
"""

from __future__ import annotations

import mido
import pytest
from pygame import locals as pg

from controllers.actions import Action
from controllers.feedback import LedFeedback
from controllers.keyboard import QUIT_PROMPT, KeyboardControl
from controllers.maps import DEFAULT_GAIN_CURVE, load_map, map_from_dict
from presets import CONTROLLER_MAPS_DIR
from controllers.surface import ControlSurface

CYCLE, STOP, PLAY, RECORD, TRACK_PREV, TRACK_NEXT, MARKER_SET = 46, 42, 41, 45, 58, 59, 60
FADER8, KNOB8 = 7, 23


def cc(control: int, value: int) -> mido.Message:
    return mido.Message("control_change", channel=0, control=control, value=value)


class Clock:
    """A settable clock for the surface's default time source."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def surface(clock: Clock) -> ControlSurface:
    return ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=16, clock=clock)


def tap(surface: ControlSurface, control: int, t: float) -> list[Action]:
    """Press at ``t``, release 50 ms later; the actions of both."""
    return surface.handle(cc(control, 127), t) + surface.handle(cc(control, 0), t + 0.05)


# ------------------------------------------------------------------------------------ the maps

def test_nanokontrol2_shift_layer_table() -> None:
    cmap = load_map("nanokontrol2", CONTROLLER_MAPS_DIR)
    assert cmap.has_shift and cmap.control(CYCLE).action == "shift"
    shifted = {c.cc: (c.action, c.gesture) for c in cmap.controls if c.layer == "shift"}
    assert shifted == {KNOB8: ("wet_dry", "press"), FADER8: ("master_gain", "press"),
                       TRACK_PREV: ("prev_model", "press"), TRACK_NEXT: ("next_model", "press"),
                       MARKER_SET: ("capture_latent", "press"), RECORD: ("auto_gain", "press"),
                       STOP: ("quit", "hold")}
    assert not any(c.action == "quit" and c.layer == "base" for c in cmap.controls), "no one-touch quit"
    # a CC without a shift control keeps its base meaning while shift is held
    assert cmap.control(0, "shift").action == "scale_unit" and cmap.control(STOP, "shift").action == "quit"
    assert cmap.control(STOP).action == "stop"
    assert (cmap.gestures.hold_s, cmap.gestures.double_s) == (1.0, 0.5)
    assert map_from_dict(cmap.to_dict(), cmap.source) == cmap


def test_generic_map_reaches_the_same_actions() -> None:
    cmap = load_map("generic-8-faders", CONTROLLER_MAPS_DIR)
    base = {c.cc: c.action for c in cmap.controls if c.layer == "base" and c.is_button}
    assert base == {9: "bank_prev", 10: "bank_next", 11: "play_pause", 12: "stop", 13: "toggle_source",
                    14: "zero_all", 15: "reset_all", 16: "shift"}
    shifted = {c.cc: (c.action, c.gesture) for c in cmap.controls if c.layer == "shift"}
    assert shifted == {7: ("wet_dry", "press"), 8: ("master_gain", "press"), 9: ("prev_model", "press"),
                       10: ("next_model", "press"), 11: ("auto_gain", "press"), 12: ("quit", "hold"),
                       13: ("capture_latent", "press"), 14: ("prev_scene", "press"), 15: ("next_scene", "press")}
    assert map_from_dict(cmap.to_dict(), cmap.source) == cmap


def test_master_gain_curve_has_unity_at_three_quarters() -> None:
    curve = load_map("nanokontrol2", CONTROLLER_MAPS_DIR).control(FADER8, "shift").curve
    assert curve == DEFAULT_GAIN_CURVE
    assert (curve.min, curve.max) == (-60.0, 6.0)
    assert curve(0) == -60.0 and curve(127) == 6.0
    assert all(curve(raw) == 0.0 for raw in range(98, 103))
    assert curve(80) == -6.0 and curve(40) == -24.0
    values = [curve(raw) for raw in range(128)]
    assert values == sorted(values)
    assert curve.raw_for(0.0) in range(98, 103)


# ------------------------------------------------------------------------------------ shift

def test_shift_is_a_modifier_and_one_touch_of_cycle_never_quits(surface: ControlSurface) -> None:
    assert tap(surface, CYCLE, 0.0) == []
    assert not surface.shift and surface.tick(10.0) == []
    surface.handle(cc(CYCLE, 127), 1.0)
    assert surface.shift and surface.layer == "shift"
    assert surface.led_states()[CYCLE] is True
    surface.handle(cc(CYCLE, 0), 1.1)
    assert not surface.shift and surface.led_states()[CYCLE] is False


def test_shift_layer_buttons(surface: ControlSurface) -> None:
    surface.handle(cc(CYCLE, 127), 0.0)
    assert tap(surface, TRACK_NEXT, 0.1) == [Action("next_model")]
    assert tap(surface, TRACK_PREV, 0.2) == [Action("prev_model")]
    assert tap(surface, MARKER_SET, 0.3) == [Action("capture_latent")]
    assert tap(surface, RECORD, 0.4) == [Action("auto_gain", {"on": True})]
    assert surface.led_states()[RECORD] is True  # record shows auto-gain while shift is held
    assert tap(surface, RECORD, 0.5) == [Action("auto_gain", {"on": False})]
    assert tap(surface, PLAY, 0.6) == [Action("play_pause")]  # no shift control: base meaning
    surface.handle(cc(CYCLE, 0), 0.7)
    assert tap(surface, TRACK_NEXT, 0.8) == [Action("bank", {"bank": 1})]
    assert tap(surface, MARKER_SET, 0.9) == [Action("zero_all")]
    assert tap(surface, RECORD, 1.0) == [Action("reset_all")]


def test_shift_leds_follow_the_layer() -> None:
    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), n_units=16)
    feedback = LedFeedback(surface.map)
    feedback.messages(surface.led_states())
    surface.handle(cc(CYCLE, 127), 0.0)
    tap(surface, RECORD, 0.1)  # auto-gain on
    changed = {m.control: m.value for m in feedback.messages(surface.led_states())}
    assert changed == {CYCLE: 127, RECORD: 127}
    surface.handle(cc(CYCLE, 0), 0.2)  # base layer: record is reset_all again (dark)
    changed = {m.control: m.value for m in feedback.messages(surface.led_states())}
    assert changed == {CYCLE: 0, RECORD: 0}


def test_shift_knob8_plays_wet_dry_with_soft_takeover(surface: ControlSurface) -> None:
    surface.handle(cc(CYCLE, 127), 0.0)
    assert surface.handle(cc(KNOB8, 10), 0.1) == []  # wet is 1.0: a knob far below waits for pickup
    assert surface.handle(cc(KNOB8, 127), 0.2) == [Action("wet_dry", {"value": 1.0})]
    out = surface.handle(cc(KNOB8, 0), 0.3)
    assert out == [Action("wet_dry", {"value": 0.0})] and surface.wet == 0.0
    surface.handle(cc(CYCLE, 0), 0.4)
    # the knob moved as wet/dry: as knob 8 it must pick up unit 7's knob value (1.0) again
    assert surface.handle(cc(KNOB8, 5), 0.5) == []
    assert surface.is_armed(KNOB8)
    assert surface.handle(cc(KNOB8, 64), 0.6) == [Action("knob_unit", {"unit": 7, "value": 1.0})]


def test_shift_fader8_sets_master_gain_in_db(surface: ControlSurface) -> None:
    surface.handle(cc(CYCLE, 127), 0.0)
    assert surface.handle(cc(FADER8, 0), 0.1) == []  # -60 dB, far from 0 dB: waits
    assert surface.handle(cc(FADER8, 100), 0.2) == [Action("master_gain", {"db": 0.0})]
    assert surface.handle(cc(FADER8, 127), 0.3) == [Action("master_gain", {"db": 6.0})]
    assert surface.master_db == 6.0
    surface.handle(cc(CYCLE, 0), 0.4)
    assert surface.handle(cc(FADER8, 120), 0.5) == []  # as fader 8 it waits for unit 7 (1.0)
    # truth from elsewhere (keyboard, scene) arms the gain fader
    surface.observe(Action("master_gain", {"db": -12.0}))
    assert surface.is_armed(FADER8, "shift")


def test_sync_takes_wet_gain_and_auto_gain_from_the_engine(surface: ControlSurface, clock: Clock) -> None:
    surface.sync(wet_dry=0.25, master_gain_db=-6.0, auto_gain=True)
    assert (surface.wet, surface.master_db, surface.auto_gain) == (0.25, -6.0, True)
    surface.handle(cc(CYCLE, 127))
    surface.handle(cc(KNOB8, 32))  # 0.252: within tolerance of 0.25 -> picked up
    surface.handle(cc(KNOB8, 64))
    surface.sync(wet_dry=0.25)  # stale truth right after a local move is ignored
    assert surface.wet == pytest.approx(64 / 127)
    clock.t += 1.0
    surface.sync(wet_dry=0.75)
    assert surface.wet == 0.75


# ------------------------------------------------------------------------------------ gestures

def test_hold_quit_fires_from_tick_after_one_second(surface: ControlSurface) -> None:
    surface.handle(cc(CYCLE, 127), 0.0)
    assert surface.handle(cc(STOP, 127), 0.2) == []
    assert surface.next_deadline() == pytest.approx(1.2)
    assert surface.prompt(0.5) == "keep holding shift+stop to quit"
    assert surface.tick(1.19) == []
    assert surface.tick(1.2) == [Action("quit")]
    assert surface.tick(5.0) == [] and surface.next_deadline() is None
    assert surface.handle(cc(STOP, 0), 1.5) == []  # fired once, not again on release


def test_hold_released_early_does_not_quit(surface: ControlSurface) -> None:
    surface.handle(cc(CYCLE, 127), 0.0)
    assert tap(surface, STOP, 0.1) == []  # one touch of shift+stop: nothing
    surface.handle(cc(STOP, 127), 1.0)
    assert surface.handle(cc(STOP, 0), 1.9) == []  # 0.9 s: too short
    assert surface.tick(10.0) == [] and surface.prompt(10.0) == ""


def test_hold_fires_on_a_late_release_without_tick(surface: ControlSurface) -> None:
    surface.handle(cc(CYCLE, 127), 0.0)
    surface.handle(cc(STOP, 127), 0.1)
    surface.handle(cc(CYCLE, 0), 0.5)  # letting go of shift does not cancel the hold of stop
    assert surface.handle(cc(STOP, 0), 1.2) == [Action("quit")]


def test_stop_without_shift_stops_at_once(surface: ControlSurface) -> None:
    assert surface.handle(cc(STOP, 127), 0.0) == [Action("stop")]
    assert surface.handle(cc(STOP, 0), 3.0) == [] and surface.tick(3.0) == []


def test_double_press_gesture(clock: Clock) -> None:
    data = load_map("nanokontrol2", CONTROLLER_MAPS_DIR).to_dict()
    data["controls"].append({"cc": 62, "layer": "shift", "kind": "button", "action": "quit",
                             "gesture": "double", "label": "shift+marker >"})
    surface = ControlSurface(map_from_dict(data, "double.yaml"), n_units=8, clock=clock)
    surface.handle(cc(CYCLE, 127), 0.0)
    assert tap(surface, 62, 1.0) == []
    assert surface.prompt(1.2) == "press shift+marker > again to quit"
    assert tap(surface, 62, 1.6) == []  # 0.6 s later: too slow, counts as a new first press
    assert surface.prompt(2.2) == ""
    assert tap(surface, 62, 2.0) == [Action("quit")]  # 0.4 s after the previous press


# ------------------------------------------------------------------------------------ keyboard

def test_keyboard_reaches_models_mix_gain_capture_and_auto_gain(surface: ControlSurface) -> None:
    kb = KeyboardControl(surface)
    assert kb.handle_key(pg.K_n) == [Action("next_model")]
    assert kb.handle_key(pg.K_p) == [Action("prev_model")]
    assert kb.handle_key(pg.K_c) == [Action("capture_latent")]
    assert kb.handle_key(pg.K_w) == [Action("wet_dry", {"value": 0.95})]
    assert kb.handle_key(pg.K_w, pg.KMOD_LSHIFT) == [Action("wet_dry", {"value": 0.7})]
    assert kb.handle_key(pg.K_e) == [Action("wet_dry", {"value": 0.75})]
    for _ in range(3):
        kb.handle_key(pg.K_e, pg.KMOD_SHIFT)
    assert surface.wet == 1.0  # clipped
    assert kb.handle_key(pg.K_MINUS) == [Action("master_gain", {"db": -1.0})]
    assert kb.handle_key(pg.K_EQUALS, pg.KMOD_SHIFT) == [Action("master_gain", {"db": 5.0})]
    assert kb.handle_key(pg.K_KP_PLUS) == [Action("master_gain", {"db": 6.0})]
    assert kb.handle_key(pg.K_KP_MINUS, pg.KMOD_SHIFT) == [Action("master_gain", {"db": 0.0})]
    for _ in range(20):
        kb.handle_key(pg.K_MINUS, pg.KMOD_SHIFT)
    assert surface.master_db == -60.0
    for _ in range(20):
        kb.handle_key(pg.K_EQUALS, pg.KMOD_SHIFT)
    assert surface.master_db == 12.0
    assert kb.handle_key(pg.K_a) == [Action("auto_gain", {"on": True})]
    assert kb.handle_key(pg.K_a) == [Action("auto_gain", {"on": False})]


def test_keyboard_quit_needs_q_twice_within_a_second_or_ctrl_q(surface: ControlSurface) -> None:
    kb = KeyboardControl(surface)
    assert kb.handle_key(pg.K_q, now_s=0.0) == []
    assert surface.prompt(0.5) == QUIT_PROMPT == "press q again to quit"
    assert surface.prompt(1.1) == ""
    assert kb.handle_key(pg.K_q, now_s=1.2) == []  # too late: a new first q
    assert kb.handle_key(pg.K_q, now_s=2.1) == [Action("quit")]
    assert surface.prompt(2.2) == ""
    assert kb.handle_key(pg.K_q, now_s=5.0) == []
    assert kb.handle_key(pg.K_ESCAPE, now_s=5.1) == []  # Esc cancels
    assert surface.prompt(5.2) == "" and kb.handle_key(pg.K_q, now_s=5.3) == []
    assert kb.handle_key(pg.K_q, pg.KMOD_LCTRL, now_s=9.0) == [Action("quit")]


def test_a_learned_quit_button_needs_a_hold() -> None:
    from controllers.learn import TRANSPORT_ROLES, MapLearner

    learner = MapLearner([r for r in TRANSPORT_ROLES if r.action == "quit"])
    learner.feed(cc(46, 127))
    cmap = map_from_dict(learner.to_dict(), "learned.yaml")
    assert cmap.control(46).gesture == "hold"
    surface = ControlSurface(cmap, n_units=8)
    assert tap(surface, 46, 0.0) == []
    surface.handle(cc(46, 127), 1.0)
    assert surface.tick(2.0) == [Action("quit")]
