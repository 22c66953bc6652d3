"""The stateful engine: stages, sources, unit state, scenes."""
