"""One module per ``latent`` sub-command; each exposes ``register(subparsers)``."""
