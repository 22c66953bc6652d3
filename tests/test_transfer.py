"""`latent transfer` end to end on a tiny transfer model; bad model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrument.cli import main as latent
from instrument.errors import ModelError
from notes_fixtures import tone, write_notes

SMALL_FLAGS = ["--sample-rate", "8000", "--n-fft", "256", "--hop-length", "64"]


@pytest.fixture(scope="module")
def tiny_transfer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("transfer")
    midis = (60, 62, 64, 65)
    write_notes(root / "src", [(f"flute_{m}.wav", m) for m in midis], sample_rate=8000, seconds=0.5)
    write_notes(root / "tgt", [(f"clarinet_{m}.wav", m) for m in midis], sample_rate=8000,
                seconds=0.5, brightness=0.8)
    out = root / "model"
    assert latent(["train", "transfer", "--source", str(root / "src"), "--target", str(root / "tgt"),
                   "--arch", "residual", "--latent-channels", "4", "--frames", "8", "--epochs", "1",
                   "--batch-size", "8", "--quiet", "--no-tensorboard", *SMALL_FLAGS,
                   "-o", str(out)]) == 0
    return out / "model.keras"


@pytest.mark.slow
def test_transfer_cli_end_to_end(tiny_transfer_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    y = tone(67, 1.0, 8000)
    sf.write(str(folder / "note.wav"), y, 8000)
    sf.write(str(tmp_path / "single.wav"), tone(60, 0.7, 8000), 8000)
    out = tmp_path / "out"
    assert latent(["transfer", "--model", str(tiny_transfer_model), str(folder),
                   str(tmp_path / "single.wav"), "-o", str(out), "--iterations", "8", "--plot"]) == 0
    result, rate = sf.read(str(out / "note.wav"), dtype="float32")
    assert rate == 8000 and result.shape == y.shape
    rms_in, rms_out = np.sqrt(np.mean(y ** 2)), np.sqrt(np.mean(result ** 2))
    assert abs(rms_out / rms_in - 1.0) < 0.05  # loudness matched (16-bit WAV rounding)
    assert (out / "note.png").stat().st_size > 0
    assert (out / "single.wav").is_file()
    dry = tmp_path / "dry"
    assert latent(["transfer", "--model", str(tiny_transfer_model), str(folder), "-o", str(dry),
                   "--iterations", "8", "--mix", "0"]) == 0
    assert sf.read(str(dry / "note.wav"))[0].shape == y.shape


def test_non_latent_model_raises(tmp_path: Path) -> None:
    import keras

    from instrument.app.transfer import load_model

    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    with pytest.raises(ModelError, match="plain.keras"):
        load_model(tmp_path / "plain.keras")
    (tmp_path / "text.keras").write_text("not a model")
    with pytest.raises(ModelError):
        load_model(tmp_path / "text.keras")
    with pytest.raises(ModelError, match="missing.keras"):
        load_model(tmp_path / "missing.keras")
