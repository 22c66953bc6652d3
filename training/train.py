"""Training loop for latent models: autoencoder (x -> x) and timbre transfer (source -> target).

Stages, each a separate function so a ``tf.distribute`` strategy can wrap the
model stage later (``with strategy.scope(): bundle = build_and_compile(...)``):

1. :func:`prepare_autoencoder_data` / :func:`prepare_transfer_data`: load notes,
   split by note (seeded; validation notes never enter training).
2. :func:`make_datasets`: tf.data windows (shuffle, augmentation, batch, prefetch).
3. :func:`build_and_compile`: model + optimizer from the model config.
4. :func:`fit`: Keras ``fit`` with an atomic per-epoch checkpoint (weights, optimizer,
   epoch, history) that ``resume=True`` continues from, early stopping, TensorBoard.
5. :func:`write_outputs`: the ``.keras`` latent model, ``metrics.json``, PNGs.

Loss = MSE of log1p magnitudes + the model's regularisation losses;
reconstruction error = MSE of log1p magnitudes alone (Paterna's Table 3.1 pair).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from instrument.config import SpectralConfig
from instrument.dsp.spectral import magnitude_from_log
from instrument.errors import ConfigError, ModelError
from instrument.io.output_paths import atomic_path
from instrument.models.config import AutoencoderConfig
from instrument.models.names import check_model_name
from training.datasets import SPLITS, Augmentation, WindowSet, load_note_folder, make_dataset, split_keys
from training.notes import midi_to_note
from training.pairing import load_pairs
from training.run_outputs import CORRUPT_ADVICE, check_keras_file, write_text, writing

KINDS = ("autoencoder", "transfer")
LR_SCHEDULES = ("constant", "cosine")
#: Final fraction of the initial learning rate reached by the cosine schedule.
COSINE_FLOOR = 0.02
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the training loop (the model's own live in the model config).

    Attributes:
        kind: ``autoencoder`` or ``transfer``.
        epochs: total epochs (a resumed run continues up to this count).
        batch_size: windows per batch.
        learning_rate: Adam step size.
        frames: spectrum frames per training window.
        seed: seeds the split, shuffling, augmentation and weight init.
        val_fraction: fraction of notes held out for validation.
        split: how validation notes are picked, ``random`` or ``between`` (pitches between
            training pitches; see :func:`training.datasets.split_keys`).
        patience: early-stopping patience in epochs (0 disables).
        gain_db, shift_frames, pitch_shift, input_eq_db: augmentation (see
            :class:`training.datasets.Augmentation`).
        tensorboard: write TensorBoard logs under ``<out>/logs``.
        pretrain_epochs: epochs per layer of greedy layer-wise pre-training (0 disables).
        stride: frames between training window starts (None = ``frames // 2``).
        time_limit_minutes: stop after the epoch that passes this wall time (0 = no limit).
        lr_schedule: ``constant``, or ``cosine``: the learning rate at the start of each epoch
            is ``learning_rate * (0.02 + 0.98 * (1 + cos(pi * p)) / 2)``, with progress ``p`` the
            larger of epoch / epochs and elapsed / time limit (so a run cut by the time limit
            still ends at a small step).
        name: the model's name saved in its metadata ("" = the output folder's name).
    """

    kind: str = "autoencoder"
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    frames: int = 32
    seed: int = 0
    val_fraction: float = 0.15
    split: str = "random"
    patience: int = 10
    gain_db: float = 6.0
    shift_frames: int = 2
    pitch_shift: float = 0.0
    input_eq_db: float = 0.0
    tensorboard: bool = True
    pretrain_epochs: int = 0
    stride: int | None = None
    time_limit_minutes: float = 0.0
    lr_schedule: str = "constant"
    name: str = ""

    def __post_init__(self) -> None:
        if self.name:
            check_model_name(self.name)
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("epochs", "batch_size", "frames"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val fraction must be in [0, 1), got {self.val_fraction}")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.patience < 0 or self.pretrain_epochs < 0 or self.time_limit_minutes < 0:
            raise ConfigError("patience, pretrain epochs and time limit must be non-negative")
        if not 0.0 <= self.pitch_shift <= 12.0:
            raise ConfigError(f"pitch shift must be in 0..12 semitones, got {self.pitch_shift}")
        if not 0.0 <= self.input_eq_db <= 24.0:
            raise ConfigError(f"input EQ must be in 0..24 dB, got {self.input_eq_db}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"stride must be at least 1, got {self.stride}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainData:
    """Split, aligned spectra ready for windowing.

    Attributes:
        train, val: window sets (``val`` may be None with ``val_fraction=0``).
        val_examples: (label, input spectrum, target spectrum) of validation notes for plots.
        description: what was loaded (folders, notes per side, split), for metadata/printing.
    """

    train: WindowSet
    val: WindowSet | None
    val_examples: list[tuple[str, np.ndarray, np.ndarray]]
    description: dict[str, Any] = field(default_factory=dict)


def _note_label(key: str) -> str:
    return midi_to_note(int(key[4:])) if key.startswith("midi") and key[4:].isdigit() else key


def prepare_autoencoder_data(folders: Sequence[str | Path], spectral: SpectralConfig,
                             config: TrainConfig, verbose: bool = True) -> TrainData:
    """Load every note of ``folders``; split by pitch (or file stem when unnamed).

    Raises:
        DatasetError: an empty/missing folder or no usable note.
    """
    notes = []
    skipped = []
    for folder in folders:
        report = load_note_folder(folder, spectral, verbose=verbose)
        notes.extend(report.notes)
        skipped.extend(f"{Path(folder).name}/{p.name}: {why}" for p, why in report.skipped)
    train_keys, val_keys = split_keys([n.key for n in notes], config.val_fraction, config.seed,
                                       config.split)
    train_notes = [n for n in notes if n.key in set(train_keys)]
    val_notes = [n for n in notes if n.key in set(val_keys)]
    train = WindowSet.from_pairs([(n.spectrum, n.spectrum) for n in train_notes],
                                 [n.path.name for n in train_notes])
    val = (WindowSet.from_pairs([(n.spectrum, n.spectrum) for n in val_notes],
                                [n.path.name for n in val_notes]) if val_notes else None)
    examples = [(n.path.name, n.spectrum, n.spectrum) for n in val_notes[:: max(1, len(val_notes) // 3)][:3]]
    description = {"folders": [Path(f).name for f in folders], "notes": len(notes),
                   "train_notes": sorted({_note_label(k) for k in train_keys}),
                   "val_notes": sorted({_note_label(k) for k in val_keys}), "skipped": skipped}
    if verbose:
        print(f"split: {len(train_notes)} training notes, {len(val_notes)} validation notes "
              f"(held out: {', '.join(description['val_notes']) or 'none'})")
    return TrainData(train=train, val=val, val_examples=examples, description=description)


def prepare_transfer_data(source: str | Path, target: str | Path, spectral: SpectralConfig,
                          config: TrainConfig, resample: bool = False,
                          verbose: bool = True) -> TrainData:
    """Pair, align and split (by pitch) source/target notes.

    Raises:
        DatasetError: empty folders, mismatched sample rates, or no pairs.
    """
    result = load_pairs(source, target, spectral, resample=resample, verbose=verbose)
    train_keys, val_keys = split_keys([p.key for p in result.pairs], config.val_fraction,
                                       config.seed, config.split)
    train_pairs = [p for p in result.pairs if p.key in set(train_keys)]
    val_pairs = [p for p in result.pairs if p.key in set(val_keys)]
    train = WindowSet.from_pairs([(p.source_spectrum, p.target_spectrum) for p in train_pairs],
                                 [p.name for p in train_pairs])
    val = (WindowSet.from_pairs([(p.source_spectrum, p.target_spectrum) for p in val_pairs],
                                [p.name for p in val_pairs]) if val_pairs else None)
    examples = [(midi_to_note(p.midi), p.source_spectrum, p.target_spectrum)
                for p in val_pairs[:: max(1, len(val_pairs) // 3)][:3]]
    description = {"source": Path(source).name, "target": Path(target).name, "pairs": len(result.pairs),
                   "train_notes": sorted({_note_label(k) for k in train_keys}),
                   "val_notes": sorted({_note_label(k) for k in val_keys}),
                   "unpaired": [p.name for p in result.unpaired_sources + result.unpaired_targets]}
    if verbose:
        print(f"split: {len(train_pairs)} training pairs, {len(val_pairs)} validation pairs "
              f"(held out: {', '.join(description['val_notes']) or 'none'})")
    return TrainData(train=train, val=val, val_examples=examples, description=description)


def make_datasets(data: TrainData, config: TrainConfig, per_frame: bool = False):
    """(train, validation or None) ``tf.data`` datasets of ``(batch, frames, n_bins)`` pairs.

    ``per_frame`` (dense models): batches are flattened to ``(batch * frames, n_bins)``.
    """
    aug = Augmentation(gain_db=config.gain_db, shift_frames=config.shift_frames,
                       pitch_shift=config.pitch_shift, input_eq_db=config.input_eq_db)
    train = make_dataset(data.train, config.frames, config.batch_size, training=True,
                         seed=config.seed, augmentation=aug, per_frame=per_frame,
                         stride=config.stride)
    val = (make_dataset(data.val, config.frames, config.batch_size, training=False,
                        per_frame=per_frame)
           if data.val is not None else None)
    return train, val


# --------------------------------------------------------------------------- model stage


@dataclass
class ModelBundle:
    """The trainable model and its encoder/decoder sub-models (sharing weights)."""

    model: Any
    encoder: Any
    decoder: Any
    model_config: Any


def model_config_from_options(options: Mapping[str, Any], spectral: SpectralConfig,
                              config: TrainConfig):
    """An ``AutoencoderConfig`` from option values; None options are left at their defaults.

    Raises:
        ConfigError: an unknown option, or values the model config rejects.
    """
    names = {f.name for f in dataclasses.fields(AutoencoderConfig)}
    unknown = sorted(k for k, v in options.items() if v is not None and k not in names)
    if unknown:
        raise ConfigError(f"unknown model options: {unknown}")
    values = {k: v for k, v in options.items() if v is not None}
    values.update(spectral=spectral, frames=config.frames, learning_rate=config.learning_rate)
    return AutoencoderConfig(**values)


def compile_bundle(bundle: ModelBundle, learning_rate: float) -> None:
    """Adam + MSE loss, reconstruction error metric (MSE of log1p magnitudes)."""
    import keras

    bundle.model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse",
                         metrics=[keras.metrics.MeanSquaredError(name="reconstruction_error")])


def build_and_compile(model_config: Any, learning_rate: float, seed: int) -> ModelBundle:
    """Build the model (:func:`instrument.models.autoencoders.build_autoencoder_parts`) and compile it.

    Call inside ``strategy.scope()`` for distributed training.
    """
    import keras

    from instrument.models.autoencoders import build_autoencoder_parts

    keras.utils.set_random_seed(seed)
    model, encoder, decoder = build_autoencoder_parts(model_config)
    bundle = ModelBundle(model=model, encoder=encoder, decoder=decoder, model_config=model_config)
    compile_bundle(bundle, learning_rate)
    return bundle


# --------------------------------------------------------------------------- checkpoints


def _atomic_write_text(path: Path, text: str, kind: str = "output file") -> None:
    write_text(path, text, kind, ModelError)


def _checkpoint_callback_class():
    import keras

    class AtomicCheckpoint(keras.callbacks.Callback):
        """After every epoch: weights + optimizer to a new ``.keras`` file, then ``state.json``.

        Both are written to temporary names and renamed when complete. ``state.json`` is the
        commit point: it names the weights file of the last finished epoch, so a kill at any
        instant leaves a consistent (epoch, weights, history). (A ``.keras`` zip is built in
        memory and written by Python, so a full disk is an ordinary error; HDF5's own writes of
        ``.weights.h5`` crash the process when the disk fills.)
        """

        def __init__(self, folder: Path, history: dict[str, list[float]],
                     extra: dict[str, Any]) -> None:
            super().__init__()
            self.folder = folder
            self.history = history
            self.extra = extra

        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"epoch-{epoch + 1:04d}.keras"
            with atomic_path(self.folder / name, "checkpoint", ModelError) as tmp:
                with writing(self.folder / name, "checkpoint"):
                    self.model.save(str(tmp))
            state = dict(self.extra, epoch=epoch + 1, weights=name, history=self.history)
            _atomic_write_text(self.folder / STATE_FILE, json.dumps(state), "checkpoint state")
            for pattern in ("epoch-*.keras", "*.weights.h5"):
                for old in self.folder.glob(pattern):
                    if old.name != name:
                        old.unlink(missing_ok=True)

    return AtomicCheckpoint


def _time_limit_callback(minutes: float) -> Any:
    import keras

    class TimeLimit(keras.callbacks.Callback):
        """Stop training after the epoch during which ``minutes`` of wall time passed."""

        def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            if time.perf_counter() - self.start > 60.0 * minutes:
                print(f"time limit of {minutes:g} min reached after epoch {epoch + 1}")
                self.model.stop_training = True

    return TimeLimit()


def cosine_learning_rate(learning_rate: float, progress: float) -> float:
    """Cosine decay from ``learning_rate`` (progress 0) to ``COSINE_FLOOR * learning_rate`` (1)."""
    p = min(max(progress, 0.0), 1.0)
    return learning_rate * (COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5 * (1.0 + np.cos(np.pi * p)))


def _cosine_callback(config: TrainConfig) -> Any:
    import keras

    class CosineSchedule(keras.callbacks.Callback):
        """Set the optimizer's learning rate at each epoch start (see ``TrainConfig.lr_schedule``)."""

        def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            progress = epoch / config.epochs
            if config.time_limit_minutes > 0:
                elapsed = (time.perf_counter() - self.start) / (60.0 * config.time_limit_minutes)
                progress = max(progress, elapsed)
            self.model.optimizer.learning_rate.assign(
                cosine_learning_rate(config.learning_rate, progress))

    return CosineSchedule()


def read_checkpoint(out_dir: Path) -> dict[str, Any] | None:
    """The saved state of an interrupted run in ``out_dir``, or None.

    Raises:
        ModelError: ``state.json`` is truncated/corrupt or names a missing weights file.
    """
    path = Path(out_dir) / CHECKPOINT_DIR / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("weights"), str) \
                or not isinstance(state.get("epoch"), int):
            raise ValueError("no epoch and weights file")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"checkpoint state {path} is truncated/corrupt ({exc}): {CORRUPT_ADVICE}") from exc
    if not (path.parent / state["weights"]).is_file():
        raise ModelError(f"checkpoint state {path} names {state['weights']!r}, which is missing: "
                         f"{CORRUPT_ADVICE}")
    return state


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def _option(key: str, value: Any) -> str:
    name = key.rsplit(".", 1)[-1].replace("_", "-")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return f"{name} {value}"


#: Model-config fields a resumed run may change (everything else must match the checkpoint).
RESUME_MAY_CHANGE = ("learning_rate",)


def check_resume(out_dir: str | Path, model_config: Any, config: TrainConfig) -> dict[str, Any] | None:
    """The checkpoint state to resume in ``out_dir`` (None: nothing to resume), checked against
    this run before TensorFlow loads: same kind and model options, weights file complete.

    Raises:
        ConfigError: the checkpoint was trained with other options (names them, both values).
        ModelError: the checkpoint or its state is truncated/corrupt.
    """
    state = read_checkpoint(Path(out_dir))
    if state is None:
        return None
    weights = Path(out_dir) / CHECKPOINT_DIR / state["weights"]
    saved_kind = (state.get("train_config") or {}).get("kind")
    if saved_kind and saved_kind != config.kind:
        raise ConfigError(f"{weights} was trained as {saved_kind}; this run asks for {config.kind}: "
                          "use the same command or another -o folder")
    saved = state.get("model_config")
    if isinstance(saved, Mapping):
        old, new = _flat(saved), _flat(_config_dict(model_config))
        differ = [k for k in sorted(set(old) | set(new))
                  if k.rsplit(".", 1)[-1] not in RESUME_MAY_CHANGE and old.get(k) != new.get(k)]
        if differ:
            was = [_option(k, old.get(k)) for k in differ]
            if "arch" not in differ:
                was.insert(0, _option("arch", old.get("arch")))
            raise ConfigError(f"{weights} was trained with {', '.join(was)}; this run asks for "
                              f"{', '.join(_option(k, new.get(k)) for k in differ)}: "
                              "use the same options or another -o folder")
    check_keras_file(weights)
    return state


def restore_checkpoint(bundle: ModelBundle, out_dir: Path, state: Mapping[str, Any]) -> int:
    """Load weights + optimizer state into ``bundle``; returns the epoch to continue from.

    Raises:
        ModelError: the weights file cannot be loaded into this model (truncated/corrupt).
    """
    model = bundle.model
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    path = out_dir / CHECKPOINT_DIR / state["weights"]
    try:
        model.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - Keras/h5py raise many types for a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"checkpoint {path} is truncated/corrupt ({first}): {CORRUPT_ADVICE}") from exc
    return int(state["epoch"])


# --------------------------------------------------------------------------- fit + outputs


@dataclass
class TrainResult:
    out_dir: Path
    model_path: Path
    history: dict[str, list[float]]
    epochs_run: int
    initial_epoch: int
    wall_seconds: float
    final: dict[str, float]


def fit(bundle: ModelBundle, train_ds: Any, val_ds: Any, config: TrainConfig, out_dir: Path,
        resume: bool = False, verbose: int = 1, extra_callbacks: Sequence[Any] = ()) -> tuple[dict, int]:
    """Run ``model.fit`` with checkpointing; returns (history, initial epoch)."""
    import keras

    with writing(out_dir, "output folder"):
        out_dir.mkdir(parents=True, exist_ok=True)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    state = check_resume(out_dir, bundle.model_config, config) if resume else None
    if state is not None:
        initial_epoch = restore_checkpoint(bundle, out_dir, state)
        history = {k: list(v) for k, v in state.get("history", {}).items()}
        print(f"resuming {out_dir} after epoch {initial_epoch}")
    elif (out_dir / CHECKPOINT_DIR / STATE_FILE).is_file() and not resume:
        for old in (out_dir / CHECKPOINT_DIR).glob("*"):
            old.unlink()
    checkpoint = _checkpoint_callback_class()(
        out_dir / CHECKPOINT_DIR, history,
        {"train_config": config.to_dict(), "model_config": _config_dict(bundle.model_config)})
    monitor = "val_reconstruction_error" if val_ds is not None else "reconstruction_error"
    callbacks: list[Any] = [checkpoint]
    if config.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience,
                                                       restore_best_weights=True))
    if config.tensorboard and _tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / "logs"), write_graph=False,
                                                     profile_batch=0))
    if config.time_limit_minutes > 0:
        callbacks.append(_time_limit_callback(config.time_limit_minutes))
    if config.lr_schedule == "cosine":
        callbacks.append(_cosine_callback(config))
    callbacks.extend(extra_callbacks)
    if initial_epoch < config.epochs:
        with writing(out_dir / "logs", "training logs"):
            bundle.model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                             initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose,
                             shuffle=False)
    return history, initial_epoch


