"""`latent bench inversion`: the nearest-neighbour baseline can use a disk dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import inversion as bench
from training.synth_dataset import generate_dataset


def test_nearest_neighbour_over_a_disk_training_set(tmp_path: Path) -> None:
    data = tmp_path / "train"
    generate_dataset("inversynth", 32, 3, data, shard_size=16, workers=1, progress=False)
    out = tmp_path / "bench"
    assert bench.main(["--synth", "inversynth", "--model", "none", "--count", "6",
                       "--train-data", str(data), "--refine-count", "0", "--pairs", "1",
                       "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["nearest_training_set"] == "train"
    assert set(results["audio"]) == {"random", "nearest"}
    assert -100.0 <= results["audio"]["nearest"]["pcc_stft"]["mean"] <= 100.0


def test_disk_training_set_of_another_synth_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "train"
    generate_dataset("inversynth", 16, 3, data, shard_size=16, workers=1, progress=False)
    with pytest.raises(SystemExit, match="inversynth"):
        bench.main(["--synth", "fluidsynth", "--model", "none", "--count", "2",
                    "--train-data", str(data), "--refine-count", "0", "--pairs", "0",
                    "--out", str(tmp_path / "bench")])


def test_the_shipped_sweeptcn_model_gets_sweep_readout_pictures(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert bench.main(["--synth", "inversynth", "--count", "4", "--train-count", "16",
                       "--refine-count", "0", "--pairs", "2", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert 50.0 < results["mpr"]["inversynth-sweeptcn"]["Mean MPR"] <= 100.0
    for i in range(2):
        assert (out / f"example{i}_inversynth-sweeptcn_sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "example2_inversynth-sweeptcn_sweep.png").exists()


def test_mpr_over_a_parameter_subset(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert bench.main(["--synth", "inversynth", "--model", "none", "--count", "8",
                       "--train-count", "16", "--refine-count", "0", "--pairs", "0",
                       "--mpr-without", "a,d,s", "--out", str(out)]) == 0
    mpr = json.loads((out / "results.json").read_text())["mpr"]["random"]
    rest = [v for k, v in mpr.items() if k not in ("a", "d", "s") and not k.startswith("Mean")]
    assert len(rest) == 20
    assert mpr["Mean MPR without a, d, s"] == pytest.approx(sum(rest) / 20)
    with pytest.raises(SystemExit, match="attack"):
        bench.main(["--model", "none", "--count", "2", "--train-count", "16", "--refine-count", "0",
                    "--pairs", "0", "--mpr-without", "attack", "--out", str(out)])


def test_audio_table_has_spectral_distances(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert bench.main(["--synth", "inversynth", "--model", "none", "--count", "4",
                       "--train-count", "16", "--refine-count", "1", "--refine-seconds", "0.2",
                       "--pairs", "0", "--out", str(out)]) == 0
    audio = json.loads((out / "results.json").read_text())["audio"]
    for row in ("nearest", "search-only", "nearest (same sounds)"):
        assert {"mss", "mfcc", "lsd_db", "sc", "pcc_stft"} <= set(audio[row])


def test_arrival_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "arrival"
    assert bench.main(["--arrival", "--count", "1", "--refine-seconds", "0.1",
                       "--out", str(out)]) == 0
    doc = json.loads((out / "arrival.json").read_text())
    assert doc["count"] == 1 and len(doc["conditions"]) == 5
    late = doc["conditions"]["37 samples late"]
    assert late["onset_error_abs_mean"] <= 3 and {"mss", "mfcc", "pcc_stft"} <= set(late)
    assert "after 20 ms silence" in capsys.readouterr().out
