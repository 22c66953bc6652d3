"""LED feedback: light the controller's buttons from the surface's state.

For every button with ``led`` in the map (S/M/R and transport on the nanoKONTROL2) the output
port gets a control change on the button's own CC: ``on_value`` (127) when lit, ``off_value`` (0)
when dark. S and M buttons show the solo/mute flag of the unit in view (so a bank move relights
them), play shows playing, rewind / fast-forward show the source (original / synthesised), a
shift button shows that it is held, an ``auto_gain`` button shows loudness compensation; the other
buttons stay dark. A CC with a shift-layer control shows that control while shift is held. On the nanoKONTROL2 this needs the LED mode "External" (Korg Kontrol
Editor); in the factory "Internal" mode the device ignores these messages, which is harmless.

:class:`LedFeedback` is pure: it remembers what it sent and returns only the messages for LEDs
whose state changed. ``controllers.ports.MidiInput`` owns the output port and sends them.
"""

from __future__ import annotations

import mido

from controllers.maps import ControllerMap


class LedFeedback:
    """Turn LED states (CC -> on) into the control-change messages that changed since last time."""

    def __init__(self, cmap: ControllerMap) -> None:
        self.map = cmap
        self.channel = cmap.channel if cmap.channel is not None else 0
        self._sent: dict[int, bool] = {}

    def reset(self) -> None:
        """Forget what was sent (new or reconnected device): the next update sends every LED."""
        self._sent.clear()

    def messages(self, states: dict[int, bool]) -> list[mido.Message]:
        """Messages for the LEDs whose state differs from what was last sent (and records them)."""
        out = []
        for cc, on in sorted(states.items()):
            if self._sent.get(cc) is on:
                continue
            self._sent[cc] = on
            value = self.map.leds.on_value if on else self.map.leds.off_value
            out.append(mido.Message("control_change", channel=self.channel, control=cc, value=value))
        return out

    def all_off(self) -> list[mido.Message]:
        """Messages turning every feedback LED off (sent when closing)."""
        self._sent.clear()
        return self.messages({c.cc: False for c in self.map.controls if c.led})
