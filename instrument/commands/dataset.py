"""`latent dataset`: build training data (SoundFont notes, synth patch sets)."""

from __future__ import annotations

import argparse

from training import cli_dataset_soundfont
from training import cli_dataset_synth


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dataset", help="build datasets (SoundFont notes, synth patches)",
        description="Build training data: notes rendered from a SoundFont, or (spectrogram, patch) sets.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    cli_dataset_soundfont.register(kinds)  # soundfont
    cli_dataset_synth.register(kinds)      # synth
