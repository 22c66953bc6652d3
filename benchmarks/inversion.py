"""`latent bench inversion`: Barkan's Tables 3 and 4 for our inversion models and baselines.

On a seeded held-out test set (never seen in training: its rng stream differs from training and
validation), prints

* Table 3: MPR per parameter and the mean, per method;
* top-k mean accuracy (k = 1..5) per parameter group;
* Table 4: rho (x100) of STFT / FT / time signals (mean, median), F_delta, spectral convergence,
  log-spectral distance, multi-scale spectral distance (log-mel L1 at 2048/1024/512/256-sample
  windows) and MFCC distance (frame-wise L2 of MFCC 1..13) between each test sound and the
  re-rendered prediction.

``--mpr-without a,d,s`` adds the mean MPR over the other parameters (the like-for-like comparison
with papers that leave parameters out). ``--arrival`` runs :mod:`benchmarks.arrival` instead: the
same fresh patches inverted (network + refinement) aligned, late and after silence.

Methods: each model given with --model; ``random`` (uniform random patch); ``nearest`` (nearest
neighbour of the test spectrogram in a seeded training set, k-NN votes as class scores); and on the
first --refine-count sounds: ``model+refine`` (search from the prediction, --refine-seconds each)
and ``search-only`` (the same search from the middle of every range, given the same wall-clock
time as model+refine including the network's inference). Writes input/output WAV pairs and
spectrogram PNGs, and ``results.json``, into --out.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from benchmarks.arrival import arrival_table, run_arrival
from benchmarks.nearest import nearest_neighbour_scores
from benchmarks.real_notes import means, method_table, real_table, run_real
from benchmarks.sweep_plot import sweep_joint_probabilities
from instrument.cli_support import LatentArgumentParser, check_input_folder
from instrument.inversion.model import default_model_path, load_inversion_model, mask_invalid_classes
from instrument.inversion.pipeline import load_model_and_synth
from instrument.io.output_paths import atomic_path, check_writable_dir
from instrument.synths.patch_sources import load_patch_values_any

if TYPE_CHECKING:
    from instrument.inversion.model import InversionModel
    from instrument.synths.base import Synth
    from instrument.synths.spec import SynthSpec


def build_parser() -> argparse.ArgumentParser:
    p = LatentArgumentParser(prog="latent bench inversion", description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synth", default="inversynth", help="synth name")
    p.add_argument("--model", action="append", default=None,
                   help="inversion model .keras (repeatable; default: the shipped model; 'none' = no model)")
    p.add_argument("--count", type=int, default=None, help="test sounds (default 2000; quick 200)")
    p.add_argument("--train-count", type=int, default=None,
                   help="training sounds for the nearest-neighbour baseline (default 10000; quick 2000)")
    p.add_argument("--train-data", default=None, metavar="DIR",
                   help="a `latent dataset synth` folder (e.g. the network's training set) to use "
                   "as the nearest-neighbour training set instead of --train-count fresh renders")
    p.add_argument("--nn-bank", default=None, metavar="PATCHES",
                   help="patches rendered as the nearest-neighbour set instead of --train-count "
                   "fresh ones: a .syx bank or voice (dx7), or patch JSON (a file, a list, .jsonl "
                   "or a folder)")
    p.add_argument("--refine-count", type=int, default=None,
                   help="test sounds (the first ones) given refinement and search-only "
                   "(default 100; quick 10)")
    p.add_argument("--search-only-count", type=int, default=None,
                   help="of those, how many also get the search-only baseline (default: all of them)")
    p.add_argument("--refine-seconds", type=float, default=2.0,
                   help="refinement time per sound in seconds (search-only: this plus the "
                   "network's inference time)")
    p.add_argument("--refine-renders", type=int, default=0,
                   help="also cap refinement and search-only at this many renders per sound "
                   "(0 = wall-clock budget only)")
    p.add_argument("--refine-workers", type=int, default=2,
                   help="threads rendering refinement candidates (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the test sounds and the baselines")
    p.add_argument("--pairs", type=int, default=4, help="WAV/PNG examples written")
    p.add_argument("-o", "--output", "--out", dest="out", default="bench-inversion", metavar="DIR",
                   help="output folder (tables and example pictures)")
    p.add_argument("--quick", action="store_true",
                   help="small run: 200 sounds, 2000 neighbours, 10 refined")
    p.add_argument("--mpr-without", default=None, metavar="NAMES",
                   help="comma-separated parameters left out of an extra mean MPR row (e.g. a,d,s)")
    p.add_argument("--arrival", action="store_true",
                   help="the arrival benchmark instead: --count fresh patches (default 100) inverted "
                   "by `latent invert`'s pipeline (--refine-seconds each) aligned, 37 samples late, "
                   "after 20 ms silence, after 20 ms noise, and late without alignment")
    p.add_argument("--real", default=None, metavar="DIR",
                   help="the real-sounds benchmark instead (benchmarks/real_notes.py): every audio "
                   "file under DIR (e.g. presets/real-notes) inverted network-only and refined "
                   "(--refine-seconds); per-file and mean pcc_stft, MSS, LSD, SC, MFCC distance, "
                   "input pitch and warnings")
    p.add_argument("--baselines", action="store_true",
                   help="with --real: also search-only, nearest neighbour (a bank of --train-count "
                   "random patches, default 10000, or --nn-bank) and random rows")
    return p


def _real(args: argparse.Namespace) -> int:
    """``--real DIR``: print the real-sounds table and write ``real.json`` into --out."""
    check_input_folder(args.real, "--real folder")
    out = check_writable_dir(args.out, "output folder")
    model = args.model[0] if args.model else None
    inv, synth = load_model_and_synth(model, args.synth)
    t0 = time.monotonic()
    bank = None
    if args.baselines:
        if args.nn_bank:
            values = bank_values(synth, args.nn_bank)
        else:
            values = synth.random_patches(np.random.default_rng([args.seed, 55]), args.train_count or 10000)
        feats = np.concatenate([synth.render_features(values[i:i + 512])
                                for i in range(0, len(values), 512)]).astype(np.float32)
        bank = (feats, values)
        print(f"nearest-neighbour bank: {len(values)} patches rendered in {time.monotonic() - t0:.0f} s")
    rows = run_real(inv, synth, args.real, args.refine_seconds, bank=bank, baselines=args.baselines,
                    seed=args.seed, picture_dir=out, pictures=args.pairs)
    print(f"{args.synth}: {len(rows)} real sounds from {args.real}, network only and refined "
          f"{args.refine_seconds:g} s each" + (", search-only, nearest and random" if args.baselines else "")
          + f", {time.monotonic() - t0:.0f} s in all\n")
    print(real_table(rows))
    if args.baselines:
        print("\nMean per method\n")
        print(method_table(rows))
    with atomic_path(out / "real.json", "results file") as tmp:
        tmp.write_text(json.dumps({"synth": args.synth, "folder": str(args.real),
                                   "model": str(inv.path) if inv.path else None,
                                   "refine_seconds": args.refine_seconds, "sounds": rows,
                                   "mean": means(rows)}, indent=1))
    print(f"\nwrote {out}/real.json")
    return 0


def _arrival(args: argparse.Namespace) -> int:
    """``--arrival``: print the arrival table and write ``arrival.json`` into --out."""
    count = args.count or 100
    if count < 1:
        raise SystemExit("--count must be >= 1")
    model = args.model[0] if args.model else None
    inv, synth = load_model_and_synth(model, args.synth)
    t0 = time.monotonic()
    results = run_arrival(inv, synth, count, args.seed, args.refine_seconds)
    print(f"{args.synth}: {count} fresh patches (seed {args.seed}), refinement "
          f"{args.refine_seconds:g} s each, {time.monotonic() - t0:.0f} s in all\n")
    print(arrival_table(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {label: {"seconds": r["seconds"],
                   "onset_error_abs_mean": float(np.mean(np.abs(r["onset_error_samples"]))),
                   **{k: {"mean": float(np.mean(v)), "median": float(np.median(v))}
                      for k, v in r["metrics"].items()}}
           for label, r in results.items()}
    (out / "arrival.json").write_text(json.dumps({"synth": args.synth, "count": count,
                                                  "seed": args.seed,
                                                  "refine_seconds": args.refine_seconds,
                                                  "conditions": doc}, indent=1))
    print(f"\nwrote {out}/arrival.json")
    return 0


def batched_scores(inv: InversionModel, feats: np.ndarray, batch: int = 64) -> tuple[np.ndarray, float]:
    """Class scores ``(n, n_params, n_classes)`` for the test sounds' features ``(n, frames,
    bins)`` and the mean inference seconds per sound."""
    out = []
    t0 = time.monotonic()
    for i in range(0, len(feats), batch):
        x = feats[i:i + batch]
        if inv.config.bins_first:
            x = np.swapaxes(x, 1, 2)
        out.append(inv.scores(np.ascontiguousarray(x)))
    return np.concatenate(out), (time.monotonic() - t0) / max(len(feats), 1)


def _disk_training_set(directory: str, spec: SynthSpec) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(n, frames, bins)`` float32 and classes ``(n, n_params)`` of a dataset folder
    (SystemExit when it was made for another synth)."""
    from training.synth_dataset import dataset_spec, load_dataset

    data_spec = dataset_spec(directory)
    if data_spec.names != spec.names or data_spec.n_bins != spec.n_bins:
        raise SystemExit(f"--train-data {directory} holds synth {data_spec.name!r}, not {spec.name!r}")
    feats, classes, _ = load_dataset(directory)
    return feats.astype(np.float32), classes.astype(np.int64)


