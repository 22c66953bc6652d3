"""One exception family for everything a user can get wrong.

Every message names the file, value or port at fault so the user can act on it.
The CLI turns any :class:`LatentError` into a one-line message and exit code 2.
"""

from __future__ import annotations


class LatentError(Exception):
    """Base class of every error Latent Instrument raises on purpose."""


class ConfigError(LatentError, ValueError):
    """A configuration value is invalid (names the field and the value)."""


class AudioFileError(LatentError):
    """An audio file is missing, unreadable, empty, non-finite or too long."""


class ModelError(LatentError):
    """A model file is not a latent model, has the wrong shape or is unsafe."""


class DatasetError(LatentError):
    """A dataset folder is empty, unpaired or inconsistent."""


class DeviceError(LatentError):
    """An audio device or MIDI port cannot be found or opened."""


class ControllerMapError(LatentError):
    """A controller map file is malformed or names an unknown action."""


class SynthError(LatentError):
    """A synth spec, patch or external synth binary is wrong or missing."""



class OscMessageError(LatentError):
    """An OSC message has an unknown address, wrong argument count or types, or a unit out of range."""
