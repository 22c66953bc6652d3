"""Choosing the rtmidi API mido uses (ALSA by default on Linux, JACK on request).

The choice comes from an explicit argument, else the ``LATENT_MIDI_API``
environment variable, else the platform default.
"""

from __future__ import annotations

import os
import sys

import mido

from instrument.errors import DeviceError

#: User-facing API names -> mido backend strings.
MIDI_APIS = {
    "alsa": "mido.backends.rtmidi/LINUX_ALSA",
    "jack": "mido.backends.rtmidi/UNIX_JACK",
    "coremidi": "mido.backends.rtmidi/MACOSX_CORE",
    "winmm": "mido.backends.rtmidi/WINDOWS_MM",
}
ENV_VAR = "LATENT_MIDI_API"


def default_api_name() -> str:
    if sys.platform.startswith("linux"):
        return "alsa"
    if sys.platform == "darwin":
        return "coremidi"
    return "winmm"


def resolve_api_name(name: str | None = None) -> str:
    """The API to use: ``name``, else ``$LATENT_MIDI_API``, else the platform default."""
    chosen = (name or os.environ.get(ENV_VAR) or default_api_name()).lower()
    if chosen not in MIDI_APIS:
        raise DeviceError(f"unknown MIDI API {chosen!r}; choose one of {', '.join(MIDI_APIS)}")
    return chosen


def midi_backend(name: str | None = None) -> mido.Backend:
    """A mido backend bound to the chosen rtmidi API (loaded now, so errors surface here)."""
    api = resolve_api_name(name)
    backend = mido.Backend(MIDI_APIS[api], load=True)
    return backend
