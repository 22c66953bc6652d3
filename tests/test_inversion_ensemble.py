"""Ensembles of inversion models: the mean of the members, a .keras round trip, the CLI, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.cli import build_parser
from instrument.errors import ConfigError, ModelError
from instrument.inversion.model import InversionModel, load_inversion_model, save_inversion_model
from instrument.inversion.ensemble import ensemble_members, is_ensemble
from instrument.models.layers.ensemble import MemberMean
from training.inversion.ensemble import build_inversion_ensemble, fit_member_weights, save_inversion_ensemble
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import InversionModelConfig
from training.inversion.build import export_for_inference
from training.inversion.train import spec_dict
from instrument.synths.spec import SynthSpec
from tests.test_sweep_readout import TINY_SWEEPTCN


def _save(path: Path, synth_name: str = "inversynth", head: str = "softmax",
          fc_units: int = 16) -> Path:
    spec = SynthSpec.from_dict(spec_dict(synth_name))
    config = InversionModelConfig(arch="conv6xl", head=head, n_params=spec.n_params,
                                  n_classes=max(spec.levels), n_bins=spec.n_bins,
                                  n_frames=spec.n_frames, width_scale=0.1, fc_units=fc_units, feature_mean=0.3,
                                  feature_std=0.5)
    return save_inversion_model(build_inversion_model(config), path, config, synth_name,
                                spec_dict(synth_name), {"train_seconds": 60.0})


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("ensemble-members")
    return [_save(root / "a.keras"), _save(root / "b.keras", fc_units=24)]


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_ensemble_file_scores_the_mean_of_its_members(members: list[Path], tmp_path: Path,
                                                      rng: np.random.Generator) -> None:
    assert _run(["train", "ensemble", *map(str, members), "-o", str(tmp_path / "e.keras")]) == 0
    ensemble = load_inversion_model(tmp_path / "e.keras")
    loaded = [load_inversion_model(p) for p in members]
    x = rng.random((3, *ensemble.config.input_shape)).astype(np.float32)
    expected = np.mean([np.asarray(m.model(x, training=False)) for m in loaded], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble.model(x, training=False)), expected, atol=1e-6)
    np.testing.assert_allclose(ensemble.scores(x).sum(axis=-1), 1.0, rtol=1e-5)
    assert len(ensemble_members(ensemble.model)) == 2
    assert is_ensemble(ensemble.meta) and not is_ensemble(loaded[0].meta)
    record = ensemble.meta["training"]
    assert [r["file"] for r in record["ensemble"]] == ["a.keras", "b.keras"]
    assert record["train_seconds"] == pytest.approx(120.0)


def test_bad_ensembles_raise_errors_naming_the_file(members: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        save_inversion_ensemble(members[:1], tmp_path / "one.keras")
    other_synth = _save(tmp_path / "fluid.keras", synth_name="fluidsynth")
    with pytest.raises(ModelError, match="fluid.keras"):
        save_inversion_ensemble([members[0], other_synth], tmp_path / "mixed.keras")
    other_head = _save(tmp_path / "sigmoid.keras", head="sigmoid")
    with pytest.raises(ModelError, match="head 'sigmoid'"):
        save_inversion_ensemble([members[0], other_head], tmp_path / "heads.keras")
    with pytest.raises(ModelError, match="no such model file"):
        save_inversion_ensemble([members[0], tmp_path / "missing.keras"], tmp_path / "x.keras")
    nested = save_inversion_ensemble(members, tmp_path / "e.keras")
    with pytest.raises(ModelError, match="itself an ensemble"):
        save_inversion_ensemble([nested, members[0]], tmp_path / "nested.keras")
    with pytest.raises(ModelError, match="is an ensemble"):
        export_for_inference(nested, tmp_path / "inference.keras")


def test_sweep_readout_of_an_ensemble_is_its_members_mean(rng: np.random.Generator) -> None:
    from benchmarks.sweep_plot import sweep_joint_probabilities

    config = InversionModelConfig(arch="sweeptcn", head="softmax", **TINY_SWEEPTCN)
    spec = SynthSpec.from_dict(spec_dict("inversynth"))
    meta = {"synth": "inversynth", "spec": spec_dict("inversynth")}
    nets = [InversionModel(build_inversion_model(config), config, spec, meta) for _ in range(2)]
    x = rng.random((2, 8, 33)).astype(np.float32)
    alone = [sweep_joint_probabilities(n.model, x) for n in nets]
    ensemble = build_inversion_ensemble(nets)
    np.testing.assert_allclose(sweep_joint_probabilities(ensemble, x), np.mean(alone, axis=0),
                               atol=1e-6)


def test_fitted_weights_follow_the_better_member_of_each_parameter(
        rng: np.random.Generator) -> None:
    classes = rng.integers(0, 4, size=(200, 2))
    right = 0.4 * np.eye(4)[classes] + 0.6 * rng.random((200, 2, 4))  # noisy but informative
    noise = rng.random((200, 2, 4))
    # member 0 knows parameter 0, member 1 knows parameter 1
    first = np.stack([right[:, 0], noise[:, 1]], axis=1)
    second = np.stack([noise[:, 0], right[:, 1]], axis=1)
    weights = fit_member_weights([first, second], classes, levels=(4, 4))
    assert weights.shape == (2, 2)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    assert weights[0, 0] > 0.5 and weights[1, 1] > 0.5
    # equal members: ties go to the even mix
    np.testing.assert_allclose(fit_member_weights([first, first], classes, (4, 4)), 0.5)


def test_member_mean_round_trips_and_checks_its_weights(tmp_path: Path,
                                                        rng: np.random.Generator) -> None:
    a, b = keras.Input((3, 4)), keras.Input((3, 4))
    layer = MemberMean([[0.2, 1.0, 0.5], [0.8, 0.0, 0.5]])
    model = keras.Model([a, b], layer([a, b]))
    x = [rng.random((2, 3, 4)).astype(np.float32) for _ in range(2)]
    expected = x[0] * np.array([0.2, 1.0, 0.5])[None, :, None] + \
        x[1] * np.array([0.8, 0.0, 0.5])[None, :, None]
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-6)
    model.save(tmp_path / "mix.keras")
    loaded = keras.saving.load_model(tmp_path / "mix.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, rtol=1e-6)
    with pytest.raises(ConfigError, match="sum to 1"):
        MemberMean([[0.5, 0.5], [0.6, 0.5]])
    with pytest.raises(ConfigError, match="members >= 2"):
        MemberMean([[1.0, 1.0]])
    with pytest.raises(ConfigError, match="do not fit"):
        MemberMean([[0.5, 0.5], [0.5, 0.5]])([a, b])


def test_calibrated_ensemble_records_its_weights(members: list[Path], tmp_path: Path) -> None:
    assert _run(["train", "ensemble", *map(str, members), "--calibrate", "64", "-o",
                 str(tmp_path / "cal.keras")]) == 0
    ensemble = load_inversion_model(tmp_path / "cal.keras")
    record = ensemble.meta["training"]
    weights = np.array(record["member_weights"])
    assert weights.shape == (2, 23) and record["calibration_count"] == 64
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    assert all(0.0 <= r["calibration_mpr"] <= 100.0 for r in record["ensemble"])
    loaded = [load_inversion_model(p) for p in members]
    x = np.random.default_rng(5).random((2, *ensemble.config.input_shape)).astype(np.float32)
    outs = [np.asarray(m.model(x, training=False)) for m in loaded]
    expected = np.einsum("mp,mnpc->npc", weights, np.stack(outs))
    np.testing.assert_allclose(np.asarray(ensemble.model(x, training=False)), expected, atol=1e-6)
    # a fresh process loads it too (the mixing layer registers itself on load)
    probe = subprocess.run([sys.executable, "-c", "import sys; from instrument.inversion.model import "
                            "load_inversion_model; print(load_inversion_model(sys.argv[1]).config.arch)",
                            str(tmp_path / "cal.keras")], capture_output=True, text=True, check=False)
    assert probe.returncode == 0 and probe.stdout.strip() == "conv6xl", probe.stderr[-2000:]
    with pytest.raises(ConfigError, match="calibration_count"):
        save_inversion_ensemble(members, tmp_path / "bad.keras", calibration_count=-1)
