"""Phase reconstruction benchmark: offline fast Griffin-Lim vs streaming RTISI-LA.

    latent bench phase [--quick] [--input FILE] [--streaming 3:4,5:4] [--n-fft 1024] [--hop-length 256]
    python -m benchmarks.phase ...

For each signal (shipped flute phrase, shipped demo loop, a synthetic log chirp
generated here, or ``--input FILE``) the true STFT magnitude is inverted by
librosa's fast Griffin-Lim (momentum 0.99, random initial phase) at 8, 32 and 100
iterations and by :class:`instrument.dsp.phase.rtisi_la.StreamingPhase` at several
(look-ahead, iterations) settings. Columns: spectral convergence in dB against the
true magnitude (lower is better), compute per hop as CPU time of this thread (robust
when other processes share the cores) and as wall-clock time (streaming: mean and
99th percentile of one ``push``), real-time factor (CPU time / audio duration, below 1
is faster than real time) and algorithmic latency. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from instrument.io.audio_files import load_audio
from instrument.config import AudioConfig, StftConfig
from instrument.errors import ConfigError, LatentError
from instrument.dsp.phase.rtisi_la import StreamingPhase, griffin_lim
from instrument.dsp.spectral import spectral_convergence_db, stft
from presets import PRESETS_DIR
from instrument.cli_support import LatentArgumentParser

GL_ITERATIONS = (8, 32, 100)
STREAMING_SETTINGS = ((1, 2), (2, 3), (3, 4), (3, 8), (5, 4))
QUICK_STREAMING_SETTINGS = ((1, 2), (3, 4), (5, 4))
QUICK_SECONDS = 2.0


@dataclass(frozen=True)
class Row:
    method: str
    signal: str
    sc_db: float
    cpu_ms_per_hop: float
    wall_ms_per_hop: float
    wall_ms_p99: float | None
    rtf: float
    latency_ms: float


def chirp(sample_rate: int, seconds: float = 3.0, f0_hz: float = 100.0, f1_hz: float = 8000.0) -> np.ndarray:
    """Exponential sine sweep ``f0_hz`` -> ``f1_hz`` with 20 ms fades, amplitude 0.5; ``(samples,)``."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rate = np.log(f1_hz / f0_hz) / seconds
    y = 0.5 * np.sin(2 * np.pi * f0_hz * (np.exp(rate * t) - 1.0) / rate)
    fade = int(0.02 * sample_rate)
    ramp = np.linspace(0.0, 1.0, fade)
    y[:fade] *= ramp
    y[-fade:] *= ramp[::-1]
    return y.astype(np.float32)


def load_signals(sample_rate: int, inputs: Sequence[str], quick: bool) -> dict[str, np.ndarray]:
    """Named mono float32 signals, shape ``(samples,)`` each."""
    config = AudioConfig(sample_rate=sample_rate)
    if inputs:
        signals = {Path(p).name: load_audio(p, config) for p in inputs}
    else:
        signals = {
            "flute phrase": load_audio(PRESETS_DIR / "audio" / "flute-phrase.wav", config),
            "demo loop": load_audio(PRESETS_DIR / "audio" / "demo-loop.wav", config),
            "chirp": chirp(sample_rate),
        }
    if quick:
        signals = {k: v[:int(QUICK_SECONDS * sample_rate)] for k, v in signals.items()}
    return signals


def run_gl(name: str, y: np.ndarray, config: StftConfig, sample_rate: int, n_iter: int) -> Row:
    mag = np.abs(stft(y, config))
    start, cpu_start = time.perf_counter(), time.thread_time()
    rebuilt = griffin_lim(mag, config, n_iter=n_iter, length=len(y))
    cpu = time.thread_time() - cpu_start
    elapsed = time.perf_counter() - start
    return Row(f"librosa fast GL, {n_iter} it", name, spectral_convergence_db(mag, rebuilt, config),
               1e3 * cpu / len(mag), 1e3 * elapsed / len(mag), None, cpu / (len(y) / sample_rate),
               float("nan"))


