"""`latent bench quality`: Paterna's Table 3.1 layout on held-out FluidR3 notes.

Rows, for the transfer task (flute -> clarinet, G3..G6) and the reconstruction
task (several instruments): validation loss and reconstruction error (MSE of
log1p magnitudes) of

* baselines: ``identity`` (output = input; for transfer the source note against
  the target note) and ``spectral EQ`` (fixed per-bin gain from source to target,
  fitted on the training notes);
* the shipped models, evaluated as they are;
* each architecture after a small quick training (``--epochs``, ``--time-limit``).

Held-out notes are the same seeded note split the shipped models were trained with.
Also times ``latent transfer`` on a 2 s note with 100 Griffin-Lim iterations.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from instrument.cli_support import LatentArgumentParser, add_hidden_alias
from instrument.config import SpectralConfig
from instrument.errors import LatentError
from presets import PRESETS_DIR
from training import make_models
from training.notes import note_to_midi

ARCHS = ("dense", "shallow", "deep", "dilated", "residual", "dilres")
#: Small per-architecture settings for the quick runs.
QUICK_MODELS: dict[str, dict[str, Any]] = {
    "dense": {"arch": "dense", "hidden_units": (256, 16)},
    "shallow": {"arch": "shallow", "latent_channels": 16},
    "deep": {"arch": "deep", "channels": 16, "latent_channels": 16, "depth": 2, "pool_freq": 2},
    "dilated": {"arch": "dilated", "channels": 16, "latent_channels": 16},
    "residual": {"arch": "residual", "latent_channels": 16},
    "dilres": {"arch": "dilres", "channels": 16, "latent_channels": 16, "depth": 1, "pool_freq": 1},
}


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def eq_gain(train_inputs: np.ndarray, train_targets: np.ndarray) -> np.ndarray:
    """Per-bin linear gain mapping mean source magnitude to mean target magnitude, ``(n_bins,)``."""
    src = np.expm1(train_inputs).mean(axis=0)
    tgt = np.expm1(train_targets).mean(axis=0)
    return (tgt / np.maximum(src, 1e-8)).astype(np.float32)


def _note_midi(name: str) -> int | None:
    """MIDI note of a pair label such as ``A3 flute_A3.wav -> clarinet_A3.wav``."""
    try:
        return note_to_midi(name.split(" ", 1)[0])
    except LatentError:
        return None


def nearest_note_error(data: Any) -> float | None:
    """Error of a pitch-aware reference that sees the held-out note's pitch: the target of
    the nearest training note, frequency-stretched by the pitch ratio and trimmed/padded to the
    held-out note's length. None when pair labels carry no pitch.

    It shows how far apart neighbouring target notes really are (different samples, tuning,
    levels), i.e. roughly what no model trained on the other notes can easily beat.
    """
    from training.datasets import stretch_bins

    train_midi = [_note_midi(n) for n in data.train.names]
    val_midi = [_note_midi(n) for n in data.val.names]
    if None in train_midi or None in val_midi:
        return None
    errors, weights = [], []
    for midi, start, length in zip(val_midi, data.val.starts, data.val.lengths):
        near = int(np.argmin([abs(m - midi) for m in train_midi]))
        t0, tn = data.train.starts[near], data.train.lengths[near]
        ratio = 2.0 ** ((midi - train_midi[near]) / 12)
        neighbour = stretch_bins(data.train.targets[t0:t0 + tn], ratio).numpy()
        pred = np.zeros((length, neighbour.shape[1]), np.float32)
        pred[:min(length, tn)] = neighbour[:length]
        errors.append(_mse(pred, data.val.targets[start:start + length]))
        weights.append(length)
    return float(np.average(errors, weights=weights))


def baseline_rows(task: str, data: Any) -> list[dict[str, Any]]:
    x, y = data.val.inputs, data.val.targets
    rows = [{"task": task, "model": "identity (baseline)", "loss": _mse(x, y), "error": _mse(x, y)}]
    if task == "transfer":
        spectral = SpectralConfig()
        gain = eq_gain(data.train.inputs, data.train.targets)
        eq = np.log1p(gain * np.expm1(x))
        rows.append({"task": task, "model": "spectral EQ (baseline)", "loss": _mse(eq, y),
                     "error": _mse(eq, y)})
        notes = list(zip(data.val.starts, data.val.lengths))
        for row, pred in zip(rows, (x, eq)):
            row["high_band_db"], row["tail_db"] = band_and_tail_db(
                [pred[a:a + n] for a, n in notes], [y[a:a + n] for a, n in notes],
                spectral.sample_rate, spectral.stft.hop_length)
        reference = nearest_note_error(data)
        if reference is not None:
            rows.append({"task": task, "model": "nearest training note, pitch-stretched (reference)",
                         "loss": reference, "error": reference})
    return rows


#: Frequency above which the transfer rows compare band energy with the target's (Hz).
HIGH_BAND_HZ = 5000.0
#: Energy floor of the note-tail comparison, relative to the target note's median frame power:
#: below it both sides count as silence (a target released to digital silence is not "infinitely"
#: quieter than a model's -60 dB residue).
TAIL_FLOOR = 1e-6


def band_and_tail_db(outputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                     sample_rate: int, hop_length: int) -> tuple[float, float]:
    """Energy of ``outputs`` relative to ``targets`` in dB (0 dB = as much as the target): above
    :data:`HIGH_BAND_HZ`, and in every note's tail: the frames after the target's last frame within
    20 dB of its median level, each frame's power floored at :data:`TAIL_FLOOR` times that level.
    A model that cut the tails short would score below 0 dB there.

    Args:
        outputs, targets: per note, log1p magnitudes ``(frames, n_bins)`` of equal shapes.
    """
    n_bins = targets[0].shape[1]
    first_bin = int(np.ceil(HIGH_BAND_HZ / (sample_rate / 2) * (n_bins - 1)))
    band = np.zeros(2)
    tail = np.zeros(2)
    for out, tgt in zip(outputs, targets):
        power = [np.expm1(np.asarray(spec, np.float64)) ** 2 for spec in (out, tgt)]
        frame_power = [p.sum(axis=1) for p in power]
        level = float(np.median(frame_power[1]))
        loud = np.nonzero(frame_power[1] >= 0.01 * level)[0]
        start = int(loud[-1]) + 1 if loud.size else len(tgt)
        for k in range(2):
            band[k] += power[k][:, first_bin:].sum()
            tail[k] += np.maximum(frame_power[k][start:], TAIL_FLOOR * level).sum()
    ratios = 10 * np.log10(np.maximum([band[0], tail[0]], 1e-12) / np.maximum([band[1], tail[1]], 1e-12))
    return float(ratios[0]), float(ratios[1])


def evaluate_model(latent: Any, data: Any, task: str, name: str) -> dict[str, Any]:
    """Loss (MSE + regularisation, Keras evaluate on windows) and error (whole held-out notes);
    for transfer also the energy above 5 kHz and in the note tails relative to the target (dB)."""
    import keras

    from training.datasets import make_dataset

    model = latent.model
    model.compile(loss="mse", metrics=[keras.metrics.MeanSquaredError(name="reconstruction_error")])
    per_frame = latent.config.arch == "dense"
    ds = make_dataset(data.val, latent.config.frames, 16, training=False, per_frame=per_frame)
    values = model.evaluate(ds, verbose=0, return_dict=True)
    errors, weights, outputs, targets = [], [], [], []
    for start, length in zip(data.val.starts, data.val.lengths):
        out = latent.transform(data.val.inputs[start:start + length])
        target = data.val.targets[start:start + length]
        errors.append(_mse(out, target))
        weights.append(length)
        outputs.append(out)
        targets.append(target)
    per_note = {name.split()[0]: err for name, err in zip(data.val.names, errors)}
    row = {"task": task, "model": name, "loss": float(values["loss"]),
           "error": float(np.average(errors, weights=weights)), "per_note": per_note}
    if task == "transfer":
        spectral = latent.spectral
        row["high_band_db"], row["tail_db"] = band_and_tail_db(
            outputs, targets, spectral.sample_rate, spectral.stft.hop_length)
    return row


def quick_rows(task: str, data: Any, archs: Sequence[str], epochs: int, minutes: float,
               work: Path) -> list[dict[str, Any]]:
    from training.train import TrainConfig, train

    rows = []
    for arch in archs:
        config = TrainConfig(kind="transfer" if task == "transfer" else "autoencoder", epochs=epochs,
                             batch_size=16, learning_rate=2e-3, frames=16, stride=16, patience=0,
                             tensorboard=False, time_limit_minutes=minutes, seed=0)
        options = dict(QUICK_MODELS[arch], dropout=0.0, sparsity_beta=0.0)
        start = time.perf_counter()
        result = train(data, options, config, SpectralConfig(), work / f"{task}-{arch}", verbose=0)
        rows.append({"task": task, "model": f"{arch} ({len(result.history['loss'])} ep)",
                     "loss": result.final.get("val_loss", float("nan")),
                     "error": result.final.get("val_reconstruction_error", float("nan")),
                     "seconds": time.perf_counter() - start})
        print(f"  trained {task}/{arch}: error {rows[-1]['error']:.4g} in {rows[-1]['seconds']:.0f} s",
              flush=True)
    return rows


def time_transfer(model_path: Path, note: Path, iterations: int = 100) -> dict[str, float]:
    """Real-time factor of transferring a 2 s note: in-process (load+analysis+model+GL+write)
    and the whole ``latent transfer`` process (including Python/TensorFlow start-up)."""
    from instrument.io.audio_files import load_audio
    from instrument.app.transfer import load_model, transfer_files

    model = load_model(model_path)
    seconds = len(load_audio(note, model.spectral.audio)) / model.spectral.sample_rate
    with tempfile.TemporaryDirectory() as tmp:
        transfer_files(model, [note], tmp, iterations=iterations, progress=False)  # warm caches
        start = time.perf_counter()
        transfer_files(model, [note], tmp, iterations=iterations, progress=False)
        inproc = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "instrument.cli", "transfer", "--model", str(model_path),
                        str(note), "-o", tmp, "--gl-iterations", str(iterations)], check=True,
                       capture_output=True)
        whole = time.perf_counter() - start
    return {"seconds": seconds, "in_process": inproc, "process": whole}


def build_parser() -> argparse.ArgumentParser:
    parser = LatentArgumentParser(prog="latent bench quality", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each quick per-arch training")
    parser.add_argument("--time-limit", type=float, default=3.0, metavar="MINUTES",
                        help="wall-time cap per quick training, in minutes")
    add_hidden_alias(parser, "--minutes", dest="time_limit", type=float)
    parser.add_argument("--archs", default=",".join(ARCHS), help="comma list of archs to train quickly "
                        "('none' to skip)")
    parser.add_argument("--tasks", default="transfer,reconstruction",
                        help="comma list of tasks: transfer, reconstruction")
    parser.add_argument("--recon-instruments", type=int, default=3,
                        help="instruments of the reconstruction set used for the quick trainings")
    parser.add_argument("--no-timing", action="store_true", help="skip the transfer timing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and bad flags before TensorFlow loads
    from instrument.app.transfer import load_model
    from training.train import TrainConfig, prepare_autoencoder_data, prepare_transfer_data

    archs = [] if args.archs == "none" else [a.strip() for a in args.archs.split(",") if a.strip()]
    tasks = [t.strip() for t in args.tasks.split(",")]
    spectral = SpectralConfig()
    models_dir = PRESETS_DIR / "models"
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="latent-bench-quality-"))
    timing = None
    if "transfer" in tasks:
        flute = make_models.render("flute", make_models.TRANSFER_NOTES)
        clarinet = make_models.render("clarinet", make_models.TRANSFER_NOTES)
        config = TrainConfig(kind="transfer", seed=make_models.SEED,
                             val_fraction=make_models.TRANSFER_TRAIN["val_fraction"],
                             split=make_models.TRANSFER_TRAIN["split"])
        data = prepare_transfer_data(flute, clarinet, spectral, config, verbose=False)
        print(f"transfer held-out notes: {', '.join(data.description['val_notes'])}")
        rows += baseline_rows("transfer", data)
        shipped = models_dir / "flute-to-clarinet.keras"
        if shipped.is_file():
            rows.append(evaluate_model(load_model(shipped), data, "transfer",
                                       "shipped flute-to-clarinet (dilres, offline)"))
        live = models_dir / "flute-to-clarinet-live.keras"
        if live.is_file():
            rows.append(evaluate_model(load_model(live), data, "transfer",
                                       "shipped flute-to-clarinet-live (causal dilres, live)"))
            if not args.no_timing:
                timing = time_transfer(shipped, sorted(flute.glob("*_G4.wav"))[0])
        rows += quick_rows("transfer", data, archs, args.epochs, args.time_limit, work)
    if "reconstruction" in tasks:
        folders = [make_models.render(name, make_models.RECONSTRUCT_NOTES)
                   for name in make_models.RECONSTRUCT_INSTRUMENTS]
        config = TrainConfig(kind="autoencoder", seed=make_models.SEED,
                             val_fraction=make_models.RECONSTRUCT_TRAIN["val_fraction"])
        data = prepare_autoencoder_data(folders, spectral, config, verbose=False)
        print(f"reconstruction held-out notes: {', '.join(data.description['val_notes'])}")
        rows += baseline_rows("reconstruction", data)
        shipped = models_dir / "reconstruct.keras"
        if shipped.is_file():
            rows.append(evaluate_model(load_model(shipped), data, "reconstruction",
                                       "shipped reconstruct (causal residual)"))
        if archs:
            small = prepare_autoencoder_data(folders[:args.recon_instruments], spectral, config,
                                             verbose=False)
            rows += quick_rows("reconstruction", small, archs, args.epochs, args.time_limit, work)
    print()
    print("| task | model | validation loss | reconstruction error | energy > 5 kHz vs target | "
          "note tails vs target |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        band = f"{row['high_band_db']:+.1f} dB" if "high_band_db" in row else "-"
        tail = f"{row['tail_db']:+.1f} dB" if "tail_db" in row else "-"
        print(f"| {row['task']} | {row['model']} | {row['loss']:.4g} | {row['error']:.4g} | {band} | {tail} |")
    for row in rows:
        if row.get("per_note"):
            print(f"{row['task']}, {row['model']}, per held-out note: "
                  + ", ".join(f"{note} {err:.3g}" for note, err in row["per_note"].items()))
    if timing:
        print()
        print(f"latent transfer, {timing['seconds']:.2f} s note, 100 GL iterations: "
              f"{timing['in_process']:.2f} s in process (RTF {timing['in_process'] / timing['seconds']:.3f}); "
              f"{timing['process']:.2f} s as a command incl. Python/TensorFlow start-up "
              f"(RTF {timing['process'] / timing['seconds']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
