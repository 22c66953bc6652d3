"""Controllers: MIDI ports, YAML maps, soft takeover, LED feedback, keyboard fallback."""
