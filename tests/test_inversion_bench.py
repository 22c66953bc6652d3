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
