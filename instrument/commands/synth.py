"""`latent synth`: render a patch to audio, or write a random patch (dx7: also as a .syx voice)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from instrument.cli_support import check_input_file, check_outputs, one_input
from instrument.dsp.limiter import peak_ceiling
from instrument.errors import SynthError
from instrument.io.audio_files import save_audio
from instrument.io.output_paths import atomic_path
from instrument.synths.patch import Patch
from instrument.synths.patch_sources import fit_prior, is_voice_file, load_patch_values_any
from instrument.synths.registry import KNOWN_SYNTHS, get_synth, load_spec
from instrument.synths.spec import SynthSpec
from instrument.synths.voice_files import is_voice_synth, voice_file_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help="render or randomise synth patches",
        description="Render a patch JSON with a synth, or write a random patch.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    render = actions.add_parser("render", help="render a patch JSON (or a DX7 .syx voice) to a WAV file",
                                description="Render one patch (JSON: {synth, values}; for dx7 also a "
                                "single-voice .syx dump) to audio at the synth's rate (16384 Hz for the "
                                "shipped synths), mono, peak-limited.")
    render.add_argument("patch_pos", nargs="?", metavar="PATCH", help="patch JSON file (dx7: or .syx voice)")
    render.add_argument("--synth", required=True, choices=KNOWN_SYNTHS, help="which synth")
    render.add_argument("--patch", default=None, help="patch file (same as the positional PATCH)")
    render.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="output WAV file")
    render.add_argument("--note", type=int, default=None, choices=range(128), metavar="0..127",
                        help="play this MIDI note (synths with a note parameter, e.g. dx7; default: "
                             "the patch's note, for a .syx voice the spec's default note)")
    render.add_argument("--spec", default=None, help="synth spec YAML overriding the shipped one")
    render.set_defaults(func=run_render)

    rand = actions.add_parser("random", help="write a random patch JSON (dx7: and a .syx voice)",
                              description="Sample a patch from the synth's prior (uniform over each "
                              "parameter's classes; dx7: its musical prior), or from a prior fitted to "
                              "real patches, and save it as JSON; dx7 also writes the voice as a "
                              "single-voice .syx dump beside it (same name).")
    rand.add_argument("--synth", required=True, choices=KNOWN_SYNTHS, help="which synth")
    rand.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rand.add_argument("-o", "--output", required=True, metavar="PATCH.json", help="output patch JSON file")
    rand.add_argument("--prior", default=None,
                      help="patches to fit a prior to: a folder of patch *.json files, a .jsonl file or "
                           "a .json list (dx7: or a 32-voice bank .syx)")
    rand.add_argument("--spec", default=None, help="synth spec YAML overriding the shipped one")
    rand.set_defaults(func=run_random)


def _spec(args: argparse.Namespace) -> SynthSpec:
    return SynthSpec.load(args.spec) if args.spec else load_spec(args.synth)


def _check_spec_and_prior(args: argparse.Namespace) -> None:
    if args.spec:
        check_input_file(args.spec, "synth spec", SynthError)
    prior = getattr(args, "prior", None)
    if prior and not Path(prior).exists():
        raise SynthError(f"prior {prior}: no such file or folder")


def _check_output(path: str, kind: str, inputs: list[str]) -> None:
    """An output file in an existing folder (a typo'd folder is not created), writable, not an input."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise SynthError(f"{kind} {path}: folder {folder} does not exist; create it first")
    check_outputs(files=[(path, kind)], inputs=inputs)


def _load_values(args: argparse.Namespace, spec: SynthSpec) -> np.ndarray:
    """The one patch to render ``(n_params,)``: a patch JSON, or a single-voice ``.syx``."""
    if not is_voice_file(args.patch):
        return Patch.load(args.patch, spec).to_array(spec)
    values = load_patch_values_any(spec, args.synth, args.patch)
    if len(values) != 1:
        raise SynthError(f"patch file {args.patch}: a bank of {len(values)} voices; render takes one "
                         f"voice (a single-voice .syx dump)")
    return values[0]


def _with_note(values: np.ndarray, spec: SynthSpec, note: int | None) -> np.ndarray:
    """``values`` with the ``note`` parameter set to ``note`` (None: unchanged)."""
    if note is None:
        return values
    if "note" not in spec.names:
        raise SynthError(f"--note {note}: synth spec {spec.name!r} has no note parameter")
    p = spec.parameters[spec.index("note")]
    low, high = float(np.min(p.grid())), float(np.max(p.grid()))
    if not low <= note <= high:
        raise SynthError(f"--note {note} is outside the note range {low:g}..{high:g} of synth "
                         f"{spec.name!r}")
    out = values.copy()
    out[spec.index("note")] = note
    return out


def run_render(args: argparse.Namespace) -> int:
    patch_file = one_input(args, "patch_pos", "patch", "--patch")
    if patch_file is None:
        raise SynthError("give the PATCH JSON file: latent synth render PATCH.json --synth NAME -o OUT.wav")
    args.patch = str(check_input_file(patch_file, "patch file", SynthError))
    _check_spec_and_prior(args)
    _check_output(args.output, "output file", [args.patch])
    spec = _spec(args)
    synth = get_synth(args.synth, spec=spec)
    try:
        values = _with_note(_load_values(args, spec), spec, args.note)
        audio = synth.render(values[None])[0]
    finally:
        synth.close()
    out = save_audio(Path(args.output), peak_ceiling(audio), spec.sample_rate)  # never at full scale
    print(f"{out}: {len(audio) / spec.sample_rate:.2f} s at {spec.sample_rate} Hz mono, peak-limited "
          f"({spec.name}, {spec.n_params} parameters)")
    return 0


def run_random(args: argparse.Namespace) -> int:
    _check_spec_and_prior(args)
    voice_file = voice_file_for(args.output) if is_voice_synth(args.synth) else None
    inputs = [args.prior] if args.prior else []
    _check_output(args.output, "patch file", inputs)
    if voice_file is not None:
        _check_output(str(voice_file), "voice file", inputs)
    spec = _spec(args)
    rng = np.random.default_rng(args.seed)
    synth = get_synth(args.synth, spec=spec)
    try:
        prior = fit_prior(spec, args.synth, args.prior) if args.prior else None
        values = synth.random_patches(rng, 1, prior)[0]
        patch = Patch.from_array(spec, values)
        with atomic_path(args.output, "patch file", SynthError) as tmp:
            patch.save(tmp)
        print(f"{args.output}: random {spec.name} patch (seed {args.seed})")
        if voice_file is not None:
            synth.write_voice(voice_file, values[None], name=Path(args.output).stem)
            print(f"{voice_file}: the same patch as a single-voice sysex dump")
    finally:
        synth.close()
    return 0
