"""`latent bench synth_prior`: how many random patches of a synth are silent or clipped.

For ``--count`` seeded patches of each sampler (the synth's own ``random_patches``: uniform classes
for inversynth and fluidsynth, the musical prior for dx7; and uniform classes over the same spec
for comparison) the clips are rendered at the synth's own level (``render_raw`` where the synth
has one: the dx7 renders Dexed's output as it is, before the peak normalisation every inversion
clip gets) and counted as

* silent: peak below -60 dBFS;
* clipped: peak at or above full scale (|x| >= 1);
* quiet: RMS below -40 dBFS (audible but faint).

Also prints the median peak and RMS (dBFS). ``--out`` writes ``synth_prior.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from instrument.cli_support import LatentArgumentParser, bounded_int
from instrument.io.output_paths import atomic_path

SILENT_DB, QUIET_RMS_DB = -60.0, -40.0


def build_parser() -> argparse.ArgumentParser:
    p = LatentArgumentParser(prog="latent bench synth_prior", description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synth", default="dx7", help="synth name (default dx7)")
    p.add_argument("--count", type=bounded_int(1, 1_000_000), default=10000,
                   help="patches per sampler (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random patches")
    p.add_argument("-o", "--output", "--out", dest="out", default=None, metavar="DIR",
                   help="also write synth_prior.json here")
    return p


def level_stats(audio: np.ndarray) -> dict[str, float]:
    """Shares (%) of silent, clipped and quiet clips ``(n, samples)`` and median peak/RMS dBFS."""
    peak = np.abs(audio).max(axis=1)
    rms = np.sqrt(np.mean(np.square(audio, dtype=np.float64), axis=1))
    db = lambda x: 20.0 * np.log10(np.maximum(x, 1e-12))  # noqa: E731
    return {"silent_pct": 100.0 * float(np.mean(db(peak) < SILENT_DB)),
            "clipped_pct": 100.0 * float(np.mean(peak >= 1.0)),
            "quiet_pct": 100.0 * float(np.mean(db(rms) < QUIET_RMS_DB)),
            "median_peak_dbfs": float(np.median(db(peak))),
            "median_rms_dbfs": float(np.median(db(rms)))}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from instrument.synths.registry import get_synth

    synth = get_synth(args.synth)
    render = getattr(synth, "render_raw", synth.render)
    spec = synth.spec
    samplers = {"random_patches": lambda rng, n: synth.random_patches(rng, n),
                "uniform classes": lambda rng, n: spec.from_classes(spec.random_classes(rng, n))}
    results = {}
    for name, sample in samplers.items():
        t0 = time.monotonic()
        rng = np.random.default_rng([args.seed, 91])
        stats = []
        for i in range(0, args.count, 1000):
            stats.append(render(sample(rng, min(1000, args.count - i))))
        results[name] = {**level_stats(np.concatenate(stats)), "seconds": time.monotonic() - t0}
    print(f"\n{args.synth}: {args.count} patches per sampler (seed {args.seed}), at the synth's own level\n")
    print("| sampler | silent % (peak < -60 dBFS) | clipped % (peak >= 1) | quiet % (RMS < -40 dBFS) "
          "| median peak dBFS | median RMS dBFS |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        label = f"{name} (the synth's prior)" if name == "random_patches" else name
        print(f"| {label} | {r['silent_pct']:.2f} | {r['clipped_pct']:.2f} | {r['quiet_pct']:.2f} | "
              f"{r['median_peak_dbfs']:.1f} | {r['median_rms_dbfs']:.1f} |")
    if args.out:
        with atomic_path(Path(args.out) / "synth_prior.json", "results file") as tmp:
            tmp.write_text(json.dumps({"synth": args.synth, "count": args.count, "seed": args.seed,
                                       "samplers": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
