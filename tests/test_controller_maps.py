"""Controller maps: shipped maps, value curves, round trip, and every kind of bad map."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers.maps import (ControllerMap, ValueCurve, load_map, map_from_dict, save_map,
                              shipped_maps)
from presets import CONTROLLER_MAPS_DIR
from instrument.errors import ControllerMapError


def test_shipped_maps_load_by_name() -> None:
    assert {"nanokontrol2", "generic-8-faders"} <= set(shipped_maps(CONTROLLER_MAPS_DIR))
    for name in shipped_maps(CONTROLLER_MAPS_DIR):
        cmap = load_map(name, CONTROLLER_MAPS_DIR)
        assert isinstance(cmap, ControllerMap) and cmap.controls
    assert load_map("nanoKONTROL2", CONTROLLER_MAPS_DIR).name == "nanoKONTROL2"  # case-insensitive name
    assert load_map(CONTROLLER_MAPS_DIR / "nanokontrol2.yaml").source.endswith("nanokontrol2.yaml")


def test_nanokontrol2_factory_cc_table() -> None:
    cmap = load_map("nanokontrol2", CONTROLLER_MAPS_DIR)
    assert cmap.channel == 0 and cmap.bank_size == 8 and "nanoKONTROL2" in cmap.ports
    for slot in range(8):
        assert (cmap.control(slot).action, cmap.control(slot).slot, cmap.control(slot).kind) == ("scale_unit", slot, "fader")
        assert (cmap.control(16 + slot).action, cmap.control(16 + slot).slot) == ("knob_unit", slot)
        assert (cmap.control(32 + slot).action, cmap.control(32 + slot).slot) == ("solo", slot)
        assert (cmap.control(48 + slot).action, cmap.control(48 + slot).slot) == ("mute", slot)
        assert (cmap.control(64 + slot).action, cmap.control(64 + slot).slot) == ("reset_unit", slot)
    transport = {cc: cmap.control(cc).action for cc in (58, 59, 46, 60, 61, 62, 43, 44, 42, 41, 45)}
    assert transport == {58: "bank_prev", 59: "bank_next", 46: "shift", 60: "zero_all", 61: "prev_scene",
                         62: "next_scene", 43: "set_source", 44: "set_source", 42: "stop", 41: "play_pause",
                         45: "reset_all"}
    assert cmap.control(43).action_args() == {"synth": False}
    assert cmap.control(44).action_args() == {"synth": True}
    assert cmap.control(0).led is False and cmap.control(32).led is True
    assert cmap.control(100) is None
    assert len(cmap.controls) == 51 + 7  # 7 shift-layer controls


def test_detent_curve_has_exact_unity_band_and_is_monotonic() -> None:
    curve = load_map("nanokontrol2", CONTROLLER_MAPS_DIR).scale_curve
    assert curve(0) == 0.0 and curve(127) == 2.0
    assert all(curve(raw) == 1.0 for raw in range(62, 67))
    assert curve(61) < 1.0 < curve(67)
    assert curve(31) == pytest.approx(0.5)
    values = [curve(raw) for raw in range(128)]
    assert values == sorted(values)
    assert curve(-5) == 0.0 and curve(300) == 2.0  # clipped, never raises
    assert curve.raw_for(1.0) in range(62, 67)


def test_linear_curve_and_custom_range() -> None:
    curve = ValueCurve(type="linear", min=0.5, max=1.5)
    assert curve(0) == 0.5 and curve(127) == 1.5
    assert curve(64) == pytest.approx(0.5 + 64 / 127)
    assert load_map("generic-8-faders", CONTROLLER_MAPS_DIR).scale_curve(127) == 2.0


def test_map_round_trips_through_yaml(tmp_path: Path) -> None:
    cmap = load_map("nanokontrol2", CONTROLLER_MAPS_DIR)
    path = save_map(cmap, tmp_path / "copy.yaml")
    again = load_map(path)
    assert again.controls == cmap.controls
    assert (again.channel, again.ports, again.leds, again.takeover) == (cmap.channel, cmap.ports, cmap.leds, cmap.takeover)


def _minimal(**over: object) -> dict:
    data: dict = {"name": "t", "channel": 1,
                  "controls": [{"ccs": [0, 1], "kind": "fader", "action": "scale_unit"},
                               {"cc": 41, "kind": "button", "action": "play_pause"}]}
    data.update(over)
    return data


def test_minimal_map_defaults() -> None:
    cmap = map_from_dict(_minimal(), "mem.yaml")
    assert cmap.ports == ("t",) and cmap.bank_size == 8 and cmap.takeover.enabled
    assert cmap.control(1).slot == 1 and cmap.control(1).curve(64) == 1.0
    assert map_from_dict(_minimal(channel="any")).channel is None


BAD_DOCUMENTS = {
    "not_yaml": ("name: [unclosed\n  controls: {", "not valid YAML"),
    "not_mapping": ("- just\n- a list\n", "expected a mapping"),
    "missing_name": ("controls:\n  - {cc: 1, kind: button, action: stop}\n", "name: missing"),
    "missing_controls": ("name: x\n", "controls: missing"),
    "unknown_action": ("name: x\ncontrols:\n  - {cc: 7, kind: button, action: explode}\n", "unknown action 'explode'"),
    "duplicate_cc": ("name: x\ncontrols:\n  - {cc: 7, kind: button, action: stop}\n"
                     "  - {ccs: [6, 7], kind: fader, action: scale_unit}\n", "duplicate CC 7"),
    "cc_too_big": ("name: x\ncontrols:\n  - {cc: 128, kind: button, action: stop}\n", "128 out of range 0..127"),
    "cc_negative": ("name: x\ncontrols:\n  - {ccs: [1, -1], kind: fader, action: scale_unit}\n", "-1 out of range"),
    "missing_kind": ("name: x\ncontrols:\n  - {cc: 3, action: stop}\n", r"\(cc 3\)\.kind: missing"),
    "missing_slot": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: solo}\n", r"\(cc 3\)\.slot: missing"),
    "kind_mismatch": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: scale_unit}\n", "needs a fader or knob"),
    "unknown_kind": ("name: x\ncontrols:\n  - {cc: 3, kind: wheel, action: stop}\n", "unknown kind 'wheel'"),
    "bad_args": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: set_source}\n", "needs argument"),
    "unknown_curve": ("name: x\ncontrols:\n  - {cc: 3, kind: fader, action: scale_unit, slot: 0, curve: nope}\n",
                      "unknown curve 'nope'"),
    "bad_curve": ("name: x\ncontrols:\n  - {cc: 3, kind: fader, action: scale_unit, slot: 0, curve: {max: -1}}\n",
                  "must exceed min"),
    "unknown_key": ("name: x\ncolour: red\ncontrols:\n  - {cc: 3, kind: button, action: stop}\n", "colour"),
    "bad_channel": ("name: x\nchannel: 17\ncontrols:\n  - {cc: 3, kind: button, action: stop}\n", "channel: 17 out of range"),
    "too_many_slots": ("name: x\nbank_size: 2\ncontrols:\n  - {ccs: [1, 2, 3], kind: fader, action: scale_unit}\n",
                       "exceed bank_size"),
    "bank_action": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: bank, args: {bank: 1}}\n", "bank_prev"),
    # layers, gestures and points curves
    "unknown_layer": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: stop, layer: alt}\n",
                      r"\(cc 3\)\.layer: unknown layer 'alt'"),
    "shift_layer_without_shift": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: stop, layer: shift}\n",
                                  r"\(cc 3\)\.layer: .*needs a button with action 'shift'"),
    "unknown_gesture": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: quit, gesture: triple}\n",
                        r"\(cc 3\)\.gesture: unknown gesture 'triple'"),
    "gesture_on_fader": ("name: x\ncontrols:\n  - {cc: 3, kind: fader, action: wet_dry, gesture: hold}\n",
                         r"\(cc 3\)\.gesture: only buttons"),
    "shift_in_shift_layer": ("name: x\ncontrols:\n" + "  - {cc: 9, kind: button, action: shift}\n" +
                             "  - {cc: 3, kind: button, action: shift, layer: shift}\n", r"\(cc 3\)\.layer: a shift button"),
    "shift_cc_reused": ("name: x\ncontrols:\n" + "  - {cc: 9, kind: button, action: shift}\n" +
                        "  - {cc: 9, kind: button, action: quit, layer: shift, gesture: hold}\n",
                        "CC 9 is a shift button"),
    "layer_kind_mismatch": ("name: x\ncontrols:\n" + "  - {cc: 9, kind: button, action: shift}\n" + "  - {cc: 3, kind: button, action: stop}\n"
                            "  - {cc: 3, kind: knob, action: wet_dry, layer: shift}\n",
                            r"\(cc 3\)\.kind: knob in the shift layer, but button"),
    "duplicate_in_layer": ("name: x\ncontrols:\n" + "  - {cc: 9, kind: button, action: shift}\n" +
                           "  - {cc: 3, kind: button, action: stop, layer: shift}\n"
                           "  - {cc: 3, kind: button, action: play_pause, layer: shift}\n",
                           "duplicate CC 3 in layer 'shift'"),
    "points_not_to_127": ("name: x\ncontrols:\n  - {cc: 3, kind: fader, action: master_gain, "
                          "curve: {type: points, points: [[0, -60], [100, 0]]}}\n", r"\(cc 3\)\.curve: .*raw 0 to raw 127"),
    "points_decreasing": ("name: x\ncontrols:\n  - {cc: 3, kind: fader, action: master_gain, "
                          "curve: {type: points, points: [[0, 0], [64, -6], [127, 6]]}}\n", "non-decreasing"),
    "points_missing": ("name: x\ncurves:\n  g: {type: points}\ncontrols:\n  - {cc: 3, kind: button, action: stop}\n",
                       r"curves\.g\.points: a 'points' curve needs 'points'"),
    "points_with_min": ("name: x\ncurves:\n  g: {type: points, min: 0, points: [[0, 0], [127, 1]]}\n"
                        "controls:\n  - {cc: 3, kind: button, action: stop}\n", r"curves\.g: a 'points' curve takes only"),
    "hold_too_long": ("name: x\ngestures: {hold_s: 9}\ncontrols:\n  - {cc: 3, kind: button, action: stop}\n",
                      r"gestures\.hold_s: 9.0 out of range"),
    "gestures_unknown_key": ("name: x\ngestures: {triple_s: 1}\ncontrols:\n  - {cc: 3, kind: button, action: stop}\n",
                             "gestures: expected"),
    "toggle_with_bad_args": ("name: x\ncontrols:\n  - {cc: 3, kind: button, action: auto_gain, args: {level: 2}}\n",
                             r"\(cc 3\)\.args: .*needs argument"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_maps_raise_controller_map_error_naming_file_and_key(case: str, tmp_path: Path) -> None:
    text, pattern = BAD_DOCUMENTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ControllerMapError, match=pattern) as info:
        load_map(path)
    assert f"{case}.yaml" in str(info.value)


def test_unknown_map_name_lists_shipped_maps() -> None:
    with pytest.raises(ControllerMapError, match="nanokontrol2"):
        load_map("no-such-controller", CONTROLLER_MAPS_DIR)
