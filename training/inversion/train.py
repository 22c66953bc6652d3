"""Training of parameter-inversion networks on seeded, on-the-fly synth renders.

Every batch is a pure function of ``(seed, epoch, batch index)``: random patches (uniform classes,
Barkan section 4) are rendered by the synth and turned into features, so training needs no disk,
never repeats a sound, and resumes exactly. Validation uses a fixed seeded set.

Outputs in ``out_dir``: ``model.keras`` (final, with synth name/spec/config embedded),
``checkpoint.keras`` + ``state.json`` (atomic, every epoch, for ``--resume``), ``tensorboard/``
(when TensorBoard is installed) and ``history.csv``,
``metrics.json`` and ``loss.png``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from instrument.errors import ConfigError, DatasetError, ModelError
from instrument.inversion.model import mask_invalid_classes, save_inversion_model
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import ARCHS, HEADS, InversionModelConfig, SweepReadoutConfig
from instrument.inversion.networks.heads import class_scores, loss_for, targets_for
from instrument.models.readout_geometry import sweep_geometry, trajectory_geometry
from instrument.plots import plot_history
from training.run_outputs import CORRUPT_ADVICE, check_keras_file, write_text, writing

if TYPE_CHECKING:
    from instrument.synths.base import Synth
    from instrument.synths.spec import SynthSpec

VAL_SEED_OFFSET = 1_000_003
TEST_SEED_OFFSET = 2_000_003
#: Seeds the calibration set that ensemble weights are fitted on (neither validation nor test).
CALIBRATION_SEED_OFFSET = 3_000_003


@dataclass(frozen=True)
class InversionTrainConfig:
    """How one inversion model is trained (saved in the model file under ``training``).

    Attributes:
        synth: synth name (``instrument.synths.registry``).
        arch, head: network (see :mod:`instrument.inversion.networks`).
        epochs: maximum epochs. steps_per_epoch: batches per epoch.
        batch_size: sounds per batch. learning_rate: Adam step size.
        seed: data seed (batches and validation set derive from it).
        val_count: validation sounds. patience: early-stopping patience in epochs (0 = off).
        width_scale: convolution width multiplier (1 = the paper's sizes).
        fc_units: width of the hidden fully connected layer before the head.
        summary_units: ``*tcn`` spectral-summary dense width (0 = the trunk's channel count).
        max_minutes: stop after the epoch that crosses this wall-clock budget (0 = no limit).
        lr_decay: multiply the learning rate by this factor each epoch (1 = constant).
        data: a ``latent dataset synth`` folder to train on instead of on-the-fly renders
            ("" = on the fly); its spec must match the synth's.
        sweep_harmonics: ``sweeptcn`` only: harmonics of each oscillator's sweep read.
        sweep_cell_units: ``sweeptcn`` only: units of the readout's per-pair network (0 = sum).
        sweep_read: ``sweeptcn`` only: read bin features at each oscillator's sweep positions.
        trajectory_read: ``sweeptcn`` only: score FM rates along each oscillator's path through
            the frames (:mod:`instrument.models.layers.trajectory_read`).
    """

    synth: str = "inversynth"
    arch: str = "conv6xl"
    head: str = "sigmoid"
    epochs: int = 20
    steps_per_epoch: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    val_count: int = 512
    patience: int = 5
    width_scale: float = 1.0
    fc_units: int = 512
    summary_units: int = 0
    max_minutes: float = 0.0
    lr_decay: float = 1.0
    data: str = ""
    sweep_harmonics: int = 1
    sweep_cell_units: int = 0
    sweep_read: bool = False
    trajectory_read: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        for name in ("epochs", "steps_per_epoch", "batch_size", "val_count", "fc_units"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.summary_units, int) or self.summary_units < 0:
            raise ConfigError(
                f"summary_units must be a non-negative integer, got {self.summary_units!r}")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ConfigError(f"patience must be a non-negative integer, got {self.patience!r}")
        if not (0 < self.learning_rate < 1):
            raise ConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate!r}")
        if not self.max_minutes >= 0:
            raise ConfigError(f"max_minutes must be >= 0, got {self.max_minutes!r}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if not isinstance(self.sweep_cell_units, int) or isinstance(self.sweep_cell_units, bool) \
                or not 0 <= self.sweep_cell_units <= 256:
            raise ConfigError(f"sweep_cell_units must be an integer in 0..256, got "
                              f"{self.sweep_cell_units!r}")
        if not isinstance(self.sweep_harmonics, int) or not 1 <= self.sweep_harmonics <= 8:
            raise ConfigError(f"sweep_harmonics must be an integer in 1..8, got {self.sweep_harmonics!r}")
        for name in ("sweep_read", "trajectory_read"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.arch != "sweeptcn":
            for name, unused in (("sweep_harmonics", 1), ("sweep_cell_units", 0),
                                 ("sweep_read", False), ("trajectory_read", False)):
                if getattr(self, name) != unused:
                    raise ConfigError(f"{name} is for the sweeptcn arch, not {self.arch!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InversionTrainConfig":
        """A config from :meth:`to_dict`'s mapping; older runs also recorded ``label_sigma`` (soft
        labels, removed), which is read only at its one-hot value 0.

        Raises:
            ConfigError: unknown fields, or ``label_sigma`` other than 0.
        """
        values = dict(data)
        label_sigma = values.pop("label_sigma", 0.0)
        if label_sigma != 0:
            raise ConfigError(f"label_sigma = {label_sigma!r}: soft labels were removed; only "
                              "one-hot training (label_sigma 0) can be resumed")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"unknown inversion training fields: {sorted(unknown)}")
        return cls(**values)


def spec_dict(synth_name: str) -> dict[str, Any]:
    """The shipped spec of ``synth_name`` as a plain mapping (embedded in model files)."""
    from training.synth_dataset import spec_to_dict
    from instrument.synths.registry import load_spec

    return spec_to_dict(load_spec(synth_name))


def make_batch(synth: Synth, rng: np.random.Generator, n: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render ``n`` random patches.

    Returns:
        (features ``(n, frames, bins)`` float32, classes ``(n, n_params)`` int64, audio
        ``(n, samples)`` float32).
    """
    values = synth.random_patches(rng, n)
    classes = synth.spec.to_classes(values)
    audio = synth.render(values)
    return synth.features(audio).astype(np.float32), classes, audio


def model_inputs(config: InversionModelConfig, inputs: np.ndarray) -> np.ndarray:
    """Features ``(n, frames, bins)`` -> the model's layout (transposed when ``bins_first``)."""
    if not config.bins_first:
        return inputs
    return np.ascontiguousarray(np.swapaxes(inputs, 1, 2))


def initial_model_config(tcfg: InversionTrainConfig, synth: Synth, sample_count: int = 256,
                         disk_features: np.ndarray | None = None) -> InversionModelConfig:
    """The model config of a fresh run, its input statistics fitted on the synth's log
    spectrograms of a seeded sample (the first ``sample_count`` disk examples, or renders from
    ``default_rng([seed, 999])``)."""
    spec = synth.spec
    if disk_features is not None:
        sample = disk_features[:sample_count].astype(np.float32)
    else:
        sample, _, _ = make_batch(synth, np.random.default_rng([tcfg.seed, 999]), sample_count)
    sweep = None
    if tcfg.arch == "sweeptcn":
        trajectory: dict[str, Any] = {}
        if tcfg.trajectory_read:
            trajectory = {**trajectory_geometry(synth), "trajectory_read": True}
        sweep = SweepReadoutConfig(**sweep_geometry(synth), sweep_harmonics=tcfg.sweep_harmonics,
                                   sweep_cell_units=tcfg.sweep_cell_units,
                                   sweep_read=tcfg.sweep_read, **trajectory)
    return InversionModelConfig(
        arch=tcfg.arch, head=tcfg.head, n_params=spec.n_params, n_classes=max(spec.levels),
        n_bins=spec.n_bins, n_frames=spec.n_frames, bins_first=False,
        width_scale=tcfg.width_scale, fc_units=tcfg.fc_units, summary_units=tcfg.summary_units,
        feature_mean=float(sample.mean()), feature_std=float(max(sample.std(), 1e-3)), sweep=sweep)


def heldout_set(synth: Synth, seed: int, count: int, offset: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded held-out set (validation: ``VAL_SEED_OFFSET``, test: ``TEST_SEED_OFFSET``,
    ensemble calibration: ``CALIBRATION_SEED_OFFSET``) as :func:`make_batch` returns it."""
    rng = np.random.default_rng([seed, offset])
    parts = [make_batch(synth, rng, min(256, count - i)) for i in range(0, count, 256)]
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def _make_sequence(synth: Synth, tcfg: InversionTrainConfig, mcfg: InversionModelConfig,
                   start_epoch: int) -> Any:
    import keras

    class PatchBatches(keras.utils.PyDataset):
        """Batch ``i`` of epoch ``e``: patches from ``default_rng([seed, e, i])``."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch = start_epoch

        def __len__(self) -> int:
            return tcfg.steps_per_epoch

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            rng = np.random.default_rng([tcfg.seed, self.epoch, index])
            inputs, classes, _ = make_batch(synth, rng, tcfg.batch_size)
            return model_inputs(mcfg, inputs), targets_for(mcfg.head, classes, mcfg.n_classes)

        def on_epoch_end(self) -> None:
            self.epoch += 1

    return PatchBatches()


def _make_disk_sequence(features: np.ndarray, classes: np.ndarray, tcfg: InversionTrainConfig,
                        mcfg: InversionModelConfig, start_epoch: int) -> Any:
    import keras

    from training.float16 import from_float16

    class DiskBatches(keras.utils.PyDataset):
        """Batches of a disk dataset, reshuffled every epoch by ``default_rng([seed, epoch])``."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch = start_epoch
            self._order = np.random.default_rng([tcfg.seed, self.epoch]).permutation(len(features))

        def __len__(self) -> int:
            return max(1, min(tcfg.steps_per_epoch, len(features) // tcfg.batch_size))

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            idx = np.sort(self._order[index * tcfg.batch_size:(index + 1) * tcfg.batch_size])
            x = features[idx]
            x = from_float16(x) if x.dtype == np.float16 else x.astype(np.float32)
            return model_inputs(mcfg, x), targets_for(mcfg.head, classes[idx], mcfg.n_classes)

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._order = np.random.default_rng([tcfg.seed, self.epoch]).permutation(len(features))

    return DiskBatches()


def _load_disk_data(tcfg: InversionTrainConfig, spec: SynthSpec) -> tuple[np.ndarray, np.ndarray]:
    from training.synth_dataset import dataset_spec, load_dataset

    data_spec = dataset_spec(tcfg.data)
    if data_spec.names != spec.names or data_spec.n_bins != spec.n_bins:
        raise DatasetError(f"{tcfg.data}: dataset synth {data_spec.name!r} does not match "
                           f"{tcfg.synth!r} (parameters or STFT differ)")
    features, classes, _ = load_dataset(tcfg.data)
    if len(features) < tcfg.batch_size:
        raise DatasetError(f"{tcfg.data}: {len(features)} examples, fewer than one batch")
    return features, classes.astype(np.int64)


def _atomic_write_text(path: Path, text: str, kind: str = "output file") -> None:
    write_text(path, text, kind, ModelError)


def _save_model(model: Any, path: Path, kind: str, *args: Any) -> Path:
    """:func:`save_inversion_model` (temporary name, renamed), a write error naming ``path``."""
    with writing(path, kind):
        return save_inversion_model(model, path, *args)


#: Training options that shape the network: a resumed run must keep them.
ARCHITECTURE_FIELDS = ("synth", "arch", "head", "width_scale", "fc_units", "summary_units",
                       "sweep_harmonics", "sweep_cell_units", "sweep_read", "trajectory_read")


def check_resume(tcfg: InversionTrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """The saved state of the run in ``out_dir`` that ``tcfg`` continues (no TensorFlow).

    Raises:
        ModelError: nothing to resume, ``state.json``/``checkpoint.keras`` truncated/corrupt, or
            the checkpoint was trained with other network options (names both values).
    """
    out = Path(out_dir)
    checkpoint, state_path = out / "checkpoint.keras", out / "state.json"
    if not (checkpoint.is_file() and state_path.is_file()):
        raise ModelError(f"{out}: nothing to resume (no checkpoint.keras/state.json)")
    try:
        state = json.loads(state_path.read_text())
        saved = InversionTrainConfig.from_dict(state["train_config"])
        InversionModelConfig.from_dict(state["model_config"])
        int(state["epoch"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"checkpoint state {state_path} is truncated/corrupt ({exc}): "
                         f"{CORRUPT_ADVICE}") from exc
    differ = [name for name in ARCHITECTURE_FIELDS if getattr(saved, name) != getattr(tcfg, name)]
    if differ:
        def options(config: InversionTrainConfig, names: list[str]) -> str:
            return ", ".join(f"{n.replace('_', '-')} {getattr(config, n)}" for n in names)

        shown = differ if "arch" in differ else ["arch", *differ]
        raise ModelError(f"{checkpoint} was trained with {options(saved, shown)}; this run asks for "
                          f"{options(tcfg, differ)}: use the same options or another -o folder")
    check_keras_file(checkpoint)
    return state


def prior_scores(train_classes: np.ndarray, n: int, levels: Sequence[int], n_classes: int
                 ) -> np.ndarray:
    """The guess that knows only the prior: each parameter's class frequencies in
    ``train_classes`` ``(count, n_params)`` as scores ``(n, n_params, n_classes)`` for ``n``
    sounds (the classes a parameter lacks at ``-inf``); the baseline a network must beat when
    the prior is far from uniform (dx7's musical prior)."""
    counts = np.stack([np.bincount(train_classes[:, p], minlength=n_classes)[:n_classes]
                       for p in range(train_classes.shape[1])]).astype(np.float64)
    scores = np.log(counts + 0.5)
    for p, count in enumerate(levels):
        scores[p, count:] = -np.inf
    return np.broadcast_to(scores, (n, *scores.shape))


def evaluate_parameters(scores: np.ndarray, classes: np.ndarray, spec: SynthSpec) -> dict[str, Any]:
    """MPR per parameter (over its own classes: ``mean_percentile_rank`` with the spec's levels;
    + mean) and top-k per group for masked class scores ``(batch, n_params, n_classes)`` on a
    held-out set."""
    from instrument.inversion.metrics import mean_percentile_rank, top_k_by_group

    mpr = mean_percentile_rank(scores, classes, spec.levels)
    return {"mpr": {name: float(v) for name, v in zip(spec.names, mpr)},
            "mean_mpr": float(mpr.mean()),
            "top_k": top_k_by_group(scores, classes, spec.groups)}


def train_inversion(tcfg: InversionTrainConfig, out_dir: str | Path, resume: bool = False,
                    log: Callable[[str], None] = print, verbose: int | None = None) -> dict[str, Any]:
    """Train (or resume) one inversion model; returns the metrics written to ``metrics.json``.

    Raises:
        SynthError: unknown synth. ModelError: nothing to resume, a truncated/corrupt checkpoint,
            an output that cannot be written (names the file), or ``resume`` with other network
            options than the checkpoint's.
    """
    out = Path(out_dir)
    state = check_resume(tcfg, out) if resume else None  # before TensorFlow loads
    import keras

    from instrument.inversion.metrics import mean_percentile_rank
    from instrument.synths.registry import get_synth

    with writing(out, "output folder"):
        out.mkdir(parents=True, exist_ok=True)
    synth = get_synth(tcfg.synth)
    spec = synth.spec
    checkpoint, state_path = out / "checkpoint.keras", out / "state.json"
    history: dict[str, list[float]] = {}
    start_epoch = 0
    if state is not None:
        mcfg = InversionModelConfig.from_dict(state["model_config"])
        try:
            model = keras.saving.load_model(checkpoint, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - keras raises many types for a damaged file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"checkpoint {checkpoint} is truncated/corrupt ({first}): "
                             f"{CORRUPT_ADVICE}") from exc
        start_epoch = int(state["epoch"])
        history = {k: list(v) for k, v in state.get("history", {}).items()}
        log(f"resuming {checkpoint} at epoch {start_epoch}")
    disk = _load_disk_data(tcfg, spec) if tcfg.data else None
    if not resume:
        mcfg = initial_model_config(tcfg, synth, disk_features=None if disk is None else disk[0])
        model = build_inversion_model(mcfg)
        model.compile(optimizer=keras.optimizers.Adam(tcfg.learning_rate), loss=loss_for(tcfg.head))
    source = (f"{len(disk[0])} sounds from {tcfg.data}" if disk is not None
              else f"{tcfg.steps_per_epoch} x {tcfg.batch_size} fresh sounds per epoch")
    log(f"{mcfg.arch}/{mcfg.head} on {tcfg.synth}: {model.count_params():,} weights, {source}")

    val_inputs, val_classes, _ = heldout_set(synth, tcfg.seed, tcfg.val_count, VAL_SEED_OFFSET)
    val_x = model_inputs(mcfg, val_inputs)
    val_y = targets_for(mcfg.head, val_classes, mcfg.n_classes)
    t_start = time.monotonic()
    elapsed_before = float(state.get("train_seconds", 0.0)) if state is not None else 0.0
    s_dict = spec_dict(tcfg.synth)
    # embedded in model files: the dataset folder's name only (no machine paths)
    saved_cfg = {**tcfg.to_dict(), "data": Path(tcfg.data).name if tcfg.data else ""}

    class EpochCheckpoint(keras.callbacks.Callback):
        """Atomic checkpoint + state after every epoch; wall-clock budget; lr decay."""

        def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            lr = tcfg.learning_rate * tcfg.lr_decay ** epoch
            self.model.optimizer.learning_rate.assign(lr)

        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            seconds = elapsed_before + time.monotonic() - t_start
            _save_model(self.model, checkpoint, "checkpoint", mcfg, tcfg.synth, s_dict,
                        {**saved_cfg, "epoch": epoch + 1})
            _atomic_write_text(state_path, json.dumps({
                "epoch": epoch + 1, "history": history, "train_seconds": seconds,
                "train_config": tcfg.to_dict(), "model_config": mcfg.to_dict()}, indent=1),
                "checkpoint state")
            if tcfg.max_minutes and seconds > 60.0 * tcfg.max_minutes:
                log(f"\nwall-clock budget of {tcfg.max_minutes:g} min reached after epoch {epoch + 1}")
                self.model.stop_training = True

    class ValidationMpr(keras.callbacks.Callback):
        """Adds ``val_mean_mpr`` (MPR over each parameter's own classes, on the validation set)
        to every epoch's logs, before the checkpoint and the CSV log record them."""

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if logs is None:
                return
            out = np.asarray(self.model.predict(val_x, batch_size=256, verbose=0))
            scores = mask_invalid_classes(class_scores(mcfg.head, out, mcfg.n_classes), spec.levels)
            logs["val_mean_mpr"] = float(mean_percentile_rank(scores, val_classes, spec.levels).mean())

    callbacks: list[Any] = [ValidationMpr(), EpochCheckpoint(),
                            keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume)]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"),
                                                     write_graph=False, profile_batch=0))
    else:
        log("tensorboard is not installed (pip install tensorboard): logging to history.csv only")
    if tcfg.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=tcfg.patience,
                                                       restore_best_weights=True))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if start_epoch < tcfg.epochs:
        batches = (_make_disk_sequence(*disk, tcfg, mcfg, start_epoch) if disk is not None
                   else _make_sequence(synth, tcfg, mcfg, start_epoch))
        log_file, had_log = out / "history.csv", (out / "history.csv").exists()
        try:
            with writing(log_file, "training log"):
                model.fit(batches, validation_data=(val_x, val_y),
                          epochs=tcfg.epochs, initial_epoch=start_epoch, callbacks=callbacks,
                          verbose=verbose)
        except BaseException:
            if not had_log and log_file.is_file() and log_file.stat().st_size == 0:
                log_file.unlink()  # opened by the CSV logger, no epoch finished: leave no empty file
            raise
    train_seconds = elapsed_before + time.monotonic() - t_start

    scores = class_scores(mcfg.head, np.asarray(model(val_x, training=False)), mcfg.n_classes)
    scores = mask_invalid_classes(scores, spec.levels)
    metrics = {"synth": tcfg.synth, "arch": mcfg.arch, "head": mcfg.head,
               "epochs_run": len(history.get("loss", [])), "train_seconds": train_seconds,
               "sounds_seen": len(history.get("loss", [])) * tcfg.steps_per_epoch * tcfg.batch_size,
               "weights": int(model.count_params()), "history": history,
               "validation": evaluate_parameters(scores, val_classes, spec)}
    if disk is not None:
        prior = mean_percentile_rank(
            prior_scores(disk[1], len(val_classes), spec.levels, mcfg.n_classes), val_classes,
            spec.levels)
        metrics["validation"]["prior_mpr"] = {name: float(v) for name, v in zip(spec.names, prior)}
        metrics["validation"]["prior_mean_mpr"] = float(prior.mean())
    final = _save_model(model, out / "model.keras", "model file", mcfg, tcfg.synth, s_dict,
                        {**saved_cfg, "train_seconds": train_seconds,
                         "epochs_run": metrics["epochs_run"],
                         "val_mean_mpr": metrics["validation"]["mean_mpr"]})
    _atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1), "metrics file")

    panels = ("loss", "mean_mpr") if history.get("val_mean_mpr") else ("loss",)
    plot_history(history, out / "loss.png", f"{mcfg.arch}/{mcfg.head} on {tcfg.synth}", metrics=panels)
    baseline = metrics["validation"].get("prior_mean_mpr")
    log(f"saved {final}; validation mean MPR {metrics['validation']['mean_mpr']:.2f} "
        + (f"(the prior alone {baseline:.2f}) " if baseline is not None else "")
        + f"after {train_seconds / 60:.1f} min")
    return metrics
