"""Synths for parameter inversion: spec loader, the built-in `inversynth`, and FluidSynth over MIDI."""
