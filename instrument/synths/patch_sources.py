"""Patches from any source a user can give: patch JSON sources, and DX7 ``.syx`` voice files.

* :func:`load_patch_values_any` - values ``(n, n_params)`` from what
  :func:`instrument.synths.patch.load_patch_values` reads (a patch JSON, a JSON list, a ``.jsonl``
  file, a folder of patch JSON), or, for a synth that takes voices (``dx7``), a ``.syx`` file: a
  single-voice dump (one patch) or a 32-voice bank (32 patches). Voice parameters the spec does
  not vary are dropped, the values are snapped to the spec's classes, and the note (not part of a
  voice) is the spec's default note.
* :func:`fit_prior` - a :class:`GaussianPrior` fitted to such a source (at least 2 patches).

``latent synth random --prior`` uses both; a benchmark can read a bank with the first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from instrument.errors import SynthError
from instrument.synths.patch import PATCH_SOURCES, load_patch_values
from instrument.synths.prior import GaussianPrior
from instrument.synths.spec import SynthSpec
from instrument.synths.voice_files import VOICE_SUFFIX, is_voice_synth


def is_voice_file(source: str | Path) -> bool:
    """Whether ``source`` names a sysex voice file (by its ``.syx`` suffix)."""
    return Path(source).suffix.lower() == VOICE_SUFFIX


def load_patch_values_any(spec: SynthSpec, synth_name: str, source: str | Path) -> np.ndarray:
    """Values ``(n, n_params)`` of ``spec`` from a patch source or (voice synths) a ``.syx`` file.

    Raises:
        SynthError: naming the source: missing, unreadable, not patches of this synth, a ``.syx``
            for a synth that does not take voices, a damaged or non-DX7 sysex file.
    """
    path = Path(source)
    if not is_voice_file(path):
        return load_patch_values(spec, path)
    if not is_voice_synth(synth_name):
        raise SynthError(f"{path}: a {VOICE_SUFFIX} file holds synth voices, which synth "
                         f"{synth_name!r} does not take; give {PATCH_SOURCES}")
    from instrument.synths.dx7.synth import read_voices  # the dx7 extra, only for .syx files
    from instrument.synths.registry import get_synth

    synth = get_synth(synth_name, spec=spec)
    return synth.values_from_voices(read_voices(path))


def fit_prior(spec: SynthSpec, synth_name: str, source: str | Path) -> GaussianPrior:
    """A prior fitted to the patches of ``source`` (see :func:`load_patch_values_any`).

    Raises:
        SynthError: as :func:`load_patch_values_any`, or fewer than 2 patches (naming the source).
    """
    values = load_patch_values_any(spec, synth_name, source)
    if len(values) < 2:
        what = "one voice (a single-voice dump)" if is_voice_file(source) else "one patch"
        raise SynthError(f"prior {source}: holds {what}; a prior needs at least 2 patches: give "
                         + ("a 32-voice bank .syx, " if is_voice_synth(synth_name) else "")
                         + "a .json file holding a list of patches, a .jsonl file with one patch per "
                           "line, or a folder of patch .json files")
    return GaussianPrior.fit(spec, values)
