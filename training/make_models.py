"""Rebuild the shipped models (``make models`` = ``python -m training.make_models``).

1. Render FluidR3_GM notes with fluidsynth into a cache folder (not committed).
2. Train ``presets/models/flute-to-clarinet.keras``: dilated + residual (dilres)
   transfer model, flute -> clarinet notes G3..G6.
   ``presets/models/flute-to-clarinet-live.keras``: the same network made causal, for
   ``latent perform`` (frame by frame at the engine's minimum latency).
3. Train ``presets/models/reconstruct.keras``: the live model, a causal residual
   autoencoder on several instruments (cached streaming, 16 latent units).
4. Train the inversion models (:mod:`training.inversion.build`): inversynth, fluidsynth and
   dx7 (``--only dx7`` rebuilds that one alone).
5. Write ``presets/models/README.md`` with the commands, data, epochs, seed, wall time
   and final figures measured.

Each model trains under a wall-time limit (``--time-limit`` minutes, default 13).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from instrument.cli_support import add_hidden_alias, bounded_float
from instrument.config import SpectralConfig
from presets import PRESETS_DIR
from training.notes import midi_to_note, parse_note_range

SEED = 0
TRANSFER_NOTES = "G3-G6"
RECONSTRUCT_INSTRUMENTS = ("flute", "clarinet", "oboe", "trumpet", "violin", "cello", "alto sax",
                           "piano")
RECONSTRUCT_NOTES = "G3,A3,B3,C#4,D#4,F4,G4,A4,B4,C#5,D#5,F5,G5,A5,B5,C#6,D#6,F6,G6"

#: One residual dilated block, no max-pooling: pooling in frequency blurred the harmonic peaks
#: of low notes (a 10-minute run with depth 2 / pool_freq 4 stayed above the identity baseline).
#: Convolutions see only +-17 bins, so a per-bin bias (frequency position) and a whole-frame
#: context layer after each block tell every bin where it is and what the rest of the frame
#: holds. The context also decodes a whole-frame spectral template (``freq_template``): without
#: it the model could not add the clarinet harmonics above a low flute note's last harmonic.
#: 13-minute runs on the "between" split below, 2 shared cores: without the template 0.0186,
#: with it 0.0157 (128 context units instead of 64: 0.0169).
TRANSFER_MODEL: dict[str, Any] = {"arch": "dilres", "channels": 16, "latent_channels": 16,
                                  "depth": 1, "pool_freq": 1, "freq_bias": True,
                                  "freq_context": 64, "freq_template": True, "dropout": 0.0,
                                  "sparsity_beta": 0.0, "l2": 1e-6}
#: Validation notes lie between training notes (``split="between"``): FluidR3's clarinet
#: multi-samples span 2-4 semitones, and the random split used before held out A3, A#3 and B3,
#: one whole multi-sample no model could hear. Stretching the frequency axis of input and target
#: alike makes in-between training notes; with every held-out note next to a trained one, small
#: stretches fit best (+-3 semitones 0.0157, +-1.5: 0.0144, +-1: 0.0125, +-0.5 worse than +-1 by
#: the middle of its run). 32-frame windows in batches of 4 give 4x the optimizer steps of
#: 64 x 8 for the same compute; the learning rate decays (cosine) to the wall-time limit.
TRANSFER_TRAIN: dict[str, Any] = {"epochs": 200, "batch_size": 4, "learning_rate": 3e-3,
                                  "frames": 32, "stride": 32, "patience": 0,
                                  "val_fraction": 0.15, "split": "between", "pitch_shift": 1.0,
                                  "lr_schedule": "cosine"}
#: The live transfer model: the same network made causal (every convolution pads the past only),
#: so it streams frame by frame (cached mode) at the engine's minimum latency instead of in blocks
#: (the offline model: 394.7 ms). Same data, split and schedule as the offline model.
TRANSFER_LIVE_MODEL: dict[str, Any] = {**TRANSFER_MODEL, "causal": True}
#: A smooth random EQ of the input (+-9 dB) while training the live model: held-out error 1.159e-2
#: -> 1.089e-2 and energy above 5 kHz -0.9 -> -0.1 dB against the target (200 epochs each).
TRANSFER_LIVE_TRAIN: dict[str, Any] = {**TRANSFER_TRAIN, "input_eq_db": 9.0}
RECONSTRUCT_MODEL: dict[str, Any] = {"arch": "residual", "latent_channels": 16, "causal": True,
                                     "dropout": 0.0, "sparsity_beta": 0.0, "l2": 1e-6}
RECONSTRUCT_TRAIN: dict[str, Any] = {"epochs": 40, "batch_size": 16, "learning_rate": 3e-3,
                                     "frames": 16, "stride": 16, "patience": 8,
                                     "val_fraction": 0.15}


def cache_dir() -> Path:
    """Where rendered notes are kept between runs (system temp folder)."""
    return Path(tempfile.gettempdir()) / "latent-instrument-cache" / "fluidr3"


def render(instrument: str, notes: str, seconds: float = 1.5, velocity: int = 110) -> Path:
    """Render (once) ``notes`` of ``instrument``; returns the folder."""
    from training.cli_dataset_soundfont import render_notes

    midis = parse_note_range(notes)
    folder = cache_dir() / f"{instrument.replace(' ', '-')}-v{velocity}-{seconds:g}s"
    stem = instrument.replace(" ", "-")
    missing = [m for m in midis if not (folder / f"{stem}_{midi_to_note(m)}.wav").is_file()]
    if missing:
        render_notes(instrument, missing, folder, velocity=velocity, seconds=seconds, workers=2)
    return folder


def _cli(kind: str, data: str, model: dict[str, Any], train: dict[str, Any], out: str) -> str:
    flags = []
    for key, value in {**model, **train, "seed": SEED}.items():
        flag = "--" + {"sparsity_beta": "sparsity", "noise_stddev": "noise"}.get(key, key).replace("_", "-")
        if value is True:
            flags.append(flag)
        else:
            flags.append(f"{flag} {value}")
    return f"latent train {kind} {data} {' '.join(flags)} --time-limit MIN -o {out}"


def train_one(kind: str, data: Any, model: dict[str, Any], train_options: dict[str, Any],
              out_dir: Path, minutes: float) -> Any:
    from training.train import TrainConfig, train

    config = TrainConfig(kind=kind, seed=SEED, time_limit_minutes=minutes, **train_options)
    return train(data, model, config, SpectralConfig(), out_dir, verbose=2)


def build_transfer(work: Path, minutes: float, live: bool = False) -> dict[str, Any]:
    """The offline flute-to-clarinet model, or with ``live`` its causal variant."""
    from training.train import TrainConfig, prepare_transfer_data

    model = TRANSFER_LIVE_MODEL if live else TRANSFER_MODEL
    train_options = TRANSFER_LIVE_TRAIN if live else TRANSFER_TRAIN
    name = "flute-to-clarinet-live.keras" if live else "flute-to-clarinet.keras"
    flute, clarinet = render("flute", TRANSFER_NOTES), render("clarinet", TRANSFER_NOTES)
    config = TrainConfig(kind="transfer", seed=SEED, **TRANSFER_TRAIN)
    data = prepare_transfer_data(flute, clarinet, SpectralConfig(), config)
    start = time.perf_counter()
    result = train_one("transfer", data, model, train_options, work / Path(name).stem, minutes)
    return {"name": name, "result": result, "wall": time.perf_counter() - start,
            "data": f"FluidR3_GM flute (program 73) and clarinet (71), notes {TRANSFER_NOTES}, "
                    "velocity 110, 1.5 s held + 0.5 s release, 22050 Hz",
            "command": _cli("transfer", "--source FLUTE_DIR --target CLARINET_DIR", model,
                            train_options, "OUT"),
            "split": data.description}


def build_transfer_live(work: Path, minutes: float) -> dict[str, Any]:
    return build_transfer(work, minutes, live=True)


def build_reconstruct(work: Path, minutes: float) -> dict[str, Any]:
    from training.train import TrainConfig, prepare_autoencoder_data

    folders = [render(name, RECONSTRUCT_NOTES) for name in RECONSTRUCT_INSTRUMENTS]
    config = TrainConfig(kind="autoencoder", seed=SEED, **RECONSTRUCT_TRAIN)
    data = prepare_autoencoder_data(folders, SpectralConfig(), config)
    start = time.perf_counter()
    result = train_one("autoencoder", data, RECONSTRUCT_MODEL, RECONSTRUCT_TRAIN, work / "reconstruct",
                       minutes)
    return {"name": "reconstruct.keras", "result": result, "wall": time.perf_counter() - start,
            "data": f"FluidR3_GM {', '.join(RECONSTRUCT_INSTRUMENTS)}; notes {RECONSTRUCT_NOTES} "
                    "(flute and clarinet: every note G3..G6, the cache shared with the transfer "
                    f"model); {data.description['notes']} notes; velocity 110, 1.5 s held + 0.5 s "
                    "release, 22050 Hz",
            "command": _cli("autoencoder", "--data DIR...", RECONSTRUCT_MODEL, RECONSTRUCT_TRAIN, "OUT"),
            "split": data.description}


def _section(entry: dict[str, Any], minutes: float) -> str:
    r = entry["result"]
    final = r.final
    size_mb = entry["path"].stat().st_size / 1e6
    return "\n".join([
        f"## {entry['name']}",
        "",
        f"- data: {entry['data']}",
        f"- held-out notes (validation): {', '.join(entry['split'].get('val_notes', []))}",
        f"- command equivalent: `{entry['command'].replace('MIN', f'{minutes:g}')}`",
        f"- seed {SEED}; epochs run: {len(r.history.get('loss', []))} "
        f"(limit {minutes:g} min wall, early-stopping patience as listed)",
        f"- wall time: {entry['wall'] / 60:.1f} min on 2 shared CPU cores",
        f"- final validation loss {final.get('val_loss', float('nan')):.4g}, validation "
        f"reconstruction error (MSE of log1p magnitudes) {final.get('val_reconstruction_error', float('nan')):.4g}; "
        f"training reconstruction error {final.get('train_reconstruction_error', float('nan')):.4g}",
        f"- file size: {size_mb:.2f} MB",
        "",
    ])


def write_record(entry: dict[str, Any], minutes: float, folder: Path) -> Path:
    """Keep the README section of one model next to it (``<stem>.build.md``)."""
    path = folder / f"{Path(entry['name']).stem}.build.md"
    path.write_text(_section(entry, minutes))
    return path


def write_readme(folder: Path) -> Path:
    """``README.md`` from the build records of every model in ``folder``."""
    sections = [p.read_text() for p in sorted(folder.glob("*.build.md"))]
    text = "\n".join([
        "# Shipped models",
        "",
        "Rebuilt by `make models` (= `python -m training.make_models`): renders FluidR3_GM notes with",
        "fluidsynth into a cache in the system temp folder (not committed) and trains each model with",
        "`training.train` (the code behind `latent train`). Loss = MSE of log1p magnitudes + the model's",
        "regularisation; reconstruction error = MSE of log1p magnitudes alone. Figures below were",
        "written by the run that produced the committed files. `latent bench quality` evaluates them",
        "against the identity and spectral-EQ baselines.",
        "",
        *sections,
    ])
    path = folder / "README.md"
    path.write_text(text)
    return path


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy to a temporary name beside ``target``, then rename (a shipped file is never half-written)."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.make_models",
                                     description="Rebuild the shipped models (latent and inversion).")
    parser.add_argument("--time-limit", dest="minutes", type=bounded_float(0.1, 60 * 24), default=13.0,
                        metavar="MINUTES", help="wall-time limit per model, minutes (default 13)")
    add_hidden_alias(parser, "--minutes", dest="minutes", type=bounded_float(0.1, 60 * 24))
    parser.add_argument("--only", choices=("transfer", "transfer-live", "reconstruct", "inversion",
                                           "inversynth", "fluidsynth", "dx7"), default=None,
                        help="one model, or 'inversion' for the three inversion models")
    parser.add_argument("--out", default=str(PRESETS_DIR / "models"), help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="latent-make-models-"))
    entries = []
    builders = {"transfer": build_transfer, "transfer-live": build_transfer_live,
                "reconstruct": build_reconstruct}
    for key, builder in builders.items():
        if args.only and key != args.only:
            continue
        entry = builder(work, args.minutes)
        target = out / entry["name"]
        _copy_atomically(entry["result"].model_path, target)
        _copy_atomically(entry["result"].out_dir / "metrics.json", out / f"{target.stem}.metrics.json")
        entry["path"] = target
        entries.append(entry)
        write_record(entry, args.minutes, out)
        write_readme(out)
        print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
    if args.only in (None, "inversion", "inversynth", "fluidsynth", "dx7"):
        # Trains the shipped inversion networks (inversynth: three members, 144 + 29 + 29 min;
        # fluidsynth about 50 min; dx7 about 30 min with its dataset)
        # and copies them into presets/models; their build records are the hand-written
        # inversynth-sweeptcn.build.md, fluidsynth-conv6xl.build.md and dx7-freqtcn.build.md.
        from training.inversion.build import build_inversion_models

        only = None if args.only in (None, "inversion") else args.only
        for path in build_inversion_models(work / "inversion", only=only):
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
        write_readme(out)
    summary = {e["name"]: {"final": e["result"].final, "wall_seconds": e["wall"],
                           "epochs": len(e["result"].history.get("loss", []))} for e in entries}
    print(json.dumps(summary, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
