"""The settings of one live performance (``latent perform``), validated on construction.

Built by ``instrument.commands.perform`` from the command line and by
``benchmarks.realtime`` for its perform-equivalent runs; read by
:func:`instrument.app.perform.perform`. Every check raises
:class:`~instrument.errors.ConfigError` naming the ``latent perform`` flag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controllers.midi_api import MIDI_APIS
from instrument.engine.engine import (DEFAULT_PHASE_ITERATIONS, DEFAULT_PHASE_LOOKAHEAD, MASTER_GAIN_MAX_DB,
                                      MASTER_GAIN_MIN_DB)
from instrument.errors import ConfigError

#: Input sources: an audio file, the sound card input, or none (the decoder fires the held latent).
SOURCE_MODES = ("file", "live", "none")
#: Largest ``--blocksize`` (frames per audio callback).
MAX_BLOCKSIZE = 16384
#: Largest UDP port number (``--osc-port``, ``--osc-send``).
MAX_UDP_PORT = 65535
#: Largest RTISI-LA look-ahead and iterations (as ``latent render``'s bounds).
MAX_PHASE_LOOKAHEAD = 64
MAX_PHASE_ITERATIONS = 1000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The flags of files ``latent perform`` writes.
OUTPUT_FLAGS = ("--record", "--log-events", "--screenshot")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output_path(flag: str, path: Path, others: list[tuple[str, Path]]) -> None:
    """Refuse an output path that cannot be written or that would overwrite an input, before anything
    is opened: a folder, a folder that is missing or read-only, something that is not a regular file,
    or the same file as one of ``others`` (``(flag, path)`` of the inputs and the other outputs).

    Raises:
        ConfigError: naming ``flag`` and the path.
    """
    if not str(path):
        raise ConfigError(f"{flag}: needs a file name")
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; give a file name inside it")
    folder = path.parent
    if not folder.exists():
        raise ConfigError(f"{flag} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{flag} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: folder {folder} is not writable")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{flag} {path}: exists and is not a regular file")
    for other_flag, other in others:
        if _same_file(path, other):
            why = "outputs need names of their own" if other_flag in OUTPUT_FLAGS else "inputs are never overwritten"
            raise ConfigError(f"{flag} {path}: is the same file as {other_flag}; choose another name ({why})")


@dataclass(frozen=True)
class PerformOptions:
    """Everything ``latent perform`` is told; the flag of each field is named in its comment.

    Paths are :class:`pathlib.Path` or None; ``model_paths`` empty means ``--model none``.
    """

    model_paths: tuple[Path, ...] = ()          # --model (resolved paths)
    source: str = "file"                        # --input / --live-input / --no-input
    input_path: Path | None = None              # --input
    loop: bool = True                           # --loop
    seed: int = 0                               # --seed
    phase_lookahead: int = DEFAULT_PHASE_LOOKAHEAD    # --phase-lookahead
    phase_iterations: int = DEFAULT_PHASE_ITERATIONS  # --phase-iterations
    scenes_dir: Path | None = None              # --scenes
    block_frames: int | None = None             # --block
    compute_hops: int | None = None             # --compute-hops
    device: Any = None                          # --device (PortAudio index or name)
    blocksize: int = 256                        # --blocksize (frames per callback)
    latency: str | float = "high"               # --latency (low, high or seconds)
    ahead_hops: int = 6                         # --ahead
    realtime_priority: int = 1                  # --rt-priority (0: normal scheduling)
    controller: str = "nanokontrol2"            # --controller
    midi_in: str | None = None                  # --midi-in
    midi_out: str | None = None                 # --midi-out
    midi_api: str | None = None                 # --midi-api
    use_midi: bool = True                       # not --no-midi
    learn: bool = False                         # --learn
    invert_model: Path | None = None            # --invert-model
    invert_midi_out: str | None = None          # --invert-midi-out
    record: Path | None = None                  # --record
    log_events: Path | None = None              # --log-events
    headless: bool = False                      # --headless
    screenshot: Path | None = None              # --screenshot
    duration_s: float | None = None             # --duration
    master_gain_db: float = 0.0                 # --master-gain (start value, dB)
    auto_gain: bool = False                     # --auto-gain (loudness compensation at start)
    osc_port: int | None = None                 # --osc-port (UDP port of OSC control in)
    osc_host: str = "127.0.0.1"                 # --osc-host (address the OSC port binds)
    osc_send: str | None = None                 # --osc-send HOST:PORT (OSC state out)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_paths", tuple(Path(p) for p in self.model_paths))
        if self.source not in SOURCE_MODES:
            raise ConfigError(f"source must be one of {', '.join(SOURCE_MODES)}, got {self.source!r}")
        if self.source == "file" and self.input_path is None:
            raise ConfigError("--input: a file source needs an audio file")
        if not _is_int(self.seed):
            raise ConfigError(f"--seed must be an integer, got {self.seed!r}")
        if not _is_int(self.phase_lookahead) or not 0 <= self.phase_lookahead <= MAX_PHASE_LOOKAHEAD:
            raise ConfigError(f"--phase-lookahead must be an integer in 0..{MAX_PHASE_LOOKAHEAD}, "
                              f"got {self.phase_lookahead!r}")
        if not _is_int(self.phase_iterations) or not 0 <= self.phase_iterations <= MAX_PHASE_ITERATIONS:
            raise ConfigError(f"--phase-iterations must be an integer in 0..{MAX_PHASE_ITERATIONS}, "
                              f"got {self.phase_iterations!r}")
        if self.block_frames is not None and (not _is_int(self.block_frames) or self.block_frames < 1):
            raise ConfigError(f"--block must be at least 1 frame, got {self.block_frames!r}")
        if self.compute_hops is not None and (not _is_int(self.compute_hops) or self.compute_hops < 0):
            raise ConfigError(f"--compute-hops must be >= 0, got {self.compute_hops!r}")
        if not _is_int(self.blocksize) or not 0 <= self.blocksize <= MAX_BLOCKSIZE:
            raise ConfigError(f"--blocksize must be in 0..{MAX_BLOCKSIZE}, got {self.blocksize!r}")
        if isinstance(self.latency, str):
            if self.latency not in ("low", "high"):
                raise ConfigError(f"--latency must be low, high or seconds, got {self.latency!r}")
        elif isinstance(self.latency, bool) or not isinstance(self.latency, (int, float)) or not self.latency > 0:
            raise ConfigError(f"--latency in seconds must be a positive number, got {self.latency!r}")
        if not _is_int(self.ahead_hops) or self.ahead_hops < 1:
            raise ConfigError(f"--ahead must be at least 1 hop, got {self.ahead_hops!r}")
        if not _is_int(self.realtime_priority) or not 0 <= self.realtime_priority <= 99:
            raise ConfigError(f"--rt-priority must be in 0..99, got {self.realtime_priority!r}")
        if self.midi_api is not None and self.midi_api not in MIDI_APIS:
            raise ConfigError(f"--midi-api must be one of {', '.join(sorted(MIDI_APIS))}, got {self.midi_api!r}")
        if self.duration_s is not None and (isinstance(self.duration_s, bool)
                                            or not isinstance(self.duration_s, (int, float))
                                            or not self.duration_s > 0):
            raise ConfigError(f"--duration must be a positive number of seconds, got {self.duration_s!r}")
        if isinstance(self.master_gain_db, bool) or not isinstance(self.master_gain_db, (int, float)) \
                or not MASTER_GAIN_MIN_DB <= self.master_gain_db <= MASTER_GAIN_MAX_DB:
            raise ConfigError(f"--master-gain must be a number of dB in {MASTER_GAIN_MIN_DB:g}.."
                              f"{MASTER_GAIN_MAX_DB:g}, got {self.master_gain_db!r}")
        if self.screenshot is not None and self.headless:
            raise ConfigError("--screenshot needs the window: drop --headless "
                              "(SDL_VIDEODRIVER=dummy draws it off-screen)")
        if self.invert_midi_out and self.invert_model is None:
            raise ConfigError("--invert-midi-out needs --invert-model")
        if self.invert_model is not None and not self.invert_midi_out:
            raise ConfigError("--invert-model needs --invert-midi-out PORT (the synth's MIDI input)")
        if self.osc_port is not None and (not _is_int(self.osc_port) or not 1 <= self.osc_port <= MAX_UDP_PORT):
            raise ConfigError(f"--osc-port must be a UDP port in 1..{MAX_UDP_PORT}, got {self.osc_port!r}")
        if not isinstance(self.osc_host, str) or not self.osc_host:
            raise ConfigError(f"--osc-host must be a host name or address, got {self.osc_host!r}")
        if self.osc_send is not None:
            osc_target(self.osc_send)
        self._check_outputs()

    def _check_outputs(self) -> None:
        """Every output path (--record, --log-events, --screenshot) is writable and overwrites no input."""
        inputs: list[tuple[str, Path]] = [("--model", p) for p in self.model_paths]
        if self.input_path is not None:
            inputs.append(("--input", Path(self.input_path)))
        if self.invert_model is not None:
            inputs.append(("--invert-model", Path(self.invert_model)))
        if str(self.controller).endswith((".yaml", ".yml")):
            inputs.append(("--controller", Path(self.controller)))
        outputs = [(flag, Path(path)) for flag, path in (("--record", self.record),
                                                          ("--log-events", self.log_events),
                                                          ("--screenshot", self.screenshot))
                   if path is not None]
        for i, (flag, path) in enumerate(outputs):
            check_output_path(flag, path, inputs + outputs[:i])


def osc_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[IPv6]:PORT``) of ``--osc-send`` as ``(host, port)``; raises ConfigError naming the flag."""
    host, sep, port = str(text).rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # [::1]:9001
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= MAX_UDP_PORT:
        raise ConfigError(f"--osc-send must be HOST:PORT with a port in 1..{MAX_UDP_PORT} "
                          f"(e.g. 127.0.0.1:9001), got {text!r}")
    return host, int(port)
