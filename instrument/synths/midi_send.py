"""Patch -> MIDI messages per a synth spec (CC, NRPN, program change), and sending them.

NRPN parameters are sent as ``CC 99 = msb, CC 98 = lsb`` then the 14-bit data entry
``CC 6 = value >> 7`` and ``CC 38 = value & 127``. The data order follows
``spec.options["nrpn_data_order"]``: ``"msb_first"`` (MIDI 1.0 convention, default)
or ``"lsb_first"`` (FluidSynth applies the value on CC 6 using the CC 38 it already
has, so it needs the LSB first).
"""

from __future__ import annotations

from typing import Any, Sequence

import mido
import numpy as np

from instrument.errors import DeviceError, SynthError
from instrument.synths.patch import Patch
from instrument.synths.spec import ParamSpec, SynthSpec

DATA_ORDERS = ("msb_first", "lsb_first")


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


def send_messages(port: Any, messages: Sequence[mido.Message]) -> int:
    """Send to an open mido output port; returns the count. DeviceError if the port fails."""
    try:
        for message in messages:
            port.send(message)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DeviceError(f"cannot send to MIDI port {getattr(port, 'name', port)!r}: {exc}") from exc
    return len(messages)


def send_patch(port: Any, patch: Patch | np.ndarray | Sequence[float], spec: SynthSpec,
               channel: int = 0) -> int:
    """Send a whole patch to an open mido output port; returns the number of messages."""
    return send_messages(port, patch_messages(patch, spec, channel))
