"""Synths an inversion model targets: spec, patches, priors, renderers, MIDI sending, registry."""
