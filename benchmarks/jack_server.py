"""A private JACK server with the dummy backend, for the real-time benchmark and the tests.

::

    with JackServer(sample_rate=22050, period=256) as server:
        reinit_portaudio()            # PortAudio lists host APIs once: make it see this server
        ...                           # sounddevice streams and JACK MIDI ports use it
        terminate_portaudio()         # close PortAudio's JACK client before the server goes

Starting runs ``jackd -n NAME -d dummy -r RATE -p PERIOD`` (no sound card
needed), waits until a client can connect, and points this process and its
children at it (``JACK_DEFAULT_SERVER`` = NAME, ``JACK_NO_START_SERVER`` = 1).
Stopping terminates and reaps jackd and restores both variables. Everything
jackd prints is kept (:meth:`JackServer.output`), e.g. for its xrun reports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO

from instrument.errors import DeviceError

#: Environment variables the server sets for this process while it runs.
_ENV_KEYS = ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")
#: JACK 2's shared-memory server registry (Linux): a header, then 8 slots of (pid, name).
REGISTRY = Path("/dev/shm/jack-shm-registry")
_REGISTRY_MAGIC = b"KCAJ"
_MAX_SERVERS = 8
_SLOTS_START = 24
_SLOT_BYTES = 264


class JackServer:
    """One ``jackd`` dummy server owned by this process (a context manager).

    Args:
        sample_rate: Hz (``-r``).
        period: frames per JACK period (``-p``).
        name: server name (``-n``); default a unique short one. Keep it short:
            some JACK tools (jack_lsp) abort on long server names.
        ready_timeout_s: seconds to wait for the server to accept clients.
    Raises:
        DeviceError: jackd is not installed, exits, or accepts no client in time.
    """

    def __init__(self, sample_rate: int = 22050, period: int = 256, name: str | None = None,
                 ready_timeout_s: float = 40.0) -> None:
        self.sample_rate = int(sample_rate)
        self.period = int(period)
        self.name = name if name is not None else f"lt-{uuid.uuid4().hex[:8]}"
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._previous_env: dict[str, str | None] = {}

    # ------------------------------------------------------------------ lifetime
    def start(self) -> "JackServer":
        """Start jackd, wait until it accepts clients, set the environment. Returns self."""
        if self.proc is not None:
            raise DeviceError(f"JACK dummy server {self.name} is already running")
        jackd = shutil.which("jackd")
        if jackd is None:
            raise DeviceError("jackd not found (Debian package jackd2): cannot start a JACK dummy server")
        reason = self._launch(jackd)
        if reason is not None and "too many servers" in reason.lower() and reclaim_dead_servers() > 0:
            reason = self._launch(jackd)  # slots of killed servers freed: one more try
        if reason is not None:
            raise DeviceError(f"JACK dummy server {self.name} did not start ({reason})")
        return self

    def _launch(self, jackd: str) -> str | None:
        """Run jackd and wait for it; None when it accepts clients, else why not (server stopped)."""
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([jackd, "-n", self.name, "-d", "dummy", "-r", str(self.sample_rate),
                                      "-p", str(self.period)], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self._previous_env = {key: os.environ.get(key) for key in _ENV_KEYS}
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"
        if self._wait_ready(self.ready_timeout_s):
            return None
        exited = self.proc.poll() is not None
        printed = self.output() if exited else ""
        self.stop()
        if not exited:
            return f"no client could connect within {self.ready_timeout_s:g} s"
        return f"jackd exited: {_without_banner(printed)[-300:]}"

    def stop(self) -> None:
        """Terminate and reap jackd (kill it after 10 s) and restore the environment."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for key, value in self._previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._previous_env = {}
        if self._log is not None:
            self._log.close()
        self.proc = None
        self._log = None

    def __enter__(self) -> "JackServer":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ state
    @property
    def pid(self) -> int:
        """jackd's process id."""
        if self.proc is None:
            raise DeviceError(f"JACK dummy server {self.name} is not running")
        return self.proc.pid

    def output(self) -> str:
        """Everything jackd printed so far ("" once stopped)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _wait_ready(self, timeout_s: float) -> bool:
        """Poll with ``jack_lsp -s NAME`` (a separate process: a client probing a server that is still
        starting can abort) until the server answers; False if jackd exits or time runs out."""
        assert self.proc is not None  # internal: only called by start()
        lsp = shutil.which("jack_lsp")
        time.sleep(1.0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if lsp is None:  # no probe tool: the server had its second to come up
                return True
            try:
                probe = subprocess.run([lsp, "-s", self.name], capture_output=True, timeout=10,
                                       env=dict(os.environ, JACK_NO_START_SERVER="1"))
            except subprocess.TimeoutExpired:
                continue
            if probe.returncode == 0:
                return True
            time.sleep(0.2)
        return False


def _without_banner(printed: str) -> str:
    """jackd's output without its version and licence banner (the lines that say what went wrong)."""
    banner = ("jackdmp ", "Copyright ", "jackdmp comes with", "This is free software",
              "under certain conditions")
    lines = [line for line in printed.splitlines() if line.strip() and not line.startswith(banner)]
    return " / ".join(lines) or printed.strip()


def reclaim_dead_servers(registry: Path = REGISTRY) -> int:
    """Free the slots of JACK's server registry held by servers that no longer run; how many.

    JACK keeps at most 8 servers per machine in a shared-memory registry and frees a slot only when
    its server exits cleanly or a new server of the same name starts. A killed jackd (a test kills
    one on purpose) keeps its slot, so private servers with fresh names fill the registry until
    jackd says "Too many servers already active". Only slots whose process is gone are cleared;
    a registry whose layout is not the one known here is left alone (returns 0).
    """
    try:
        with open(registry, "r+b") as handle:
            header = bytearray(handle.read(_SLOTS_START))
            if len(header) < _SLOTS_START or header[:4] != _REGISTRY_MAGIC:
                return 0
            hdr_len = int.from_bytes(header[16:20], "little")
            if hdr_len != _SLOTS_START + _MAX_SERVERS * _SLOT_BYTES:
                return 0
            handle.seek(0)
            table = bytearray(handle.read(hdr_len))
            freed = 0
            for slot in range(_MAX_SERVERS):
                start = _SLOTS_START + slot * _SLOT_BYTES
                pid = int.from_bytes(table[start:start + 4], "little", signed=True)
                if pid > 0 and not _process_alive(pid):
                    table[start:start + _SLOT_BYTES] = bytes(_SLOT_BYTES)
                    freed += 1
            if freed:
                handle.seek(0)
                handle.write(table)
            return freed
    except OSError:
        return 0


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def reinit_portaudio() -> None:
    """Re-initialise PortAudio (it enumerates host APIs once) so it sees the current JACK server.

    Does nothing where PortAudio is not installed.
    """
    try:
        import sounddevice as sd
    except OSError:
        return
    while sd._initialized:
        sd._terminate()
    sd._initialize()


def terminate_portaudio() -> None:
    """Close PortAudio (and its JACK client) before the server goes, or PortAudio aborts at exit."""
    try:
        import sounddevice as sd
    except OSError:
        return
    while sd._initialized:
        sd._terminate()
