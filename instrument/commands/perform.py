"""`latent perform`: play the instrument live (sound card, MIDI controller, window)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from controllers.midi_api import MIDI_APIS
from instrument.app.perform_options import PerformOptions
from instrument.app.render import resolve_model_paths
from instrument.cli_support import add_hidden_alias
from instrument.engine.engine import DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD
from instrument.errors import ConfigError
from presets import PRESETS_DIR

DEFAULT_MODEL = PRESETS_DIR / "models" / "reconstruct.keras"
DEFAULT_INPUT = PRESETS_DIR / "audio" / "demo-loop.wav"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _latency(text: str) -> str | float:
    if text in ("low", "high"):
        return text
    return _positive_float(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``latent perform`` (shared with the demo)."""
    models = parser.add_argument_group("models and sound")
    models.add_argument("--model", action="append", default=None, metavar="NAME|PATH",
                        help="latent model: a shipped name (latent models lists them) or a .keras "
                             "file; repeat to load several (switch_model); "
                             "'none' = analysis/resynthesis only (default: the shipped reconstruct.keras)")
    models.add_argument("input_pos", nargs="?", metavar="FILE",
                        help="play this audio file (the same as --input; default: the shipped demo loop)")
    source = models.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE", help="play this audio file (default: the shipped demo loop)")
    source.add_argument("--live-input", action="store_true", help="process the sound card input (full duplex)")
    source.add_argument("--no-input", action="store_true",
                        help="no audio in: the decoder fires the held latent frame at the hop rate")
    models.add_argument("--loop", action="store_true", help="loop the input file")
    models.add_argument("--seed", type=int, default=0, help="phase initialisation seed (default 0)")
    models.add_argument("--phase-lookahead", dest="lookahead", type=int,
                        default=DEFAULT_PHASE_LOOKAHEAD, metavar="K",
                        help=f"RTISI-LA look-ahead frames (default {DEFAULT_PHASE_LOOKAHEAD}, as latent render)")
    models.add_argument("--phase-iterations", dest="iterations", type=int,
                        default=DEFAULT_PHASE_ITERATIONS, metavar="N",
                        help=f"RTISI-LA iterations per frame (default {DEFAULT_PHASE_ITERATIONS})")
    # the old spellings still work, unlisted: --iterations means Griffin-Lim iterations elsewhere
    # (bounds: PerformOptions, one line naming the flag)
    add_hidden_alias(models, "--lookahead", dest="lookahead", type=int)
    add_hidden_alias(models, "--iterations", dest="iterations", type=int)
    models.add_argument("--scenes", metavar="DIR", default=str(PRESETS_DIR / "scenes"),
                        help="scene folder for recall/next/prev scene (default: shipped scenes)")
    audio = parser.add_argument_group("audio device")
    audio.add_argument("--device", default=None, help="PortAudio device index or name (see `latent devices`)")
    audio.add_argument("--blocksize", type=int, default=256, help="frames per audio callback (default 256)")
    audio.add_argument("--latency", type=_latency, default="high",
                       help="PortAudio latency: low, high or seconds (default high)")
    audio.add_argument("--ahead", type=int, default=6, metavar="HOPS",
                       help="hops of output computed ahead of the sound card (default 6)")
    audio.add_argument("--rt-priority", type=int, default=1, metavar="P",
                       help="run the processing thread SCHED_FIFO at priority P where permitted "
                            "(needs an rtprio limit or CAP_SYS_NICE; 0 = normal priority; default 1)")
    models.add_argument("--block", type=int, default=None, metavar="FRAMES",
                        help="block length of non-causal models (default: their receptive field)")
    models.add_argument("--compute-hops", type=int, default=None, metavar="HOPS",
                        help="hops a non-causal model's block call may take (default: half a block)")
    midi = parser.add_argument_group("controllers")
    midi.add_argument("--controller", default="nanokontrol2",
                      help="controller map: shipped name or YAML path (default nanokontrol2)")
    midi.add_argument("--midi-in", default=None, metavar="PORT",
                      help="MIDI input port (substring; default: auto-detect from the map)")
    midi.add_argument("--midi-out", default=None, metavar="PORT", help="MIDI output port for LED feedback")
    midi.add_argument("--midi-api", choices=sorted(MIDI_APIS), default=None,
                      help="rtmidi API (default: $LATENT_MIDI_API, else alsa on Linux)")
    midi.add_argument("--no-midi", action="store_true", help="do not open any MIDI port")
    midi.add_argument("--learn", action="store_true", help="MIDI learn: move a control, then press a key")
    midi.add_argument("--invert-model", metavar="M.keras",
                      help="synth inversion model: follow the input audio and send the matching patch")
    midi.add_argument("--invert-midi-out", metavar="PORT",
                      help="MIDI output port of the synth that --invert-model drives")
    midi.add_argument("--osc-port", type=int, default=None, metavar="PORT",
                      help="receive OSC control on this UDP port (default off; addresses: docs/controllers.md, OSC)")
    midi.add_argument("--osc-host", default="127.0.0.1", metavar="ADDR",
                      help="address the OSC port binds (default 127.0.0.1; 0.0.0.0 for the network)")
    midi.add_argument("--osc-send", default=None, metavar="HOST:PORT",
                      help="send the state (scales, activations, model, gains...) as OSC ~30 times a second")
    out = parser.add_argument_group("output")
    out.add_argument("--master-gain", type=float, default=0.0, metavar="DB",
                     help="master gain at start, dB in -60..+12, before the safety limiter (default 0)")
    out.add_argument("--auto-gain", action="store_true",
                     help="start with loudness compensation on (the output level follows the input's)")
    out.add_argument("--record", "-o", "--output", dest="record", metavar="OUT.wav",
                     help="record the engine output to this WAV file (32-bit float)")
    out.add_argument("--log-events", metavar="FILE.jsonl",
                     help="log every applied action (replay with `latent render --automation`)")
    out.add_argument("--headless", action="store_true", help="no window")
    out.add_argument("--screenshot", metavar="PATH.png", help="save a window screenshot at exit")
    out.add_argument("--duration", type=_positive_float, default=None, metavar="SECONDS",
                     help="stop after this many seconds of audio")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "perform", help="play the instrument live",
        description="Play the latent units of a model live: audio in (file, sound card or none), "
                    "MIDI controller and computer keyboard in, sound card, window, recording and "
                    "event log out.")
    add_arguments(parser)
    parser.set_defaults(func=run)


