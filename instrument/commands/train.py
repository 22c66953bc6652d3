"""`latent train`: train latent or inversion models."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "train", "Train latent or inversion models")
