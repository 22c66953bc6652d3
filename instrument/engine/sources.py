"""Where the engine's input hops come from: a file, the live input, or nothing.

Each source fills a preallocated hop ``(hop_length,)`` float32 per call and
has a transport (play, pause, stop = pause and rewind, rewind). A paused or
stopped source yields silence; the engine keeps running so tails decay.

* :class:`FileSource` plays a loaded signal, optionally looping.
* :class:`LiveSource` passes on the hop the audio input stream delivered.
* :class:`NoInputSource` yields silence: in no-input mode the engine drives the
  decoder with a held latent frame instead of analysing audio.
"""

from __future__ import annotations

import numpy as np

from instrument.errors import ConfigError

SOURCE_MODES = ("file", "live", "none")


class Source:
    """Transport shared by every source."""

    mode = "none"

    def __init__(self, hop_length: int) -> None:
        if hop_length <= 0:
            raise ConfigError(f"hop_length must be positive, got {hop_length}")
        self.hop_length = hop_length
        self.playing = True

    def play(self) -> None:
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    def play_pause(self) -> None:
        self.playing = not self.playing

    def rewind(self) -> None:
        """Go back to the start (no effect on a live source)."""

    def stop(self) -> None:
        """Stop and rewind."""
        self.playing = False
        self.rewind()

    @property
    def finished(self) -> bool:
        """True when a non-looping file has played to its end."""
        return False

    def read(self, out: np.ndarray, input_hop: np.ndarray | None = None) -> np.ndarray:
        """Fill ``out`` ``(hop_length,)`` with the next hop and return it."""
        out[:] = 0.0
        return out


class FileSource(Source):
    """A loaded mono signal played hop by hop.

    Args:
        audio: float32 ``(samples,)``.
        hop_length: samples per hop.
        loop: start again at the end instead of stopping.
    """

    mode = "file"

    def __init__(self, audio: np.ndarray, hop_length: int, loop: bool = False) -> None:
        super().__init__(hop_length)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0:
            raise ConfigError(f"file source needs non-empty mono audio, got shape {audio.shape}")
        self.audio = audio
        self.loop = loop
        self.position = 0

    def rewind(self) -> None:
        self.position = 0

    def play(self) -> None:
        if self.finished:
            self.position = 0
        self.playing = True

    def play_pause(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    @property
    def finished(self) -> bool:
        return not self.loop and self.position >= len(self.audio)

    @property
    def progress(self) -> float:
        """Play position as a fraction 0..1 of the file."""
        return min(1.0, self.position / len(self.audio))

    def read(self, out: np.ndarray, input_hop: np.ndarray | None = None) -> np.ndarray:
        if not self.playing:
            out[:] = 0.0
            return out
        filled = 0
        total = len(self.audio)
        while filled < self.hop_length:
            if self.position >= total:
                if not self.loop:
                    out[filled:] = 0.0
                    self.playing = False
                    break
                self.position = 0
            take = min(self.hop_length - filled, total - self.position)
            out[filled:filled + take] = self.audio[self.position:self.position + take]
            filled += take
            self.position += take
        return out


class LiveSource(Source):
    """The hop the audio input stream delivered (silence while paused or missing)."""

    mode = "live"

    def read(self, out: np.ndarray, input_hop: np.ndarray | None = None) -> np.ndarray:
        if not self.playing or input_hop is None:
            out[:] = 0.0
            return out
        if input_hop.shape != (self.hop_length,):
            raise ConfigError(f"live input hop must have shape ({self.hop_length},), got {input_hop.shape}")
        out[:] = input_hop
        return out


class NoInputSource(Source):
    """No audio in: the engine decodes a held latent frame at the hop rate."""

    mode = "none"
