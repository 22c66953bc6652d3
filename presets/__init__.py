"""Data shipped with Latent Instrument: models, controller maps, synth specs, scenes, audio, automation."""

from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent

#: The shipped controller maps (``nanokontrol2.yaml`` ...), found by name with ``--controller NAME``.
CONTROLLER_MAPS_DIR = PRESETS_DIR / "controllers"