def class_recovery(predicted: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """(share of parameters at the true class, share within one class) over classes
    ``(n, n_params)``."""
    distance = np.abs(np.asarray(predicted, np.int64) - np.asarray(true, np.int64))
    return float(np.mean(distance == 0)), float(np.mean(distance <= 1))


def _bank_training_set(synth: Synth, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and classes of the patches in ``source`` (``--nn-bank``), rendered."""
    values = bank_values(synth, source)
    feats = np.concatenate([synth.render_features(values[i:i + 512])
                            for i in range(0, len(values), 512)]).astype(np.float32)
    return feats, synth.spec.to_classes(values)


def bank_values(synth: Synth, source: str) -> np.ndarray:
    """Values ``(n, n_params)`` of a patch source: a DX7 ``.syx`` (dx7 only) or patch JSON."""
    return load_patch_values_any(synth.spec, synth.spec.name, source)


def _search_stats(runs: Sequence[Any]) -> dict[str, float]:
    """Mean and largest seconds, renders per sound and renders per second of refinement results."""
    seconds = float(np.sum([r.seconds for r in runs]))
    renders = float(np.sum([r.renders for r in runs]))
    return {"seconds_per_sound": seconds / max(len(runs), 1),
            "max_seconds": float(np.max([r.seconds for r in runs])) if runs else 0.0,
            "renders_per_sound": renders / max(len(runs), 1),
            "renders_per_second": renders / max(seconds, 1e-9),
            "start_draws_per_sound": float(np.mean([r.start_draws for r in runs])) if runs else 0.0}


def _render(synth: Synth, values: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([synth.render(values[i:i + batch]) for i in range(0, len(values), batch)])


def _table(title: str, rows: Sequence[str], columns: Sequence[str],
           cells: dict[str, dict[str, float]], fmt: str = "{:.2f}") -> str:
    lines = [f"\n{title}\n", "| " + " | ".join(["", *columns]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for r in rows:
        vals = [fmt.format(cells[c][r]) if r in cells.get(c, {}) else "-" for c in columns]
        lines.append("| " + " | ".join([r, *vals]) + " |")
    return "\n".join(lines)


def _plot_sweeps(out: Path, name: str, inv: InversionModel, feats: np.ndarray, classes: np.ndarray) -> None:
    """``example{i}_{name}_sweep.png``: the sweep readout's (note, depth) probabilities per oscillator."""
    from training.inversion.train import model_inputs
    from instrument.plots import plot_sweep_readout

    sweep, spec = inv.config.sweep, inv.spec
    probabilities = sweep_joint_probabilities(inv.model, model_inputs(inv.config, feats))
    true_pairs = np.stack([classes[:, list(sweep.sweep_note_rows)],
                           classes[:, list(sweep.sweep_depth_rows)]], axis=-1)
    notes = [spec.parameters[r] for r in sweep.sweep_note_rows]
    depths = [spec.parameters[r] for r in sweep.sweep_depth_rows]
    for i, p in enumerate(probabilities):
        plot_sweep_readout(out / f"example{i}_{name}_sweep.png", p, [n.name for n in notes],
                           notes[0].grid(), depths[0].grid(), true_pairs[i],
                           f"test sound {i}: sweep readout of {name} (o true, x readout best)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and bad flags before TensorFlow loads
    if args.arrival:
        return _arrival(args)
    if args.real is not None:
        return _real(args)
    from instrument.io.audio_files import save_audio
    from instrument.plots import plot_audio_spectrograms
    from instrument.inversion.metrics import (audio_metrics, mean_percentile_rank, summarise,
                                            top_k_by_group)
    from training.inversion.train import TEST_SEED_OFFSET, heldout_set, make_batch
    from instrument.inversion.refine.search import RefineConfig, refine, search_only
    from instrument.synths.registry import get_synth
    from tqdm import tqdm

    defaults = (200, 2000, 10) if args.quick else (2000, 10000, 100)
    args.count = args.count or defaults[0]
    args.train_count = args.train_count or defaults[1]
    args.refine_count = defaults[2] if args.refine_count is None else args.refine_count
    if args.count < 1 or args.train_count < 16 or args.refine_count < 0:
        raise SystemExit("--count must be >= 1, --train-count >= 16, --refine-count >= 0")
    if args.refine_renders < 0 or args.refine_workers < 1:
        raise SystemExit("--refine-renders must be >= 0 and --refine-workers >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    synth = get_synth(args.synth)
    spec = synth.spec
    n_classes = max(spec.levels)
    t_start = time.monotonic()

    model_paths = args.model or [str(default_model_path(args.synth))]
    models = {} if model_paths == ["none"] else {
        Path(p).stem: load_inversion_model(p) for p in model_paths}
    for name, inv in models.items():
        if inv.spec.names != spec.names:
            raise SystemExit(f"model {name} is for synth {inv.synth_name!r}, not {args.synth!r}")

    feats, classes, audio = heldout_set(synth, args.seed, args.count, TEST_SEED_OFFSET)
    print(f"{args.synth}: {len(audio)} held-out test sounds (seed {args.seed}), "
          f"rendered in {time.monotonic() - t_start:.1f} s")

    scores: dict[str, np.ndarray] = {}
    infer_seconds: dict[str, float] = {}
    for name, inv in models.items():
        scores[name], infer_seconds[name] = batched_scores(inv, feats)
        print(f"{name}: {infer_seconds[name] * 1000:.1f} ms inference per sound (batched)")
    # random: the synth's own random patches (uniform classes; the dx7's musical prior)
    random_classes = spec.to_classes(synth.random_patches(np.random.default_rng([args.seed, 77]),
                                                          len(audio)))
    scores["random"] = np.zeros((len(audio), spec.n_params, n_classes), np.float32)
    np.put_along_axis(scores["random"], random_classes[..., None], 1.0, axis=-1)

    scores["random"] = mask_invalid_classes(scores["random"], spec.levels)
    t0 = time.monotonic()
    if args.train_data:
        train_feats, train_classes = _disk_training_set(args.train_data, spec)
    elif args.nn_bank:
        train_feats, train_classes = _bank_training_set(synth, args.nn_bank)
    else:
        train_rng = np.random.default_rng([args.seed, 55])
        parts = [make_batch(synth, train_rng, min(512, args.train_count - i))
                 for i in range(0, args.train_count, 512)]
        train_feats = np.concatenate([p[0] for p in parts])
        train_classes = np.concatenate([p[1] for p in parts])
        del parts
    scores["nearest"], _ = nearest_neighbour_scores(train_feats, train_classes, feats, n_classes)
    scores["nearest"] = mask_invalid_classes(scores["nearest"], spec.levels)
    print(f"nearest neighbour over {len(train_feats)} training sounds: "
          f"{time.monotonic() - t0:.1f} s")
    del train_feats

    methods = list(scores)
    mpr = {m: dict(zip(spec.names, mean_percentile_rank(scores[m], classes, spec.levels)))
           for m in methods}
    left_out = [n.strip() for n in (args.mpr_without or "").split(",") if n.strip()]
    unknown = [n for n in left_out if n not in spec.names]
    if unknown:
        raise SystemExit(f"--mpr-without: {', '.join(unknown)} not parameters of {args.synth} "
                         f"({', '.join(spec.names)})")
    subset_row = f"Mean MPR without {', '.join(left_out)}" if left_out else None
    for m in methods:
        per_param = dict(mpr[m])
        mpr[m]["Mean MPR"] = float(np.mean(list(per_param.values())))
        if subset_row:
            mpr[m][subset_row] = float(np.mean([v for k, v in per_param.items()
                                                if k not in left_out]))
    topk = {m: top_k_by_group(scores[m], classes, spec.groups) for m in methods}

    recovered = {m: class_recovery(scores[m].argmax(axis=-1), classes) for m in methods}
    predicted = {m: spec.from_classes(scores[m].argmax(axis=-1)) for m in methods}
    rendered = {m: _render(synth, predicted[m]) for m in methods}
    audio_stats = {m: summarise(audio_metrics(audio, rendered[m], spec.sample_rate))
                   for m in methods}

    # refinement on the first --refine-count sounds
    n_ref = min(args.refine_count, len(audio))
    refined: dict[str, dict[str, Any]] = {}
    if n_ref and args.refine_seconds > 0:
        cfg = RefineConfig(seconds=args.refine_seconds, max_renders=args.refine_renders,
                           workers=args.refine_workers)
        subset = {}
        for name in models:
            runs = [refine(synth, audio[i], predicted[name][i], cfg, scores=scores[name][i])
                    for i in tqdm(range(n_ref), desc=f"{name}+refine", unit="sound", leave=False)]
            subset[f"{name}+refine"] = np.stack([r.audio for r in runs])
            recovered[f"{name}+refine"] = class_recovery(np.stack([r.classes for r in runs]),
                                                         classes[:n_ref])
            recovered[f"{name} (same sounds)"] = class_recovery(
                scores[name][:n_ref].argmax(axis=-1), classes[:n_ref])
            refined[f"{name}+refine"] = {
                f"gain_{runs[0].objective}_x100": 100 * float(np.mean([r.gain for r in runs])),
                **_search_stats(runs)}
            subset[f"{name} (same sounds)"] = rendered[name][:n_ref]
        budget = args.refine_seconds + (max(infer_seconds.values()) if infer_seconds else 0.0)
        n_search = n_ref if args.search_only_count is None else min(args.search_only_count, n_ref)
        runs = [search_only(synth, audio[i], replace(cfg, seconds=budget))
                for i in tqdm(range(n_search), desc="search-only", unit="sound", leave=False)]
        if runs:
            subset["search-only"] = np.stack([r.audio for r in runs])
            recovered["search-only"] = class_recovery(np.stack([r.classes for r in runs]),
                                                      classes[:len(runs)])
            refined["search-only"] = {"budget_seconds": budget, "sounds": n_search, **_search_stats(runs)}
        for m in ("random", "nearest"):
            subset[f"{m} (same sounds)"] = rendered[m][:n_ref]
        for m, a in subset.items():
            audio_stats[m] = summarise(audio_metrics(audio[:len(a)], a, spec.sample_rate))
        print(f"refinement/search on the first {n_ref} sounds: "
              f"{args.refine_seconds:g} s each (search-only: {budget:.2f} s on the first {n_search})"
              + (f", at most {args.refine_renders} renders" if args.refine_renders else ""))

    # tables
    print(_table(f"Table 3: MPR per parameter ({len(audio)} test sounds; 100 best, 50 random)",
                 [*spec.names, "Mean MPR", *([subset_row] if subset_row else [])], methods, mpr))
    groups = list(topk[methods[0]])
    for m in methods:
        print(_table(f"Top-k mean accuracy (%) per group, {m}", groups,
                     [f"k={k}" for k in range(1, 6)],
                     {f"k={k}": {g: topk[m][g][k - 1] for g in groups} for k in range(1, 6)},
                     "{:.1f}"))
    rows4 = []
    cells4: dict[str, dict[str, float]] = {m: {} for m in audio_stats}
    for key, label in (("pcc_stft", "rho (STFT)"), ("pcc_ft", "rho (FT)"), ("pcc_time", "rho (time)"),
                       ("f_delta", "F_delta (STFT)"), ("sc", "spectral convergence"),
                       ("lsd_db", "LSD (dB)"), ("mss", "MSS (log-mel L1)"),
                       ("mfcc", "MFCC distance")):
        for stat in ("mean", "median"):
            row = f"{label} {stat}"
            rows4.append(row)
            for m in audio_stats:
                cells4[m][row] = audio_stats[m][key][stat]
    full = [m for m in methods]
    print(_table(f"Table 4: reconstruction, all {len(audio)} test sounds (rho x100)", rows4, full,
                 cells4))
    sub = [m for m in audio_stats if m not in full]
    if sub:
        print(_table(f"Table 4b: reconstruction, first {n_ref} sounds (refinement budget "
                     f"{args.refine_seconds:g} s/sound)", rows4, sub, cells4))
        for m, info in refined.items():
            print(f"{m}: " + ", ".join(f"{k} {v:.3f}" for k, v in info.items()))

    print(_table("Parameters recovered (% of all parameters of all sounds; within one class = "
                 "|predicted - true class| <= 1)", ["exact class", "within one class"],
                 list(recovered), {m: {"exact class": 100 * r[0], "within one class": 100 * r[1]}
                                   for m, r in recovered.items()}, "{:.1f}"))

    # examples for listening
    best = next(iter(models), "nearest")
    for i in range(min(args.pairs, len(audio))):
        save_audio(out / f"example{i}_input.wav", audio[i], spec.sample_rate)
        save_audio(out / f"example{i}_{best}.wav", rendered[best][i], spec.sample_rate)
        plot_audio_spectrograms([(f"test sound {i}", audio[i]),
                                 (f"test sound {i}: {best}", rendered[best][i])],
                                out / f"example{i}_{best}.png", spec.sample_rate, spec.stft,
                                f"test sound {i}: input vs {best}")
    for name, inv in models.items():
        if inv.config.arch == "sweeptcn" and args.pairs:
            _plot_sweeps(out, name, inv, feats[:args.pairs], classes[:args.pairs])
    results = {"synth": args.synth, "count": len(audio), "seed": args.seed,
               "nearest_training_set": (Path(args.train_data).name if args.train_data
                                        else Path(args.nn_bank).name if args.nn_bank
                                        else f"{args.train_count} seeded renders"),
               "mpr": mpr, "top_k": topk, "audio": audio_stats, "refine": refined,
               "recovered_exact_within_one": recovered,
               "inference_seconds_per_sound": infer_seconds,
               "bench_seconds": time.monotonic() - t_start}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out}/results.json and {min(args.pairs, len(audio))} example pairs "
          f"in {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
