"""The invert job at play time: sound -> patch (network, optional refinement), table, MIDI."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instrument.errors import ModelError, SynthError
from instrument.inversion.input_checks import (estimate_pitch_hz, note_name, note_range_hz,
                                               octaves_into_range, pitch_warning, transpose as shift_pitch)
from instrument.inversion.model import (InversionModel, default_model_path, fit_to_length,
                                        load_inversion_model, normalise_peak)
from instrument.synths.voice_files import takes_voices

if TYPE_CHECKING:
    from instrument.synths.base import Synth
    from instrument.synths.spec import SynthSpec


def load_model_and_synth(model: str | Path | None, synth_name: str | None) -> tuple[InversionModel, Synth]:
    """(InversionModel, synth) for a model file (None: the shipped model of ``synth_name``, else
    inversynth) and an optional synth name the model must be for."""
    from instrument.synths.registry import get_synth

    if synth_name is not None:
        get_synth(synth_name)  # SynthError for unknown names before touching any model
    model_path = Path(model) if model else default_model_path(synth_name or "inversynth")
    inv = load_inversion_model(model_path)
    if synth_name is not None and synth_name != inv.synth_name:
        raise ModelError(f"{model_path}: model is for synth {inv.synth_name!r}, not {synth_name!r}")
    synth = get_synth(inv.synth_name, spec=inv.spec)
    return inv, synth


#: Refinement seconds per sound when none is given (``latent invert`` refines by default).
DEFAULT_REFINE_SECONDS = 2.0
#: Largest lag (samples) the cross-correlation looks for after an onset found above noise.
MAX_ALIGN_LAG = 64


def _align(inv: InversionModel, synth: Synth, audio: np.ndarray, align: bool = True
           ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Trim leading silence and place the note-on at sample 0 (unless ``align`` is False), then
    run the network.

    Returns:
        (peak-normalised clip ``(n_samples,)``, class scores ``(n_params, n_classes)``, alignment
        info ``{"trimmed_samples", "lag_samples", "exact_onset"}``, length/level warnings).
    """
    from instrument.inversion.refine.align import estimate_lag, exact_onset, trim_to_onset

    spec = synth.spec
    trimmed, cut = trim_to_onset(audio) if align else (audio, 0)
    exact = exact_onset(audio, cut) or not align
    y, notes = fit_to_length(trimmed, spec.n_samples)
    y = normalise_peak(y)
    scores = inv.scores(inv.inputs_from_audio(synth, y[None]))[0]
    lag = 0
    if not exact:
        # the onset was found above recorded noise: cross-correlate with the network's render
        guess = synth.render(spec.from_classes(scores.argmax(axis=-1))[None])[0]
        lag, _ = estimate_lag(y, guess, MAX_ALIGN_LAG)
        lag = max(lag, -cut)
        if lag:
            y, _ = fit_to_length(audio[cut + lag:], spec.n_samples)
            y = normalise_peak(y)
            scores = inv.scores(inv.inputs_from_audio(synth, y[None]))[0]
    return y, scores, {"trimmed_samples": int(cut + lag), "lag_samples": int(lag),
                       "exact_onset": bool(exact)}, notes


def _transpose_into_range(audio: np.ndarray, synth: Synth, transpose: str | float | None
                          ) -> tuple[np.ndarray, float, float | None, list[str]]:
    """Estimate the pitch of the clip the synth will see, warn when it is outside the synth's
    note range, and transpose by ``transpose`` semitones (``"auto"``: whole octaves into range).

    Returns:
        (audio, semitones applied, input pitch Hz or None, warnings).
    """
    spec = synth.spec
    clip, _ = fit_to_length(audio, spec.n_samples)
    pitch = estimate_pitch_hz(clip, spec.sample_rate)
    note_range = note_range_hz(spec)
    notes: list[str] = []
    semitones = 0.0
    if transpose == "auto":
        if pitch is not None and note_range is not None:
            semitones = float(octaves_into_range(pitch, *note_range))
    elif transpose is not None:
        semitones = float(transpose)
    if semitones:
        audio = shift_pitch(audio, spec.sample_rate, semitones)
        shifted = None if pitch is None else pitch * 2.0 ** (semitones / 12.0)
        notes.append(f"transposed {semitones:+g} semitones before inversion"
                     + ("" if pitch is None or shifted is None else
                        f" (input pitch {pitch:.0f} Hz ({note_name(pitch)}) -> "
                        f"{shifted:.0f} Hz ({note_name(shifted)}))"))
        pitch_after = shifted
    else:
        pitch_after = pitch
    warning = pitch_warning(pitch_after, note_range, spec.name)
    if warning:
        if semitones:
            warning = warning.replace("input pitch", "transposed pitch").replace(
                "; try --transpose auto", "")
        notes.append(warning)
    return audio, semitones, pitch, notes


