"""Guard rails on outputs: --resume of a checkpoint of other options or a truncated one, unwritable
or full output locations for training (one line naming the path, no stray, partial or 0-byte file,
previous files unchanged), `latent synth` into a missing folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from instrument.cli import main as latent
from notes_fixtures import write_notes

SMALL_FLAGS = ["--sample-rate", "8000", "--n-fft", "256", "--hop-length", "64"]
TINY = ["--arch", "dilres", "--channels", "4", "--latent-channels", "4", "--depth", "1", "--frames", "8",
        "--batch-size", "8", "--quiet", "--no-tensorboard", "--patience", "0", *SMALL_FLAGS]
TINY_INVERSION = ["--steps-per-epoch", "1", "--batch-size", "4", "--val-count", "8", "--width-scale", "0.1",
                  "--fc-units", "8", "--patience", "0"]

#: Caps a child process's file size (a full disk) with SIGXFSZ ignored, so writes fail with EFBIG.
FSIZE_PRELUDE = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
""")


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def run_limited(limit: int, code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", FSIZE_PRELUDE + textwrap.dedent(code), str(limit), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notes") / "flute"
    write_notes(folder, [(f"flute_{m}.wav", m) for m in (60, 62, 64, 65, 67)], sample_rate=8000, seconds=0.5)
    return folder


