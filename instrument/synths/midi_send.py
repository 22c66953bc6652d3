"""Patch -> MIDI messages per a synth spec (CC, NRPN, program change), or a voice dump, and sending them.

NRPN parameters are sent as ``CC 99 = msb, CC 98 = lsb`` then the 14-bit data entry
``CC 6 = value >> 7`` and ``CC 38 = value & 127``. The data order follows
``spec.options["nrpn_data_order"]``: ``"msb_first"`` (MIDI 1.0 convention, default)
or ``"lsb_first"`` (FluidSynth applies the value on CC 6 using the CC 38 it already
has, so it needs the LSB first).

A synth that takes whole voices (``dx7``, a :class:`~instrument.synths.voice_files.VoiceSynth`)
gets one single-voice system-exclusive dump per patch instead (:func:`synth_messages`):
``mido.Message("sysex", data=...)`` holds the dump without its F0/F7. The dump's channel
nibble is the MIDI channel; a DX7 loads it into its edit buffer when SYS INFO AVAIL is on and
it receives on that channel.

A port that cannot take a sysex: :func:`send_messages` raises a one-line :class:`DeviceError`
naming the port when sending raises (python-rtmidi raises ``rtmidi.SystemError`` when the ALSA
sequencer refuses an event) and, before sending anything, for a sysex longer than
:data:`MAX_SYSEX_BYTES`: rtmidi's JACK output drops longer messages without a word and its ALSA
output refuses them, so the synth would silently keep its old voice. A voice dump (163 bytes)
fits every rtmidi port; a port that takes it but loses sysex on the way (some USB MIDI
interfaces) cannot be told from one that delivers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import mido
import numpy as np

from instrument.errors import DeviceError, SynthError
from instrument.synths.dx7.sysex import voice_dump
from instrument.synths.patch import Patch
from instrument.synths.spec import ParamSpec, SynthSpec
from instrument.synths.voice_files import takes_voices

if TYPE_CHECKING:
    from instrument.synths.base import Synth

DATA_ORDERS = ("msb_first", "lsb_first")
#: Longest sysex message (bytes incl. F0/F7) rtmidi delivers: its JACK output ring buffer takes
#: 16383 bytes, 4 of them the length (measured: 16379 arrives, 16380 vanishes); its ALSA output
#: buffer is 16 KiB including the event header.
MAX_SYSEX_BYTES = 16379


def _check_channel(channel: int) -> int:
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel <= 15:
        raise SynthError(f"MIDI channel must be an integer 0..15, got {channel!r}")
    return int(channel)


def _values(spec: SynthSpec, patch: Patch | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(patch, Patch):
        return patch.to_array(spec)
    v = np.asarray(patch, dtype=np.float64).reshape(-1)
    if v.shape != (spec.n_params,):
        raise SynthError(f"synth {spec.name!r} patch needs {spec.n_params} values, got {v.shape}")
    return v


def data_order(spec: SynthSpec) -> str:
    order = str(spec.options.get("nrpn_data_order", "msb_first"))
    if order not in DATA_ORDERS:
        raise SynthError(f"synth {spec.name!r}: options.nrpn_data_order {order!r} must be one of "
                         f"{', '.join(DATA_ORDERS)}")
    return order


def param_messages(spec: SynthSpec, param: ParamSpec, value: float,
                   channel: int = 0) -> list[mido.Message]:
    """Messages setting one parameter (empty if it has no MIDI mapping)."""
    channel = _check_channel(channel)
    m = param.midi
    if m is None:
        return []
    midi = param.to_midi(value)
    if m.kind == "program":
        return [mido.Message("program_change", channel=channel, program=midi)]
    if m.kind == "cc":
        return [mido.Message("control_change", channel=channel, control=m.number, value=midi)]
    msb_msg = mido.Message("control_change", channel=channel, control=6, value=midi >> 7)
    lsb_msg = mido.Message("control_change", channel=channel, control=38, value=midi & 0x7F)
    data = [lsb_msg, msb_msg] if data_order(spec) == "lsb_first" else [msb_msg, lsb_msg]
    return [mido.Message("control_change", channel=channel, control=99, value=m.msb),
            mido.Message("control_change", channel=channel, control=98, value=m.lsb), *data]


def patch_messages(patch: Patch | np.ndarray | Sequence[float], spec: SynthSpec,
                   channel: int = 0) -> list[mido.Message]:
    """All messages for a patch: program changes first (they reset a channel's sound), then
    CC/NRPN in spec order."""
    values = _values(spec, patch)
    first: list[mido.Message] = []
    rest: list[mido.Message] = []
    for p, v in zip(spec.parameters, values):
        target = first if p.midi is not None and p.midi.kind == "program" else rest
        target.extend(param_messages(spec, p, float(v), channel))
    return first + rest


def changed_messages(old: Patch | np.ndarray | Sequence[float] | None,
                     new: Patch | np.ndarray | Sequence[float], spec: SynthSpec,
                     channel: int = 0) -> list[mido.Message]:
    """Only the messages for parameters whose MIDI value differs between ``old`` and ``new``
    (``old=None``: everything). A changed program is sent first."""
    if old is None:
        return patch_messages(new, spec, channel)
    old_v, new_v = _values(spec, old), _values(spec, new)
    first: list[mido.Message] = []
    rest: list[mido.Message] = []
    for p, a, b in zip(spec.parameters, old_v, new_v):
        if p.midi is None or p.to_midi(float(a)) == p.to_midi(float(b)):
            continue
        target = first if p.midi.kind == "program" else rest
        target.extend(param_messages(spec, p, float(b), channel))
    return first + rest


def voice_dump_messages(voices: np.ndarray, channel: int = 0) -> list[mido.Message]:
    """One single-voice dump message per voice: voice bytes ``(n, 155 or 156)`` uint8 ->
    ``n`` sysex messages of 163 bytes (checksummed, F0/F7 added by mido)."""
    channel = _check_channel(channel)
    return [mido.Message("sysex", data=voice_dump(v, channel)[1:-1]) for v in np.atleast_2d(voices)]


def synth_messages(synth: Synth, patch: Patch | np.ndarray | Sequence[float],
                   channel: int = 0) -> list[mido.Message]:
    """What sets a patch on the external synth: one voice dump for a synth that takes voices
    (``dx7``), else the spec's program change, CC and NRPN messages (:func:`patch_messages`)."""
    if takes_voices(synth):
        return voice_dump_messages(synth.voices(_values(synth.spec, patch)[None]), channel)
    return patch_messages(patch, synth.spec, channel)


def patch_note(spec: SynthSpec, patch: Patch | np.ndarray | Sequence[float]) -> int:
    """The MIDI note a patch is meant to be played at: its ``note`` parameter, else the spec's
    ``options.default_note`` (or ``options.note``), else 60."""
    if "note" in spec.names:
        return int(np.clip(np.rint(_values(spec, patch)[spec.index("note")]), 0, 127))
    return int(spec.options.get("default_note", spec.options.get("note", 60)))


def _port_name(port: Any) -> str:
    return str(getattr(port, "name", port))


def send_messages(port: Any, messages: Sequence[mido.Message]) -> int:
    """Send to an open mido output port; returns the count.

    Raises:
        DeviceError: naming the port: a sysex longer than :data:`MAX_SYSEX_BYTES` (nothing is
            sent), or sending failed (for a sysex: the port did not take the dump).
    """
    for message in messages:
        if message.type == "sysex" and len(message.data) + 2 > MAX_SYSEX_BYTES:
            raise DeviceError(f"MIDI port {_port_name(port)!r} cannot take a sysex message of "
                              f"{len(message.data) + 2} bytes (rtmidi delivers at most "
                              f"{MAX_SYSEX_BYTES}); nothing sent")
    sent = 0
    for message in messages:
        try:
            port.send(message)
        except (OSError, ValueError, RuntimeError, SystemError) as exc:  # rtmidi.SystemError too
            detail = str(exc).strip() or type(exc).__name__
            if message.type == "sysex":
                raise DeviceError(f"MIDI port {_port_name(port)!r} cannot take a "
                                  f"{len(message.data) + 2}-byte sysex message: {detail}") from exc
            raise DeviceError(f"cannot send to MIDI port {_port_name(port)!r}: {detail}") from exc
        sent += 1
    return sent


def send_patch(port: Any, patch: Patch | np.ndarray | Sequence[float], spec: SynthSpec,
               channel: int = 0) -> int:
    """Send a whole patch to an open mido output port; returns the number of messages."""
    return send_messages(port, patch_messages(patch, spec, channel))


#: Seconds a DX7 gets to take one voice dump when the spec does not say.
DEFAULT_DUMP_INTERVAL_S = 0.2


def dump_interval(spec: SynthSpec) -> float:
    """``spec.options["min_dump_interval_s"]``: least seconds between two voice dumps (and
    between a dump and a note), default :data:`DEFAULT_DUMP_INTERVAL_S`.

    Raises:
        SynthError: not a number in 0..60, naming the spec and the option.
    """
    raw = spec.options.get("min_dump_interval_s", DEFAULT_DUMP_INTERVAL_S)
    try:
        seconds = float(raw)
    except (TypeError, ValueError) as exc:
        raise SynthError(f"synth spec {spec.name!r}: options.min_dump_interval_s must be seconds, "
                         f"got {raw!r}") from exc
    if not 0.0 <= seconds <= 60.0:
        raise SynthError(f"synth spec {spec.name!r}: options.min_dump_interval_s must be in 0..60 s, "
                         f"got {raw!r}")
    return seconds
