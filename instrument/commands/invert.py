"""`latent invert SOUND.wav`: infer a synth patch that reproduces a sound (or many: `latent invert
A.wav B.wav DIR/ -o OUTDIR/`, see :mod:`instrument.inversion.batch`).

For a synth that takes voices (``dx7``) every patch JSON gets a single-voice ``.syx`` beside it
(same name), a batch also ``OUTDIR/cartridge.syx`` (32-voice banks), and ``--midi-out`` sends one
voice dump.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from instrument.cli_support import (announce_conversions, bounded_float, check_input_file, check_outputs,
                                    conversion_note, midi_channel, one_input, resolve_midi_output)
from instrument.commands.models import resolve_named_model
from instrument.config import AudioConfig
from instrument.dsp.limiter import peak_ceiling
from instrument.errors import ConfigError, SynthError
from instrument.inversion.batch import (SUMMARY_NAME, check_batch_options, patch_document, plan_batch,
                                        run_batch, summary_table, write_cartridges, write_json,
                                        write_summary_csv)
from instrument.inversion.input_checks import transpose_arg
from instrument.inversion.model import read_inversion_meta
from instrument.inversion.pipeline import (invert_audio, load_model_and_synth, patch_table, send_over_midi,
                                           stage_summary)
from instrument.synths.voice_files import is_voice_synth, takes_voices, voice_file_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "invert", help="invert a sound to a synth patch",
        description="Predict the synth patch that reproduces SOUND with an inversion network "
        "(then refined by a 2 s search that re-renders candidates; --refine 0 skips it), print it as a table "
        "and write it as JSON; optionally render it, plot it, and send it over MIDI. The sound is "
        "converted to the synth's rate (16384 Hz), mono, and peak-normalised; renders come out at "
        "that rate, peak-limited (a line says so). Several SOUNDs or a folder (batch): -o is a "
        "folder that gets one PATCH.json per input (names relative to each folder given), "
        "--render-dir DIR one WAV per input, and OUTDIR/summary.csv; the model loads once; an "
        "input that cannot be read is reported and the others still run (exit status 2).")
    parser.add_argument("sound", nargs="*", metavar="SOUND",
                        help="audio file (wav/flac/ogg/aiff/mp3); ~1 s works best; several files "
                             "or folders: batch mode")
    parser.add_argument("--input", "-i", default=None, metavar="SOUND", help="the same as the positional SOUND")
    parser.add_argument("--synth", default=None,
                        help="synth name (default: the model's synth, else inversynth)")
    parser.add_argument("--model", default=None, metavar="M",
                        help="inversion model .keras or shipped model name, e.g. inversynth-sweeptcn "
                             "(see `latent models`) (default: the shipped model of the synth)")
    parser.add_argument("--refine", type=bounded_float(0.0, 3600.0), default=2.0, metavar="SECONDS",
                        help="search this many seconds around the prediction (default 2; 0 = off)")
    parser.add_argument("--transpose", type=transpose_arg, default=None, metavar="auto|SEMITONES",
                        help="shift the input's pitch before inversion: auto = whole octaves into the "
                             "synth's note range, or a number of semitones (librosa pitch shift)")
    parser.add_argument("-o", "--output", required=True, metavar="PATCH.json|OUTDIR",
                        help="patch JSON file to write (batch: the folder for the patches)")
    parser.add_argument("--render", default=None, metavar="WAV", help="render the patch to this WAV file")
    parser.add_argument("--render-dir", default=None, metavar="DIR",
                        help="batch: render each patch to DIR/<input name>.wav (may be OUTDIR)")
    parser.add_argument("--plot", default=None, metavar="PATH.png",
                        help="plot input and output spectrograms to this PNG file")
    parser.add_argument("--midi-out", default=None, metavar="PORT",
                        help="send the patch as the spec's CC/NRPN/program messages (dx7: one "
                             "single-voice sysex dump) to this port (exact name or a "
                             "case-insensitive part of it, as latent perform)")
    parser.add_argument("--midi-api", default=None, help="rtmidi API: alsa (default) or jack")
    parser.add_argument("--note", type=_note_arg, nargs="?", const="patch", default=None,
                        metavar="0..127",
                        help="with --midi-out: then play this MIDI note for the synth's length; "
                             "--note alone plays the patch's own note (dx7: its note parameter)")
    parser.add_argument("--channel", type=midi_channel, default=1, metavar="1..16", help="MIDI channel 1..16")
    parser.set_defaults(func=run)


def _note_arg(text: str) -> int | str:
    """``--note`` value: a MIDI note 0..127, or ``patch`` (the patch's own note)."""
    if text == "patch":
        return text
    try:
        note = int(text)
    except ValueError:
        note = -1
    if not 0 <= note <= 127:
        raise argparse.ArgumentTypeError(f"a MIDI note 0..127 (or nothing: the patch's note), got {text!r}")
    return note


def _synth_name(args: argparse.Namespace, model_path: str | None) -> str:
    """The synth the patches are for, known before TensorFlow loads: ``--synth``, else the
    model's (read from its metadata), else inversynth (the default model's)."""
    if args.synth is not None:
        from instrument.synths.registry import get_synth

        get_synth(args.synth)  # SynthError for unknown names before TensorFlow
        return args.synth
    if model_path is not None:
        return str(read_inversion_meta(model_path)["synth"])
    return "inversynth"


def run(args: argparse.Namespace) -> int:
    from instrument.io.audio_files import load_audio, save_audio

    if len(args.sound) > 1 or (args.sound and Path(args.sound[0]).is_dir()):
        if args.input is not None:
            raise ConfigError("give the SOUNDs positionally or one --input, not both")
        return _run_batch(args)
    if args.render_dir:
        raise ConfigError("--render-dir is for several inputs or a folder; with one SOUND use "
                          "--render WAV")
    args.sound = args.sound[0] if args.sound else None
    sound = one_input(args, "sound", "input")
    if sound is None:
        raise ConfigError("give the SOUND to invert: latent invert SOUND.wav -o PATCH.json")
    args.sound = str(check_input_file(sound))
    model_path = _model_path(args.model)
    synth_name = _synth_name(args, model_path)

    voice_file = voice_file_for(args.output) if is_voice_synth(synth_name) else None
    check_outputs(files=[(args.output, "patch file"), (voice_file, "voice file"),
                         (args.render, "render file"), (args.plot, "plot file")],
                  inputs=[args.sound])
    outs = [Path(p).resolve() for p in (args.output, args.render, args.plot, voice_file) if p]
    if len(set(outs)) != len(outs):
        raise ConfigError("-o, --render and --plot must name different files"
                          + (f" (and not {voice_file}, the voice file beside -o)" if voice_file else ""))
    if args.midi_out:
        args.midi_out = resolve_midi_output(args.midi_out, args.midi_api)
    elif args.note is not None:
        print("warning: --note needs --midi-out; no note played", file=sys.stderr)
    inv, synth = load_model_and_synth(model_path, args.synth)
    spec = synth.spec
    _announce(args.sound, spec.sample_rate, bool(args.render))
    audio = load_audio(args.sound, AudioConfig(sample_rate=spec.sample_rate))
    result = invert_audio(inv, synth, audio, args.refine, args.transpose)
    for note in result["warnings"]:
        print(f"warning: {args.sound}: {note}", file=sys.stderr)
    print(patch_table(spec, result["values"], result["classes"], result["confidence"]))
    m = result["metrics"]
    print(f"\nre-rendered vs input: PCC STFT {m['pcc_stft']:.1f}  FT {m['pcc_ft']:.1f}  "
          f"time {m['pcc_time']:.1f}  F_delta {m['f_delta']:.1f}  MSS {m['mss']:.3f}  "
          f"LSD {m['lsd_db']:.2f} dB  SC {m['sc']:.3f}  MFCC {m['mfcc']:.1f}")
    print(stage_summary(result))
    print(f"wrote {write_json(Path(args.output), patch_document(spec, inv, result, args.sound))}")
    if voice_file is not None and takes_voices(synth):
        print(f"wrote {synth.write_voice(voice_file, result['values'][None], name=Path(args.sound).stem)}")
    if args.render:
        print(f"wrote {save_audio(args.render, peak_ceiling(result['rendered']), spec.sample_rate)}")
    if args.plot:
        from instrument.plots import plot_audio_spectrograms  # matplotlib: only when a plot is asked for

        name = Path(args.sound).name
        png = plot_audio_spectrograms([(name, result["audio"]),
                                       (f"{name}: inverted patch", result["rendered"])],
                                      args.plot, spec.sample_rate, spec.stft,
                                      title=f"{spec.name} patch from {name}")
        print(f"wrote {png}")
    if args.midi_out:
        sent = send_over_midi(synth, result["values"], args.midi_out, args.midi_api, args.note,
                              args.channel - 1)
        print(f"sent {sent} MIDI messages to {args.midi_out} (channel {args.channel})")
    return 0


def _model_path(model: str | None) -> str | None:
    """``--model`` as a file: a path, or a shipped model's name (``presets/models/NAME.keras``)."""
    if model is None:
        return None

    return str(resolve_named_model(model))


def _announce(sound: str, sample_rate: int, render: bool) -> None:
    """One line for the silent format changes: input rate/channels, peak normalisation, render rate."""
    note = conversion_note(sound, sample_rate)
    what = "peak-normalised" + (f"; the render is {sample_rate} Hz mono, peak-limited" if render else "")
    print(f"{note}, {what}" if note else f"note: {Path(sound).name}: {what} (the synth's format)",
          file=sys.stderr)


def _run_batch(args: argparse.Namespace) -> int:
    """Several SOUNDs or folders: one model load, one patch (and render) per input, a summary."""
    check_batch_options(args.render, args.plot, args.midi_out)
    model_path = _model_path(args.model)

    voices = is_voice_synth(_synth_name(args, model_path))
    items = plan_batch(args.sound, args.output, args.render_dir, voices)  # every output checked first

    inv, synth = load_model_and_synth(model_path, args.synth)
    rate = synth.spec.sample_rate
    announce_conversions([i.source for i in items], rate,
                         "peak-normalised" + (f"; renders are {rate} Hz mono, peak-limited"
                                              if args.render_dir else ""))
    run_batch(items, inv, synth, args.refine, args.transpose)
    print(summary_table(items))
    print(f"wrote {write_summary_csv(items, Path(args.output) / SUMMARY_NAME)}")
    if voices:
        for bank, names in write_cartridges(items, synth, args.output):
            print(f"wrote {bank}: {len(names)} voices ({', '.join(names)})")
    return 2 if any(i.status != "ok" for i in items) else 0