def _model_paths(args: argparse.Namespace) -> list[Path]:
    return resolve_model_paths(args.model)  # same rules as `latent render`


def options_from_args(args: argparse.Namespace) -> PerformOptions:
    """The validated :class:`~instrument.app.perform_options.PerformOptions` of the parsed flags."""
    if getattr(args, "input_pos", None) is not None:
        if args.live_input or args.no_input or (args.input and args.input != args.input_pos):
            raise ConfigError(f"input file {args.input_pos} given with --input, --live-input or --no-input; "
                              "give one source")
        args.input = args.input_pos
    if args.live_input:
        source, input_path = "live", None
    elif args.no_input:
        source, input_path = "none", None
    elif args.input:
        source, input_path = "file", Path(args.input)
    elif DEFAULT_INPUT.is_file():
        source, input_path = "file", DEFAULT_INPUT
    else:
        print("latent perform: no --input and no shipped demo loop; playing with no input", file=sys.stderr)
        source, input_path = "none", None
    return PerformOptions(
        model_paths=tuple(_model_paths(args)), source=source, input_path=input_path,
        loop=args.loop or args.input is None, seed=args.seed, phase_lookahead=args.lookahead,
        phase_iterations=args.iterations, scenes_dir=Path(args.scenes), block_frames=args.block,
        compute_hops=args.compute_hops, device=args.device, blocksize=args.blocksize, latency=args.latency,
        ahead_hops=args.ahead, realtime_priority=args.rt_priority, controller=args.controller,
        midi_in=args.midi_in, midi_out=args.midi_out, midi_api=args.midi_api, use_midi=not args.no_midi,
        learn=args.learn, invert_model=Path(args.invert_model) if args.invert_model else None,
        invert_midi_out=args.invert_midi_out, record=Path(args.record) if args.record else None,
        log_events=Path(args.log_events) if args.log_events else None, headless=args.headless,
        screenshot=Path(args.screenshot) if args.screenshot else None, duration_s=args.duration,
        master_gain_db=args.master_gain, auto_gain=args.auto_gain,
        osc_port=args.osc_port, osc_host=args.osc_host, osc_send=args.osc_send)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from instrument.app.perform import perform

    # the summary is printed also when the performance then fails (audio device gone, write error):
    # the error follows as the last line on stderr and the exit status is non-zero
    perform(options_from_args(args), on_summary=lambda summary: print(summary.report(), flush=True))
    return 0
