"""`latent invert SOUND.wav`: infer a synth patch that reproduces a sound."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from instrument.errors import SynthError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "invert", help="invert a sound to a synth patch",
        description="Predict the synth patch that reproduces SOUND with an inversion network "
        "(optionally refined by a short search that re-renders candidates), print it as a table "
        "and write it as JSON; optionally render it, plot it, and send it over MIDI.")
    parser.add_argument("sound", help="audio file (wav/flac/ogg/aiff/mp3); ~1 s works best")
    parser.add_argument("--synth", default=None,
                        help="synth name (default: the model's synth, else inversynth)")
    parser.add_argument("--model", default=None,
                        help="inversion model .keras (default: the shipped model of the synth)")
    parser.add_argument("--refine", type=float, default=0.0, metavar="SECONDS",
                        help="search this many seconds around the prediction (0 = off; 2 is good)")
    parser.add_argument("-o", "--output", required=True, help="patch JSON to write")
    parser.add_argument("--render", default=None, metavar="WAV", help="render the patch to this file")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="plot input and output spectrograms")
    parser.add_argument("--midi-out", default=None, metavar="PORT",
                        help="send the patch as the spec's CC/NRPN/program messages to this port")
    parser.add_argument("--midi-api", default=None, help="rtmidi API: alsa (default) or jack")
    parser.add_argument("--note", type=int, default=None,
                        help="with --midi-out: then play this MIDI note for the synth's length")
    parser.add_argument("--channel", type=int, default=0, help="MIDI channel 0..15 (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instrument.io.audio_files import load_audio, save_audio
    from instrument.config import AudioConfig
    from instrument.inversion.pipeline import (invert_audio, load_model_and_synth, patch_table,
                                               send_over_midi)
    from instrument.plots import plot_audio_spectrograms

    if args.refine < 0:
        raise SynthError(f"--refine must be >= 0 seconds, got {args.refine}")
    inv, synth = load_model_and_synth(args.model, args.synth)
    spec = synth.spec
    audio = load_audio(args.sound, AudioConfig(sample_rate=spec.sample_rate))
    result = invert_audio(inv, synth, audio, args.refine)
    for note in result["warnings"]:
        print(f"warning: {args.sound}: {note}", file=sys.stderr)
    print(patch_table(spec, result["values"], result["classes"], result["confidence"]))
    m = result["metrics"]
    print(f"\nre-rendered vs input: PCC STFT {m['pcc_stft']:.1f}  FT {m['pcc_ft']:.1f}  "
          f"time {m['pcc_time']:.1f}  F_delta {m['f_delta']:.1f}  SC {m['sc']:.3f}  "
          f"LSD {m['lsd_db']:.2f} dB")
    if result["refine"]:
        r = result["refine"]
        print(f"refinement: {r['renders']} renders in {r['seconds']:.2f} s, PCC STFT "
              f"{r['pcc_stft_before']:.1f} -> {r['pcc_stft_after']:.1f}")
    doc = {
        "synth": spec.name,
        "values": {p.name: float(v) for p, v in zip(spec.parameters, result["values"])},
        "classes": {p.name: int(c) for p, c in zip(spec.parameters, result["classes"])},
        "metrics": m, "source": str(args.sound),
        "model": str(inv.path) if inv.path else None,
        "refine": result["refine"], "warnings": result["warnings"],
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    print(f"wrote {out}")
    if args.render:
        from instrument.dsp.limiter import peak_ceiling

        print(f"wrote {save_audio(args.render, peak_ceiling(result['rendered']), spec.sample_rate)}")
    if args.plot:
        name = Path(args.sound).name
        png = plot_audio_spectrograms([(name, result["audio"]),
                                       (f"{name}: inverted patch", result["rendered"])],
                                      args.plot, spec.sample_rate, spec.stft,
                                      title=f"{spec.name} patch from {name}")
        print(f"wrote {png}")
    if args.midi_out:
        sent = send_over_midi(spec, result["values"], args.midi_out, args.midi_api, args.note,
                              args.channel)
        print(f"sent {sent} MIDI messages to {args.midi_out}")
    elif args.note is not None:
        print("warning: --note needs --midi-out; no note played", file=sys.stderr)
    return 0