def _tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        print("note: the tensorboard package is not installed; no TensorBoard logs written")
        return False
    return True


def _config_dict(model_config: Any) -> dict[str, Any]:
    if hasattr(model_config, "to_dict"):
        return model_config.to_dict()
    if dataclasses.is_dataclass(model_config):
        return dataclasses.asdict(model_config)
    return dict(model_config)


def latent_model_of(bundle: "ModelBundle", kind: str) -> Any:
    """An inference :class:`~instrument.models.latent_model.LatentModel` sharing ``bundle``'s weights."""
    from instrument.models.latent_model import LatentModel

    return LatentModel(bundle.model, bundle.model_config, kind=kind, encoder=bundle.encoder,
                       decoder=bundle.decoder, warm_up=False)


def evaluate(bundle: ModelBundle, dataset: Any) -> dict[str, float]:
    """``loss`` and ``reconstruction_error`` of a dataset."""
    values = bundle.model.evaluate(dataset, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def write_outputs(bundle: ModelBundle, data: TrainData, config: TrainConfig, spectral: SpectralConfig,
                  out_dir: Path, history: Mapping[str, list[float]], extra_metadata: Mapping[str, Any],
                  final: Mapping[str, float]) -> Path:
    """Save the latent model, ``metrics.json``, ``loss.png`` and ``spectrograms.png``."""
    from instrument.models.io import save_latent_model
    from instrument.plots import plot_history, plot_spectrograms

    from instrument.models.io import compute_mean_latent

    notes = {
        "spectral_config": spectral.to_dict(),
        "train_config": config.to_dict(),
        "data": data.description,
        "final": dict(final),
        "epochs": len(history.get("loss", [])),
        **extra_metadata,
    }
    metadata = {
        "kind": config.kind,
        "name": config.name or Path(out_dir).resolve().name,
        "config": bundle.model_config,
        "mean_latent": compute_mean_latent(bundle.encoder, bundle.model_config, data.train.inputs),
        "notes": notes,
    }
    model_path = out_dir / MODEL_FILE
    save_latent_model(model_path, bundle.model, bundle.encoder, bundle.decoder, metadata)
    metrics = {"kind": config.kind, "epochs": len(history.get("loss", [])), "history": dict(history),
               "final": dict(final), "train_config": config.to_dict(),
               "model_config": _config_dict(bundle.model_config), "data": data.description}
    _atomic_write_text(out_dir / METRICS_FILE, json.dumps(metrics, indent=1), "metrics file")
    plot_history(history, out_dir / "loss.png", title=f"{config.kind} ({bundle.model_config.arch})")
    latent = latent_model_of(bundle, config.kind)
    rows = []
    for label, x, y in data.val_examples:
        out = latent.transform(x)
        cols = [("input", x), ("target", y), ("output", out)] if config.kind == "transfer" else \
            [("input", x), ("output", out)]
        rows.append([(f"{label}: {name}", magnitude_from_log(spectrum)) for name, spectrum in cols])
    if rows:
        plot_spectrograms(rows, out_dir / "spectrograms.png", spectral.sample_rate, spectral.stft,
                          title=f"{config.kind} ({bundle.model_config.arch}), validation examples")
    return model_path


def train(data: TrainData, model_options: Mapping[str, Any], config: TrainConfig,
          spectral: SpectralConfig, out_dir: str | Path, resume: bool = False,
          verbose: int = 1, extra_callbacks: Sequence[Any] = ()) -> TrainResult:
    """Build, (pre-)train and save a latent model into ``out_dir``."""
    out_dir = Path(out_dir)
    start = time.perf_counter()
    model_config = model_config_from_options(model_options, spectral, config)
    if resume:
        check_resume(out_dir, model_config, config)  # before any model is built or file written
    train_ds, val_ds = make_datasets(data, config, per_frame=model_config.arch == "dense")
    if config.pretrain_epochs > 0 and not (resume and read_checkpoint(out_dir)):
        bundle = pretrain_layerwise(model_config, train_ds, config, verbose)
    else:
        bundle = build_and_compile(model_config, config.learning_rate, config.seed)
    history, initial_epoch = fit(bundle, train_ds, val_ds, config, out_dir, resume, verbose,
                                 extra_callbacks)
    final: dict[str, float] = {}
    if val_ds is not None:
        final.update({f"val_{k}": v for k, v in evaluate(bundle, val_ds).items()})
    final.update({f"train_{k}": v for k, v in evaluate(
        bundle, make_dataset(data.train, config.frames, config.batch_size, training=False,
                             per_frame=model_config.arch == "dense")).items()})
    wall = time.perf_counter() - start
    final["wall_seconds"] = wall
    model_path = write_outputs(bundle, data, config, spectral, out_dir, history, {}, final)
    return TrainResult(out_dir=out_dir, model_path=model_path, history=history,
                       epochs_run=len(history.get("loss", [])) - initial_epoch, initial_epoch=initial_epoch,
                       wall_seconds=wall, final=final)


PRETRAIN_ARCHS = ("dense", "deep")


def pretrain_layerwise(model_config: Any, train_ds: Any, config: TrainConfig,
                       verbose: int) -> ModelBundle:
    """Greedy layer-wise pre-training (dense stacked / deep conv) with the model zoo's plan.

    Each stage trains one new encoder layer (+ fresh decoder) for ``config.pretrain_epochs``
    on top of the frozen earlier layers; returns the full model, compiled, for fine-tuning.
    """
    import keras

    from instrument.models.autoencoders import split_autoencoder
    from training.pretrain import greedy_layerwise_pretrain

    if model_config.arch not in PRETRAIN_ARCHS:
        raise ConfigError(f"layer-wise pre-training is for arch {' or '.join(PRETRAIN_ARCHS)}, "
                          f"not {model_config.arch!r}")
    keras.utils.set_random_seed(config.seed)

    def fit_stage(model: Any, stage: Any) -> None:
        if verbose:
            print(f"pre-training stage {stage.stage}: training {', '.join(stage.new_layers)}")
        model.fit(train_ds, epochs=config.pretrain_epochs, verbose=verbose)

    model = greedy_layerwise_pretrain(model_config, fit_stage)
    encoder, decoder = split_autoencoder(model)
    bundle = ModelBundle(model=model, encoder=encoder, decoder=decoder, model_config=model_config)
    compile_bundle(bundle, config.learning_rate)
    return bundle
