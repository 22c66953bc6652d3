"""dx7 datasets (`latent dataset synth --synth dx7`): consistent float16 shards, classes within each
parameter's levels, the features of the synth's own renders, reproducible from the seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dexed")

from training.synth_dataset import (DatasetMeta, generate_dataset, iter_shards, load_dataset,  # noqa: E402
                                    npz_shapes, render_features, render_shard, shard_path)

COUNT, SHARD = 10, 4


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dx7") / "ds"
    generate_dataset("dx7", COUNT, 5, out, shard_size=SHARD, workers=1, progress=False)
    return out


def test_shards_hold_features_classes_and_values_of_the_spec(dataset: Path, dx7) -> None:
    spec = dx7.spec
    meta = DatasetMeta.load(dataset)
    assert (meta.synth, meta.n_shards, meta.n_frames, meta.n_bins, meta.n_params) == ("dx7", 3, 64, 257, 57)
    features, classes, values = load_dataset(dataset)
    assert features.shape == (COUNT, 64, 257) and features.dtype == np.float16
    assert classes.shape == values.shape == (COUNT, 57) and classes.dtype == np.int16
    assert classes.min() >= 0 and np.all(classes < np.asarray(spec.levels))
    np.testing.assert_array_equal(spec.to_classes(values.astype(np.float64)), classes)
    assert np.all(np.isfinite(features)) and features.min() >= 0
    assert npz_shapes(shard_path(dataset, 2)) == {"features": (2, 64, 257), "classes": (2, 57),
                                                  "values": (2, 57)}
    shards = list(iter_shards(dataset))
    np.testing.assert_array_equal(np.concatenate([s["features"] for s in shards]), features)


def test_features_are_the_synths_own_of_its_renders(dataset: Path, dx7) -> None:
    features, _, values = load_dataset(dataset)
    want = dx7.features(dx7.render(values[:3].astype(np.float64)))
    np.testing.assert_allclose(features[:3].astype(np.float32), want, rtol=2e-3, atol=2e-3)
    into = np.empty((3, 64, 257), np.float16)
    assert render_features(dx7, values[:3].astype(np.float64), chunk=2, out=into) is into
    np.testing.assert_array_equal(into, features[:3])


def test_render_features_equals_the_features_of_the_render(dx7) -> None:
    values = dx7.random_patches(np.random.default_rng(5), 4)
    values[1, dx7.spec.names.index("op1_level")] = 0.0   # whatever is silent stays 0
    fused = dx7.render_features(values)
    plain = dx7.features(dx7.render(values))
    assert fused.shape == plain.shape == (4, 64, 257) and fused.dtype == np.float32
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5)


def test_shards_reproduce_from_the_seed(dataset: Path, dx7, tmp_path: Path) -> None:
    again = render_shard(dx7, 5, 1, SHARD)
    with np.load(shard_path(dataset, 1)) as stored:
        for key in ("features", "classes", "values"):
            np.testing.assert_array_equal(again[key], stored[key])
    other = render_shard(dx7, 6, 1, SHARD)
    assert not np.array_equal(other["classes"], again["classes"])
    copy = tmp_path / "copy"
    generate_dataset("dx7", COUNT, 5, copy, shard_size=SHARD, workers=1, progress=False)
    assert all(shard_path(copy, i).read_bytes() == shard_path(dataset, i).read_bytes() for i in range(3))
