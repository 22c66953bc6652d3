"""`latent bench identifiability`: how far a perfect network could go, beside ours.

On the same seeded held-out test sounds as `latent bench inversion`, re-renders every sound with
one parameter at each other class (and with two oscillators' shapes exchanged, for synths with
oscillators) and counts the classes whose ``log1p|STFT|`` features lie within a relative
tolerance of the sound's own (see :mod:`benchmarks.identifiability_analysis`). Prints, per parameter, the
MPR ceiling a judge of such features reaches at each tolerance, next to the MPR of the given
inversion model (default: the shipped one) on the same sounds. A model far below the ceiling is
limited by what it learned, not by what the sound tells.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.identifiability_analysis import ceiling_mpr, tied_class_counts
from benchmarks.inversion import batched_scores
from instrument.cli_support import LatentArgumentParser
from instrument.inversion.model import default_model_path, load_inversion_model


def build_parser() -> argparse.ArgumentParser:
    p = LatentArgumentParser(prog="latent bench identifiability", description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synth", default="inversynth", help="synth name")
    p.add_argument("--model", default=None,
                   help="inversion model .keras (default: the shipped model; 'none' = no model)")
    p.add_argument("--count", type=int, default=200, help="test sounds (default 200)")
    p.add_argument("--tolerance", type=float, nargs="+", default=[0.0, 0.01, 0.03, 0.1],
                   help="relative feature distances counted as 'sounds the same' (default 0 0.01 0.03 0.1)")
    p.add_argument("--no-swaps", action="store_true",
                   help="do not also try exchanging two oscillators' shapes (one-parameter changes only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the test sounds")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and bad flags before TensorFlow loads
    from tqdm import tqdm

    from instrument.inversion.metrics import mean_percentile_rank
    from training.inversion.train import TEST_SEED_OFFSET, heldout_set
    from instrument.synths.registry import get_synth

    if args.count < 1:
        raise SystemExit("--count must be >= 1")
    synth = get_synth(args.synth)
    spec = synth.spec
    n_classes = max(spec.levels)
    t_start = time.monotonic()
    feats, classes, _ = heldout_set(synth, args.seed, args.count, TEST_SEED_OFFSET)

    columns: dict[str, np.ndarray] = {}
    model_path = None if args.model == "none" else Path(args.model or default_model_path(args.synth))
    if model_path is not None:
        inv = load_inversion_model(model_path)
        if inv.spec.names != spec.names:
            raise SystemExit(f"model {model_path} is for synth {inv.synth_name!r}, not {args.synth!r}")
        scores, _ = batched_scores(inv, feats)
        columns[model_path.stem] = mean_percentile_rank(scores, classes)

    oscillators = None if args.no_swaps else [
        [spec.index(amplitude), *map(spec.index, shape)]
        for amplitude, shape in getattr(synth, "oscillators", [])]
    counts = np.concatenate([tied_class_counts(synth, classes[i:i + 1], args.tolerance, oscillators)
                             for i in tqdm(range(len(classes)), desc="re-rendering variants",
                                           unit="sound")], axis=1)
    for k, tol in enumerate(args.tolerance):
        columns[f"ceiling, tol {tol:g}"] = ceiling_mpr(counts[k], n_classes)

    names = list(columns)
    print(f"\n{args.synth}: MPR ceiling vs model on {len(classes)} held-out test sounds (seed {args.seed}; "
          f"{sum(spec.levels) - spec.n_params} one-parameter variants"
          + (f" and {len(oscillators) * (len(oscillators) - 1)} oscillator swaps" if oscillators else "")
          + " each; 100 best, 50 random)\n")
    print("| parameter | group | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    group_of = {j: g for g, idx in spec.groups.items() for j in idx}
    for j, name in enumerate(spec.names):
        print(f"| {name} | {group_of.get(j, '')} | " + " | ".join(f"{columns[c][j]:.1f}" for c in names) + " |")
    print("| **mean** | | " + " | ".join(f"**{columns[c].mean():.2f}**" for c in names) + " |")
    print(f"\n{time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
