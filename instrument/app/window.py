"""The performance window (pygame): Sarroff & Casey's information window (Fig. 3) and more.

Shows the 8 latent units in view (index, fader scale, knob, mute/solo, current
activation as bars), the bank, the source (original/synth) and play state, a
scrolling input and output spectrogram, the processing thread's CPU load, the
xrun/underflow counter, latency and the MIDI port status. Computer keys are
turned into actions by a key handler (``controllers.keyboard``) and sent to the
processing side over the action queue.

The window runs on the main thread at ~30 fps and only *reads* display
snapshots (:class:`DisplaySnapshot`) from the status queue; it never touches the
engine. ``SDL_VIDEODRIVER=dummy`` renders off-screen (tests, screenshots).
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from controllers.actions import Action
from instrument.errors import DeviceError

BANK_SIZE = 8
WIDTH, HEIGHT = 960, 600
SPEC_WIDTH, SPEC_HEIGHT = 440, 150
UNITS_TOP, BAR_H = 80, 220
#: Fader bars span 0..FADER_FULL_SCALE (values above are drawn full and marked).
FADER_FULL_SCALE = 2.0
#: The limiter meter (between the spectrograms) spans 0..GR_FULL_SCALE_DB of gain reduction.
GR_FULL_SCALE_DB = 24.0

BACKGROUND = (18, 20, 26)
PANEL = (34, 38, 48)
TEXT = (225, 228, 235)
DIM = (130, 136, 150)
FADER = (60, 200, 90)
KNOB = (80, 150, 230)
ACTIVATION = (245, 160, 40)
MUTE = (220, 60, 60)
SOLO = (240, 210, 60)
WARN = (255, 90, 90)


@dataclass
class DisplaySnapshot:
    """What the processing side shows the window, sent ~30 times a second.

    Per-unit arrays have shape ``(BANK_SIZE,)`` and describe the units in view
    (``units``; -1 marks a slot past the last unit). Spectrogram frames are
    ``log1p|STFT|`` of the hops processed since the previous snapshot, shape
    ``(k, n_bins)``.
    """

    hop_index: int = 0
    time_s: float = 0.0
    model_name: str = ""
    model_index: int = 0
    n_models: int = 1
    n_units: int = BANK_SIZE
    bank: int = 0
    units: np.ndarray = field(default_factory=lambda: np.arange(BANK_SIZE))
    scales: np.ndarray = field(default_factory=lambda: np.ones(BANK_SIZE, np.float32))
    knobs: np.ndarray = field(default_factory=lambda: np.ones(BANK_SIZE, np.float32))
    activations: np.ndarray = field(default_factory=lambda: np.zeros(BANK_SIZE, np.float32))
    muted: np.ndarray = field(default_factory=lambda: np.zeros(BANK_SIZE, bool))
    soloed: np.ndarray = field(default_factory=lambda: np.zeros(BANK_SIZE, bool))
    source_mode: str = "file"
    synth: bool = True
    playing: bool = True
    progress: float | None = None
    in_frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    out_frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    cpu_load: float = 0.0
    dsp_load: float = 0.0
    xruns: int = 0
    underflows: int = 0
    latency_ms: float = 0.0
    ahead_ms: float = 0.0
    #: output stages: master gain (dB), loudness compensation (on, its gain in dB), and the
    #: safety limiter's gain reduction (dB >= 0, peak-held)
    master_gain_db: float = 0.0
    auto_gain: bool = False
    auto_gain_db: float = 0.0
    gain_reduction_db: float = 0.0
    midi_status: str = "no MIDI"
    osc_status: str = ""  # "OSC: N received, M ignored" with --osc-port, else empty (not drawn)
    message: str = ""
    #: control side (set by the window each frame): a shift button is held; a pending gesture's prompt
    shift: bool = False
    prompt: str = ""
    #: the engine's full unit state after a state-changing action (for the MIDI surface), else None
    unit_truth: dict[str, Any] | None = None


def display_available() -> bool:
    """True if pygame can open a window here (a real display or SDL's dummy driver)."""
    if os.environ.get("SDL_VIDEODRIVER") == "dummy":
        return True
    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    return True


def _spectrum_column(frame: np.ndarray, height: int, top_db_log: float) -> np.ndarray:
    """Map one log-magnitude frame ``(n_bins,)`` to ``height`` intensities 0..1 (low bins at the bottom)."""
    n_bins = frame.shape[0]
    edges = np.linspace(0, n_bins, height + 1).astype(int)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
    edges = np.minimum(edges, n_bins)
    col = np.maximum.reduceat(frame, np.minimum(edges[:-1], n_bins - 1))
    return np.clip(col / top_db_log, 0.0, 1.0)[::-1]


def _colormap(values: np.ndarray) -> np.ndarray:
    """Intensities 0..1 of any shape -> uint8 RGB (a dark-blue/magenta/yellow ramp)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    low = np.array([10, 10, 40], np.float32)
    mid = np.array([190, 40, 120], np.float32)
    high = np.array([255, 230, 90], np.float32)
    rgb = np.where(v < 0.5, low + (mid - low) * (v * 2), mid + (high - mid) * (v * 2 - 1))
    return rgb.astype(np.uint8)


class ScrollingSpectrogram:
    """A ``(width, height)`` image that scrolls left by one column per frame pushed."""

    def __init__(self, width: int = SPEC_WIDTH, height: int = SPEC_HEIGHT) -> None:
        self.width, self.height = width, height
        self.intensity = np.zeros((width, height), np.float32)
        self._rgb = np.ascontiguousarray(_colormap(self.intensity))
        self.scale = 3.0  # log1p magnitude shown as full intensity; adapts to the signal

    def push(self, frames: np.ndarray) -> None:
        """Append frames ``(k, n_bins)`` on the right (only the new columns are colour-mapped)."""
        if frames.size == 0:
            return
        k = min(len(frames), self.width)
        self.scale = max(0.98 * self.scale, float(frames.max()), 1.0)
        cols = np.stack([_spectrum_column(f, self.height, self.scale) for f in frames[-k:]])
        self.intensity[:-k] = self.intensity[k:]
        self.intensity[-k:] = cols
        self._rgb[:-k] = self._rgb[k:]
        self._rgb[-k:] = _colormap(cols)

    def rgb(self) -> np.ndarray:
        """uint8 ``(width, height, 3)`` for ``pygame.surfarray`` (a view: do not modify)."""
        return self._rgb


KeyHandler = Callable[[Any], Sequence[Action]]


class PerformanceWindow:
    """The pygame window. Create and use it on the main thread only.

    Args:
        submit: sends actions to the processing side (window keys; closing sends ``quit``).
        key_handler: turns a pygame KEYDOWN event into actions (``controllers.keyboard``).
        title: window caption.
    """

    def __init__(self, submit: Callable[[Sequence[Action]], None] | None = None,
                 key_handler: KeyHandler | None = None, title: str = "Latent Instrument") -> None:
        if not display_available():
            raise DeviceError("no display for the performance window (DISPLAY is not set); "
                              "run with --headless, or set SDL_VIDEODRIVER=dummy for an off-screen window")
        import pygame

        self._pg = pygame
        pygame.display.init()
        pygame.font.init()
        try:
            self.screen = pygame.display.set_mode((WIDTH, HEIGHT))
        except pygame.error as exc:
            raise DeviceError(f"cannot open the performance window ({exc}); run with --headless") from exc
        pygame.display.set_caption(title)
        self.font = pygame.font.Font(None, 22)
        self.big = pygame.font.Font(None, 30)
        self.small = pygame.font.Font(None, 18)
        self.clock = pygame.time.Clock()
        self.submit = submit
        self.key_handler = key_handler
        self.snapshot = DisplaySnapshot()
        self.spec_in = ScrollingSpectrogram()
        self.spec_out = ScrollingSpectrogram()
        self._spec_surfaces = [pygame.Surface((SPEC_WIDTH, SPEC_HEIGHT)) for _ in range(2)]
        self._background = pygame.Surface((WIDTH, HEIGHT))
        self._background.fill(BACKGROUND)
        col_w = (WIDTH - 32) // BANK_SIZE
        for slot in range(BANK_SIZE):
            pygame.draw.rect(self._background, PANEL, (16 + slot * col_w + 4, UNITS_TOP, col_w - 8, BAR_H + 70),
                             border_radius=6)
        self._act_peak = 1e-3
        self.frames_drawn = 0
        self.closed = False
        self.on_snapshot: Callable[[DisplaySnapshot], Any] | None = None

    # -- state ------------------------------------------------------------------------------------
    def update(self, snapshot: DisplaySnapshot) -> None:
        """Take one snapshot: push its spectrogram frames and keep it for drawing."""
        if self.on_snapshot is not None:
            self.on_snapshot(snapshot)
        if snapshot.model_name != self.snapshot.model_name:  # model switched: the caption follows
            self._pg.display.set_caption(f"Latent Instrument - {snapshot.model_name}")
        self.spec_in.push(snapshot.in_frames)
        self.spec_out.push(snapshot.out_frames)
        self.snapshot = snapshot

    def drain(self, snapshots: "queue.Queue[DisplaySnapshot]") -> int:
        """Take every snapshot waiting in the queue (non-blocking); return how many."""
        count = 0
        while True:
            try:
                self.update(snapshots.get_nowait())
            except queue.Empty:
                return count
            count += 1

    def handle_events(self) -> None:
        """Window close -> quit action; keys -> key handler actions."""
        pg = self._pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                self._send(Action("quit"))
                self.closed = True
            elif event.type == pg.KEYDOWN and self.key_handler is not None:
                for action in self.key_handler(event):
                    self._send(action)

    def _send(self, action: Action) -> None:
        if self.submit is not None:
            self.submit([action])

    # -- drawing ----------------------------------------------------------------------------------
    def _text(self, text: str, pos: tuple[int, int], color: tuple[int, int, int] = TEXT,
              font: Any = None) -> None:
        surface = (font or self.font).render(text, True, color)
        self.screen.blit(surface, pos)

    def draw(self) -> None:
        pg = self._pg
        s = self.snapshot
        screen = self.screen
        screen.blit(self._background, (0, 0))  # fill and unit panels, drawn once
        # header: model, bank, source, transport
        first = s.bank * BANK_SIZE
        last = min(first + BANK_SIZE, s.n_units) - 1
        self._text("Latent Instrument", (16, 12), TEXT, self.big)
        models = f" ({s.model_index + 1}/{s.n_models})" if s.n_models > 1 else ""
        self._text(f"model: {s.model_name or '-'}{models}", (260, 16), TEXT if models else DIM)
        units_text = f"units {first}-{last} of {s.n_units}" if s.n_units else "no latent units"
        self._text(f"bank {s.bank}  {units_text}", (560, 16))
        source = "SYNTH" if s.synth else "ORIGINAL"
        transport = "PLAY" if s.playing else "PAUSED"
        progress = f"  {100 * s.progress:5.1f}%" if s.progress is not None else ""
        self._text(f"source: {s.source_mode} -> {source}", (16, 48), FADER if s.synth else SOLO)
        self._text(f"{transport}{progress}", (300, 48), TEXT if s.playing else WARN)
        self._text(f"t = {s.time_s:7.2f} s   hop {s.hop_index}", (560, 48), DIM)
        if s.shift:
            pg.draw.rect(screen, SOLO, (868, 42, 76, 24), border_radius=4)
            self._text("SHIFT", (882, 47), BACKGROUND)
        # the 8 units in view
        top, bar_h, col_w = UNITS_TOP, BAR_H, (WIDTH - 32) // BANK_SIZE
        # activations are drawn relative to the bank's recent peak (decaying), so units compare
        self._act_peak = max(self._act_peak * 0.995, float(np.abs(s.activations[:BANK_SIZE]).max(initial=0.0)), 1e-3)
        for slot in range(BANK_SIZE):
            x = 16 + slot * col_w
            unit = int(s.units[slot]) if slot < len(s.units) else -1
            if unit < 0:
                self._text("-", (x + col_w // 2 - 4, top + 8), DIM)
                continue
            self._text(f"unit {unit}", (x + 12, top + 6))
            base = top + 30 + bar_h - 30
            full = bar_h - 40
            # fader (scale) bar
            scale = float(s.scales[slot])
            h = int(round(full * min(scale, FADER_FULL_SCALE) / FADER_FULL_SCALE))
            pg.draw.rect(screen, (50, 54, 66), (x + 14, base - full, 22, full))
            if h > 0:
                pg.draw.rect(screen, FADER, (x + 14, base - h, 22, h))
            # knob bar
            knob = float(s.knobs[slot])
            hk = int(round(full * min(knob, FADER_FULL_SCALE) / FADER_FULL_SCALE))
            pg.draw.rect(screen, (50, 54, 66), (x + 40, base - full, 10, full))
            if hk > 0:
                pg.draw.rect(screen, KNOB, (x + 40, base - hk, 10, hk))
            # activation bar (relative to this unit's recent peak)
            act = abs(float(s.activations[slot])) / self._act_peak
            ha = int(round(full * min(act, 1.0)))
            pg.draw.rect(screen, (50, 54, 66), (x + 56, base - full, 22, full))
            if ha > 0:
                pg.draw.rect(screen, ACTIVATION, (x + 56, base - ha, 22, ha))
            self._text(f"x{scale:.2f}", (x + 12, base + 6), TEXT, self.small)
            self._text(f"a {float(s.activations[slot]):+.2f}", (x + 12, base + 22), DIM, self.small)
            # mute / solo boxes
            m_color = MUTE if bool(s.muted[slot]) else (60, 64, 76)
            s_color = SOLO if bool(s.soloed[slot]) else (60, 64, 76)
            pg.draw.rect(screen, m_color, (x + 14, base + 40, 26, 18))
            pg.draw.rect(screen, s_color, (x + 46, base + 40, 26, 18))
            self._text("M", (x + 21, base + 42), BACKGROUND, self.small)
            self._text("S", (x + 54, base + 42), BACKGROUND, self.small)
        # spectrograms
        spec_top = top + bar_h + 84
        for i, (label, spec) in enumerate((("input", self.spec_in), ("output", self.spec_out))):
            x = 16 + i * (SPEC_WIDTH + 48)
            self._text(label, (x, spec_top - 2), DIM, self.small)
            pg.surfarray.blit_array(self._spec_surfaces[i], spec.rgb())
            screen.blit(self._spec_surfaces[i], (x, spec_top + 14))
        self._draw_output_meter(spec_top)
        # status line
        y = HEIGHT - 28
        cpu_color = WARN if s.cpu_load > 0.8 else TEXT
        self._text(f"CPU {100 * s.cpu_load:5.1f}%  (DSP {100 * s.dsp_load:5.1f}% of a hop)", (16, y), cpu_color)
        xrun_color = WARN if s.xruns else TEXT
        self._text(f"xruns {s.xruns}  underflows {s.underflows}", (330, y), xrun_color)
        self._text(f"latency {s.latency_ms:.0f} ms", (540, y), DIM)
        self._text(s.midi_status if s.midi_status.startswith("MIDI") else f"MIDI: {s.midi_status}", (660, y), DIM)
        if s.message:
            self._text(s.message, (16, HEIGHT - 52), SOLO, self.small)
        if s.prompt:
            self._text(s.prompt, (300, HEIGHT - 50), WARN)
        if s.osc_status:
            self._text(s.osc_status, (660, HEIGHT - 48), DIM, self.small)
        pg.display.flip()
        self.frames_drawn += 1

    def _draw_output_meter(self, spec_top: int) -> None:
        """The limiter's gain reduction as a bar falling from the top (between the spectrograms)
        and the master gain / loudness compensation in the header."""
        pg = self._pg
        s = self.snapshot
        x, top = 16 + SPEC_WIDTH + 12, spec_top + 14
        reduction = max(0.0, float(s.gain_reduction_db))
        color = WARN if reduction >= 6.0 else ACTIVATION
        self._text("GR", (x + 3, spec_top - 2), DIM, self.small)
        pg.draw.rect(self.screen, (50, 54, 66), (x, top, 24, SPEC_HEIGHT))
        h = int(round(SPEC_HEIGHT * min(reduction, GR_FULL_SCALE_DB) / GR_FULL_SCALE_DB))
        if h > 0:
            pg.draw.rect(self.screen, color, (x, top, 24, h))
        self._text(f"{reduction:.0f}", (x + 5, top + SPEC_HEIGHT + 3), color if reduction >= 0.5 else DIM,
                   self.small)
        auto = f"  auto {s.auto_gain_db:+.1f}" if s.auto_gain else ""
        self._text(f"out {s.master_gain_db:+.1f} dB{auto}", (760, 16), TEXT if auto else DIM)

    def save_screenshot(self, path: str | Path) -> Path:
        """Write the current window contents as PNG."""
        path = Path(path)
        self._pg.image.save(self.screen, str(path))
        return path

    # -- main loop --------------------------------------------------------------------------------
    def run(self, snapshots: "queue.Queue[DisplaySnapshot]", stop: threading.Event,
            fps: int = 30, midi_status: Callable[[], str] | None = None,
            control_status: Callable[[], tuple[bool, str]] | None = None) -> None:
        """Draw at ``fps`` until ``stop`` is set or the window is closed (then a quit action is sent).

        ``control_status`` gives ``(shift held, prompt)`` of the control side each frame.
        """
        while not stop.is_set() and not self.closed:
            self.handle_events()
            self.drain(snapshots)
            if midi_status is not None:
                self.snapshot.midi_status = midi_status()
            if control_status is not None:
                self.snapshot.shift, self.snapshot.prompt = control_status()
            self.draw()
            self.clock.tick(fps)  # sleeps: no busy-wait

    def close(self) -> None:
        self._pg.display.quit()
