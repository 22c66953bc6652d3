"""The shipped dx7 inversion network: the default of `latent invert --synth dx7`, loads with
safe_mode, has dx7's head shapes; and the MPR over each parameter's own classes it is judged by."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.model import default_model_path, load_inversion_model, mask_invalid_classes
from presets import PRESETS_DIR
from training.inversion.build import DX7_DATASET, DX7_NAME, DX7_RECIPE, build_inversion_models
from instrument.inversion.metrics import mean_percentile_rank
from training.inversion.train import prior_scores, spec_dict

MODEL = PRESETS_DIR / "models" / DX7_NAME


def test_the_shipped_dx7_model_is_the_default_and_small() -> None:
    assert default_model_path("dx7") == MODEL
    assert MODEL.stat().st_size < 10e6


def test_the_shipped_dx7_model_loads_safely_with_the_dx7_heads() -> None:
    inv = load_inversion_model(MODEL)  # keras safe_mode=True
    assert inv.synth_name == "dx7" and inv.meta["spec"] == spec_dict("dx7")
    config = inv.config
    assert (config.arch, config.head, config.width_scale) == (DX7_RECIPE.arch, DX7_RECIPE.head,
                                                             DX7_RECIPE.width_scale)
    assert (config.n_params, config.n_classes, config.input_shape) == (57, 49, (64, 257))
    x = np.random.default_rng(0).random((2, 64, 257), dtype=np.float32)
    out = np.asarray(inv.model(x, training=False))
    assert out.shape == (2, 57, 49)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-4)
    scores = inv.scores(x)
    levels = np.asarray(inv.spec.levels)
    assert np.all(np.isneginf(scores[:, levels == 12, 12:]))
    assert np.all(inv.classes(x) < levels)
    assert inv.meta["training"]["data"] == DX7_RECIPE.data  # the folder's name, no machine path


def test_mpr_counts_each_parameters_own_classes() -> None:
    levels = (12, 49)
    rng = np.random.default_rng(1)
    classes = np.stack([rng.integers(0, 12, 400), rng.integers(0, 49, 400)], axis=1)
    perfect = mask_invalid_classes(np.eye(49, dtype=np.float32)[classes], levels)
    np.testing.assert_allclose(mean_percentile_rank(perfect, classes, levels), [100.0, 100.0])
    worst = mask_invalid_classes(-np.eye(49, dtype=np.float32)[classes] + 2, levels)
    np.testing.assert_allclose(mean_percentile_rank(worst, classes, levels), [0.0, 0.0])
    guess = mask_invalid_classes(rng.random((400, 2, 49)).astype(np.float32), levels)
    assert mean_percentile_rank(guess, classes, levels) == pytest.approx([50.0, 50.0], abs=4.0)


def test_the_prior_guess_ranks_frequent_classes_first() -> None:
    train = np.array([[3, 0], [3, 1], [3, 1], [5, 1]])
    scores = prior_scores(train, 2, (12, 2), 49)
    assert scores.shape == (2, 2, 49)
    assert scores[0, 0].argmax() == 3 and scores[0, 1].argmax() == 1
    assert np.all(np.isneginf(scores[:, 0, 12:])) and np.all(np.isneginf(scores[:, 1, 2:]))
    assert mean_percentile_rank(scores, np.array([[3, 1], [3, 1]]), (12, 2)).tolist() == [100.0, 100.0]


def test_the_dx7_recipe_trains_on_its_dataset_and_make_models_names_it(tmp_path) -> None:
    assert (DX7_RECIPE.synth, DX7_RECIPE.data, DX7_DATASET["seed"]) == ("dx7", "dx7-data", 0)
    assert DX7_RECIPE.max_minutes < 30
    with pytest.raises(ConfigError, match="no shipped inversion model 'dx8'"):
        build_inversion_models(tmp_path, only="dx8")
