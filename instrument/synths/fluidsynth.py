"""FluidSynth (FluidR3_GM) as an external target synth, driven by SoundFont NRPN messages.

A batch of patches is rendered by ONE ``fluidsynth`` process: the patches are laid
out one after another in a single MIDI file (slot ``i`` starts at
``i * (seconds + gap_seconds)``: program change and NRPNs, note on, note off at
``note_seconds``, All Sound Off at ``seconds``), rendered offline and cut back into
clips (after one throwaway warm-up slot). Every slot sends every parameter, so nothing leaks from one clip to the next
except what All Sound Off leaves (nothing audible). Event timing follows FluidSynth's
64-sample blocks, so clip onsets may jitter by up to 64 samples.

Clips are normalised to peak 1 (silent clips stay 0), like :mod:`inversynth`.

Speed: starting fluidsynth and loading FluidR3_GM costs about 1-1.5 s, then each
1 s clip about 15 ms; with 256 patches per file one process makes about 40 clips/s
(measured on a busy 2-core machine; ``latent bench datasets`` measures it).
Dataset generation runs one such process per core.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mido
import numpy as np

from instrument.dsp.gain import normalise_peak

from instrument.errors import SynthError
from instrument.synths import soundfont as sf_render
from instrument.synths.midi_send import patch_messages
from instrument.synths.base import Synth
from instrument.synths.spec import SynthSpec

ALL_SOUND_OFF = 120
#: Bounds of the options a spec can set: silence between clips, clips per fluidsynth
#: process, and the audio one process renders (all of it is held in memory).
MAX_GAP_SECONDS = 10.0
MAX_PATCHES_PER_FILE = 4096
MAX_FILE_SECONDS = 3600.0
#: FluidSynth renders (and dispatches MIDI events) in blocks of this many samples.
FLUID_BLOCK = 64


class FluidSynth(Synth):
    """``render(values (batch, n_params)) -> (batch, n_samples)`` float32 via the fluidsynth CLI.

    Args:
        spec: a spec whose parameters all have MIDI mappings (program / cc / nrpn).
        soundfont: SoundFont file, None for FluidR3_GM (see :func:`instrument.synths.soundfont.find_soundfont`).
        workers: fluidsynth processes run at once for large batches (threads wait on them).
        channel: MIDI channel used (not 9, the GM drum channel).
    """

    def __init__(self, spec: SynthSpec, soundfont: str | Path | None = None, workers: int = 1,
                 channel: int = 0) -> None:
        super().__init__(spec)
        unmapped = [p.name for p in spec.parameters if p.midi is None]
        if unmapped:
            raise SynthError(f"synth spec {spec.name!r}: parameter {unmapped[0]!r} has no MIDI "
                             "mapping (cc, nrpn or program), so fluidsynth cannot set it")
        if not isinstance(workers, int) or workers < 1:
            raise SynthError(f"fluidsynth workers must be a positive integer, got {workers!r}")
        if not isinstance(channel, int) or not 0 <= channel <= 15 or channel == 9:
            raise SynthError(f"fluidsynth channel must be 0..15 and not 9 (drums), got {channel!r}")
        opts = spec.options
        try:
            self.note = int(opts.get("note", 60))
            self.velocity = int(opts.get("velocity", 100))
            self.note_seconds = float(opts.get("note_seconds", 0.7 * spec.seconds))
            self.gap_seconds = float(opts.get("gap_seconds", 0.1))
            self.patches_per_file = int(opts.get("patches_per_file", 64))
        except (TypeError, ValueError, OverflowError) as exc:
            raise SynthError(f"synth spec {spec.name!r}: options note, velocity, note_seconds, "
                             f"gap_seconds and patches_per_file must be numbers ({exc})") from exc
        if not (0 <= self.note <= 127 and 1 <= self.velocity <= 127):
            raise SynthError(f"synth spec {spec.name!r}: options note/velocity out of MIDI range")
        if not 0 < self.note_seconds <= spec.seconds:
            raise SynthError(f"synth spec {spec.name!r}: need 0 < note_seconds <= seconds "
                             f"({spec.seconds:g}), got note_seconds {self.note_seconds:g}")
        if not 0.0 <= self.gap_seconds <= MAX_GAP_SECONDS:
            raise SynthError(f"synth spec {spec.name!r}: options.gap_seconds {self.gap_seconds:g} "
                             f"must be in 0..{MAX_GAP_SECONDS:g} s")
        if not 1 <= self.patches_per_file <= MAX_PATCHES_PER_FILE:
            raise SynthError(f"synth spec {spec.name!r}: options.patches_per_file "
                             f"{self.patches_per_file} must be in 1..{MAX_PATCHES_PER_FILE}")
        file_seconds = (self.patches_per_file + 1) * self.slot_seconds
        if file_seconds > MAX_FILE_SECONDS:
            raise SynthError(f"synth spec {spec.name!r}: options.patches_per_file "
                             f"{self.patches_per_file} x {self.slot_seconds:g} s slots make "
                             f"{file_seconds:g} s per fluidsynth render, above the limit of "
                             f"{MAX_FILE_SECONDS:g} s; lower patches_per_file")
        self.workers = workers
        self.channel = channel
        # resolve now, so a missing binary or SoundFont fails before any rendering
        self.binary = sf_render.fluidsynth_binary()
        self.soundfont = sf_render.find_soundfont(soundfont)

    @property
    def render_batch(self) -> int:
        """One fluidsynth process per ``patches_per_file`` patches (start-up is amortised)."""
        return self.patches_per_file

    @property
    def slot_seconds(self) -> float:
        """Clip + gap, rounded up to a whole number of quanta that are whole 64-sample
        FluidSynth blocks, whole milliseconds (its player clock) and whole MIDI ticks,
        so every clip starts at the same phase."""
        sr = self.spec.sample_rate
        ticks_per_block = FLUID_BLOCK * sf_render.TICKS_PER_BEAT * 1e6 / (
            sf_render.TEMPO_US_PER_BEAT * sr)
        ms_per_block = FLUID_BLOCK * 1000.0 / sr

        def whole(x: float) -> bool:
            return abs(x - round(x)) < 1e-6

        k = next((k for k in range(1, 4097)
                  if whole(k * ticks_per_block) and whole(k * ms_per_block)), 1)
        quantum = k * FLUID_BLOCK / sr
        return math.ceil((self.spec.seconds + self.gap_seconds) / quantum - 1e-9) * quantum

    def timed_messages(self, values: np.ndarray) -> list[tuple[float, mido.Message]]:
        """``(seconds, message)`` for a batch ``(batch, n_params)`` laid out in time slots."""
        ch = self.channel
        out: list[tuple[float, mido.Message]] = []
        for i, row in enumerate(np.asarray(values, dtype=np.float64)):
            t0 = i * self.slot_seconds
            out.extend((t0, m) for m in patch_messages(row, self.spec, ch))
            out.append((t0, mido.Message("note_on", channel=ch, note=self.note,
                                         velocity=self.velocity)))
            out.append((t0 + self.note_seconds,
                        mido.Message("note_off", channel=ch, note=self.note, velocity=0)))
            out.append((t0 + self.spec.seconds,
                        mido.Message("control_change", channel=ch, control=ALL_SOUND_OFF, value=0)))
        return out

    def _render_chunk(self, values: np.ndarray) -> np.ndarray:
        # slot 0 is a throwaway warm-up (the very first note of a process renders slightly
        # differently); clips come from slots 1..n
        n = len(values)
        total = (n + 1) * self.slot_seconds
        audio = sf_render.render_messages(self.timed_messages(np.concatenate([values[:1], values])),
                                          total, self.spec.sample_rate, soundfont=self.soundfont)
        clip = self.spec.n_samples
        starts = np.rint(np.arange(1, n + 1) * self.slot_seconds
                         * self.spec.sample_rate).astype(int)
        clips = np.stack([audio[s:s + clip] for s in starts]).astype(np.float32)
        return normalise_peak(clips)

    def render(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, n_params)`` -> audio ``(batch, n_samples)`` float32, peak 1."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim == 1:
            v = v[None]
        if v.ndim != 2 or v.shape[1] != self.spec.n_params:
            raise SynthError(f"{self.spec.name} values must have shape (batch, "
                             f"{self.spec.n_params}), got {v.shape}")
        if len(v) == 0:
            return np.zeros((0, self.spec.n_samples), dtype=np.float32)
        chunks = [v[i:i + self.patches_per_file] for i in range(0, len(v), self.patches_per_file)]
        if self.workers == 1 or len(chunks) == 1:
            return np.concatenate([self._render_chunk(c) for c in chunks])
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return np.concatenate(list(pool.map(self._render_chunk, chunks)))

