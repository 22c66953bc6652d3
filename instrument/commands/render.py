"""`latent render`: bounce the live pipeline offline to a WAV."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "render", "Bounce the live pipeline offline to a WAV")
