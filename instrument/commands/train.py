"""`latent train`: train latent (autoencoder, transfer) or inversion models."""

from __future__ import annotations

import argparse

from training import cli_train_ensemble, cli_train_inversion, cli_train_latent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train latent or inversion models",
        description="Train a latent autoencoder, a timbre-transfer model, or a parameter-inversion "
        "model, or join inversion models into an ensemble.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    cli_train_latent.register(kinds)      # autoencoder, transfer
    cli_train_inversion.register(kinds)   # inversion
    cli_train_ensemble.register(kinds)    # ensemble of inversion models
