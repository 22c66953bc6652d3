"""The performance window renders off-screen (SDL dummy driver) and shows the units' state."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
import pytest

from controllers.actions import Action
from instrument.app.window import (BANK_SIZE, FADER, MUTE, SOLO, DisplaySnapshot, PerformanceWindow,
                               ScrollingSpectrogram)

pygame = pytest.importorskip("pygame")


def _snapshot(n_bins: int = 513) -> DisplaySnapshot:
    rng = np.random.default_rng(0)
    scales = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 1.0, 1.0, 0.25], np.float32)
    muted = np.zeros(BANK_SIZE, bool)
    muted[5] = True
    soloed = np.zeros(BANK_SIZE, bool)
    soloed[6] = True
    bins = np.arange(n_bins)
    frames = np.stack([np.exp(-((bins - 40 - 3 * t) / 15.0) ** 2) * 4 for t in range(60)]).astype(np.float32)
    return DisplaySnapshot(
        hop_index=861, time_s=10.0, model_name="reconstruct", n_units=16, bank=1,
        units=np.arange(8, 16), scales=scales, knobs=np.ones(BANK_SIZE, np.float32),
        activations=rng.uniform(-1, 1, BANK_SIZE).astype(np.float32), muted=muted, soloed=soloed,
        source_mode="file", synth=True, playing=True, progress=0.42,
        in_frames=frames, out_frames=frames * 0.5, cpu_load=0.31, dsp_load=0.12, xruns=2,
        underflows=1, latency_ms=46.0, midi_status="nanoKONTROL2 connected")


def _column_has(surface_rgb: np.ndarray, x0: int, x1: int, color: tuple[int, int, int]) -> int:
    region = surface_rgb[x0:x1, 80:380]  # the unit panels
    return int(np.all(region == np.array(color, np.uint8), axis=-1).sum())


def test_window_draws_faders_mute_solo_and_spectrogram(tmp_path: Path) -> None:
    window = PerformanceWindow()
    try:
        snaps: "queue.Queue[DisplaySnapshot]" = queue.Queue()
        snaps.put(_snapshot())
        assert window.drain(snaps) == 1
        window.draw()
        path = window.save_screenshot(tmp_path / "window.png")
        rgb = pygame.surfarray.array3d(pygame.image.load(str(path)))
    finally:
        window.close()
    assert rgb.shape[:2] == (960, 600)
    col_w = (960 - 32) // BANK_SIZE
    fader_px = [_column_has(rgb, 16 + i * col_w + 14, 16 + i * col_w + 36, FADER) for i in range(BANK_SIZE)]
    assert fader_px[0] == 0, "a fader at 0 must draw no bar"
    assert fader_px[1] < fader_px[2] < fader_px[3] < fader_px[4], fader_px
    assert _column_has(rgb, 16 + 5 * col_w, 16 + 6 * col_w, MUTE) > 100
    assert _column_has(rgb, 16 + 6 * col_w, 16 + 7 * col_w, SOLO) > 100
    assert _column_has(rgb, 16 + 4 * col_w, 16 + 5 * col_w, MUTE) == 0
    spectrogram = rgb[16:16 + 440, 404:554]
    assert spectrogram.reshape(-1, 3).max(axis=0).sum() > 400, "spectrogram panel is blank"


def test_window_close_sends_quit() -> None:
    sent: list[Action] = []
    window = PerformanceWindow(submit=sent.extend)
    try:
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        window.handle_events()
    finally:
        window.close()
    assert window.closed
    assert [a.name for a in sent] == ["quit"]


def test_spectrogram_scrolls_left() -> None:
    spec = ScrollingSpectrogram(width=10, height=8)
    frame = np.full((1, 64), 3.0, np.float32)
    spec.push(frame)
    assert spec.intensity[-1].max() > 0.9 and spec.intensity[:-1].max() == 0
    spec.push(np.zeros((2, 64), np.float32))
    assert spec.intensity[-3].max() > 0.9 and spec.intensity[-1].max() == 0


def test_computer_keys_go_through_the_control_surface() -> None:
    from controllers.maps import load_map
    from presets import CONTROLLER_MAPS_DIR
    from controllers.surface import ControlSurface
    from instrument.app.display import key_handler

    surface = ControlSurface(load_map("nanokontrol2", CONTROLLER_MAPS_DIR), 16)
    sent: list[Action] = []
    window = PerformanceWindow(submit=sent.extend, key_handler=key_handler(surface))
    try:
        for key in (pygame.K_z, pygame.K_RIGHTBRACKET, pygame.K_UP, pygame.K_q, pygame.K_q):  # q twice quits
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0))
        window.handle_events()
    finally:
        window.close()
    assert [a.name for a in sent] == ["zero_all", "bank", "scale_unit", "quit"]
    assert sent[1].args == {"bank": 1}
    assert sent[2].args["unit"] == 8 and sent[2].args["value"] == pytest.approx(0.05)


def test_window_shows_model_shift_and_quit_prompt(tmp_path: Path) -> None:
    from controllers.keyboard import QUIT_PROMPT

    window = PerformanceWindow()
    try:
        window.update(_snapshot())
        window.draw()
        plain = pygame.surfarray.array3d(window.screen).copy()
        snap = _snapshot()
        snap.model_name, snap.model_index, snap.n_models = "strings", 1, 2
        snap.shift, snap.prompt = True, QUIT_PROMPT
        window.update(snap)
        assert pygame.display.get_caption()[0] == "Latent Instrument - strings"
        window.draw()
        window.save_screenshot(tmp_path / "shift.png")
        shifted = pygame.surfarray.array3d(window.screen)
    finally:
        window.close()
    badge = shifted[868:944, 42:66]
    assert np.all(badge == np.array(SOLO, np.uint8), axis=-1).sum() > 800, "no SHIFT badge"
    assert np.all(plain[868:944, 42:66] == np.array(SOLO, np.uint8), axis=-1).sum() == 0
    assert np.any(shifted[300:560, 540:566] != plain[300:560, 540:566]), "no quit prompt"
    assert np.any(shifted[260:520, 10:34] != plain[260:520, 10:34]), "model line unchanged"
