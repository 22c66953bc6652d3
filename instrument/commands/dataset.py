"""`latent dataset`: build datasets (SoundFont notes, synth patches)."""

from __future__ import annotations

import argparse

from instrument.commands._stub import register_stub


def register(subparsers: argparse._SubParsersAction) -> None:
    register_stub(subparsers, "dataset", "Build datasets (SoundFont notes, synth patches)")
