"""`latent render`: bounce the live pipeline offline to a WAV, replaying an automation log."""

from __future__ import annotations

import argparse
from pathlib import Path

from controllers.actions import Action
from instrument.app.render import (DEFAULT_NO_INPUT_SECONDS, check_render_seconds, load_automation,
                                   load_models, render, resolve_model_paths)
from instrument.cli_support import (announce_conversion, bounded_int, check_input_file, check_outputs,
                                    model_sample_rate, one_input)
from instrument.engine.engine import (DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD, MASTER_GAIN_MAX_DB,
                                      MASTER_GAIN_MIN_DB, Engine, make_source)
from instrument.engine.scenes import SceneBook
from instrument.errors import ConfigError, ControllerMapError
from instrument.io.audio_files import load_audio, save_audio
from instrument.models.names import model_name
from presets import PRESETS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render", help="bounce the live pipeline offline to a WAV",
        description="Run the instrument's streaming pipeline offline (faster than real time) on a file "
                    "or in no-input mode, applying a JSON-lines automation log (as written by "
                    "`latent perform --log-events`) at the same hops as live: bit-exact with the same seed.")
    parser.add_argument("--model", action="append", metavar="M",
                        help="latent model file (.keras) or shipped model name; repeat to load several "
                             "for switch_model; 'none' = pure analysis/resynthesis "
                             "(default: presets/models/reconstruct.keras)")
    parser.add_argument("input_pos", nargs="?", metavar="IN",
                        help="input audio file (converted to the model's rate, mono; a line says so)")
    parser.add_argument("--input", "-i", metavar="IN", help="input audio file (same as the positional IN)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="output WAV file")
    parser.add_argument("--automation", metavar="FILE.jsonl", help="actions to replay (event log)")
    parser.add_argument("--phase", choices=("streaming", "offline"), default="streaming",
                        help="streaming RTISI-LA (as live) or offline fast Griffin-Lim (default: streaming)")
    parser.add_argument("--seed", type=int, default=0, help="phase initialisation seed (default 0)")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="seconds to render (default: the input's length; no-input: "
                             f"{DEFAULT_NO_INPUT_SECONDS:g} s or the automation's end + 1 s)")
    parser.add_argument("--no-input", action="store_true",
                        help="drive the decoder with the held (mean) latent frame instead of audio")
    parser.add_argument("--loop", action="store_true", help="loop the input file")
    parser.add_argument("--phase-lookahead", type=bounded_int(0, 64), default=DEFAULT_PHASE_LOOKAHEAD, metavar="K",
                        help=f"RTISI-LA look-ahead frames (default {DEFAULT_PHASE_LOOKAHEAD})")
    parser.add_argument("--phase-iterations", type=bounded_int(1, 1000), default=DEFAULT_PHASE_ITERATIONS, metavar="N",
                        help=f"RTISI-LA iterations per frame (default {DEFAULT_PHASE_ITERATIONS})")
    parser.add_argument("--gl-iterations", type=bounded_int(1, 10000), default=100, metavar="N",
                        help="Griffin-Lim iterations with --phase offline (default 100)")
    parser.add_argument("--scenes", metavar="DIR", default=str(PRESETS_DIR / "scenes"),
                        help="scene folder for recall/next/prev scene actions (default: shipped scenes)")
    parser.add_argument("--master-gain", type=float, default=0.0, metavar="DB",
                        help="master gain at start, dB in -60..+12, before the safety limiter (default 0; "
                             "master_gain actions in the automation change it)")
    parser.add_argument("--auto-gain", action="store_true",
                        help="start with loudness compensation on (the output level follows the input's)")
    parser.add_argument("--plot", metavar="PATH.png", help="write input/output spectrograms to this PNG file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.duration is not None:
        check_render_seconds(args.duration)
    if args.gl_iterations < 1:
        raise ConfigError(f"--gl-iterations must be >= 1, got {args.gl_iterations}")
    if not MASTER_GAIN_MIN_DB <= args.master_gain <= MASTER_GAIN_MAX_DB:
        raise ConfigError(f"--master-gain must be a number of dB in {MASTER_GAIN_MIN_DB:g}.."
                          f"{MASTER_GAIN_MAX_DB:g}, got {args.master_gain:g}")
    args.input = one_input(args, "input_pos", "input")
    if args.no_input and args.input:
        raise ConfigError(f"--no-input and an input file ({args.input}) given; give one")
    if not args.no_input and not args.input:
        raise ConfigError("give an input file (latent render IN.wav -o OUT.wav), or --no-input")
    # everything a user can get wrong is checked before TensorFlow loads with the models
    inputs = [] if args.no_input else [check_input_file(args.input)]
    if args.automation:
        check_input_file(args.automation, "automation file", ControllerMapError)
    check_outputs(files=[(args.output, "output file"), (args.plot, "plot file")], inputs=inputs)
    if args.plot and Path(args.plot).resolve() == Path(args.output).resolve():
        raise ConfigError(f"--plot {args.plot} is the output file; give the PNG another name")
    paths = resolve_model_paths(args.model)
    if inputs and paths:
        announce_conversion(inputs[0], model_sample_rate(paths[0]))
    elif inputs:
        announce_conversion(inputs[0], 22050)
    models, _, spectral = load_models(paths)
    names = [model_name(p) for p in paths]
    if args.no_input and not models:
        raise ConfigError("--no-input needs a latent model (there is nothing to decode with --model none)")
    automation = load_automation(args.automation, spectral)
    source_audio = None
    if args.no_input:
        source = make_source("none", spectral.stft.hop_length)
        last = automation[-1][0] * spectral.hop_seconds + 1.0 if automation else 0.0
        seconds = args.duration or max(DEFAULT_NO_INPUT_SECONDS, last)
    else:
        source_audio = load_audio(args.input, spectral.audio)
        source = make_source("file", spectral.stft.hop_length, source_audio, loop=args.loop)
        seconds = args.duration or len(source_audio) / spectral.sample_rate
    scenes = SceneBook.from_dir(args.scenes)
    engine = Engine(spectral, models, names, source=source, phase=args.phase,
                    phase_lookahead=args.phase_lookahead, phase_iterations=args.phase_iterations,
                    seed=args.seed, scenes=scenes)
    engine.apply(Action("master_gain", {"db": args.master_gain}))  # before hop 0: no fade-in
    engine.apply(Action("auto_gain", {"on": bool(args.auto_gain)}))
    n_samples = int(round(seconds * spectral.sample_rate))
    result = render(engine, n_samples, automation, progress=not args.no_progress,
                    gl_iterations=args.gl_iterations)
    out = save_audio(args.output, result.audio, spectral.sample_rate)
    print(f"wrote {out} ({len(result.audio) / spectral.sample_rate:.2f} s, model "
          f"{', '.join(names) or 'none'}, {result.actions_applied} actions, latency "
          f"{engine.latency_ms:.1f} ms, {result.elapsed_s:.2f} s wall = {result.real_time_factor:.3f} x real time)")
    if args.plot:
        from instrument.plots import plot_audio_spectrograms

        panels = [] if source_audio is None else [(Path(args.input).name, source_audio[:n_samples])]
        panels.append((Path(args.output).name, result.audio))
        through = ", ".join(names) or "no model (analysis/resynthesis)"
        plot_audio_spectrograms(panels, args.plot, spectral.sample_rate, spectral.stft,
                                title=f"render through {through}")
        print(f"wrote {args.plot}")
    return 0
