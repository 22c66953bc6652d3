"""`make demo`: play the instrument on the shipped model and demo loop.

    python -m instrument.demo [--headless] [--offline] [--duration S] [--output demo-out.wav] [--no-bench]

With a sound card (PortAudio lists an output device) and a display, this starts
``latent perform`` on ``presets/models/reconstruct.keras`` and
``presets/audio/demo-loop.wav`` (looping) with the window: play it with a
nanoKONTROL2 (auto-detected) or the computer keyboard; close the window, press
``q`` or the controller's cycle button to quit. ``--headless`` performs without
a window.

Without a sound card or without a display (or with ``--offline``), it says which
is missing and instead renders the shipped automation
``presets/automation/demo.jsonl`` through the same engine with ``latent render``'s
code to ``demo-out.wav`` and a spectrogram ``demo-out.png``, then prints the quick
phase-reconstruction benchmark table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from instrument.errors import LatentError
from presets import PRESETS_DIR

DEMO_MODEL = PRESETS_DIR / "models" / "reconstruct.keras"
DEMO_INPUT = PRESETS_DIR / "audio" / "demo-loop.wav"
DEMO_AUTOMATION = PRESETS_DIR / "automation" / "demo.jsonl"


def _missing_for_live(headless: bool) -> list[str]:
    """What stops a live performance here (empty list: nothing)."""
    from instrument.io import has_output_device
    from instrument.window import display_available

    missing = []
    if not has_output_device():
        missing.append("no audio output device (PortAudio lists none: start JACK/PulseAudio/PipeWire "
                       "or connect a sound card; `latent devices` shows what is seen)")
    if not headless and not display_available():
        missing.append("no display (DISPLAY is not set; `python -m instrument.demo --headless` "
                       "performs without the window)")
    return missing


def perform_live(headless: bool, duration_s: float | None) -> int:
    """Run ``latent perform`` on the shipped model and loop."""
    from instrument.cli import main as cli_main

    argv = ["perform", "--input", str(DEMO_INPUT), "--loop"]
    if DEMO_MODEL.is_file():
        argv += ["--model", str(DEMO_MODEL)]
    else:
        print(f"demo: {DEMO_MODEL.name} is not installed (`make models`); playing analysis/resynthesis only")
        argv += ["--model", "none"]
    if headless:
        argv.append("--headless")
    if duration_s:
        argv += ["--duration", str(duration_s)]
    print("demo: latent " + " ".join(argv))
    return cli_main(argv)


def render_offline(output: Path) -> int:
    """Render the shipped demo automation to ``output`` (WAV) and ``output.with_suffix('.png')``."""
    from instrument.audio import load_audio, save_audio
    from instrument.engine import Engine, make_source
    from instrument.render import load_automation, load_models, plot_spectrograms, render
    from instrument.scenes import SceneBook

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
    png = plot_spectrograms(output.with_suffix(".png"), spectral, result.audio, audio,
                            title=f"{DEMO_INPUT.name} through {', '.join(names) or 'no model'}")
    source = DEMO_AUTOMATION.name if automation else "no automation"
    print(f"demo: rendered {DEMO_INPUT.name} ({len(audio) / spectral.sample_rate:.1f} s) with "
          f"{', '.join(names) or 'no model'} and {source} ({result.actions_applied} actions) to {output} "
          f"and {png}: {result.real_time_factor:.2f} x real time, latency {engine.latency_ms:.1f} ms")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--headless", action="store_true", help="perform without the window")
    parser.add_argument("--offline", action="store_true", help="render the demo automation, do not perform")
    parser.add_argument("--duration", type=float, default=None, help="stop the live demo after S seconds")
    parser.add_argument("--output", type=Path, default=Path("demo-out.wav"), help="offline render WAV")
    parser.add_argument("--no-bench", action="store_true", help="skip the phase benchmark table (offline)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        missing = [] if args.offline else _missing_for_live(args.headless)
        if not args.offline and not missing:
            return perform_live(args.headless, args.duration)
        for reason in missing:
            print(f"demo: cannot perform live: {reason}")
        if missing:
            print("demo: rendering the shipped demo offline instead")
        code = render_offline(args.output)
        if code == 0 and not args.no_bench:
            from benchmarks import phase as phase_bench

            print()
            return phase_bench.main(["--quick"])
        return code
    except LatentError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
