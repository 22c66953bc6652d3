"""The ``dx7`` synth: DX7 voices rendered by Dexed's engine (dexed-py), and the 32-voice bank format.

This is the only module that imports dexed-py (GPL-3.0-or-later; the optional extra ``dx7``).
Each patch is loaded as a voice into a Dexed instance (one per thread: an instance renders one
voice at a time) and played at its ``note`` (velocity ``options.velocity``, key held for
``options.note_seconds``) for the spec's clip length at the spec's rate. Clips are normalised to
peak 1 like the other synths' (the inversion networks see peak-normalised sounds; the voice keeps
its output levels). At Dexed's own level (:meth:`Dx7Synth.render_raw`) a carrier at output level
99 peaks near full scale, so several loud carriers clip; the prior keeps that rare.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

try:
    import dexed
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from instrument.errors import SynthError

    raise SynthError("the dx7 synth needs dexed-py: pip install -e \".[dx7]\" (make demo and make test "
                     "install it)") from exc

from instrument.dsp.gain import normalise_peak, peak_gains
from instrument.errors import SynthError
from instrument.io.output_paths import atomic_path
from instrument.synths.base import Synth, clip_features
from instrument.synths.dx7.sysex import BANK_PAYLOAD_BYTES, read_syx, voice_dump
from instrument.synths.dx7.prior import sample_musical
from instrument.synths.dx7.voice import (LAYOUT, NAME_LENGTH, NAME_OFFSET, VOICE_BYTES, VoiceCodec, check_voice,
                                          held_voice)
from instrument.synths.prior import GaussianPrior
from instrument.synths.spec import SynthSpec
from instrument.synths.voice_files import BANK_VOICES

#: Carrier operators (0-based) of each algorithm 0..31, from dexed-py's algorithm table.
CARRIERS: tuple[tuple[int, ...], ...] = tuple(tuple(dexed.get_carriers(a)) for a in range(32))


def init_voice() -> np.ndarray:
    """Dexed's INIT VOICE as voice bytes ``(156,)`` uint8."""
    return np.frombuffer(dexed.Patch().to_sysex(), np.uint8).copy()


