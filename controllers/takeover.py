"""Soft takeover ("pickup") for absolute controls: faders and knobs.

A fader's physical position and the value of the unit it controls can disagree: after a bank
move the fader now drives a different unit; after a scene recall, ``zero_all``, ``reset_all``,
``reset_unit`` or a keyboard nudge the unit's value changed behind the fader's back; and at start
nobody knows where the fader physically is. Applying the fader's value at once would make the
sound jump. So such a control is *armed*: its moves are ignored until the fader **crosses** the
unit's current value (one move on each side of it, or landing on it) or comes **within
tolerance** of it; from then on it is *picked up* and every move applies, until armed again.

Positions and targets are compared in value units (after the map's curve); ``tolerance`` is in
the same units (the map gives it as a fraction of the curve's range). The window can show
armed controls (``is_armed``) so the player knows to sweep the fader through the shown value.

Pure logic, no I/O; one instance per control surface, keyed by any hashable (the CC number).
"""

from __future__ import annotations

from typing import Hashable


class SoftTakeover:
    """Per-control pickup state.

    ``move(key, position, target)`` -> True if the move should be applied (the control is picked
    up, or picks up with this move); ``arm(key)`` makes the control wait for pickup again.
    With ``enabled=False`` every move applies ("jump" mode).
    """

    def __init__(self, tolerance: float, enabled: bool = True) -> None:
        if tolerance < 0:
            raise ValueError(f"takeover tolerance must be >= 0, got {tolerance}")
        self.tolerance = float(tolerance)
        self.enabled = bool(enabled)
        self._position: dict[Hashable, float] = {}
        self._picked: dict[Hashable, bool] = {}

    def arm(self, key: Hashable) -> None:
        """The value this control drives changed behind its back: wait for pickup."""
        self._picked[key] = False

    def arm_all(self) -> None:
        """Arm every control seen so far (bank move, scene recall, zero/reset all)."""
        for key in self._picked:
            self._picked[key] = False

    def forget(self, key: Hashable) -> None:
        """This control's physical position now means something else (another layer moved it):
        arm it and forget its position, so no stale position can fake a crossing."""
        self._position.pop(key, None)
        self._picked[key] = False

    def forget_positions(self) -> None:
        """Physical positions are unknown again (device reconnected): arm and forget all."""
        self._position.clear()
        self._picked.clear()

    def is_armed(self, key: Hashable) -> bool:
        """True if the control waits for pickup (never-moved controls are armed)."""
        return self.enabled and not self._picked.get(key, False)

    def position(self, key: Hashable) -> float | None:
        """The last physical position (value units) of the control, if known."""
        return self._position.get(key)

    def move(self, key: Hashable, position: float, target: float) -> bool:
        """The control moved to ``position``; ``target`` is the driven unit's current value."""
        previous = self._position.get(key)
        self._position[key] = position
        if not self.enabled or self._picked.get(key, False):
            self._picked[key] = True
            return True
        near = abs(position - target) <= self.tolerance
        crossed = previous is not None and (previous - target) * (position - target) <= 0.0
        if near or crossed:
            self._picked[key] = True
            return True
        return False