def run_streaming(name: str, y: np.ndarray, config: StftConfig, sample_rate: int,
                  lookahead: int, iterations: int) -> Row:
    mag = np.abs(stft(y, config))
    proc = StreamingPhase(config, lookahead_frames=lookahead, iterations=iterations)
    h = config.hop_length
    total = len(mag) + proc.latency_frames
    out = np.zeros(total * h, dtype=np.float32)
    wall = np.zeros(total)
    cpu = np.zeros(total)
    silence = np.zeros(config.n_bins, dtype=np.float32)
    for t in range(total):
        frame = mag[t] if t < len(mag) else silence
        cpu_start, start = time.thread_time(), time.perf_counter()
        hop = proc.push(frame)
        wall[t] = time.perf_counter() - start
        cpu[t] = time.thread_time() - cpu_start
        out[t * h:(t + 1) * h] = hop
    rebuilt = out[proc.latency_samples:proc.latency_samples + len(y)]
    n = len(mag)
    return Row(f"RTISI-LA, look-ahead {lookahead}, {iterations} it", name,
               spectral_convergence_db(mag, rebuilt, config), 1e3 * float(cpu[:n].mean()),
               1e3 * float(wall[:n].mean()), 1e3 * float(np.percentile(wall[:n], 99)),
               float(cpu[:n].sum()) / (n * h / sample_rate), 1e3 * proc.latency_samples / sample_rate)


def parse_settings(text: str) -> list[tuple[int, int]]:
    """``"3:4,5:4"`` -> ``[(3, 4), (5, 4)]`` (look-ahead frames : iterations per frame)."""
    settings = []
    for item in text.split(","):
        try:
            lookahead, iterations = (int(v) for v in item.split(":"))
        except ValueError as exc:
            raise ConfigError(f"bad streaming setting {item!r}; use LOOKAHEAD:ITERATIONS, e.g. 3:4") from exc
        settings.append((lookahead, iterations))
    return settings


def format_table(rows: Sequence[Row]) -> str:
    lines = ["| method | signal | SC dB | CPU ms/hop | wall ms/hop | wall p99 ms | RTF | latency ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p99 = "-" if r.wall_ms_p99 is None else f"{r.wall_ms_p99:.2f}"
        latency = "offline" if np.isnan(r.latency_ms) else f"{r.latency_ms:.1f}"
        lines.append(f"| {r.method} | {r.signal} | {r.sc_db:.1f} | {r.cpu_ms_per_hop:.2f} | "
                     f"{r.wall_ms_per_hop:.2f} | {p99} | {r.rtf:.3f} | {latency} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(prog="latent bench phase", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"first {QUICK_SECONDS:g} s of each signal, fewer streaming settings")
    parser.add_argument("inputs", nargs="*", metavar="FILE",
                        help="benchmark these audio files instead of the shipped signals")
    parser.add_argument("--input", action="append", default=[], metavar="FILE",
                        help="benchmark this audio file (repeatable; the same as the positional FILE; "
                             "default: the shipped signals)")
    parser.add_argument("--streaming", type=parse_settings, default=None, metavar="K:I,...",
                        help="streaming settings as look-ahead:iterations list (default "
                        + ",".join(f"{k}:{i}" for k, i in STREAMING_SETTINGS) + ")")
    parser.add_argument("--gl", default=None, metavar="N,...",
                        help="Griffin-Lim iteration counts (default " + ",".join(map(str, GL_ITERATIONS)) + ")")
    parser.add_argument("--sample-rate", type=int, default=22050, help="sample rate of the signals (Hz)")
    parser.add_argument("--n-fft", type=int, default=1024, help="STFT frame length (samples)")
    parser.add_argument("--hop-length", type=int, default=256, help="STFT hop (samples)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = StftConfig(n_fft=args.n_fft, hop_length=args.hop_length)
    AudioConfig(sample_rate=args.sample_rate)  # validates the rate
    settings = args.streaming or list(QUICK_STREAMING_SETTINGS if args.quick else STREAMING_SETTINGS)
    try:
        gl_iters = [int(v) for v in args.gl.split(",")] if args.gl else list(GL_ITERATIONS)
    except ValueError as exc:
        raise ConfigError(f"bad --gl list {args.gl!r}; use comma-separated integers") from exc
    signals = load_signals(args.sample_rate, [*args.inputs, *args.input], args.quick)
    rows: list[Row] = []
    for name, y in signals.items():
        for n_iter in gl_iters:
            rows.append(run_gl(name, y, config, args.sample_rate, n_iter))
        for lookahead, iterations in settings:
            rows.append(run_streaming(name, y, config, args.sample_rate, lookahead, iterations))
    hop_ms = 1e3 * config.hop_length / args.sample_rate
    print(f"### Phase reconstruction: n_fft {config.n_fft}, hop {config.hop_length} "
          f"({hop_ms:.1f} ms at {args.sample_rate} Hz), window {config.window}; "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
          + ("; quick" if args.quick else ""))
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LatentError as exc:
        print(f"benchmarks.phase: error: {exc}", file=sys.stderr)
        sys.exit(2)
