"""`latent transfer`: timbre-transfer recorded notes offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from instrument.cli_support import add_hidden_alias, announce_conversions, bounded_int, model_sample_rate
from instrument.commands.models import resolve_named_model
from instrument.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transfer", help="timbre-transfer recorded notes offline",
        description="Timbre-transfer audio files or folders through a latent model "
                    "(default: the shipped flute-to-clarinet model), with fast Griffin-Lim phase "
                    "reconstruction and the input's loudness. Inputs are converted to the model's "
                    "sample rate, mono (a line says so); outputs are OUTDIR/NAME.wav, peak-limited.")
    parser.add_argument("inputs", nargs="+", metavar="IN", help="audio files or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="output folder (one WAV per input, same relative names)")
    parser.add_argument("--model", default=None, metavar="M",
                        help="latent model .keras or shipped model name (see `latent models`) "
                             "(default: flute-to-clarinet)")
    parser.add_argument("--gl-iterations", type=bounded_int(1, 10000), default=100, metavar="N",
                        dest="iterations", help="Griffin-Lim iterations")
    add_hidden_alias(parser, "--iterations", dest="iterations", type=bounded_int(1, 10000))
    parser.add_argument("--mix", type=float, default=1.0,
                        help="0 = dry input, 1 = fully transferred (crossfade of log spectra)")
    parser.add_argument("--init", choices=("input", "random"), default="input",
                        help="Griffin-Lim start phase: the input's (default) or random")
    parser.add_argument("--plot", nargs="?", const="", default=None, metavar="DIR",
                        help="also write input/output spectrograms: --plot alone as OUTDIR/NAME.png "
                             "beside each output, --plot DIR as DIR/NAME.png (same relative names)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instrument.app.transfer import (check_is_latent, collect_inputs, default_model_path, describe,
                                         load_model, plan_outputs, transfer_files)
    from instrument.io.audio_files import AUDIO_SUFFIXES

    if not 0.0 <= args.mix <= 1.0:
        raise ConfigError(f"--mix must be in 0..1, got {args.mix}")
    if args.plot and (Path(args.plot).is_file() or Path(args.plot).suffix.lower() in AUDIO_SUFFIXES):
        raise ConfigError(f"--plot takes a folder, got the file {args.plot}; put --plot after the "
                          "inputs, or write --plot=DIR")
    files = collect_inputs(args.inputs)  # fail on a missing input before loading TensorFlow
    # output and plot folders writable, no input overwritten, no two inputs on one output name:
    # all refused before TensorFlow loads
    plan_outputs(files, args.output, plot=args.plot)
    model_path = resolve_named_model(args.model) if args.model else default_model_path()
    announce_conversions([p for p, _ in files], model_sample_rate(model_path))
    model = load_model(model_path)
    check_is_latent(model_path, model)
    results = transfer_files(model, args.inputs, args.output, iterations=args.iterations,
                             mix=args.mix, plot=args.plot, init=args.init)
    print(describe(results))
    return 0