class Dx7Synth(Synth):
    """Renders values ``(batch, n_params)`` of a ``dx7`` spec with Dexed.

    Spec options: ``velocity`` (1..127, default 100), ``note_seconds`` (key held, default the clip
    length), ``default_note`` (MIDI note when the spec has no ``note`` parameter, default 60),
    ``held`` (DX7 values of voice parameters the spec does not vary, over Dexed's INIT VOICE).
    """

    #: Log magnitudes: a DX7 timbre lives in quiet modulator partials that a linear-magnitude
    #: PCC hardly sees (docs/inversion-notes.md).
    refine_objective = "pcc_log_stft"
    #: The network's first choice is often in a poor basin of the FM landscape; the best of up to 255
    #: patches drawn from its scores starts the search better (docs/inversion-notes.md).
    refine_start_samples = 255

    def __init__(self, spec: SynthSpec) -> None:
        super().__init__(spec)
        options = dict(spec.options)
        where = f"synth spec {spec.name!r}"
        self.velocity = int(options.get("velocity", 100))
        if not 1 <= self.velocity <= 127:
            raise SynthError(f"{where}: options.velocity must be 1..127, got {self.velocity}")
        self.note_seconds = float(options.get("note_seconds", spec.seconds))
        if not 0 < self.note_seconds <= spec.seconds:
            raise SynthError(f"{where}: options.note_seconds must be in (0, {spec.seconds}], "
                             f"got {self.note_seconds}")
        self.default_note = int(options.get("default_note", 60))
        held = options.get("held", {}) or {}
        if not isinstance(held, dict):
            raise SynthError(f"{where}: options.held must be a mapping of parameter -> value")
        self.codec = VoiceCodec(spec.names, held_voice(init_voice(), held, f"{where} options.held"))
        for p in spec.parameters:
            grid = p.grid()
            top = 127 if p.name == "note" else self._top(p.name)
            if np.any(grid != np.rint(grid)) or grid.min() < 0 or grid.max() > top:
                raise SynthError(f"{where}: parameter {p.name!r} must take whole values in 0..{top} "
                                 f"(its classes are {grid[:4].tolist()}...)")
        self._local = threading.local()
        self._level_gains: np.ndarray | None = None

    @staticmethod
    def _top(name: str) -> int:
        return LAYOUT[name][1]

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = dexed.DexedSynth(sample_rate=float(self.spec.sample_rate))._synth
            self._local.engine = engine
        return engine

    def _check(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, np.float64)
        if v.ndim == 1:
            v = v[None]
        if v.ndim != 2 or v.shape[1] != self.spec.n_params:
            raise SynthError(f"dx7 values must have shape (batch, {self.spec.n_params}), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise SynthError("dx7 values must be finite")
        return v

    def voices(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, n_params)`` -> voice bytes ``(batch, 156)`` uint8."""
        return self.codec.to_voices(self._check(values))

    def render(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, n_params)`` -> audio ``(batch, n_samples)`` float32, peak 1 like the
        other synths (silence stays 0); :meth:`render_raw` gives Dexed's own level."""
        return normalise_peak(self.render_raw(values))

    def render_features(self, values: np.ndarray) -> np.ndarray:
        """``features(render(values))`` with the peak normalisation folded into the STFT window
        (no pass over the audio but finding its peak; dataset generation is bound by this)."""
        raw = self.render_raw(values)
        return clip_features(raw, self.spec, scale=peak_gains(raw))

    def render_raw(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, n_params)`` -> audio ``(batch, n_samples)`` float32 at Dexed's level
        (a carrier at output level 99 peaks near 1; several loud ones clip)."""
        v = self._check(values)
        return self.render_voices(self.codec.to_voices(v), self.codec.notes(v, self.default_note))

    def render_voices(self, voices: np.ndarray, notes: Sequence[int]) -> np.ndarray:
        """Voice bytes ``(batch, 156)`` played at MIDI ``notes`` ``(batch,)`` -> ``(batch, n_samples)``."""
        engine = self._engine()
        n = self.spec.n_samples
        out = np.empty((len(voices), n), np.float32)
        seconds = n / self.spec.sample_rate
        for i, (voice, note) in enumerate(zip(voices, notes)):
            engine.load_sysex(voice.tobytes())
            out[i] = engine.render(int(note), self.velocity, self.note_seconds, seconds)[:n]
        return out

    def render_operators(self, values: np.ndarray) -> np.ndarray:
        """Each operator's output ``(batch, 6, n_samples)`` float32 (Dexed's ``render_all_ops``):
        the carriers' outputs (:meth:`carriers`) sum to :meth:`render_raw`."""
        v = self._check(values)
        voices, notes = self.codec.to_voices(v), self.codec.notes(v, self.default_note)
        engine = self._engine()
        n = self.spec.n_samples
        out = np.empty((len(v), 6, n), np.float32)
        for i, (voice, note) in enumerate(zip(voices, notes)):
            engine.load_sysex(voice.tobytes())
            out[i] = engine.render_all_ops(int(note), self.velocity, self.note_seconds,
                                           n / self.spec.sample_rate)[:6, :n]
        return out

    def output_level_gains(self) -> np.ndarray:
        """Peak amplitude of a lone sine carrier at each output level 0..99, ``(100,)`` float64
        (measured once from Dexed: about 6 dB per 8 steps above level 20, steeper below)."""
        if getattr(self, "_level_gains", None) is None:
            voice = init_voice()
            voice[LAYOUT["algorithm"][0]] = 31             # algorithm 32: six carriers
            for k in range(2, 7):                          # only OP1 sounds
                voice[LAYOUT[f"op{k}_level"][0]] = 0
            voices = np.repeat(voice[None], 100, axis=0)
            voices[:, LAYOUT["op1_level"][0]] = np.arange(100)
            audio = self.render_voices(voices, [69] * 100)
            self._level_gains = np.abs(audio[:, audio.shape[1] // 2:]).max(axis=1).astype(np.float64)
        return self._level_gains

    def carriers(self, values: np.ndarray) -> list[tuple[int, ...]]:
        """The carrier operators (0-based) of each patch's algorithm."""
        v = self._check(values)
        alg = self.codec.to_voices(v)[:, 134]
        return [CARRIERS[int(a)] for a in alg]

    def random_patches(self, rng: np.random.Generator, n: int,
                       prior: GaussianPrior | None = None) -> np.ndarray:
        """``n`` patches ``(n, n_params)``: from ``prior`` when given, else the musical prior."""
        if prior is not None:
            return prior.sample(self.spec, rng, n)
        return sample_musical(self.spec, rng, n, CARRIERS)

    # -- files -----------------------------------------------------------------
    def values_from_voices(self, voices: np.ndarray) -> np.ndarray:
        """Voice bytes ``(n, 156)`` -> spec values ``(n, n_params)`` snapped to the spec's classes
        (parameters the spec does not vary are dropped; the note is the default note)."""
        return self.spec.quantize(self.codec.from_voices(voices, self.default_note))

    def write_voice(self, path: str | Path, values: np.ndarray, name: str = "LATENT", channel: int = 0) -> Path:
        """Write one patch as a single-voice dump ``.syx`` (written to a temporary name, then renamed)."""
        voice = self.voices(values)[0]
        voice[NAME_OFFSET:NAME_OFFSET + NAME_LENGTH] = np.frombuffer(_voice_name(name), np.uint8)
        with atomic_path(path, "sysex file", SynthError) as tmp:
            tmp.write_bytes(voice_dump(voice, channel))
        return Path(path)

    def write_bank(self, path: str | Path, values: np.ndarray, names: Sequence[str] | None = None) -> Path:
        """Write up to 32 patches as a 32-voice bank dump ``.syx`` (the rest INIT VOICE)."""
        voices = self.voices(values)
        if len(voices) > BANK_VOICES:
            raise SynthError(f"a DX7 bank holds {BANK_VOICES} voices, got {len(voices)}")
        patches = []
        for i in range(BANK_VOICES):
            if i < len(voices):
                patch = dexed.Patch.from_sysex(voices[i].tobytes())
                patch.name = _voice_name(names[i] if names else f"LATENT {i + 1}").decode("ascii")
            else:
                patch = dexed.Patch()
            patches.append(patch)
        with atomic_path(path, "sysex file", SynthError) as tmp:
            dexed.Patch.save_to_bank(str(tmp), patches)
        return Path(path)


def _voice_name(name: str) -> bytes:
    """A DX7 voice name: 10 printable ASCII characters."""
    text = "".join(c if 32 <= ord(c) < 127 else "_" for c in str(name))[:NAME_LENGTH]
    return text.ljust(NAME_LENGTH).encode("ascii")


def read_voices(path: str | Path) -> np.ndarray:
    """The voices of a ``.syx`` single-voice or 32-voice dump -> voice bytes ``(n, 156)`` uint8.

    Raises:
        SynthError: not a DX7 voice or bank, damaged, or a parameter out of its DX7 range.
    """
    kind, payload = read_syx(path)
    if kind == "voice":
        return check_voice(np.frombuffer(payload, np.uint8)[None], str(path))
    if len(payload) != BANK_PAYLOAD_BYTES:  # parse_dump guarantees it; kept for the type
        raise SynthError(f"{path}: bank payload of {len(payload)} bytes")
    rows = [np.frombuffer(dexed.Patch.from_packed(payload[i * 128:(i + 1) * 128]).to_sysex(), np.uint8)
            for i in range(BANK_VOICES)]
    return check_voice(np.stack(rows), str(path))


def voice_to_patch_bytes(voice: np.ndarray) -> bytes:
    """Voice bytes ``(156,)`` as dexed-py decodes them (its ``Patch`` round trip), for checks."""
    return dexed.Patch.from_sysex(np.asarray(voice, np.uint8)[:VOICE_BYTES].tobytes()).to_sysex()
