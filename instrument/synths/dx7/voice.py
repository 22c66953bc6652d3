"""DX7 voice parameters: names, ranges and byte offsets of the 156-byte unpacked voice (VCED).

The layout is Yamaha's single-voice format, as dexed-py's ``Patch.to_sysex`` writes it: six
21-byte operator blocks, OP6 first (operator ``k`` of 1..6 starts at byte ``(6 - k) * 21``), then
the pitch envelope, algorithm, feedback, oscillator key sync, LFO, pitch modulation
sensitivity, transpose, the 10-character name and the operator on/off mask.

Parameter names used by the ``dx7`` synth spec (all values are integers in DX7 units)::

    op1_r1..op1_r4, op1_l1..op1_l4     envelope rates and levels          0..99
    op1_level                          output level                       0..99
    op1_coarse, op1_fine               frequency ratio coarse / fine      0..31 / 0..99
    op1_detune                         detune (7 = none)                  0..14
    op1_mode                           0 ratio, 1 fixed frequency         0..1
    op1_breakpoint, op1_left_depth, op1_right_depth                       0..99
    op1_left_curve, op1_right_curve    0 -LIN, 1 -EXP, 2 +EXP, 3 +LIN     0..3
    op1_rate_scaling, op1_velocity_sensitivity  0..7;  op1_amp_mod_sensitivity 0..3
    (op2_... op6_ alike)
    pitch_r1..pitch_r4, pitch_l1..pitch_l4   pitch envelope (50 = no shift) 0..99
    algorithm                          0..31 (the DX7's algorithms 1..32)
    feedback 0..7, osc_key_sync 0..1, lfo_speed, lfo_delay, lfo_pitch_depth, lfo_amp_depth 0..99,
    lfo_sync 0..1, lfo_wave 0..5 (triangle, saw down, saw up, square, sine, sample and hold),
    pitch_mod_sensitivity 0..7, transpose 0..48 (24 = C3)

The spec may also hold ``note`` (the MIDI note the patch is played at), which is not part of
the voice.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from instrument.errors import SynthError

VOICE_BYTES = 156          # unpacked voice incl. the operator on/off byte
VOICE_PARAMETERS = 155     # what a single-voice sysex dump carries
NAME_OFFSET, NAME_LENGTH = 145, 10
OPERATOR_ON_OFFSET = 155
N_OPERATORS = 6

#: Operator field -> (offset in the operator's 21-byte block, largest value).
OPERATOR_FIELDS: dict[str, tuple[int, int]] = {
    "r1": (0, 99), "r2": (1, 99), "r3": (2, 99), "r4": (3, 99),
    "l1": (4, 99), "l2": (5, 99), "l3": (6, 99), "l4": (7, 99),
    "breakpoint": (8, 99), "left_depth": (9, 99), "right_depth": (10, 99),
    "left_curve": (11, 3), "right_curve": (12, 3), "rate_scaling": (13, 7),
    "amp_mod_sensitivity": (14, 3), "velocity_sensitivity": (15, 7), "level": (16, 99),
    "mode": (17, 1), "coarse": (18, 31), "fine": (19, 99), "detune": (20, 14),
}
#: Voice-wide parameter -> (byte offset, largest value).
GLOBAL_FIELDS: dict[str, tuple[int, int]] = {
    "pitch_r1": (126, 99), "pitch_r2": (127, 99), "pitch_r3": (128, 99), "pitch_r4": (129, 99),
    "pitch_l1": (130, 99), "pitch_l2": (131, 99), "pitch_l3": (132, 99), "pitch_l4": (133, 99),
    "algorithm": (134, 31), "feedback": (135, 7), "osc_key_sync": (136, 1),
    "lfo_speed": (137, 99), "lfo_delay": (138, 99), "lfo_pitch_depth": (139, 99),
    "lfo_amp_depth": (140, 99), "lfo_sync": (141, 1), "lfo_wave": (142, 5),
    "pitch_mod_sensitivity": (143, 7), "transpose": (144, 48),
}
#: Spec parameter that is not part of the voice: the MIDI note played.
NOTE = "note"


def _layout() -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for k in range(1, N_OPERATORS + 1):
        base = (N_OPERATORS - k) * 21
        for name, (offset, top) in OPERATOR_FIELDS.items():
            out[f"op{k}_{name}"] = (base + offset, top)
    out.update(GLOBAL_FIELDS)
    return out


#: Every voice parameter name -> (byte offset, largest value); 155 entries less the 10 name bytes.
LAYOUT: dict[str, tuple[int, int]] = _layout()


def operator_index(name: str) -> int | None:
    """``"op3_level"`` -> 2 (0-based operator), ``None`` for voice-wide parameters."""
    if name.startswith("op") and name[2:3].isdigit() and name[3:4] == "_":
        return int(name[2]) - 1
    return None


def check_voice(voice: np.ndarray, where: str) -> np.ndarray:
    """Voice bytes ``(..., 156)`` (or 155) with every parameter in its DX7 range, else a
    SynthError naming the first parameter out of range. Returns uint8 ``(..., 156)``."""
    v = np.asarray(voice)
    if v.shape[-1] not in (VOICE_PARAMETERS, VOICE_BYTES):
        raise SynthError(f"{where}: a DX7 voice has {VOICE_PARAMETERS} parameter bytes, got {v.shape[-1]}")
    if v.shape[-1] == VOICE_PARAMETERS:
        v = np.concatenate([v, np.full(v.shape[:-1] + (1,), 0x3F, v.dtype)], axis=-1)
    for name, (offset, top) in LAYOUT.items():
        column = v[..., offset]
        if np.any((column < 0) | (column > top)):
            bad = int(np.ravel(column)[np.flatnonzero((np.ravel(column) < 0) | (np.ravel(column) > top))[0]])
            raise SynthError(f"{where}: parameter {name!r} is {bad}, outside the DX7 range 0..{top}")
    return v.astype(np.uint8)


class VoiceCodec:
    """Spec values <-> voice bytes for one spec: the parameters it names, the rest held.

    Args:
        names: the spec's parameter names, in order (voice parameters and optionally ``note``).
        held: voice bytes ``(156,)`` giving every parameter the spec does not name.
    """

    def __init__(self, names: tuple[str, ...], held: np.ndarray) -> None:
        unknown = [n for n in names if n != NOTE and n not in LAYOUT]
        if unknown:
            raise SynthError(f"synth spec dx7: {unknown[0]!r} is not a DX7 voice parameter "
                             f"(see instrument/synths/dx7/voice.py for the names)")
        self.names = names
        self.held = check_voice(held, "dx7 held voice")
        self.columns = np.array([i for i, n in enumerate(names) if n != NOTE], np.int64)
        self.offsets = np.array([LAYOUT[names[i]][0] for i in self.columns], np.int64)
        self.tops = np.array([LAYOUT[names[i]][1] for i in self.columns], np.int64)
        self.note_column = names.index(NOTE) if NOTE in names else None

    def to_voices(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, n_params)`` -> voice bytes ``(batch, 156)`` uint8 (rounded, clipped to
        the DX7 ranges: a refinement step off the grid still makes a valid voice)."""
        v = np.asarray(values, np.float64)
        out = np.repeat(self.held[None], len(v), axis=0)
        out[:, self.offsets] = np.clip(np.rint(v[:, self.columns]), 0, self.tops).astype(np.uint8)
        return out

    def notes(self, values: np.ndarray, default: int) -> np.ndarray:
        """The MIDI note of each patch ``(batch,)`` int (``default`` when the spec has no note)."""
        v = np.asarray(values, np.float64)
        if self.note_column is None:
            return np.full(len(v), default, np.int64)
        return np.clip(np.rint(v[:, self.note_column]), 0, 127).astype(np.int64)

    def from_voices(self, voices: np.ndarray, note: float) -> np.ndarray:
        """Voice bytes ``(batch, 156)`` -> values ``(batch, n_params)`` float64 (``note`` for the
        note column); not snapped to the spec's classes."""
        b = np.asarray(voices)
        out = np.full((len(b), len(self.names)), float(note))
        out[:, self.columns] = b[:, self.offsets]
        return out


def held_voice(base: np.ndarray, overrides: Mapping[str, int], where: str) -> np.ndarray:
    """``base`` voice bytes ``(156,)`` with ``overrides`` (name -> DX7 value) applied and checked."""
    voice = np.array(base, np.int64)
    for name, value in overrides.items():
        if name not in LAYOUT:
            raise SynthError(f"{where}: {name!r} is not a DX7 voice parameter")
        if isinstance(value, bool) or not isinstance(value, int):
            raise SynthError(f"{where}: {name!r} must be an integer, got {value!r}")
        voice[LAYOUT[name][0]] = value
    return check_voice(voice, where)
