"""Sharded synth datasets: layout, determinism, resume, prior sampling, tf.data streams."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from instrument.cli import main as cli_main
from instrument.errors import DatasetError, SynthError
from training.synth_dataset import (disk_tf_dataset, generate_dataset, iter_shards, load_dataset,
                                     make_targets, shard_path, synth_tf_dataset)
from instrument.synths.registry import get_synth
from instrument.synths.patch import Patch


def test_shards_resume_and_reproduce(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    meta = generate_dataset("inversynth", 10, 7, out, shard_size=4, workers=1, progress=False)
    assert meta.n_shards == 3
    features, classes, values = load_dataset(out)
    assert features.shape == (10, 64, 257) and features.dtype == np.float16
    assert classes.shape == (10, 23) and classes.max() <= 15
    spec = get_synth("inversynth").spec
    np.testing.assert_array_equal(spec.to_classes(values.astype(np.float64)), classes)
    first = shard_path(out, 0).read_bytes()
    stamp = shard_path(out, 1).stat().st_mtime_ns
    os.unlink(shard_path(out, 0))                       # missing shard
    shard_path(out, 2).write_bytes(b"truncated")        # interrupted write
    generate_dataset("inversynth", 10, 7, out, shard_size=4, workers=1, progress=False)
    assert shard_path(out, 1).stat().st_mtime_ns == stamp  # complete shard skipped
    f2, c2, _ = load_dataset(out)
    np.testing.assert_array_equal(c2, classes)
    np.testing.assert_array_equal(f2, features)
    assert shard_path(out, 0).read_bytes() == first
    assert not list(out.glob("*.tmp*"))
    with pytest.raises(DatasetError, match="different dataset"):
        generate_dataset("inversynth", 10, 8, out, shard_size=4, workers=1, progress=False)


def test_uniform_classes_cover_the_range(tmp_path: Path) -> None:
    synth = get_synth("inversynth")
    classes = synth.spec.to_classes(synth.random_patches(np.random.default_rng(0), 4000))
    counts = np.stack([np.bincount(classes[:, j], minlength=16) for j in range(23)])
    assert counts.min() > 150 and counts.max() < 350  # ~250 each


@pytest.mark.slow
def test_cli_with_prior_and_worker_pool(tmp_path: Path) -> None:
    spec = get_synth("inversynth").spec
    prior_dir = tmp_path / "patches"
    prior_dir.mkdir()
    for k in range(6):  # real patches all use low cutoffs
        classes = np.full(23, 8)
        classes[spec.index("f_cut")] = k % 3
        Patch.from_array(spec, spec.from_classes(classes)).save(prior_dir / f"p{k}.json")
    out = tmp_path / "ds"
    code = cli_main(["dataset", "synth", "--synth", "inversynth", "--count", "12", "--seed", "1",
                     "-o", str(out), "--prior", str(prior_dir), "--shard-size", "6",
                     "--workers", "2", "--quiet"])
    assert code == 0
    _, classes, _ = load_dataset(out)
    assert classes.shape == (12, 23)
    assert classes[:, spec.index("f_cut")].max() <= 4
    assert json.loads((out / "meta.json").read_text())["prior"]["source"] == str(prior_dir)
    assert len(list(iter_shards(out))) == 2


def test_targets() -> None:
    spec = get_synth("inversynth").spec
    values = spec.from_classes(np.array([[0] * 23, [15] * 23]))
    one_hot = make_targets(spec, values, "one_hot")
    assert one_hot.shape == (2, 368) and one_hot[0, 0] == 1 and one_hot[1, 15] == 1
    assert make_targets(spec, values, "classes").dtype == np.int32
    np.testing.assert_allclose(make_targets(spec, values, "normalized"), [[0] * 23, [1] * 23],
                               atol=1e-6)
    with pytest.raises(SynthError, match="unknown targets"):
        make_targets(spec, values, "logits")


@pytest.mark.slow
def test_tf_datasets(tmp_path: Path) -> None:
    synth = get_synth("inversynth")
    ds = synth_tf_dataset(synth, batch_size=3, seed=5, shard_index=1, num_shards=2)
    batches = list(ds.take(2).as_numpy_iterator())
    assert batches[0][0].shape == (3, 64, 257) and batches[0][1].shape == (3, 368)
    assert not np.array_equal(batches[0][0], batches[1][0])
    again = next(iter(synth_tf_dataset(synth, 3, 5, 1, 2).take(1).as_numpy_iterator()))
    np.testing.assert_array_equal(again[0], batches[0][0])
    other = next(iter(synth_tf_dataset(synth, 3, 5, 0, 2).take(1).as_numpy_iterator()))
    assert not np.array_equal(other[1], batches[0][1])
    generate_dataset("inversynth", 5, 2, tmp_path / "d", shard_size=5, workers=1, progress=False)
    x, y = next(iter(disk_tf_dataset(tmp_path / "d", 5, targets="classes").as_numpy_iterator()))
    assert x.shape == (5, 64, 257) and x.dtype == np.float32 and y.shape == (5, 23)
