"""The shipped inversion models: their recipes and the ``make models`` build that trains them.

The inversynth default is an ensemble (:mod:`training.inversion.ensemble`) of ``sweeptcn``
networks trained differently, mixed with per-parameter weights fitted on seeded calibration sounds;
each member is trained in one or more stages, a later stage resuming the earlier one's checkpoint
with its own learning-rate schedule and wall-clock budget.
The build records are ``presets/models/inversynth-sweeptcn.build.md``,
``presets/models/fluidsynth-conv6xl.build.md`` and ``presets/models/dx7-freqtcn.build.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from instrument.errors import ConfigError, ModelError
from instrument.inversion.model import load_inversion_model, save_inversion_model
from instrument.inversion.networks.build import build_inversion_model
from presets import PRESETS_DIR
from training.inversion.ensemble import is_ensemble, save_inversion_ensemble
from training.inversion.train import InversionTrainConfig, train_inversion

#: The first 29 min of the main member (``--sweep-cell-units 16 --sweep-read``, 3 harmonics, half
#: width, softmax per parameter): fresh renders, batches of 128, learning rate 3e-3 decayed by 0.97
#: per epoch; it stops after the epoch that crosses the budget (96 epochs on the idle 2-core
#: machine). What 30 min of training reaches: alone it was the shipped model before the ensemble.
SHIPPED_RECIPE = InversionTrainConfig(synth="inversynth", arch="sweeptcn", head="softmax",
                                      epochs=130, steps_per_epoch=100, batch_size=128,
                                      learning_rate=3e-3, seed=0, val_count=512, patience=0,
                                      max_minutes=29.0, lr_decay=0.97, width_scale=0.5,
                                      sweep_harmonics=3, sweep_cell_units=16, sweep_read=True)
#: The main member's second stage: resumed from SHIPPED_RECIPE's checkpoint with the learning
#: rate raised again to 1e-3 at epoch 96 (``1.69e-3 * 0.99453 ** 96``) and decayed towards 1e-4,
#: until 144 min of training in all.
SHIPPED_CONTINUATION = dataclasses.replace(SHIPPED_RECIPE, epochs=600, learning_rate=1.69e-3,
                                           lr_decay=0.99453, max_minutes=144.0)
#: A member that scores FM rates along each oscillator's path (``--trajectory-read``) instead of
#: having the cell network: 29 min; weaker alone, but wrong on other sounds than the main member.
TRAJECTORY_RECIPE = dataclasses.replace(SHIPPED_RECIPE, sweep_cell_units=0, trajectory_read=True)
#: A member without the cell network: 29 min.
SWEEP_READ_RECIPE = dataclasses.replace(SHIPPED_RECIPE, sweep_cell_units=0)
#: Calibration sounds the ensemble's per-parameter member weights are fitted on (seed 0).
SHIPPED_CALIBRATION_COUNT = 2000


@dataclass(frozen=True)
class MemberRecipe:
    """One network of the shipped ensemble.

    Attributes:
        name: its training folder inside the build folder.
        stages: train configs run one after another in that folder, each later one resuming the
            checkpoint of the one before (same synth, arch and head).
    """

    name: str
    stages: tuple[InversionTrainConfig, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError(f"member {self.name!r} has no training stages")
        first = self.stages[0]
        for before, stage in zip(self.stages, self.stages[1:]):
            if (stage.synth, stage.arch, stage.head) != (first.synth, first.arch, first.head):
                raise ConfigError(f"member {self.name!r}: a later stage trains "
                                  f"{stage.synth}/{stage.arch}/{stage.head}, not "
                                  f"{first.synth}/{first.arch}/{first.head}")
            if not stage.max_minutes > before.max_minutes:
                raise ConfigError(f"member {self.name!r}: each stage's max_minutes must exceed "
                                  "the one before (it is the budget of the whole training)")


#: The shipped inversynth ensemble, in this order (the first member's config is the file's).
SHIPPED_MEMBERS = (MemberRecipe("cell-long", (SHIPPED_RECIPE, SHIPPED_CONTINUATION)),
                   MemberRecipe("trajectory", (TRAJECTORY_RECIPE,)),
                   MemberRecipe("sweep-read", (SWEEP_READ_RECIPE,)))
#: File name of the shipped inversynth model in ``presets/models``.
SHIPPED_NAME = "inversynth-sweeptcn.keras"

#: Recipe of the shipped fluidsynth model: fluidsynth renders about 100-150 clips/s here, too slow
#: to feed training on the fly, so the build first renders FLUIDSYNTH_DATASET once with
#: ``generate_dataset`` (shard ``i`` from ``default_rng([seed, i])``) and trains on it from disk
#: (``data`` names that folder inside the build folder). The committed file was trained 30 min, then
#: resumed with ``--resume --max-minutes 50`` and stopped at the 30-epoch cap (47 min).
FLUIDSYNTH_DATASET: dict[str, int] = {"count": 40960, "seed": 0, "shard_size": 1024}
FLUIDSYNTH_RECIPE = InversionTrainConfig(synth="fluidsynth", arch="conv6xl", head="sigmoid",
                                         epochs=30, steps_per_epoch=200, batch_size=32,
                                         learning_rate=1e-3, seed=0, val_count=512, patience=0,
                                         max_minutes=50.0, lr_decay=0.9, width_scale=0.5,
                                         data="fluidsynth-data")


#: Recipe of the shipped dx7 model. DX7_DATASET (the musical prior, seed 0) is rendered once with
#: ``latent dataset synth`` (3.5 min at about 1900 clips/s on 2 cores: Dexed takes 0.6 ms of CPU a
#: clip) and the network trains on it from memory (13 GB of float16) at about 500 sounds/s, each
#: sound seen about twice in the budget: as many distinct sounds as rendering on the fly would give
#: (a render costs a quarter of a training step's time per sound), and it gives the prior-only
#: baseline. Network and schedule are the inversynth ``freqtcn`` recipe's (half width, one softmax
#: per parameter, batches of 128, learning rate 3e-3 decayed 0.97 per epoch); the 24.5-min training
#: budget keeps dataset, loading and training within 30 min.
DX7_DATASET: dict[str, int] = {"count": 400_000, "seed": 0, "shard_size": 1000}
DX7_RECIPE = InversionTrainConfig(synth="dx7", arch="freqtcn", head="softmax", epochs=160,
                                  steps_per_epoch=100, batch_size=128, learning_rate=3e-3,
                                  seed=0, val_count=512, patience=0, max_minutes=24.5,
                                  lr_decay=0.97, width_scale=0.5, data="dx7-data")
#: File name of the shipped dx7 model in ``presets/models``.
DX7_NAME = "dx7-freqtcn.keras"


def _trained_seconds(run: Path) -> float:
    """Training time recorded in ``run/state.json`` (0 when the run has not started)."""
    state = run / "state.json"
    return float(json.loads(state.read_text()).get("train_seconds", 0.0)) if state.is_file() else 0.0


def train_member(member: MemberRecipe, run: Path, resume: bool = False) -> Path:
    """Train a member's stages in ``run``; returns its ``model.keras``.

    A stage whose budget the recorded training time already passed is skipped, so a build
    resumed with ``resume=True`` continues where it stopped.
    """
    for i, stage in enumerate(member.stages):
        if resume and _trained_seconds(run) > 60.0 * stage.max_minutes:
            continue
        train_inversion(stage, run, resume=i > 0 or (resume and (run / "state.json").is_file()))
    return run / "model.keras"


def _ship(source: Path, name: str) -> Path:
    """Atomically copy a trained ``model.keras`` to ``presets/models/name``."""
    import shutil

    target = PRESETS_DIR / "models" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def export_for_inference(source: str | Path, target: str | Path) -> Path:
    """Copy an inversion model file without its optimizer state (about a third of the size; the
    copy cannot be resumed). Metadata (synth, spec, configs) are kept.

    Raises:
        ModelError: ``source`` is an ensemble (its members are weights-only copies already).
    """
    inv = load_inversion_model(source)
    if is_ensemble(inv.meta):
        raise ModelError(f"{source}: is an ensemble, built from weights-only members already")
    fresh = build_inversion_model(inv.config)
    fresh.set_weights(inv.model.get_weights())
    return save_inversion_model(fresh, target, inv.config, inv.synth_name, inv.meta["spec"],
                                inv.meta.get("training", {}))


def build_inversynth_model(work: Path, resume: bool = False) -> Path:
    """Train SHIPPED_MEMBERS in ``work`` one after another (144 + 29 + 29 min on the idle 2-core
    machine) and ship their ensemble as ``presets/models/SHIPPED_NAME``."""
    members = []
    for member in SHIPPED_MEMBERS:
        run = work / member.name
        members.append(export_for_inference(train_member(member, run, resume),
                                            run / f"{member.name}.keras"))
    if len(members) == 1:
        return _ship(members[0], SHIPPED_NAME)
    ensemble = save_inversion_ensemble(members, work / SHIPPED_NAME, SHIPPED_CALIBRATION_COUNT,
                                       SHIPPED_RECIPE.seed)
    return _ship(ensemble, SHIPPED_NAME)


def build_fluidsynth_model(work: Path, resume: bool = False) -> Path:
    """Render the fluidsynth dataset into ``work`` (resumable), train FLUIDSYNTH_RECIPE on it and
    ship ``presets/models/fluidsynth-conv6xl.keras`` (weights only, no optimizer state)."""
    from training.synth_dataset import generate_dataset

    data = work / FLUIDSYNTH_RECIPE.data
    generate_dataset("fluidsynth", FLUIDSYNTH_DATASET["count"], FLUIDSYNTH_DATASET["seed"], data,
                     shard_size=FLUIDSYNTH_DATASET["shard_size"])
    recipe = dataclasses.replace(FLUIDSYNTH_RECIPE, data=str(data))
    run = work / "fluidsynth-conv6xl"
    train_inversion(recipe, run, resume=resume)
    return _ship(export_for_inference(run / "model.keras", run / "inference.keras"),
                 "fluidsynth-conv6xl.keras")


def build_dx7_model(work: Path, resume: bool = False) -> Path:
    """Render DX7_DATASET into ``work`` (resumable), train DX7_RECIPE on it and ship
    ``presets/models/DX7_NAME`` (weights only, no optimizer state)."""
    from training.synth_dataset import generate_dataset

    data = work / DX7_RECIPE.data
    generate_dataset("dx7", DX7_DATASET["count"], DX7_DATASET["seed"], data,
                     shard_size=DX7_DATASET["shard_size"])
    recipe = dataclasses.replace(DX7_RECIPE, data=str(data))
    run = work / Path(DX7_NAME).stem
    train_inversion(recipe, run, resume=resume)
    return _ship(export_for_inference(run / "model.keras", run / "inference.keras"), DX7_NAME)


#: The shipped inversion models by ``make models --only`` name.
INVERSION_BUILDERS = {"inversynth": build_inversynth_model, "fluidsynth": build_fluidsynth_model,
                      "dx7": build_dx7_model}


def build_inversion_models(out_dir: str | Path | None = None, resume: bool = False,
                           only: str | None = None) -> list[Path]:
    """``make models`` hook: train the shipped inversion models (or the one named ``only``:
    ``inversynth``, ``fluidsynth``, ``dx7``) and copy them into presets.

    Returns:
        the written model paths (``presets/models/inversynth-sweeptcn.keras``,
        ``presets/models/fluidsynth-conv6xl.keras``, ``presets/models/dx7-freqtcn.keras``),
        weights only (no optimizer state).
    Raises:
        ConfigError: ``only`` names no shipped inversion model.
    """
    import tempfile

    if only is not None and only not in INVERSION_BUILDERS:
        raise ConfigError(f"no shipped inversion model {only!r}; choose one of "
                          f"{', '.join(INVERSION_BUILDERS)}")
    work = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="inversion-"))
    return [build(work, resume) for name, build in INVERSION_BUILDERS.items()
            if only in (None, name)]


if __name__ == "__main__":
    for p in build_inversion_models():
        print(p)
