"""Sub-command registration (placeholder until implemented)."""

from __future__ import annotations

import argparse

from instrument.errors import NotImplementedCommand


def register(subparsers: argparse._SubParsersAction) -> None:
    for name in "soundfont".split():
        parser = subparsers.add_parser(name, help=f"{name} (not implemented yet)")
        parser.set_defaults(func=_not_implemented)


def _not_implemented(args: argparse.Namespace) -> int:
    raise NotImplementedCommand("this command is not implemented yet")
