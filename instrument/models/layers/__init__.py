"""Every custom Keras layer of the project, registered as ``latent>ClassName`` when this package is
imported (model files name their layers that way, so moving a module never breaks loading)."""

from instrument.models.layers import (autoencoder, ensemble, inversion, sweep_pointer,  # noqa: F401
                                      sweep_readout, trajectory_read)
