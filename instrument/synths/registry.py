"""Synths by name: ``get_synth("inversynth")``, ``get_synth("fluidsynth")``, ``get_synth("dx7")``.

Every synth shares the :class:`instrument.synths.base.Synth` interface:

* ``synth.spec`` -- the :class:`SynthSpec` (parameters, classes, sample rate, STFT);
* ``synth.render(values (batch, n_params)) -> (batch, n_samples)`` float32 audio;
* ``synth.features(audio (batch, n_samples)) -> (batch, n_frames, n_bins)`` log1p magnitudes;
* ``synth.random_patches(rng, n, prior=None) -> (n, n_params)`` quantised values.
"""

from __future__ import annotations

from pathlib import Path

from instrument.errors import SynthError
from presets import PRESETS_DIR
from instrument.synths.base import Synth
from instrument.synths.spec import SynthSpec

SYNTHS_DIR = PRESETS_DIR / "synths"
KNOWN_SYNTHS = ("inversynth", "fluidsynth", "dx7")


def spec_path(name: str) -> Path:
    """The shipped spec YAML of a known synth."""
    if name not in KNOWN_SYNTHS:
        raise SynthError(f"unknown synth {name!r}; known synths: {', '.join(KNOWN_SYNTHS)}")
    return SYNTHS_DIR / f"{name}.yaml"


def load_spec(name: str) -> SynthSpec:
    """The shipped spec of a known synth."""
    return SynthSpec.load(spec_path(name))


def get_synth(name: str, spec: SynthSpec | str | Path | None = None, **options: object) -> Synth:
    """A ready synth by name; ``spec`` overrides the shipped spec (object or YAML path).

    ``options`` go to the synth constructor (fluidsynth: ``soundfont=``, ``workers=``).
    """
    if name not in KNOWN_SYNTHS:
        raise SynthError(f"unknown synth {name!r}; known synths: {', '.join(KNOWN_SYNTHS)}")
    if spec is None:
        spec = load_spec(name)
    elif not isinstance(spec, SynthSpec):
        spec = SynthSpec.load(spec)
    if name == "inversynth":
        from instrument.synths.inversynth import InverSynth

        if options:
            raise SynthError(f"inversynth takes no options, got {sorted(options)}")
        return InverSynth(spec)
    if name == "dx7":
        from instrument.synths.dx7.synth import Dx7Synth  # imports dexed-py (the extra "dx7")

        if options:
            raise SynthError(f"dx7 takes no options, got {sorted(options)}")
        return Dx7Synth(spec)
    from instrument.synths.fluidsynth import FluidSynth

    return FluidSynth(spec, **options)  # type: ignore[arg-type]
