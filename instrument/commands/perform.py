"""`latent perform`: play the instrument live."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "perform", "Play the instrument live")
