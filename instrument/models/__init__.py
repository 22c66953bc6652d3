"""Latent models the engine loads: Keras layers (registered on import), autoencoders, config, file I/O, streaming."""
