"""Shared registration for sub-commands that a later release fills in."""

from __future__ import annotations

import argparse

from instrument.errors import NotImplementedCommand


def register_stub(subparsers: argparse._SubParsersAction, name: str, summary: str) -> None:
    """Register ``name`` so that ``--help`` works and running it says it is not implemented."""
    parser = subparsers.add_parser(name, help=f"{summary} (not implemented yet)",
                                   description=f"{summary}. Not implemented yet.")

    def run(args: argparse.Namespace) -> int:
        raise NotImplementedCommand(f"'latent {name}' is not implemented yet")

    parser.set_defaults(func=run)
