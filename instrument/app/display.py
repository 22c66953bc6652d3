"""Display and control-side plumbing of ``latent perform``.

The worker thread turns the engine's state into :class:`~instrument.app.window.DisplaySnapshot`
objects (:class:`EngineView`, :func:`unit_truth`); the control side (window or
headless loop) reads them back to keep the shared control surface's mirror
(soft takeover, LEDs) in sync with the engine (:func:`sync_surface`). The
computer keyboard drives the same surface as the MIDI controller (:func:`key_handler`).
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from controllers.actions import Action
from instrument.app.window import BANK_SIZE, DisplaySnapshot

if TYPE_CHECKING:
    from instrument.engine.engine import Engine


class EngineView:
    """Builds display snapshots from ``instrument.engine.engine.Engine``'s display state (worker thread)."""

    def __init__(self) -> None:
        self._latent = np.zeros(BANK_SIZE, np.float32)
        self._scales = np.zeros(BANK_SIZE, np.float32)

    def __call__(self, engine: Engine) -> DisplaySnapshot:
        view = engine.units_in_view
        count = len(view)
        units = np.full(BANK_SIZE, -1)
        units[:count] = np.arange(view.start, view.stop)
        state = engine.unit_state
        knobs = np.zeros(BANK_SIZE, np.float32)
        muted = np.zeros(BANK_SIZE, bool)
        soloed = np.zeros(BANK_SIZE, bool)
        knobs[:count] = state.knobs[view.start:view.stop]
        muted[:count] = state.muted[view.start:view.stop]
        soloed[:count] = state.soloed[view.start:view.stop]
        source = engine.source
        return DisplaySnapshot(
            model_name=engine.model_name, model_index=int(engine.model_index),
            n_models=max(1, len(engine.model_names)), n_units=engine.n_units, bank=engine.bank, units=units,
            scales=engine.scales_view(self._scales).copy(),
            activations=engine.latent_view(self._latent).copy(),
            knobs=knobs, muted=muted, soloed=soloed, source_mode=engine.source_mode,
            synth=bool(engine.synth), playing=bool(engine.playing),
            progress=getattr(source, "progress", None), latency_ms=float(engine.latency_ms),
            master_gain_db=float(engine.master_gain_db), auto_gain=bool(engine.auto_gain),
            auto_gain_db=float(engine.loudness.gain_db), gain_reduction_db=float(engine.limiter_meter_db))


def unit_truth(engine: Engine) -> dict[str, Any]:
    """The engine's full control state, for ``ControlSurface.sync`` on the control side."""
    state = engine.unit_state
    return {"scales": state.scales.tolist(), "knobs": state.knobs.tolist(),
            "solo": state.soloed.tolist(), "mute": state.muted.tolist(),
            "playing": bool(engine.playing), "synth": bool(engine.synth),
            "wet_dry": float(engine.wet_dry), "master_gain_db": float(engine.master_gain_db),
            "auto_gain": bool(engine.auto_gain)}


def sync_one(surface: Any, snap: DisplaySnapshot) -> None:
    """Re-sync the control surface to the engine state a snapshot carries (if it carries one)."""
    if snap.unit_truth is not None:
        surface.sync(**snap.unit_truth)


def sync_surface(surface: Any, snapshots: "queue.Queue[DisplaySnapshot]") -> None:
    """Headless control side: drain snapshots and keep the control surface's mirror in sync."""
    while True:
        try:
            sync_one(surface, snapshots.get_nowait())
        except queue.Empty:
            return


def control_status(surface: Any) -> Callable[[], tuple[bool, str]]:
    """``(shift held, prompt)`` of the control surface, for the window to draw each frame."""
    return lambda: (bool(surface.shift), str(surface.prompt()))


def key_handler(surface: Any) -> Callable[[Any], list[Action]]:
    """Computer-keyboard fallback (``controllers.keyboard``) sharing the MIDI surface."""
    from controllers.keyboard import KeyboardControl

    keyboard = KeyboardControl(surface)
    return lambda event: keyboard.handle_key(event.key, getattr(event, "mod", 0))
