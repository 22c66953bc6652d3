"""Render MIDI through a General MIDI SoundFont with the real ``fluidsynth`` program.

A thin wrapper: build a MIDI file with mido, run ``fluidsynth`` in fast-render
mode (no audio or MIDI driver, reverb and chorus off so the data is dry), read
the WAV back with soundfile and mix it to mono. Output length is exactly the
requested number of seconds, so rendering is deterministic.

Every failure raises :class:`SynthError` naming the binary, file or value.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import mido
import numpy as np
import soundfile as sf

from instrument.errors import SynthError

DEFAULT_SOUNDFONT = "FluidR3_GM.sf2"
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/soundfonts",
                  "/usr/share/sounds/sf3", "/usr/local/share/sounds/sf2")
#: Master gain passed to fluidsynth (its default 0.2 is very quiet for single notes).
DEFAULT_GAIN = 0.6
TICKS_PER_BEAT = 480
TEMPO_US_PER_BEAT = 500_000  # 120 bpm: 960 ticks per second
RENDER_TIMEOUT_S = 300.0
#: Longest held note (and longest release tail) :func:`render_note` renders.
MAX_NOTE_SECONDS = 60.0
#: Longest audio one fluidsynth run renders (it is held in memory).
MAX_RENDER_SECONDS = 3600.0

#: General MIDI program numbers (0-based, as sent in a program_change message).
GM_PROGRAMS: dict[str, int] = {
    "piano": 0,
    "bright piano": 1,
    "electric piano": 4,
    "harpsichord": 6,
    "celesta": 8,
    "glockenspiel": 9,
    "vibraphone": 11,
    "marimba": 12,
    "organ": 19,
    "accordion": 21,
    "harmonica": 22,
    "nylon guitar": 24,
    "steel guitar": 25,
    "electric guitar": 27,
    "acoustic bass": 32,
    "fingered bass": 33,
    "violin": 40,
    "viola": 41,
    "cello": 42,
    "contrabass": 43,
    "pizzicato strings": 45,
    "harp": 46,
    "strings": 48,
    "choir": 52,
    "trumpet": 56,
    "trombone": 57,
    "tuba": 58,
    "french horn": 60,
    "brass section": 61,
    "soprano sax": 64,
    "alto sax": 65,
    "tenor sax": 66,
    "baritone sax": 67,
    "oboe": 68,
    "english horn": 69,
    "bassoon": 70,
    "clarinet": 71,
    "piccolo": 72,
    "flute": 73,
    "recorder": 74,
    "pan flute": 75,
    "ocarina": 79,
    "square lead": 80,
    "saw lead": 81,
    "calliope lead": 82,
    "voice lead": 85,
    "warm pad": 89,
    "sitar": 104,
    "kalimba": 108,
}

TimedMessage = tuple[float, mido.Message]


def fluidsynth_binary() -> str:
    """Absolute path of the ``fluidsynth`` program.

    Raises:
        SynthError: it is not on ``PATH``.
    """
    found = shutil.which("fluidsynth")
    if found is None:
        raise SynthError("the 'fluidsynth' program was not found on PATH; "
                         "install the Debian package fluidsynth (apt-get install fluidsynth)")
    return found


def find_soundfont(path: str | Path | None = None) -> Path:
    """Locate a SoundFont file.

    Args:
        path: an explicit ``.sf2``/``.sf3`` file, or None for ``FluidR3_GM.sf2`` in the standard
            system directories (``LATENT_SOUNDFONT`` overrides the default).
    Raises:
        SynthError: the file does not exist (names it and the package that provides the default).
    """
    if path is None:
        env = os.environ.get("LATENT_SOUNDFONT")
        if env:
            path = env
    if path is not None:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise SynthError(f"SoundFont {candidate} not found"
                             + ("; install fluid-soundfont-gm for the default FluidR3_GM.sf2"
                                if candidate.name == DEFAULT_SOUNDFONT else ""))
        check_soundfont_header(candidate)
        return candidate
    for folder in SOUNDFONT_DIRS:
        candidate = Path(folder) / DEFAULT_SOUNDFONT
        if candidate.is_file():
            check_soundfont_header(candidate)
            return candidate
    raise SynthError(f"SoundFont {DEFAULT_SOUNDFONT} not found in {', '.join(SOUNDFONT_DIRS)}; "
                     "install the Debian package fluid-soundfont-gm")


def check_soundfont_header(path: str | Path) -> Path:
    """Check that ``path`` starts like a SoundFont: a RIFF file of form type ``sfbk``
    (``.sf2`` and ``.sf3`` alike) whose RIFF size fits in the file.

    Raises:
        SynthError: unreadable, not a RIFF ``sfbk`` file, or truncated (names the file).
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            header = stream.read(12)
        size = path.stat().st_size
    except OSError as exc:
        raise SynthError(f"SoundFont {path} cannot be read: {exc.strerror or exc}") from exc
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise SynthError(f"SoundFont {path} is not a SoundFont (expected a RIFF 'sfbk' header "
                         f"as in .sf2/.sf3 files, got {header[:12]!r})")
    declared = int.from_bytes(header[4:8], "little") + 8
    if declared > size:
        raise SynthError(f"SoundFont {path} is truncated: its header says {declared} bytes, "
                         f"the file has {size}")
    return path


