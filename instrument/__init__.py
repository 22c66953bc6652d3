"""Latent Instrument: play the latent units of spectral autoencoders live."""

__version__ = "0.1.0"
