"""Fader, knob, mute and solo state of the latent units."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.engine.unit_state import MAX_SCALE, UnitState


def test_defaults_pass_every_unit_at_one() -> None:
    units = UnitState(4)
    np.testing.assert_array_equal(units.effective(), np.ones(4, np.float32))


def test_scale_and_knob_multiply() -> None:
    units = UnitState(3)
    units.set_scale(1, 0.5)
    units.set_knob(1, 2.0)
    units.set_knob(2, 0.25)
    np.testing.assert_allclose(units.effective(), [1.0, 1.0, 0.25])


def test_mute_and_solo() -> None:
    units = UnitState(4)
    units.set_mute(0, True)
    np.testing.assert_array_equal(units.effective(), [0, 1, 1, 1])
    units.set_solo(2, True)
    units.set_solo(0, True)  # soloed but muted: muted wins
    np.testing.assert_array_equal(units.effective(), [0, 0, 1, 0])
    units.set_solo(2, False)
    units.set_solo(0, False)
    np.testing.assert_array_equal(units.effective(), [0, 1, 1, 1])


def test_zero_all_reset_unit_reset_all() -> None:
    units = UnitState(3)
    units.set_knob(0, 3.0)
    units.set_mute(2, True)
    units.zero_all()
    np.testing.assert_array_equal(units.effective(), [0, 0, 0])
    units.reset_unit(1)
    np.testing.assert_array_equal(units.effective(), [0, 1, 0])
    units.reset_all()
    np.testing.assert_array_equal(units.effective(), [1, 1, 1])
    assert not units.muted.any() and not units.soloed.any()


def test_effective_does_not_allocate_a_new_array() -> None:
    units = UnitState(8)
    first = units.effective()
    units.set_scale(3, 0.0)
    second = units.effective()
    assert first is second and second[3] == 0.0


def test_round_trip_dict() -> None:
    units = UnitState(5)
    units.set_scale(4, 0.125)
    units.set_mute(1, True)
    units.set_solo(3, True)
    other = UnitState(5)
    other.load_dict(units.to_dict())
    np.testing.assert_array_equal(other.effective(), units.effective())


@pytest.mark.parametrize("unit, value", [(4, 1.0), (-1, 1.0), (0, -0.1), (0, MAX_SCALE + 1), (0, float("nan")),
                                         ("a", 1.0), (0, "loud"), (True, 1.0)])
def test_bad_values_raise_config_error(unit: object, value: object) -> None:
    units = UnitState(4)
    with pytest.raises(ConfigError):
        units.set_scale(unit, value)
    np.testing.assert_array_equal(units.scales, np.ones(4, np.float32))


def test_load_dict_wrong_unit_count() -> None:
    with pytest.raises(ConfigError, match="units"):
        UnitState(3).load_dict(UnitState(4).to_dict())
