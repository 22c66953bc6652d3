"""Soft takeover (pickup) of faders and knobs: pure logic."""

from __future__ import annotations

import pytest

from controllers.takeover import SoftTakeover


def test_armed_control_ignores_moves_until_it_crosses_the_value() -> None:
    t = SoftTakeover(tolerance=0.05)
    assert t.is_armed("f")  # physical position unknown at start
    assert not t.move("f", 0.2, target=1.0)
    assert not t.move("f", 0.6, target=1.0)
    assert t.move("f", 1.3, target=1.0)  # crossed 1.0 between 0.6 and 1.3
    assert not t.is_armed("f")
    assert t.move("f", 0.1, target=1.3)  # picked up: every move applies


def test_pickup_within_tolerance_and_from_above() -> None:
    t = SoftTakeover(tolerance=0.05)
    assert t.move("a", 0.97, target=1.0)  # first move already within tolerance
    t.arm("a")
    assert not t.move("a", 1.9, target=0.5)
    assert not t.move("a", 1.2, target=0.5)
    assert t.move("a", 0.5, target=0.5)  # lands on it


def test_arm_all_and_forget_positions() -> None:
    t = SoftTakeover(tolerance=0.0)
    assert t.move("a", 1.0, 1.0) and t.move("b", 1.0, 1.0)
    t.arm_all()
    assert t.is_armed("a") and t.is_armed("b")
    assert t.position("a") == 1.0
    # crossing uses the remembered position: 1.0 -> 0.2 crosses 0.5
    assert t.move("a", 0.2, target=0.5)
    t.forget_positions()
    assert t.position("a") is None and t.is_armed("a")
    assert not t.move("a", 0.0, target=0.5)  # first move after forgetting cannot "cross"


def test_disabled_takeover_jumps() -> None:
    t = SoftTakeover(tolerance=0.05, enabled=False)
    assert t.move("f", 0.0, target=2.0) and not t.is_armed("f")
    with pytest.raises(ValueError):
        SoftTakeover(tolerance=-1.0)