#: What fluidsynth prints on stderr when it could not load a SoundFont given on the
#: command line (it then carries on with its built-in default, exit status 0).
_LOAD_FAILURES = ("failed to load", "not a soundfont", "error occurred identifying")


def _soundfont_load_failure(stderr: str) -> str | None:
    """The stderr line saying a SoundFont was not loaded, or None."""
    for line in stderr.splitlines():
        lowered = line.lower()
        if any(marker in lowered for marker in _LOAD_FAILURES):
            return line.strip()
    return None


def _check_sample_rate(sample_rate: int) -> None:
    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= int(sample_rate) <= 96000:
        raise SynthError(f"fluidsynth sample rate must be an integer in 8000..96000 Hz, got {sample_rate!r}")


def render_midi_file(midi_path: str | Path, sample_rate: int, soundfont: str | Path | None = None,
                     gain: float = DEFAULT_GAIN) -> np.ndarray:
    """Render a standard MIDI file to mono audio with fluidsynth (dry: no reverb, no chorus).

    Args:
        midi_path: ``.mid`` file.
        sample_rate: output rate in Hz (8000..96000).
        soundfont: SoundFont file; None for the default FluidR3_GM.
        gain: fluidsynth master gain (0 < gain < 10).
    Returns:
        float32 array, shape ``(samples,)``; as long as the MIDI file plays.
    Raises:
        SynthError: missing binary/SoundFont/MIDI file, or fluidsynth failed (with its stderr).
    """
    binary = fluidsynth_binary()
    sf2 = find_soundfont(soundfont)
    midi_path = Path(midi_path)
    if not midi_path.is_file():
        raise SynthError(f"MIDI file {midi_path} not found")
    _check_sample_rate(sample_rate)
    if not 0.0 < gain < 10.0:
        raise SynthError(f"fluidsynth gain must be in (0, 10), got {gain!r}")
    with tempfile.TemporaryDirectory(prefix="latent-fluid-") as tmp:
        out = Path(tmp) / "out.wav"
        cmd = [binary, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", f"{gain:g}",
               "-r", str(int(sample_rate)), "-o", "synth.sample-rate=" + str(int(sample_rate)),
               "-o", "synth.cpu-cores=1", "-T", "wav", "-O", "float",
               "-F", str(out), str(sf2), str(midi_path.resolve())]
        try:
            proc = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=RENDER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SynthError(f"fluidsynth did not finish rendering {midi_path} "
                             f"within {RENDER_TIMEOUT_S:g} s") from exc
        except OSError as exc:
            raise SynthError(f"cannot run {binary}: {exc}") from exc
        stderr = proc.stderr.decode(errors="replace").strip()
        failure = _soundfont_load_failure(stderr)
        if failure is not None:
            raise SynthError(f"fluidsynth could not load the SoundFont {sf2}: {failure[:300]}")
        if proc.returncode != 0 or not out.is_file():
            raise SynthError(f"fluidsynth failed on {midi_path} (exit {proc.returncode}): "
                             f"{stderr[-800:] or 'no output file'}")
        try:
            data, rate = sf.read(str(out), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise SynthError(f"cannot read fluidsynth output for {midi_path}: {exc}") from exc
    if rate != sample_rate:
        raise SynthError(f"fluidsynth wrote {rate} Hz instead of the requested {sample_rate} Hz")
    mono = data.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise SynthError(f"fluidsynth produced non-finite samples for {midi_path}")
    return np.ascontiguousarray(mono)


def build_midi(messages: Iterable[TimedMessage], total_seconds: float) -> mido.MidiFile:
    """A one-track MIDI file (120 bpm, 480 ticks/beat) from ``(seconds, message)`` pairs.

    Messages are sorted by time (stable); the track ends at ``total_seconds``.
    """
    if not 0 < total_seconds <= MAX_RENDER_SECONDS:
        raise SynthError(f"MIDI render length {total_seconds!r} s must be in "
                         f"(0, {MAX_RENDER_SECONDS:g}] s")
    timed = sorted(((float(t), m) for t, m in messages), key=lambda item: item[0])
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=TEMPO_US_PER_BEAT, time=0))
    previous = 0
    for seconds, message in timed:
        if seconds < 0 or seconds > total_seconds:
            raise SynthError(f"MIDI message {message} at {seconds:g} s is outside 0..{total_seconds:g} s")
        if message.is_meta:
            raise SynthError(f"only channel messages can be rendered, got meta message {message}")
        tick = int(round(mido.second2tick(seconds, TICKS_PER_BEAT, TEMPO_US_PER_BEAT)))
        track.append(message.copy(time=tick - previous))
        previous = tick
    end = int(round(mido.second2tick(total_seconds, TICKS_PER_BEAT, TEMPO_US_PER_BEAT)))
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - previous)))
    return midi


