"""`latent invert`: invert a sound to a synth patch."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "invert", "Invert a sound to a synth patch")
