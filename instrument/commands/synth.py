"""`latent synth`: render a patch to audio, or write a random patch."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from instrument.cli_support import check_input_file, check_outputs, one_input
from instrument.dsp.limiter import peak_ceiling
from instrument.errors import SynthError
from instrument.io.audio_files import save_audio


def register(subparsers: argparse._SubParsersAction) -> None:
    from instrument.synths.registry import KNOWN_SYNTHS

    parser = subparsers.add_parser(
        "synth", help="render or randomise synth patches",
        description="Render a patch JSON with a synth, or write a random patch.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    render = actions.add_parser("render", help="render a patch JSON to a WAV file",
                                description="Render one patch (JSON: {synth, values}) to audio at the "
                                "synth's rate (16384 Hz for the shipped synths), mono, peak-limited.")
    render.add_argument("patch_pos", nargs="?", metavar="PATCH", help="patch JSON file")
    render.add_argument("--synth", required=True, choices=KNOWN_SYNTHS, help="which synth")
    render.add_argument("--patch", default=None, help="patch JSON file (same as the positional PATCH)")
    render.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="output WAV file")
    render.add_argument("--spec", default=None, help="synth spec YAML overriding the shipped one")
    render.set_defaults(func=run_render)

    rand = actions.add_parser("random", help="write a random patch JSON",
                              description="Sample a patch uniformly over each parameter's classes "
                              "(or from a prior fitted to real patches) and save it as JSON.")
    rand.add_argument("--synth", required=True, choices=KNOWN_SYNTHS, help="which synth")
    rand.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rand.add_argument("-o", "--output", required=True, metavar="PATCH.json", help="output patch JSON file")
    rand.add_argument("--prior", default=None,
                      help="folder of patch *.json files or a .jsonl file to fit a prior to")
    rand.add_argument("--spec", default=None, help="synth spec YAML overriding the shipped one")
    rand.set_defaults(func=run_random)


def _spec(args: argparse.Namespace):  # noqa: ANN202 - SynthSpec, imported lazily
    from instrument.synths.registry import load_spec
    from instrument.synths.spec import SynthSpec

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


def run_render(args: argparse.Namespace) -> int:
    from instrument.synths.registry import get_synth
    from instrument.synths.patch import Patch

    patch_file = one_input(args, "patch_pos", "patch", "--patch")
    if patch_file is None:
        raise SynthError("give the PATCH JSON file: latent synth render PATCH.json --synth NAME -o OUT.wav")
    args.patch = str(check_input_file(patch_file, "patch file", SynthError))
    _check_spec_and_prior(args)
    _check_output(args.output, "output file", [args.patch])
    spec = _spec(args)
    patch = Patch.load(args.patch, spec)
    synth = get_synth(args.synth, spec=spec)
    try:
        audio = synth.render_patch(patch)
    finally:
        synth.close()
    out = save_audio(Path(args.output), peak_ceiling(audio), spec.sample_rate)  # never at full scale
    print(f"{out}: {len(audio) / spec.sample_rate:.2f} s at {spec.sample_rate} Hz mono, peak-limited "
          f"({spec.name}, {spec.n_params} parameters)")
    return 0


def run_random(args: argparse.Namespace) -> int:
    from instrument.synths.patch import Patch, load_patch_values
    from instrument.synths.prior import GaussianPrior

    _check_spec_and_prior(args)
    _check_output(args.output, "patch file", [])
    spec = _spec(args)
    rng = np.random.default_rng(args.seed)
    if args.prior:
        values = GaussianPrior.fit(spec, load_patch_values(spec, args.prior)).sample(spec, rng, 1)[0]
    else:
        values = spec.from_classes(spec.random_classes(rng, 1))[0]
    patch = Patch.from_array(spec, values)
    from instrument.io.output_paths import atomic_path

    with atomic_path(args.output, "patch file", SynthError) as tmp:
        patch.save(tmp)
    print(f"{args.output}: random {spec.name} patch (seed {args.seed})")
    return 0
