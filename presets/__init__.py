"""Data shipped with Latent Instrument: models, controller maps, synth specs, scenes, audio, automation."""

from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent
