"""`latent transfer`: timbre-transfer recorded notes offline."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "transfer", "Timbre-transfer recorded notes offline")
