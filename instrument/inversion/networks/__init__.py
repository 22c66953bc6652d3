"""Inversion network architectures (their Keras layers live in instrument.models.layers)."""
