"""Voice files beside patch JSON: a synth that takes whole voices (``dx7``) also gets ``.syx`` files.

* :data:`VOICE_SYNTHS` - synth names whose renderer is a :class:`VoiceSynth`, for planning output
  files before the synth is built (a test keeps the two in agreement);
* :func:`voice_file_for` - the single-voice ``.syx`` written beside a patch JSON (same stem);
* :func:`cartridge_paths` / :func:`write_cartridges` - 32-voice banks for a batch of patches:
  ``cartridge.syx`` for up to 32 voices, else ``cartridge-1.syx``, ``cartridge-2.syx``, ...

The renderer writes the files (through a temporary name, then renamed); this module only says
where they go and how patches are split over banks. It imports no synth engine.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

from instrument.errors import SynthError

if TYPE_CHECKING:
    from instrument.synths.base import Synth

#: Synths (registry names) that take whole voices as system-exclusive dumps.
VOICE_SYNTHS = ("dx7",)
#: Voices in one bank (a DX7 cartridge).
BANK_VOICES = 32
#: Suffix of voice and bank files.
VOICE_SUFFIX = ".syx"
#: Stem of the bank files a batch writes.
CARTRIDGE_STEM = "cartridge"


@runtime_checkable
class VoiceSynth(Protocol):
    """A renderer whose patches are whole voices (``Dx7Synth``)."""

    def voices(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, n_params)`` -> voice bytes ``(batch, voice_bytes)`` uint8."""

    def write_voice(self, path: str | Path, values: np.ndarray, name: str = ...,
                    channel: int = ...) -> Path:
        """One patch ``(1, n_params)`` as a single-voice dump file."""

    def write_bank(self, path: str | Path, values: np.ndarray,
                   names: Sequence[str] | None = ...) -> Path:
        """Up to :data:`BANK_VOICES` patches ``(n, n_params)`` as one bank dump file."""


def is_voice_synth(name: str) -> bool:
    """Whether the synth called ``name`` takes whole voices (and gets ``.syx`` files)."""
    return name in VOICE_SYNTHS


def takes_voices(synth: Synth) -> bool:
    """Whether a built synth is a :class:`VoiceSynth`."""
    return isinstance(synth, VoiceSynth)


def voice_file_for(patch_path: str | Path) -> Path:
    """The ``.syx`` beside a patch JSON: ``out/P.json`` -> ``out/P.syx``.

    Raises:
        SynthError: the patch path itself ends in ``.syx`` (the two would be one file).
    """
    path = Path(patch_path)
    if path.suffix.lower() == VOICE_SUFFIX:
        raise SynthError(f"patch file {path}: name the patch JSON (e.g. {path.with_suffix('.json')}); "
                         f"the {VOICE_SUFFIX} voice file is written beside it")
    return path.with_suffix(VOICE_SUFFIX)


def cartridge_count(n_voices: int) -> int:
    """Banks needed for ``n_voices`` voices (0 for none)."""
    return math.ceil(max(0, int(n_voices)) / BANK_VOICES)


def cartridge_paths(out_dir: str | Path, n_voices: int, numbered: bool | None = None) -> list[Path]:
    """Bank files for ``n_voices`` voices: ``cartridge.syx`` when one bank holds them (unless
    ``numbered``), else ``cartridge-1.syx`` ... ``cartridge-K.syx``."""
    count = cartridge_count(n_voices)
    folder = Path(out_dir)
    if numbered is None:
        numbered = count > 1
    if not numbered:
        return [folder / f"{CARTRIDGE_STEM}{VOICE_SUFFIX}"][:count]
    return [folder / f"{CARTRIDGE_STEM}-{k}{VOICE_SUFFIX}" for k in range(1, count + 1)]


def write_cartridges(synth: Synth, values: np.ndarray, names: Sequence[str], out_dir: str | Path,
                     numbered: bool | None = None) -> list[tuple[Path, list[str]]]:
    """Write patches ``(n, n_params)`` as banks of :data:`BANK_VOICES` voices, in order.

    Args:
        synth: a :class:`VoiceSynth`.
        values: patch values ``(n, n_params)``.
        names: one voice name per patch (the synth shortens them to what the bank holds).
        out_dir: folder of the banks.
        numbered: force ``cartridge-K.syx`` names (None: numbered only when several banks).
    Returns:
        ``(bank path, names of its voices)`` per bank written.
    """
    v = np.asarray(values, np.float64)
    if v.ndim != 2 or len(v) != len(names):
        raise SynthError(f"write_cartridges: values {v.shape} need one name each, got {len(names)}")
    if not takes_voices(synth):
        raise SynthError(f"synth {getattr(synth, 'name', synth)!r} does not take voice banks")
    written = []
    for k, path in enumerate(cartridge_paths(out_dir, len(v), numbered)):
        part = slice(k * BANK_VOICES, (k + 1) * BANK_VOICES)
        synth.write_bank(path, v[part], list(names[part]))
        written.append((path, list(names[part])))
    return written
