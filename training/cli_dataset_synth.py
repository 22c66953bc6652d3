"""`latent dataset synth`: sharded (log1p spectrogram, patch) sets rendered by a synth."""

from __future__ import annotations

import argparse
import time

from instrument.cli_support import bounded_int, check_input_file, check_outputs
from instrument.errors import SynthError
from instrument.synths.registry import KNOWN_SYNTHS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help="render random synth patches into a sharded spectrogram dataset",
        description="Render COUNT random patches of a synth (uniform classes as Barkan et al., or a "
        "multivariate normal fitted to real patches with --prior, as Vecoven 4.7) into .npz shards "
        "of float16 log1p STFT magnitudes + class indices + values. Rerunning with the same "
        "settings resumes: complete shards are skipped.")
    parser.add_argument("--synth", required=True, choices=KNOWN_SYNTHS, help="which synth")
    parser.add_argument("--count", type=bounded_int(1, 100_000_000), required=True, help="number of clips")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="dataset folder to write")
    parser.add_argument("--prior", default=None,
                        help="folder of patch *.json files or a .jsonl file to fit the prior to")
    parser.add_argument("--shard-size", type=bounded_int(1, 1_000_000), default=1000, help="clips per shard")
    parser.add_argument("--workers", type=bounded_int(1, 256), default=None,
                        help="worker processes (default: all cores)")
    parser.add_argument("--spec", default=None, help="synth spec YAML overriding the shipped one")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.synth_dataset import generate_dataset

    if args.spec:
        check_input_file(args.spec, "synth spec", SynthError)
    if args.prior:
        from pathlib import Path

        if not Path(args.prior).exists():
            raise SynthError(f"prior {args.prior}: no such file or folder")
    check_outputs(folders=[(args.output, "dataset folder")])
    start = time.perf_counter()
    meta = generate_dataset(args.synth, args.count, args.seed, args.output, prior=args.prior,
                            shard_size=args.shard_size, workers=args.workers, spec=args.spec,
                            progress=not args.quiet)
    elapsed = time.perf_counter() - start
    print(f"{args.output}: {meta.count} {meta.synth} clips in {meta.n_shards} shards, features "
          f"{meta.n_frames}x{meta.n_bins}, {meta.n_params} parameters ({elapsed:.1f} s)")
    return 0
