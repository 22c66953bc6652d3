"""The demo's play-time half: what a live demo needs here, and the offline demo render.

``latent demo`` (:mod:`instrument.commands.demo`, run by ``make demo``) performs live when a sound card
and a display are present, else renders ``presets/automation/demo.jsonl`` through the engine.
"""

from __future__ import annotations

from pathlib import Path

from instrument.app.window import display_available
from instrument.engine.scenes import SceneBook
from instrument.io.devices import has_output_device
from presets import PRESETS_DIR

DEMO_MODEL = PRESETS_DIR / "models" / "reconstruct.keras"
DEMO_INPUT = PRESETS_DIR / "audio" / "demo-loop.wav"
DEMO_AUTOMATION = PRESETS_DIR / "automation" / "demo.jsonl"


def missing_for_live(headless: bool) -> list[str]:
    """What stops a live performance here (empty list: nothing)."""
    missing = []
    if not has_output_device():
        missing.append("no audio output device (PortAudio lists none: start JACK/PulseAudio/PipeWire "
                       "or connect a sound card; `latent devices` shows what is seen)")
    if not headless and not display_available():
        missing.append("no display (DISPLAY is not set; `latent demo --headless` "
                       "performs without the window)")
    return missing


def render_offline(output: Path) -> int:
    """Render the shipped demo automation to ``output`` (WAV) and ``output.with_suffix('.png')``."""
    from instrument.io.audio_files import load_audio, save_audio
    from instrument.engine.engine import Engine, make_source
    from instrument.app.render import load_automation, load_models, render
    from instrument.plots import plot_audio_spectrograms

    paths = [DEMO_MODEL] if DEMO_MODEL.is_file() else []
    if not paths:
        print(f"demo: {DEMO_MODEL.name} is not installed (`make models`); rendering analysis/resynthesis only")
    models, names, spectral = load_models(paths)
    automation = load_automation(DEMO_AUTOMATION, spectral) if DEMO_AUTOMATION.is_file() and models else []
    audio = load_audio(DEMO_INPUT, spectral.audio)
    engine = Engine(spectral, models, names, source=make_source("file", spectral.stft.hop_length, audio),
                    scenes=SceneBook.from_dir(PRESETS_DIR / "scenes"), seed=0)
    result = render(engine, len(audio), automation)
    save_audio(output, result.audio, spectral.sample_rate)
    png = plot_audio_spectrograms([(DEMO_INPUT.name, audio), (output.name, result.audio)],
                                  output.with_suffix(".png"), spectral.sample_rate, spectral.stft,
                                  title=f"{DEMO_INPUT.name} through {', '.join(names) or 'no model'}")
    source = DEMO_AUTOMATION.name if automation else "no automation"
    print(f"demo: rendered {DEMO_INPUT.name} ({len(audio) / spectral.sample_rate:.1f} s) with "
          f"{', '.join(names) or 'no model'} and {source} ({result.actions_applied} actions) to {output} "
          f"and {png}: {result.real_time_factor:.2f} x real time, latency {engine.latency_ms:.1f} ms")
    return 0
