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
| `p` / `n`          | previous / next model (wraps around)                          |
| `w` / `e`          | wet/dry (transfer mix) -/+ 0.05 (with `Shift`: -/+ 0.25)      |
| `-` / `=`          | master gain -/+ 1 dB (with `Shift`: -/+ 6 dB), -60..+12 dB    |
| `a`                | loudness compensation (auto-gain) on / off                    |
| `c`                | capture the latent frame (for no-input mode)                  |
| `q` `q`            | quit: `q` twice within 1 s (one `q` shows "press q again to quit") |
| `Ctrl`+`q`         | quit at once                                                  |
| `Esc`              | cancel a pending quit                                         |

The keypad's `-` / `+` work like `-` / `=`. Time is explicit for the double `q`:
:meth:`KeyboardControl.handle_key` takes ``now_s`` (default: the surface's clock).

Pure mapping: only pygame's key constants are imported (no display needed).
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from pygame import locals as pg  # noqa: E402  (constants only)

from controllers.actions import Action  # noqa: E402
from controllers.surface import MASTER_GAIN_MAX_DB, MASTER_GAIN_MIN_DB, ControlSurface  # noqa: E402

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
    pg.K_n: "next_model",
    pg.K_p: "prev_model",
    pg.K_c: "capture_latent",
}
#: Keys that step a global value: key -> (action, sign).
_STEPS = {
    pg.K_w: ("wet_dry", -1.0),
    pg.K_e: ("wet_dry", 1.0),
    pg.K_MINUS: ("master_gain", -1.0),
    pg.K_KP_MINUS: ("master_gain", -1.0),
    pg.K_EQUALS: ("master_gain", 1.0),
    pg.K_KP_PLUS: ("master_gain", 1.0),
    pg.K_PLUS: ("master_gain", 1.0),
}
#: Seconds within which a second `q` quits.
QUIT_WINDOW_S = 1.0
QUIT_PROMPT = "press q again to quit"


class KeyboardControl:
    """Translate key presses into Actions for the units of ``surface`` (selected-unit state here)."""

    def __init__(self, surface: ControlSurface, step: float = 0.05, coarse_step: float = 0.25,
                 gain_step_db: float = 1.0, coarse_gain_step_db: float = 6.0) -> None:
        self.surface = surface
        self.step = float(step)
        self.coarse_step = float(coarse_step)
        self.gain_step_db = float(gain_step_db)
        self.coarse_gain_step_db = float(coarse_gain_step_db)
        self.selected_slot = 0
        self._first_q_s: float | None = None  # time of a first `q` waiting for the second

    @property
    def selected_unit(self) -> int | None:
        """The absolute index of the selected unit (None if the slot is past the last unit)."""
        return self.surface.unit_for_slot(self.selected_slot)

    def handle_key(self, key: int, mod: int = 0, now_s: float | None = None) -> list[Action]:
        """Actions for one KEYDOWN (``event.key``, ``event.mod``) at ``now_s``; unknown keys give []."""
        surface = self.surface
        now = surface.now() if now_s is None else float(now_s)
        if key in (pg.K_q, pg.K_ESCAPE):
            return self._quit_key(key, mod, now)
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
        if key in _STEPS:
            return [self._step(*_STEPS[key], coarse=bool(mod & pg.KMOD_SHIFT))]
        if key == pg.K_a:
            return [surface.toggle("auto_gain")]
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

    def _quit_key(self, key: int, mod: int, now: float) -> list[Action]:
        """`q` twice within QUIT_WINDOW_S or Ctrl+`q` quits; one `q` prompts; `Esc` cancels."""
        first, self._first_q_s = self._first_q_s, None
        if key == pg.K_ESCAPE:
            self.surface.set_prompt("", now)
            return []
        if mod & pg.KMOD_CTRL or (first is not None and now - first <= QUIT_WINDOW_S):
            self.surface.set_prompt("", now)
            return [Action("quit")]
        self._first_q_s = now
        self.surface.set_prompt(QUIT_PROMPT, now + QUIT_WINDOW_S)
        return []

    def _step(self, name: str, sign: float, coarse: bool) -> Action:
        """wet_dry or master_gain one step up or down from the surface's mirror, clipped to its range."""
        surface = self.surface
        if name == "wet_dry":
            value = surface.wet + sign * (self.coarse_step if coarse else self.step)
            action = Action(name, {"value": min(1.0, max(0.0, round(value, 6)))})
        else:
            value = surface.master_db + sign * (self.coarse_gain_step_db if coarse else self.gain_step_db)
            action = Action(name, {"db": min(MASTER_GAIN_MAX_DB, max(MASTER_GAIN_MIN_DB, round(value, 6)))})
        surface.observe(action)
        return action
