"""`latent invert A.wav DIR/ -o OUTDIR/`: one patch per input, failures reported, names checked."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrument.cli import main
from instrument.inversion.model import save_inversion_model
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import InversionModelConfig
from instrument.synths.registry import get_synth
from instrument.synths.spec import SynthSpec
from training.inversion.train import spec_dict


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SynthSpec.from_dict(spec_dict("inversynth"))
    config = InversionModelConfig(arch="conv6xl", n_params=spec.n_params, n_classes=max(spec.levels),
                                  n_bins=spec.n_bins, n_frames=spec.n_frames, width_scale=0.1,
                                  fc_units=16, feature_mean=0.3, feature_std=0.5)
    path = tmp_path_factory.mktemp("batch-model") / "tiny.keras"
    return save_inversion_model(build_inversion_model(config), path, config, "inversynth",
                                spec_dict("inversynth"))


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    """a/x.wav, a/sub/y.wav (real renders), a/broken.wav (NaN samples), b/x.wav (same name as a/x)."""
    synth = get_synth("inversynth")
    audio = synth.render(synth.random_patches(np.random.default_rng(5), 3))
    rate = synth.spec.sample_rate
    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    sf.write(tmp_path / "a" / "x.wav", 0.7 * audio[0], rate)
    sf.write(tmp_path / "a" / "sub" / "y.wav", 0.7 * audio[1], rate)
    sf.write(tmp_path / "b" / "x.wav", 0.7 * audio[2], rate)
    broken = np.full(rate // 4, np.nan, np.float32)
    sf.write(tmp_path / "a" / "broken.wav", broken, rate, subtype="FLOAT")
    return {"a": tmp_path / "a", "b": tmp_path / "b"}


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error" in line]


def test_batch_inverts_a_folder_and_reports_the_broken_file(
        model: Path, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["invert", str(inputs["a"]), "-o", str(out), "--render-dir", str(out),
                 "--model", str(model), "--refine", "0"])
    assert code == 2  # one input failed; the others were still inverted
    captured = capsys.readouterr()
    errors = _error_lines(captured.err)
    assert len(errors) == 1 and "broken.wav" in errors[0] and "NaN" in errors[0]
    for rel in ("x", "sub/y"):  # relative names kept under the input folder
        assert (out / f"{rel}.json").is_file() and sf.info(out / f"{rel}.wav").samplerate == 16384
    assert not (out / "broken.json").exists()
    with open(out / "summary.csv", newline="") as stream:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(stream)}
    assert set(rows) == {"x.wav", "y.wav", "broken.wav"}
    assert rows["x.wav"]["status"] == "ok" and -100 <= float(rows["x.wav"]["pcc_stft"]) <= 100
    assert rows["broken.wav"]["status"].startswith("failed:") and rows["broken.wav"]["pcc_stft"] == ""
    assert "2 of 3 inverted, 1 failed" in captured.out
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]


def test_batch_of_files_keeps_their_names(model: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["invert", str(inputs["a"] / "x.wav"), str(inputs["a"] / "sub" / "y.wav"),
                 "-o", str(out), "--model", str(model), "--refine", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv", "x.json", "y.json"]


def test_same_names_from_two_folders_are_refused_naming_both(
        model: Path, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["invert", str(inputs["a"]), str(inputs["b"]), "-o", str(out),
                 "--model", str(model)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(inputs["a"] / "x.wav") in err and str(inputs["b"] / "x.wav") in err
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize("extra, words", [
    (["--render-dir", "{a}"], "is the input"),           # a render would overwrite an input
    (["--render", "one.wav"], "--render-dir"),           # single-file option in batch mode
    (["-o", "{a}/x.wav/out"], "not a folder"),           # output folder under a file
])
def test_batch_output_problems_are_one_line_before_any_work(
        model: Path, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        extra: list[str], words: str) -> None:
    extra = [e.format(a=inputs["a"]) for e in extra]
    argv = ["invert", str(inputs["a"] / "x.wav"), str(inputs["a"] / "sub" / "y.wav"),
            "--model", str(model)]
    argv += extra if "-o" in extra else ["-o", str(tmp_path / "out"), *extra]
    before = sorted(p.name for p in inputs["a"].rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert sorted(p.name for p in inputs["a"].rglob("*")) == before
    assert not (tmp_path / "out").exists()


def test_render_dir_needs_batch_mode(model: Path, inputs: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invert", str(inputs["a"] / "x.wav"), "-o", str(tmp_path / "p.json"),
                 "--render-dir", str(tmp_path), "--model", str(model)]) == 2
    assert "--render WAV" in capsys.readouterr().err
