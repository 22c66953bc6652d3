"""The ``latent`` command: one sub-command module per job in ``instrument/commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from instrument import __version__
from instrument.cli_support import LatentArgumentParser
from instrument.errors import LatentError
from instrument.quiet import quiet_tensorflow

#: Sub-command name -> module in ``instrument.commands`` that registers it.
COMMANDS = ("perform", "render", "transfer", "train", "dataset", "invert", "synth", "models", "devices", "bench",
            "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(
        prog="latent",
        description="Latent Instrument: play, transfer, train and invert with spectral autoencoders. "
                    "Every command checks its arguments, input files, ports and output paths before "
                    "loading TensorFlow; --debug shows tracebacks and TensorFlow's own log lines.",
    )
    parser.add_argument("--version", action="version", version=f"latent-instrument {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors and TensorFlow's start-up log")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"instrument.commands.{name}").register(subparsers)
    return parser


#: The argparse ``dest`` of each command's own sub-commands (``latent dataset synth``, ...).
SUBCOMMAND_DESTS = {"dataset": "kind", "train": "kind", "synth": "action"}


def command_name(args: argparse.Namespace) -> str:
    """The command as typed, sub-command included: ``latent dataset synth`` (for error lines)."""
    sub = getattr(args, SUBCOMMAND_DESTS.get(args.command, ""), None)
    return f"latent {args.command}" + (f" {sub}" if isinstance(sub, str) else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_tensorflow(enabled=not args.debug)
    try:
        result = args.func(args)
    except LatentError as exc:
        if args.debug:
            raise
        print(f"{command_name(args)}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command_name(args)}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
