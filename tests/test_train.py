"""Training: tiny models on synthesised notes write every output; --resume continues."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from instrument.cli import main as latent
from instrument.config import AudioConfig, SpectralConfig, StftConfig
from instrument.errors import DatasetError
from notes_fixtures import write_notes

SMALL = SpectralConfig(audio=AudioConfig(sample_rate=8000), stft=StftConfig(n_fft=256, hop_length=64))
SMALL_FLAGS = ["--sample-rate", "8000", "--n-fft", "256", "--hop-length", "64"]
TINY = ["--arch", "shallow", "--latent-channels", "4", "--frames", "8", "--batch-size", "8",
        "--quiet", "--no-tensorboard"]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    write_notes(tmp_path / "notes", [(f"flute_{m}.wav", m) for m in (60, 62, 64, 65, 67)],
                sample_rate=8000, seconds=0.5)
    return tmp_path / "notes"


@pytest.mark.slow
def test_train_autoencoder_writes_all_outputs(notes: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert latent(["train", "autoencoder", "--data", str(notes), *TINY, *SMALL_FLAGS,
                   "--epochs", "2", "--val-fraction", "0.4", "-o", str(out)]) == 0
    for name in ("model.keras", "metrics.json", "loss.png", "spectrograms.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 2
    assert len(metrics["history"]["val_reconstruction_error"]) == 2
    assert set(metrics["data"]["train_notes"]).isdisjoint(metrics["data"]["val_notes"])
    from instrument.models.io import load_latent_model

    model = load_latent_model(out / "model.keras")
    assert model.kind == "autoencoder" and model.mean_latent is not None
    assert model.spectral == SMALL
    y = model.transform(np.zeros((30, SMALL.stft.n_bins), np.float32))
    assert y.shape == (30, SMALL.stft.n_bins)


class SimulatedKill(Exception):
    """Stands in for kill -9 right after an epoch's checkpoint was committed."""


@pytest.mark.slow
def test_resume_continues_after_interruption(notes: Path, tmp_path: Path) -> None:
    import keras

    from training.train import TrainConfig, prepare_autoencoder_data, read_checkpoint, train

    class KillAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch + 1 == 2:
                raise SimulatedKill()

    config = TrainConfig(epochs=3, batch_size=8, frames=8, val_fraction=0.4, tensorboard=False,
                         patience=0)
    options = {"arch": "shallow", "latent_channels": 4}
    data = prepare_autoencoder_data([notes], SMALL, config, verbose=False)
    out = tmp_path / "run"
    with pytest.raises(SimulatedKill):
        train(data, options, config, SMALL, out, verbose=0, extra_callbacks=[KillAfter()])
    state = read_checkpoint(out)
    assert state is not None and state["epoch"] == 2
    assert not (out / "model.keras").exists()
    saved_losses = state["history"]["loss"]
    result = train(data, options, config, SMALL, out, resume=True, verbose=0)
    assert result.initial_epoch == 2
    assert result.history["loss"][:2] == saved_losses
    assert len(result.history["loss"]) == 3
    assert (out / "model.keras").is_file()


def test_train_empty_folder_raises(tmp_path: Path) -> None:
    from training.train import TrainConfig, prepare_autoencoder_data

    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        prepare_autoencoder_data([tmp_path / "empty"], SMALL, TrainConfig(), verbose=False)


def test_train_cli_reports_no_pairs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_notes(tmp_path / "src", [("flute_C4.wav", 60)], sample_rate=8000)
    write_notes(tmp_path / "tgt", [("clarinet_D4.wav", 62)], sample_rate=8000)
    code = latent(["train", "transfer", "--source", str(tmp_path / "src"), "--target",
                   str(tmp_path / "tgt"), *TINY, *SMALL_FLAGS, "-o", str(tmp_path / "out")])
    assert code == 2
    assert "no source/target pairs" in capsys.readouterr().err


@pytest.mark.slow
def test_layerwise_pretraining_dense(notes: Path, tmp_path: Path) -> None:
    from training.train import TrainConfig, prepare_autoencoder_data, train

    config = TrainConfig(epochs=1, batch_size=8, frames=8, val_fraction=0.4, tensorboard=False,
                         pretrain_epochs=1)
    data = prepare_autoencoder_data([notes], SMALL, config, verbose=False)
    result = train(data, {"arch": "dense", "hidden_units": (16, 4)}, config, SMALL, tmp_path / "run",
                   verbose=0)
    assert result.model_path.is_file()
    assert np.isfinite(result.final["val_reconstruction_error"])


@pytest.mark.slow
def test_cosine_schedule_and_transfer_options_train_and_are_saved(notes: Path,
                                                                        tmp_path: Path) -> None:
    from training.train import COSINE_FLOOR, TrainConfig, cosine_learning_rate, prepare_transfer_data, train

    assert cosine_learning_rate(1e-3, 0.0) == pytest.approx(1e-3)
    assert cosine_learning_rate(1e-3, 0.5) == pytest.approx(1e-3 * (1 + COSINE_FLOOR) / 2)
    assert cosine_learning_rate(1e-3, 2.0) == pytest.approx(1e-3 * COSINE_FLOOR)
    config = TrainConfig(kind="transfer", epochs=2, batch_size=8, frames=8, val_fraction=0.4,
                         tensorboard=False, lr_schedule="cosine", pitch_shift=2.0)
    data = prepare_transfer_data(notes, notes, SMALL, config, verbose=False)
    options = {"arch": "dilres", "channels": 4, "latent_channels": 4, "depth": 1, "pool_freq": 1,
               "freq_bias": True, "dropout": 0.0, "sparsity_beta": 0.0}
    result = train(data, options, config, SMALL, tmp_path / "run", verbose=0)
    assert np.isfinite(result.final["val_reconstruction_error"])
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["train_config"]["lr_schedule"] == "cosine"
    assert saved["train_config"]["pitch_shift"] == 2.0 and saved["model_config"]["freq_bias"] is True


@pytest.mark.parametrize("changes,match", [({"lr_schedule": "step"}, "lr schedule"),
                                           ({"pitch_shift": -2.0}, "pitch shift")])
def test_bad_train_config_raises(changes: dict, match: str) -> None:
    from instrument.errors import ConfigError
    from training.train import TrainConfig

    with pytest.raises(ConfigError, match=match):
        TrainConfig(**changes)
