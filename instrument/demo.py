"""`make demo` (for now): resynthesise the shipped demo loop through streaming phase reconstruction.

    python -m instrument.demo [--output demo-out.wav] [--no-bench]

Analyses ``presets/audio/demo-loop.wav`` hop by hop, throws the phase away, rebuilds
it with :class:`instrument.phase.StreamingPhase` (RTISI-LA) as the live engine does,
writes the result to ``demo-out.wav`` in the current directory and prints the quick
phase benchmark table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from instrument.audio import load_audio, save_audio
from instrument.config import SpectralConfig
from instrument.errors import LatentError
from instrument.phase import StreamingPhase
from instrument.spectral import StreamingStft, spectral_convergence_db, stft
from presets import PRESETS_DIR

DEMO_INPUT = PRESETS_DIR / "audio" / "demo-loop.wav"


def resynthesise(y: np.ndarray, config: SpectralConfig) -> tuple[np.ndarray, float]:
    """Stream ``y`` (shape ``(samples,)``) through analysis -> |S| -> RTISI-LA.

    Returns the rebuilt audio aligned with ``y`` (same shape) and the mean compute seconds per hop.
    """
    h = config.stft.hop_length
    analyser, phase = StreamingStft(config.stft), StreamingPhase(config.stft)
    hops = -(-len(y) // h) + phase.latency_frames
    padded = np.zeros(hops * h, dtype=np.float32)
    padded[:len(y)] = y
    out = np.zeros_like(padded)
    start = time.perf_counter()
    for t in range(hops):
        out[t * h:(t + 1) * h] = phase.push(np.abs(analyser.push(padded[t * h:(t + 1) * h])))
    per_hop = (time.perf_counter() - start) / hops
    return out[phase.latency_samples:phase.latency_samples + len(y)], per_hop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("demo-out.wav"), help="where to write the result")
    parser.add_argument("--no-bench", action="store_true", help="skip the phase benchmark table")
    args = parser.parse_args(argv)
    config = SpectralConfig()
    try:
        y = load_audio(DEMO_INPUT, config.audio)
        rebuilt, per_hop = resynthesise(y, config)
        save_audio(args.output, rebuilt, config.sample_rate)
        sc = spectral_convergence_db(np.abs(stft(y, config.stft)), rebuilt, config.stft)
        print(f"Resynthesised {DEMO_INPUT.name} ({len(y) / config.sample_rate:.1f} s) through streaming "
              f"RTISI-LA into {args.output}: spectral convergence {sc:.1f} dB, "
              f"{1e3 * per_hop:.2f} ms compute per {1e3 * config.hop_seconds:.1f} ms hop.")
        if not args.no_bench:
            from benchmarks import phase as phase_bench

            print()
            return phase_bench.main(["--quick"])
    except LatentError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
