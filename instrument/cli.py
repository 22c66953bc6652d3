"""The ``latent`` command: one sub-command module per job in ``instrument/commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

# TensorFlow's C++ start-up chatter (no CUDA here, CPU features) is noise to a musician.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from instrument import __version__
from instrument.errors import LatentError

#: Sub-command name -> module in ``instrument.commands`` that registers it.
COMMANDS = ("perform", "render", "transfer", "train", "dataset", "invert", "synth", "devices", "bench", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latent",
        description="Latent Instrument: play, transfer, train and invert with spectral autoencoders.",
    )
    parser.add_argument("--version", action="version", version=f"latent-instrument {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"instrument.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except LatentError as exc:
        if args.debug:
            raise
        print(f"latent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"latent {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
