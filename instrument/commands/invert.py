"""`latent invert SOUND.wav`: infer a synth patch that reproduces a sound."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from instrument.errors import ModelError, SynthError


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


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """(InversionModel, synth) from --model/--synth."""
    from instrument.invert import default_model_path, load_inversion_model
    from training.synths.registry import get_synth

    if args.synth is not None:
        get_synth(args.synth)  # SynthError for unknown names before touching any model
    model_path = Path(args.model) if args.model else default_model_path(args.synth or "inversynth")
    inv = load_inversion_model(model_path)
    if args.synth is not None and args.synth != inv.synth_name:
        raise ModelError(f"{model_path}: model is for synth {inv.synth_name!r}, not {args.synth!r}")
    synth = get_synth(inv.synth_name, spec=inv.spec)
    return inv, synth


def invert_audio(inv: Any, synth: Any, audio: np.ndarray, refine_seconds: float = 0.0
                 ) -> dict[str, Any]:
    """Predict (and optionally refine) a patch for synth-rate audio.

    Returns:
        dict with ``values`` (n_params,), ``classes``, ``confidence`` (score of the chosen class),
        ``audio`` (fitted input), ``rendered``, ``metrics``, ``warnings``, ``refine`` (or None).
    """
    from instrument.invert import fit_to_length, normalise_peak
    from training.inversion_metrics import audio_metrics
    from training.refine import RefineConfig, refine

    spec = synth.spec
    y, notes = fit_to_length(audio, spec.n_samples)
    y = normalise_peak(y)
    t0 = time.monotonic()
    scores = inv.scores(inv.inputs_from_audio(synth, y[None]))[0]
    classes = scores.argmax(axis=-1)
    values = spec.from_classes(classes)
    infer_seconds = time.monotonic() - t0
    refine_info = None
    if refine_seconds > 0:
        result = refine(synth, y, values, RefineConfig(seconds=refine_seconds), scores=scores)
        refine_info = {"seconds": result.seconds, "renders": result.renders,
                       "pcc_stft_before": 100 * result.initial_score,
                       "pcc_stft_after": 100 * result.score}
        values, classes = result.values, result.classes
    rendered = synth.render(values[None])[0]
    metrics = {k: float(v[0]) for k, v in audio_metrics(y[None], rendered[None]).items()}
    confidence = np.take_along_axis(scores, classes[:, None], axis=-1)[:, 0]
    return {"values": values, "classes": classes, "confidence": confidence, "audio": y,
            "rendered": rendered, "metrics": metrics, "warnings": notes, "refine": refine_info,
            "infer_seconds": infer_seconds}


def patch_table(spec: Any, values: np.ndarray, classes: np.ndarray, confidence: np.ndarray) -> str:
    """A readable table of a patch: parameter, group, value, class, network confidence."""
    lines = [f"{'parameter':<22} {'group':<22} {'value':>12} {'class':>7} {'conf':>6}"]
    for p, v, c, s in zip(spec.parameters, values, classes, confidence):
        conf = f"{s:6.2f}" if np.isfinite(s) and 0 <= s <= 1 else "     -"
        lines.append(f"{p.name:<22} {p.group:<22} {v:>12.4g} {int(c):>4}/{p.levels:<2} {conf}")
    return "\n".join(lines)


def plot_pair(path: Path, audio_in: np.ndarray, audio_out: np.ndarray, sample_rate: int,
              title: str = "") -> Path:
    """Input vs output log-magnitude spectrograms side by side as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.inversion_metrics import batch_stft_magnitude

    mags = np.log1p(batch_stft_magnitude(np.stack([audio_in, audio_out])))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    top = sample_rate / 2
    for ax, mag, name in zip(axes, mags, ("input", "inverted patch")):
        ax.imshow(mag, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, len(audio_in) / sample_rate, 0, top))
        ax.set_title(name)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def send_over_midi(spec: Any, values: np.ndarray, port_name: str, api: str | None, note: int | None,
                   channel: int) -> int:
    """Send the patch (and an optional test note) to ``port_name``; returns messages sent."""
    import mido

    from controllers.midi_api import midi_backend
    from instrument.errors import DeviceError
    from training.synths.midi_send import patch_messages, send_messages

    messages = patch_messages(values, spec, channel)
    if not messages:
        print(f"synth {spec.name!r} has no MIDI mapping in its spec; no parameter messages sent",
              file=sys.stderr)
    if note is not None and not 0 <= note <= 127:
        raise SynthError(f"--note must be a MIDI note 0..127, got {note}")
    backend = midi_backend(api)
    try:
        port = backend.open_output(port_name)
    except (OSError, IOError, ValueError) as exc:
        names = ", ".join(backend.get_output_names()) or "none"
        raise DeviceError(f"cannot open MIDI output {port_name!r} ({exc}); available: {names}") from exc
    with port:
        sent = send_messages(port, messages)
        if note is not None:
            port.send(mido.Message("note_on", channel=channel, note=note, velocity=100))
            time.sleep(spec.seconds)
            port.send(mido.Message("note_off", channel=channel, note=note, velocity=0))
            sent += 2
    return sent


def run(args: argparse.Namespace) -> int:
    from instrument.audio import load_audio, save_audio
    from instrument.config import AudioConfig

    if args.refine < 0:
        raise SynthError(f"--refine must be >= 0 seconds, got {args.refine}")
    inv, synth = _load(args)
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
        print(f"wrote {save_audio(args.render, result['rendered'], spec.sample_rate)}")
    if args.plot:
        print(f"wrote {plot_pair(Path(args.plot), result['audio'], result['rendered'], spec.sample_rate, Path(args.sound).name)}")
    if args.midi_out:
        sent = send_over_midi(spec, result["values"], args.midi_out, args.midi_api, args.note,
                              args.channel)
        print(f"sent {sent} MIDI messages to {args.midi_out}")
    elif args.note is not None:
        print("warning: --note needs --midi-out; no note played", file=sys.stderr)
    return 0