def invert_audio(inv: InversionModel, synth: Synth, audio: np.ndarray,
                 refine_seconds: float = DEFAULT_REFINE_SECONDS,
                 transpose: str | float | None = None, align: bool = True) -> dict[str, Any]:
    """Predict (and refine) a patch for synth-rate mono audio (``load_audio`` resamples any rate
    and mixes any channel count to mono before this).

    Stages: pitch estimate (and ``transpose``: semitones, or ``"auto"`` for whole octaves into the
    synth's note range), alignment of the note-on to sample 0
    (:mod:`instrument.inversion.refine.align`: leading silence trimmed, any remaining lag removed),
    fit to the synth's clip length, the network, then ``refine_seconds`` of search (0 = none).
    ``align=False`` skips the alignment (the behaviour before it, for benchmarks).

    Returns:
        dict with ``values`` (n_params,), ``classes``, ``confidence`` (score of the chosen class),
        ``audio`` (the aligned, fitted input the patch is compared with), ``rendered``,
        ``metrics`` (:func:`audio_metrics` incl. MSS and MFCC distance), ``warnings``, ``refine``
        (or None), ``stages`` (what ran and how long), ``infer_seconds``.
    """
    from instrument.inversion.metrics import audio_metrics
    from instrument.inversion.refine.search import RefineConfig, refine

    spec = synth.spec
    raw = np.asarray(audio, dtype=np.float32).reshape(-1)
    notes: list[str] = []
    if raw.size and not np.all(np.isfinite(raw)):
        notes.append("input contains NaN/Inf samples; they were replaced by 0")
        raw = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
    if align and raw.size > 2 * spec.n_samples:
        # a long input: only the synth's clip after the onset is used (cut to 1.5 clips, which
        # leaves the alignment room and fit_to_length without a second length warning)
        from instrument.inversion.refine.align import onset_sample

        start = onset_sample(raw)
        raw = raw[start:start + spec.n_samples + spec.n_samples // 2]
        notes.append(f"input is {len(np.asarray(audio).reshape(-1))} samples, far longer than the "
                     f"synth's {spec.n_samples}; only {spec.n_samples} samples from its onset "
                     f"(sample {start}) are used")
    t_pitch = time.monotonic()
    raw, semitones, pitch, pitch_notes = _transpose_into_range(raw, synth, transpose)
    pitch_seconds = time.monotonic() - t_pitch
    t0 = time.monotonic()
    y, scores, alignment, fit_notes = _align(inv, synth, raw, align)
    notes = notes + fit_notes + pitch_notes
    classes = scores.argmax(axis=-1)
    values = spec.from_classes(classes)
    infer_seconds = time.monotonic() - t0
    refine_info = None
    if refine_seconds > 0:
        result = refine(synth, y, values, RefineConfig(seconds=refine_seconds), scores=scores)
        refine_info = {"seconds": result.seconds, "renders": result.renders,
                       "budget_seconds": float(refine_seconds),
                       "objective": result.objective,
                       "start_draws": result.start_draws,
                       "before_x100": 100 * result.initial_score,
                       "after_x100": 100 * result.score}
        values, classes = result.values, result.classes
    rendered = synth.render(values[None])[0]
    metrics = {k: float(v[0]) for k, v in
               audio_metrics(y[None], rendered[None], spec.sample_rate).items()}
    confidence = np.take_along_axis(scores, classes[:, None], axis=-1)[:, 0]
    stages = {"pitch": {"seconds": pitch_seconds, "hz": pitch, "transpose_semitones": semitones},
              "align": alignment, "network": {"ms": 1000.0 * infer_seconds},
              "refine": None if refine_info is None else {
                  "seconds": refine_info["seconds"], "renders": refine_info["renders"],
                  "budget_seconds": refine_info["budget_seconds"]}}
    return {"values": values, "classes": classes, "confidence": confidence, "audio": y,
            "rendered": rendered, "metrics": metrics, "warnings": notes, "refine": refine_info,
            "infer_seconds": infer_seconds, "stages": stages}


def stage_summary(result: dict[str, Any]) -> str:
    """Lines saying which stages of :func:`invert_audio` ran and how long, e.g.
    ``network 41 ms; refinement 2.00 s (budget 2 s), 1843 renders, pcc_stft 91.2 -> 98.9`` (the
    refinement's objective x100: the network's patch, then the refined one)."""
    st = result["stages"]
    pitch = st["pitch"]
    lines = []
    hz = pitch["hz"]
    lines.append("input pitch: " + ("not found (unvoiced)" if hz is None else f"{hz:.0f} Hz")
                 + (f", transposed {pitch['transpose_semitones']:+g} semitones"
                    if pitch["transpose_semitones"] else "") + f" (pYIN {pitch['seconds']:.2f} s)")
    al = st["align"]
    lines.append(f"alignment: {al['trimmed_samples']} leading samples trimmed"
                 + ("" if al["exact_onset"] else f" (onset above noise, cross-correlation lag "
                                                 f"{al['lag_samples']:+d})"))
    r = result["refine"]
    lines.append(f"network {st['network']['ms']:.0f} ms; " + (
        "refinement off (--refine 0)" if r is None else
        f"refinement {r['seconds']:.2f} s (budget {r['budget_seconds']:g} s), {r['renders']} "
        f"renders" + (f" from the best of {r['start_draws'] + 1} starts" if r["start_draws"] else "")
        + f", {r['objective']} {r['before_x100']:.1f} -> {r['after_x100']:.1f}"))
    for note in result["warnings"]:
        lines.append(f"warning: {note}")
    return "\n".join(lines)


def patch_table(spec: SynthSpec, values: np.ndarray, classes: np.ndarray, confidence: np.ndarray) -> str:
    """A readable table of a patch: parameter, group, value, class, network confidence."""
    lines = [f"{'parameter':<22} {'group':<22} {'value':>12} {'class':>7} {'conf':>6}"]
    for p, v, c, s in zip(spec.parameters, values, classes, confidence):
        conf = f"{s:6.2f}" if np.isfinite(s) and 0 <= s <= 1 else "     -"
        lines.append(f"{p.name:<22} {p.group:<22} {v:>12.4g} {int(c):>4}/{p.levels:<2} {conf}")
    return "\n".join(lines)


#: Seconds between opening a MIDI output and sending: a JACK connection made on opening takes
#: effect a period or two later, and messages sent before it are lost.
PORT_SETTLE_S = 0.1


def send_over_midi(synth: Synth, values: np.ndarray, port_name: str, api: str | None,
                   note: int | str | None, channel: int) -> int:
    """Send the patch (and an optional test note) to ``port_name``; returns messages sent.

    The patch goes as the spec's CC/NRPN/program messages, or for a synth that takes voices
    (``dx7``) as one single-voice sysex dump, after which the synth gets
    ``spec.options["min_dump_interval_s"]`` (default 0.2 s) to take it before the note.
    ``note``: a MIDI note 0..127, ``"patch"`` for the patch's own note
    (:func:`~instrument.synths.midi_send.patch_note`), or None for no note.

    Raises:
        DeviceError: naming the port: no such port, or it does not take the messages.
    """
    import mido

    from controllers.ports import open_output
    from instrument.synths.midi_send import dump_interval, patch_note, send_messages, synth_messages

    spec = synth.spec
    messages = synth_messages(synth, values, channel)
    if not messages:
        print(f"synth {spec.name!r} has no MIDI mapping in its spec; no parameter messages sent",
              file=sys.stderr)
    if note == "patch":
        note = patch_note(spec, values)
    if note is not None and not 0 <= int(note) <= 127:
        raise SynthError(f"--note must be a MIDI note 0..127, got {note}")
    settle = dump_interval(spec) if takes_voices(synth) else 0.0
    port = open_output(port_name, api, "--midi-out")  # DeviceError naming the port and the fix
    with port:
        time.sleep(PORT_SETTLE_S)
        sent = send_messages(port, messages)
        if note is not None:
            time.sleep(settle)
            sent += send_messages(port, [mido.Message("note_on", channel=channel, note=int(note),
                                                      velocity=100)])
            time.sleep(spec.seconds)
            sent += send_messages(port, [mido.Message("note_off", channel=channel, note=int(note),
                                                      velocity=0)])
    return sent