def render_messages(messages: Sequence[TimedMessage], total_seconds: float, sample_rate: int,
                    soundfont: str | Path | None = None, gain: float = DEFAULT_GAIN) -> np.ndarray:
    """Render timed MIDI messages (e.g. program change, CC/NRPN, then notes).

    Args:
        messages: ``(seconds, mido.Message)`` pairs, any order (sorted stably by time).
        total_seconds: output length; the result is trimmed or zero-padded to exactly
            ``round(total_seconds * sample_rate)`` samples.
    Returns:
        float32 mono audio, shape ``(round(total_seconds * sample_rate),)``.
    """
    midi = build_midi(messages, total_seconds)
    with tempfile.TemporaryDirectory(prefix="latent-midi-") as tmp:
        path = Path(tmp) / "input.mid"
        midi.save(str(path))
        audio = render_midi_file(path, sample_rate, soundfont=soundfont, gain=gain)
    n = int(round(total_seconds * sample_rate))
    out = np.zeros(n, dtype=np.float32)
    out[:min(n, len(audio))] = audio[:n]
    return out


def render_note(program: int, note: int, velocity: int, seconds: float, sample_rate: int,
                soundfont: str | Path | None = None, release_seconds: float = 0.5,
                channel: int = 0, gain: float = DEFAULT_GAIN) -> np.ndarray:
    """Render one note: program change, note on at 0 s, note off at ``seconds``.

    Args:
        program: GM program 0..127 (see :data:`GM_PROGRAMS`).
        note: MIDI note 0..127; velocity: 1..127.
        seconds: held duration; release_seconds: extra tail rendered after note off.
        channel: MIDI channel 0..15 (9 is the GM drum channel).
    Returns:
        float32 mono audio, shape ``(round((seconds + release_seconds) * sample_rate),)``.
    """
    for name, value, low, high in (("program", program, 0, 127), ("note", note, 0, 127),
                                   ("velocity", velocity, 1, 127), ("channel", channel, 0, 15)):
        if not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
            raise SynthError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    if not 0 < seconds <= MAX_NOTE_SECONDS:
        raise SynthError(f"note seconds {seconds!r} must be in (0, {MAX_NOTE_SECONDS:g}]")
    if not 0 <= release_seconds <= MAX_NOTE_SECONDS:
        raise SynthError(f"note release seconds {release_seconds!r} must be in "
                         f"0..{MAX_NOTE_SECONDS:g}")
    messages = [
        (0.0, mido.Message("program_change", channel=int(channel), program=int(program))),
        (0.0, mido.Message("note_on", channel=int(channel), note=int(note), velocity=int(velocity))),
        (float(seconds), mido.Message("note_off", channel=int(channel), note=int(note), velocity=0)),
    ]
    return render_messages(messages, seconds + release_seconds, sample_rate,
                           soundfont=soundfont, gain=gain)
