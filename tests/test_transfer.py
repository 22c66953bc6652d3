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


@pytest.mark.slow
def test_transfer_plot_folder_keeps_relative_names(tiny_transfer_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    sf.write(str(folder / "note.wav"), tone(67, 0.5, 8000), 8000)
    sf.write(str(tmp_path / "single.wav"), tone(60, 0.5, 8000), 8000)
    out, plots = tmp_path / "out", tmp_path / "plots"
    assert latent(["transfer", "--model", str(tiny_transfer_model), str(tmp_path / "in"),
                   str(tmp_path / "single.wav"), "-o", str(out), "--iterations", "4",
                   "--plot", str(plots)]) == 0
    assert (out / "sub" / "note.wav").is_file() and (out / "single.wav").is_file()
    assert sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*.png")) == ["single.png", "sub/note.png"]
    assert not list(out.rglob("*.png"))


def test_transfer_plot_folder_is_checked_before_work(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "in.wav"
    sf.write(str(wav), tone(60, 0.3, 8000), 8000)
    (tmp_path / "file.txt").write_text("mine")
    assert latent(["transfer", str(wav), "-o", str(tmp_path / "out"), "--plot",
                   str(tmp_path / "file.txt" / "plots")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "plot folder" in err and "file.txt" in err
    # `--plot A.wav B.wav` would read the first input as the folder: refused, naming the fix
    assert latent(["transfer", "--plot", str(wav), str(wav), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--plot takes a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "in.wav"]
