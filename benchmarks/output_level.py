"""`latent bench output_level`: output level of the engine (master gain + safety limiter + loudness compensation).

Renders the flute phrase through each shipped playable model with every fader and knob at
unity, at the maximum (``MAX_SCALE``) and at zero, and the shipped demo automation, and
prints peak (dBFS), the share of samples at full scale (``|x| >= 0.999``), the RMS level and
the limiter's largest gain reduction. Then it sweeps one unit's fader 0..2 with loudness
compensation off and on and prints the output level range (dB).
"""

from __future__ import annotations

import argparse
import os
import platform
from typing import Any, Sequence

import numpy as np

from controllers.actions import Action
from instrument.cli_support import LatentArgumentParser
from instrument.engine.scenes import SceneBook
from instrument.engine.unit_state import MAX_SCALE
from presets import PRESETS_DIR

FLUTE = PRESETS_DIR / "audio" / "flute-phrase.wav"
MODELS = ("reconstruct", "flute-to-clarinet", "none")
SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def _db(value: float) -> float:
    return 20.0 * float(np.log10(max(value, 1e-10)))


def _render(loaded: tuple[Any, list[str], Any], audio: np.ndarray, scales: dict[int, float] | None = None,
            every: float | None = None, auto_gain: bool = False,
            automation: Sequence[Any] = ()) -> tuple[np.ndarray, float]:
    """Render ``audio`` with the given fader/knob settings; returns ``(output, peak gain reduction dB)``."""
    from instrument.engine.engine import Engine, make_source

    models, names, spectral = loaded
    engine = Engine(spectral, models, names, source=make_source("file", spectral.stft.hop_length, audio),
                    scenes=SceneBook.from_dir(PRESETS_DIR / "scenes"))
    if models and every is not None:
        for unit in range(engine.n_units):
            engine.apply(Action("scale_unit", {"unit": unit, "value": every}))
            engine.apply(Action("knob_unit", {"unit": unit, "value": every}))
    for unit, value in (scales or {}).items():
        engine.apply(Action("scale_unit", {"unit": unit, "value": value}))
    engine.apply(Action("auto_gain", {"on": auto_gain}))
    # hop by hop like instrument.app.render.render, keeping the limiter's largest gain reduction
    hop, latency = engine.hop_length, engine.latency_samples
    n_hops = -(-(len(audio) + latency) // hop)
    timeline = np.zeros(n_hops * hop, np.float32)
    reduction, cursor = 0.0, 0
    for i in range(n_hops):
        while cursor < len(automation) and automation[cursor][0] <= i:
            engine.apply(automation[cursor][1])
            cursor += 1
        timeline[i * hop:(i + 1) * hop] = engine.process_hop()
        reduction = max(reduction, engine.limiter.gain_reduction_db)
    return timeline[latency:latency + len(audio)], reduction


def _row(label: str, out: np.ndarray, reduction: float) -> str:
    peak = float(np.abs(out).max())
    full = 100.0 * float(np.mean(np.abs(out) >= 0.999))
    rms = float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    return f"{label:<40} {_db(peak):>+8.2f} {full:>9.2f} {_db(rms):>+8.1f} {reduction:>8.1f}"


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(prog="latent bench output_level", description=__doc__)
    parser.add_argument("--unit", type=int, default=0, help="unit swept 0..2 (default 0)")
    parser.add_argument("--sweep-model", default="reconstruct", help="model of the sweep (default reconstruct)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from instrument.app.render import load_automation, load_models, resolve_model_paths
    from instrument.io.audio_files import load_audio

    print(f"output level, {platform.machine()}, {os.cpu_count()} cores; flute phrase "
          f"({FLUTE.name}); full = % of samples with |x| >= 0.999; GR = the limiter's largest gain reduction")
    print(f"{'render':<40} {'peak dB':>8} {'full %':>9} {'rms dB':>8} {'GR dB':>8}")
    loaded_models = {}
    for name in MODELS:
        loaded = load_models(resolve_model_paths([name]))
        loaded_models[name] = loaded
        audio = load_audio(FLUTE, loaded[2].audio)
        for label, every in (("unity", None), (f"faders+knobs x{MAX_SCALE:g}", MAX_SCALE), ("zero", 0.0)):
            if name == "none" and every is not None:
                continue
            out, reduction = _render(loaded, audio, every=every)
            print(_row(f"{(loaded[1] or ['none'])[0]} {label}", out, reduction))
    demo = loaded_models["reconstruct"]
    demo_audio = load_audio(PRESETS_DIR / "audio" / "demo-loop.wav", demo[2].audio)
    automation = load_automation(PRESETS_DIR / "automation" / "demo.jsonl", demo[2])
    out, reduction = _render(demo, demo_audio, automation=automation)
    print(_row("demo (demo-loop + demo.jsonl)", out, reduction))

    loaded = loaded_models[args.sweep_model] if args.sweep_model in loaded_models else \
        load_models(resolve_model_paths([args.sweep_model]))
    audio = load_audio(FLUTE, loaded[2].audio)
    print(f"\nunit {args.unit} of {args.sweep_model} swept {SWEEP[0]:g}..{SWEEP[-1]:g}: output RMS dB "
          "(last 3 s) per fader value")
    for auto in (False, True):
        levels = []
        for value in SWEEP:
            out, _ = _render(loaded, audio, scales={args.unit: value}, auto_gain=auto)
            tail = out[-3 * loaded[2].sample_rate:].astype(np.float64)
            levels.append(_db(float(np.sqrt(np.mean(tail ** 2)))))
        print(f"auto-gain {'on ' if auto else 'off'}: " + " ".join(f"{v:+.1f}" for v in levels)
              + f"   range {max(levels) - min(levels):.1f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
