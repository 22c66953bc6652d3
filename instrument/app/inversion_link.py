"""``latent perform --invert-model``: the inversion follower that sends a synth the patch it hears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instrument.errors import ConfigError
from instrument.inversion.model import load_inversion_model


def inversion_report(worker: Any) -> str:
    """One summary line on an ``InversionWorker``: inferences, MIDI messages, dropped blocks, error."""
    text = (f"inversion follower: {worker.follower.inferences} inferences, {worker.sent} MIDI messages sent, "
            f"{worker.dropped} input blocks dropped")
    return text + (f", stopped by {type(worker.error).__name__}: {worker.error}" if worker.error else "")


def open_inversion_follower(model_path: Path, port: str, midi_api: str | None,
                            sample_rate: int) -> tuple[Any, Any]:
    """``--invert-model``: an InversionWorker following the input (``sample_rate`` Hz), sending MIDI to ``port``.

    Returns ``(worker, output port)``; the worker is not started yet.
    Raises :class:`DeviceError` when no MIDI output port matches ``port``.
    """
    from controllers.midi_api import midi_backend
    from controllers.midi_api import resolve_api_name
    from controllers.ports import find_port

    try:
        from instrument.inversion.follower import InversionFollower, InversionWorker
    except ImportError as exc:
        raise ConfigError(f"the live inversion follower is not installed: {exc}") from exc
    from instrument.synths.midi_send import send_messages

    backend = midi_backend(midi_api)
    names = backend.get_output_names()
    name = find_port(names, port, "output", resolve_api_name(midi_api))  # DeviceError: none or several
    follower = InversionFollower(load_inversion_model(model_path), input_sample_rate=sample_rate)
    out = backend.open_output(name)
    worker = InversionWorker(follower, lambda messages: send_messages(out, messages))
    return worker, out
