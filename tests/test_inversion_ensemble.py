"""Ensembles of inversion models: the mean of the members, a .keras round trip, the CLI, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from instrument.cli import build_parser
from instrument.errors import ConfigError, ModelError
from instrument.invert import InversionModel, load_inversion_model, save_inversion_model
from training.inversion_ensemble import (build_inversion_ensemble, ensemble_members, is_ensemble,
                                         save_inversion_ensemble)
from training.inversion_models import InversionModelConfig, build_inversion_model
from training.inversion_build import export_for_inference
from training.inversion_train import spec_dict
from training.synths.spec import SynthSpec
from tests.test_sweep_readout import TINY_SWEEPTCN


def _save(path: Path, synth_name: str = "inversynth", head: str = "softmax",
          fc_units: int = 16) -> Path:
    spec = SynthSpec.from_dict(spec_dict(synth_name))
    config = InversionModelConfig(arch="conv4", head=head, n_params=spec.n_params,
                                  n_classes=max(spec.levels), n_bins=spec.n_bins,
                                  n_frames=spec.n_frames, n_samples=spec.n_samples,
                                  width_scale=0.1, fc_units=fc_units, feature_mean=0.3,
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
    from training.sweep_plot import sweep_joint_probabilities

    config = InversionModelConfig(arch="sweeptcn", head="softmax", **TINY_SWEEPTCN)
    spec = SynthSpec.from_dict(spec_dict("inversynth"))
    meta = {"synth": "inversynth", "spec": spec_dict("inversynth")}
    nets = [InversionModel(build_inversion_model(config), config, spec, meta) for _ in range(2)]
    x = rng.random((2, 8, 33)).astype(np.float32)
    alone = [sweep_joint_probabilities(n.model, x) for n in nets]
    ensemble = build_inversion_ensemble(nets)
    np.testing.assert_allclose(sweep_joint_probabilities(ensemble, x), np.mean(alone, axis=0),
                               atol=1e-6)
