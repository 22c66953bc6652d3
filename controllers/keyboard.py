"""Computer-keyboard fallback: pygame key codes -> Actions, sharing the MIDI control surface.

The keyboard acts on a *selected unit* among the units in view of the surface's bank, so the
keyboard and a MIDI controller can be used together (bank, solo/mute toggles and the value
mirror are shared; a keyboard nudge arms the soft takeover of that unit's fader).

| Key                | Action                                                        |
|--------------------|---------------------------------------------------------------|
| `1` .. `8`         | select unit 1..8 of the bank in view                          |
| `Left` / `Right`   | select the previous / next unit in view                       |
| `Up` / `Down`      | scale of the selected unit +/- 0.05 (with `Shift`: +/- 0.25)   |
| `[` / `]`          | previous / next bank of 8 units (cyclic)                      |
| `Space`            | play / pause                                                  |
| `s`                | stop and rewind                                               |
| `o`                | toggle source: original / synthesised                         |
| `z`                | zero all units                                                |
| `r`                | reset all units (scale 1, unmuted, unsoloed)                  |
| `Backspace`        | reset the selected unit to scale 1                            |
| `m` / `k`          | mute / solo the selected unit (toggle)                        |
| `,` / `.`          | previous / next scene                                         |
| `q` / `Esc`        | quit                                                          |

Pure mapping: only pygame's key constants are imported (no display needed).
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from pygame import locals as pg  # noqa: E402  (constants only)

from controllers.actions import Action  # noqa: E402
from controllers.surface import ControlSurface  # noqa: E402

_DIGITS = {getattr(pg, f"K_{i}"): i - 1 for i in range(1, 10)}
_DIGITS.update({getattr(pg, f"K_KP{i}"): i - 1 for i in range(1, 10)})

#: Keys that map to one parameterless action.
_SIMPLE = {
    pg.K_SPACE: "play_pause",
    pg.K_s: "stop",
    pg.K_o: "toggle_source",
    pg.K_z: "zero_all",
    pg.K_r: "reset_all",
    pg.K_COMMA: "prev_scene",
    pg.K_PERIOD: "next_scene",
    pg.K_q: "quit",
    pg.K_ESCAPE: "quit",
}


class KeyboardControl:
    """Translate key presses into Actions for the units of ``surface`` (selected-unit state here)."""

    def __init__(self, surface: ControlSurface, step: float = 0.05, coarse_step: float = 0.25) -> None:
        self.surface = surface
        self.step = float(step)
        self.coarse_step = float(coarse_step)
        self.selected_slot = 0

    @property
    def selected_unit(self) -> int | None:
        """The absolute index of the selected unit (None if the slot is past the last unit)."""
        return self.surface.unit_for_slot(self.selected_slot)

    def handle_key(self, key: int, mod: int = 0) -> list[Action]:
        """Actions for one KEYDOWN (``event.key``, ``event.mod``); unknown keys give []."""
        surface = self.surface
        if key in _DIGITS:
            if _DIGITS[key] < surface.bank_size:
                self.selected_slot = _DIGITS[key]
            return []
        if key in (pg.K_LEFT, pg.K_RIGHT):
            self.selected_slot = (self.selected_slot + (1 if key == pg.K_RIGHT else -1)) % surface.bank_size
            return []
        if key in (pg.K_LEFTBRACKET, pg.K_RIGHTBRACKET):
            return [surface.move_bank(1 if key == pg.K_RIGHTBRACKET else -1)]
        if key in _SIMPLE:
            action = Action(_SIMPLE[key])
            surface.observe(action)
            return [action]
        unit = self.selected_unit
        if unit is None:
            return []
        if key in (pg.K_UP, pg.K_DOWN):
            step = self.coarse_step if mod & pg.KMOD_SHIFT else self.step
            sign = 1.0 if key == pg.K_UP else -1.0
            value = round(surface.scales[unit] + sign * step, 6)
            value = min(surface.scale_max, max(surface.scale_min, value))
            action = Action("scale_unit", {"unit": unit, "value": value})
            surface.observe(action)
            return [action]
        if key == pg.K_m:
            return [surface.unit_button("mute", unit)]
        if key == pg.K_k:
            return [surface.unit_button("solo", unit)]
        if key == pg.K_BACKSPACE:
            return [surface.unit_button("reset_unit", unit)]
        return []
