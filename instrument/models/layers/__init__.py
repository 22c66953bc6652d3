"""Every custom Keras layer of the project, registered as ``latent>ClassName`` when this package is
imported (model files name their layers that way, so moving a module never breaks loading)."""

from instrument.models.layers import (autoencoder, ensemble, harmonic_layers, inversion,  # noqa: F401
                                      spectral_layers, sweep_pointer, sweep_readout, trajectory_read)
