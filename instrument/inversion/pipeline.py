"""The invert job at play time: sound -> patch (network, optional refinement), table, MIDI."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from instrument.errors import ModelError, SynthError


def load_model_and_synth(model: str | Path | None, synth_name: str | None) -> tuple[Any, Any]:
    """(InversionModel, synth) for a model file (None: the shipped model of ``synth_name``, else
    inversynth) and an optional synth name the model must be for."""
    from instrument.inversion.model import default_model_path, load_inversion_model
    from instrument.synths.registry import get_synth

    if synth_name is not None:
        get_synth(synth_name)  # SynthError for unknown names before touching any model
    model_path = Path(model) if model else default_model_path(synth_name or "inversynth")
    inv = load_inversion_model(model_path)
    if synth_name is not None and synth_name != inv.synth_name:
        raise ModelError(f"{model_path}: model is for synth {inv.synth_name!r}, not {synth_name!r}")
    synth = get_synth(inv.synth_name, spec=inv.spec)
    return inv, synth


def invert_audio(inv: Any, synth: Any, audio: np.ndarray, refine_seconds: float = 0.0
                 ) -> dict[str, Any]:
    """Predict (and optionally refine) a patch for synth-rate audio.

    Returns:
        dict with ``values`` (n_params,), ``classes``, ``confidence`` (score of the chosen class),
        ``audio`` (fitted input), ``rendered``, ``metrics``, ``warnings``, ``refine`` (or None).
    """
    from instrument.inversion.model import fit_to_length, normalise_peak
    from instrument.inversion.metrics import audio_metrics
    from instrument.inversion.refine.search import RefineConfig, refine

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


def send_over_midi(spec: Any, values: np.ndarray, port_name: str, api: str | None, note: int | None,
                   channel: int) -> int:
    """Send the patch (and an optional test note) to ``port_name``; returns messages sent."""
    import mido

    from controllers.ports import open_output
    from instrument.synths.midi_send import patch_messages, send_messages

    messages = patch_messages(values, spec, channel)
    if not messages:
        print(f"synth {spec.name!r} has no MIDI mapping in its spec; no parameter messages sent",
              file=sys.stderr)
    if note is not None and not 0 <= note <= 127:
        raise SynthError(f"--note must be a MIDI note 0..127, got {note}")
    port = open_output(port_name, api, "--midi-out")  # DeviceError naming the port and the fix
    with port:
        sent = send_messages(port, messages)
        if note is not None:
            port.send(mido.Message("note_on", channel=channel, note=note, velocity=100))
            time.sleep(spec.seconds)
            port.send(mido.Message("note_off", channel=channel, note=note, velocity=0))
            sent += 2
    return sent
