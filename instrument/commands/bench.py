"""`latent bench`: run benchmarks and print tables."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "bench", "Run benchmarks and print tables")
