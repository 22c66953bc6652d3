"""`latent transfer`: timbre-transfer recorded notes offline."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transfer", help="timbre-transfer recorded notes offline",
        description="Timbre-transfer audio files or folders through a latent model "
                    "(default: the shipped flute-to-clarinet model), with fast Griffin-Lim phase "
                    "reconstruction and the input's loudness.")
    parser.add_argument("inputs", nargs="+", metavar="IN", help="audio files or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument("--model", default=None,
                        help="latent model .keras (default presets/models/flute-to-clarinet.keras)")
    parser.add_argument("--iterations", type=int, default=100, help="Griffin-Lim iterations")
    parser.add_argument("--mix", type=float, default=1.0,
                        help="0 = dry input, 1 = fully transferred (crossfade of log spectra)")
    parser.add_argument("--init", choices=("input", "random"), default="input",
                        help="Griffin-Lim start phase: the input's (default) or random")
    parser.add_argument("--plot", action="store_true", help="write a spectrogram PNG per file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instrument.errors import ConfigError
    from instrument.app.transfer import (check_is_latent, collect_inputs, describe, load_model,
                                     transfer_files)

    if args.iterations < 1:
        raise ConfigError(f"--iterations must be at least 1, got {args.iterations}")
    if not 0.0 <= args.mix <= 1.0:
        raise ConfigError(f"--mix must be in 0..1, got {args.mix}")
    collect_inputs(args.inputs)  # fail on a missing input before loading TensorFlow
    model = load_model(args.model)
    check_is_latent(args.model, model)
    results = transfer_files(model, args.inputs, args.output, iterations=args.iterations,
                             mix=args.mix, plot=args.plot, init=args.init)
    print(describe(results))
    return 0
