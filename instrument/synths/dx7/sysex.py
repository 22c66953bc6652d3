"""DX7 system-exclusive framing: single-voice dumps, 32-voice bank dumps, checksums, file checks.

Single voice (163 bytes): ``F0 43 0n 00 01 1B``, the 155 voice parameter bytes (the unpacked
voice without the operator on/off byte), checksum, ``F7``. 32-voice bank (4104 bytes):
``F0 43 0n 09 20 00``, 32 packed 128-byte voices, checksum, ``F7`` (packing is dexed-py's
``Patch.save_to_bank``/``load_bank``). The checksum is the low 7 bits of the two's complement of
the payload's sum. ``n`` is the MIDI channel 0..15.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from instrument.errors import SynthError
from instrument.synths.dx7.voice import VOICE_PARAMETERS

YAMAHA = 0x43
VOICE_FORMAT, VOICE_COUNT = 0x00, (0x01, 0x1B)     # format 0, byte count 155
BANK_FORMAT, BANK_COUNT = 0x09, (0x20, 0x00)       # format 9, byte count 4096
VOICE_DUMP_BYTES = 6 + VOICE_PARAMETERS + 2       # 163
BANK_PAYLOAD_BYTES = 32 * 128
BANK_DUMP_BYTES = 6 + BANK_PAYLOAD_BYTES + 2      # 4104
#: Largest .syx file read (a bank dump with room for a few other messages).
MAX_SYX_BYTES = 64 * 1024


def checksum(payload: bytes) -> int:
    """DX7 checksum: ``(-sum(payload)) & 0x7F``."""
    return (-sum(payload)) & 0x7F


def voice_dump(voice: bytes | np.ndarray, channel: int = 0) -> bytes:
    """A single-voice dump (163 bytes incl. F0/F7) of voice bytes (155 or 156 long)."""
    if not 0 <= int(channel) <= 15:
        raise SynthError(f"MIDI channel must be 0..15, got {channel!r}")
    payload = bytes(bytearray(np.asarray(voice, np.uint8)[:VOICE_PARAMETERS]))
    if len(payload) != VOICE_PARAMETERS:
        raise SynthError(f"a DX7 voice has {VOICE_PARAMETERS} parameter bytes, got {len(payload)}")
    return bytes([0xF0, YAMAHA, int(channel), VOICE_FORMAT, *VOICE_COUNT]) + payload + \
        bytes([checksum(payload), 0xF7])


def parse_dump(data: bytes, where: str) -> tuple[str, bytes]:
    """Check one DX7 dump and return its kind and payload.

    Returns:
        ``("voice", 155 bytes)`` or ``("bank", 4096 bytes)``.
    Raises:
        SynthError: not a DX7 single-voice or 32-voice dump (header, length, checksum, end).
    """
    if len(data) < 8 or data[0] != 0xF0:
        raise SynthError(f"{where}: not a DX7 sysex file (it does not start with a sysex message F0)")
    if data[1] != YAMAHA or data[2] & 0xF0:
        raise SynthError(f"{where}: not a DX7 dump (header {data[:4].hex(' ')}; a DX7 dump starts "
                         f"F0 43 0n with n the MIDI channel)")
    if data[3] == VOICE_FORMAT:
        kind, size, count = "voice", VOICE_DUMP_BYTES, VOICE_COUNT
    elif data[3] == BANK_FORMAT:
        kind, size, count = "bank", BANK_DUMP_BYTES, BANK_COUNT
    else:
        raise SynthError(f"{where}: DX7 dump of format {data[3]}, not a single voice (0) or a 32-voice "
                         f"bank (9)")
    if tuple(data[4:6]) != count or len(data) < size:
        raise SynthError(f"{where}: a DX7 {kind} dump is {size} bytes, this file has {len(data)}")
    if data[size - 1] != 0xF7 or (len(data) > size and data[size] != 0xF0):
        raise SynthError(f"{where}: a DX7 {kind} dump is {size} bytes ending in F7; this one does not "
                         f"end there")
    payload = bytes(data[6:size - 2])
    if checksum(payload) != data[size - 2]:
        raise SynthError(f"{where}: DX7 {kind} dump checksum is {data[size - 2]:#04x}, its data sums "
                         f"to {checksum(payload):#04x} (the file is damaged)")
    return kind, payload


def read_syx(path: str | Path) -> tuple[str, bytes]:
    """:func:`parse_dump` of a file, with one-line errors naming it."""
    path = Path(path)
    if not path.is_file():
        raise SynthError(f"sysex file not found: {path}")
    size = path.stat().st_size
    if size > MAX_SYX_BYTES:
        raise SynthError(f"{path}: {size} bytes is too large for a DX7 voice or bank (at most "
                         f"{MAX_SYX_BYTES})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SynthError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_dump(data, str(path))