@pytest.fixture(scope="module")
def latent_run(notes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished epoch of a tiny dilres autoencoder, named with --name."""
    out = tmp_path_factory.mktemp("latent") / "run"
    assert latent(["train", "autoencoder", str(notes), *TINY, "--epochs", "1", "--name", "flute-test",
                   "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def inversion_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inversion") / "inv"
    assert latent(["train", "inversion", *TINY_INVERSION, "--epochs", "1", "-o", str(out)]) == 0
    return out


# --------------------------------------------------------------------------- --resume


@pytest.mark.slow
def test_latent_resume_with_other_options_is_one_line_and_keeps_the_checkpoint(
        latent_run: Path, notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.models.names import model_name

    assert model_name(latent_run / "model.keras") == "flute-test"  # --name is stored
    run = tmp_path / "run"
    shutil.copytree(latent_run, run)
    before = snapshot(tmp_path)
    checkpoint = next((run / "checkpoint").glob("epoch-*"))
    capsys.readouterr()
    channels = [a if a != "4" or TINY[i - 1] != "--channels" else "8" for i, a in enumerate(TINY)]
    assert latent(["train", "autoencoder", str(notes), *channels, "--epochs", "2", "--resume",
                   "-o", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(checkpoint) in line and "arch dilres, channels 4" in line and "asks for channels 8" in line
    assert "another -o folder" in line
    deep = [a if a != "dilres" else "deep" for a in TINY]
    assert latent(["train", "autoencoder", str(notes), *deep, "--epochs", "2", "--resume", "-o", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(checkpoint) in line and "asks for arch deep" in line
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_latent_resume_of_a_truncated_checkpoint_is_one_line_and_keeps_it(
        latent_run: Path, notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(latent_run, run)
    checkpoint = next((run / "checkpoint").glob("epoch-*"))
    with open(checkpoint, "r+b") as handle:
        handle.truncate(checkpoint.stat().st_size // 2)
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert latent(["train", "autoencoder", str(notes), *TINY, "--epochs", "2", "--resume", "-o", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(checkpoint) in line and "truncated/corrupt" in line and "delete it or use another -o" in line
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_latent_resume_continues_with_the_optimizer_state(latent_run: Path, notes: Path,
                                                          tmp_path: Path) -> None:
    from training.train import (ModelBundle, TrainConfig, build_and_compile, check_resume,
                                model_config_from_options, restore_checkpoint)
    from instrument.config import AudioConfig, SpectralConfig, StftConfig

    run = tmp_path / "run"
    shutil.copytree(latent_run, run)
    spectral = SpectralConfig(audio=AudioConfig(sample_rate=8000), stft=StftConfig(n_fft=256, hop_length=64))
    config = TrainConfig(frames=8, batch_size=8)
    model_config = model_config_from_options({"arch": "dilres", "channels": 4, "latent_channels": 4,
                                              "depth": 1, "causal": False, "freq_bias": False,
                                              "freq_context": 0, "freq_template": False},
                                             spectral, config)
    state = check_resume(run, model_config, config)
    assert state is not None and state["epoch"] == 1
    bundle: ModelBundle = build_and_compile(model_config, 1e-3, 0)
    assert restore_checkpoint(bundle, run, state) == 1
    assert int(bundle.model.optimizer.iterations.numpy()) > 0  # Adam's moments came back too


@pytest.mark.slow
def test_inversion_resume_with_other_options_or_truncated_checkpoint_is_one_line(
        inversion_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "inv"
    shutil.copytree(inversion_run, run)
    checkpoint = run / "checkpoint.keras"
    before = snapshot(tmp_path)
    capsys.readouterr()
    wider = [a if a != "0.1" else "0.2" for a in TINY_INVERSION]
    assert latent(["train", "inversion", *wider, "--epochs", "2", "--resume", "-o", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(checkpoint) in line and "arch conv6xl, width-scale 0.1" in line and "width-scale 0.2" in line
    assert latent(["train", "inversion", *TINY_INVERSION, "--arch", "freqtcn", "--epochs", "2", "--resume",
                   "-o", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(checkpoint) in line and "asks for arch freqtcn" in line
    assert snapshot(tmp_path) == before
    with open(checkpoint, "r+b") as handle:
        handle.truncate(checkpoint.stat().st_size // 2)
    before = snapshot(tmp_path)
    assert latent(["train", "inversion", *TINY_INVERSION, "--epochs", "2", "--resume", "-o", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(checkpoint) in line and "truncated/corrupt" in line and "delete it or use another -o" in line
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- unwritable / full outputs


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
@pytest.mark.parametrize("command", ["autoencoder", "transfer", "inversion"])
def test_unwritable_training_output_is_one_line_before_any_work(
        command: str, where: str, notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file.txt").write_text("mine")
    out = str(tmp_path / "file.txt" / "sub") if where == "under-a-file" else f"/proc/latent-test-{os.getpid()}"
    inputs = {"autoencoder": [str(notes)], "transfer": [str(notes), str(notes)], "inversion": []}[command]
    options = TINY_INVERSION if command == "inversion" else TINY
    before = snapshot(tmp_path)
    assert latent(["train", command, *inputs, *options, "--epochs", "1", "-o", out]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert out in line or str(Path(out).parent) in line
    assert snapshot(tmp_path) == before
    assert not Path(out).exists()


def _no_partial_or_empty_files(folder: Path) -> None:
    for path in folder.rglob("*"):
        assert "partial" not in path.name and not path.name.startswith(("tmp-", ".tmp")), path
        assert not path.name.endswith(".tmp"), path
        if path.is_file():
            assert path.stat().st_size > 0, path


@pytest.mark.slow
def test_full_disk_during_latent_training_is_one_line_and_leaves_no_partial_file(
        notes: Path, tmp_path: Path) -> None:
    result = run_limited(50_000, "from instrument.cli import main; sys.exit(main(sys.argv[2:]))",
                         "train", "autoencoder", str(notes), *TINY, "--epochs", "1", "-o", "run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_line_error(result.stderr)
    assert "cannot write checkpoint run/checkpoint/epoch-0001.keras" in line and "File too large" in line
    _no_partial_or_empty_files(tmp_path / "run")
    assert not any(p.is_file() for p in (tmp_path / "run").rglob("*"))


@pytest.mark.slow
def test_full_disk_during_inversion_training_is_one_line_and_leaves_no_partial_file(tmp_path: Path) -> None:
    result = run_limited(100_000, "from instrument.cli import main; sys.exit(main(sys.argv[2:]))",
                         "train", "inversion", *TINY_INVERSION, "--epochs", "1", "-o", "inv", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_line_error(result.stderr)
    assert "cannot write checkpoint inv/checkpoint.keras" in line and "File too large" in line
    _no_partial_or_empty_files(tmp_path / "inv")
    assert not (tmp_path / "inv" / "checkpoint.keras").exists()


def test_failed_model_and_picture_writes_keep_the_previous_files(tmp_path: Path) -> None:
    """A model file and PNGs written on a full disk: one error naming the file, no partial
    file, and the previous file byte for byte as it was."""
    code = """
        from pathlib import Path
        from instrument.errors import LatentError
        from instrument.models.autoencoders import build_autoencoder
        from instrument.models.config import AutoencoderConfig
        from instrument.models.io import save_latent_model
        from instrument.plots import plot_history

        config = AutoencoderConfig(arch="dense", hidden_units=(16,))
        model = build_autoencoder(config)
        out = Path("out")
        save_latent_model(out / "model.keras", model, metadata={"config": config})
        plot_history({"loss": [1.0, 0.5]}, out / "loss.png")
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, limit))  # now the disk is full
        for write in (lambda: save_latent_model(out / "model.keras", model, metadata={"config": config}),
                      lambda: plot_history({"loss": [1.0, 0.4, 0.2]}, out / "loss.png"),
                      lambda: plot_history({"loss": [1.0]}, out / "new.png")):
            try:
                write()
            except LatentError as exc:
                print(type(exc).__name__, exc)
    """
    out = tmp_path / "out"
    out.mkdir()
    result = run_limited(10**10, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout + result.stderr[-2000:]
    assert lines[0].startswith("ModelError cannot write model file out/model.keras") and "too large" in lines[0]
    assert lines[1].startswith("LatentError cannot write picture out/loss.png")
    assert lines[2].startswith("LatentError cannot write picture out/new.png")
    assert sorted(p.name for p in out.iterdir()) == ["loss.png", "model.keras"]
    from instrument.models.io import read_latent_metadata

    read_latent_metadata(out / "model.keras")  # the first version, complete
    assert (out / "loss.png").stat().st_size > 2000  # the first version, not cut at the limit


# --------------------------------------------------------------------------- latent synth


@pytest.mark.parametrize("action", ["random", "render"])
def test_synth_into_a_missing_folder_is_one_line_and_writes_nothing(
        action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert latent(["synth", "random", "--synth", "inversynth", "-o", "p.json"]) == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    if action == "random":
        argv = ["synth", "random", "--synth", "inversynth", "-o", "missing_dir/p.json"]
    else:
        argv = ["synth", "render", "p.json", "--synth", "inversynth", "-o", "missing_dir/x.wav"]
    assert latent(argv) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "missing_dir" in line and "does not exist" in line
    assert not (tmp_path / "missing_dir").exists()
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", ["render", "synth render", "transfer"])
def test_an_output_place_that_refuses_files_fails_before_any_work(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc refuses new files even to root, whom os.access lets do anything: the probe write
    catches it before rendering or loading a model, in one line naming the path."""
    import numpy as np
    import soundfile as sf

    monkeypatch.chdir(tmp_path)
    sf.write("in.wav", np.zeros(4410, np.float32), 22050)
    assert latent(["synth", "random", "--synth", "inversynth", "-o", "p.json"]) == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    argv = {"render": ["render", "--no-input", "--duration", "1", "-o", "/proc/latent-x.wav"],
            "synth render": ["synth", "render", "p.json", "--synth", "inversynth", "-o", "/proc/latent-s.wav"],
            "transfer": ["transfer", "in.wav", "-o", "/proc/latent-out"]}[command]
    assert latent(argv) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "/proc/latent-" in line and "cannot write" in line
    assert snapshot(tmp_path) == before
