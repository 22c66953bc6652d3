"""Synth spec validation, class/value conversion, patch JSON, Gaussian prior."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from instrument.errors import SynthError
from presets import PRESETS_DIR
from instrument.synths.patch import Patch, load_patch_values
from instrument.synths.prior import GaussianPrior
from instrument.synths.spec import SynthSpec


def _spec(params: list[dict], **top: object) -> SynthSpec:
    data = {"name": "toy", "sample_rate": 16000, "seconds": 0.5, "parameters": params, **top}
    return SynthSpec.from_dict(data)


TOY = [
    {"name": "cutoff", "min": 100, "max": 1600, "scale": "log", "levels": 5, "group": "filter",
     "cc": 74},
    {"name": "mix", "min": 0.0, "max": 1.0, "group": "amp",
     "nrpn": {"msb": 1, "lsb": 2, "range": [0, 16383]}},
    {"name": "wave", "scale": [80, 81, 82], "program": True},
    {"name": "fine", "min": -100, "max": 100, "levels": 3,
     "nrpn": {"msb": 120, "lsb": 9, "center": 8192, "units_per_step": 2}},
]


def test_shipped_specs_load() -> None:
    inv = SynthSpec.load(PRESETS_DIR / "synths" / "inversynth.yaml")
    assert inv.n_params == 23 and set(inv.levels) == {16}
    assert (inv.n_frames, inv.n_bins) == (64, 257)
    np.testing.assert_allclose(inv.param("f_saw").grid(), 440 * 2 ** (np.arange(16) / 12))
    fl = SynthSpec.load(PRESETS_DIR / "synths" / "fluidsynth.yaml")
    assert all(p.midi is not None for p in fl.parameters)


def test_overlapping_cc_names_both_parameters() -> None:
    params = [dict(TOY[0]), {"name": "reso", "min": 0, "max": 1, "cc": 74}]
    with pytest.raises(SynthError, match="'cutoff' and 'reso'"):
        _spec(params)


def test_overlapping_nrpn_names_both_parameters() -> None:
    params = [dict(TOY[1]), {"name": "other", "min": 0, "max": 1, "nrpn": {"msb": 1, "lsb": 2}}]
    with pytest.raises(SynthError, match="'mix' and 'other'.*NRPN 1/2"):
        _spec(params)


def test_cc_colliding_with_nrpn_data_entry() -> None:
    params = [dict(TOY[1]), {"name": "bad", "min": 0, "max": 1, "cc": 6}]
    with pytest.raises(SynthError, match="'bad'.*'mix'"):
        _spec(params)


@pytest.mark.parametrize("bad", [
    {"name": "cut", "min": 10, "max": 5},
    {"name": "cut", "min": 0, "max": 5, "scale": "log"},
    {"name": "cut", "min": 0, "max": 5, "levels": 1},
    {"name": "cut", "min": 0, "max": 5, "scale": "cubic"},
    {"name": "cut", "min": 0, "max": 1, "cc": 200},
    {"name": "cut", "min": -10000, "max": 10000, "nrpn": {"msb": 120, "lsb": 8, "center": 8192}},
])
def test_bad_ranges_name_the_parameter(bad: dict) -> None:
    with pytest.raises(SynthError, match="'cut'"):
        _spec([bad])


def test_classes_values_round_trip_and_normalisation() -> None:
    spec = _spec(TOY)
    classes = np.array([[0, 0, 0, 0], [4, 15, 2, 2], [2, 7, 1, 1]])
    values = spec.from_classes(classes)
    np.testing.assert_allclose(values[:, 0], [100, 1600, 400])  # log grid: 100, 200, 400, 800, 1600
    np.testing.assert_array_equal(values[:, 2], [80, 82, 81])
    np.testing.assert_array_equal(spec.to_classes(values), classes)
    u = spec.normalize(values)
    assert u.min() >= 0 and u.max() <= 1
    np.testing.assert_allclose(u[1], 1.0)
    np.testing.assert_allclose(spec.denormalize(u), values)
    # nearest class in scale space
    assert spec.param("cutoff").to_classes(np.array(290.0)) == 2
    one_hot = spec.one_hot(classes)
    assert one_hot.shape == (3, 5 + 16 + 3 + 3) and np.all(one_hot.sum(axis=1) == 4)
    with pytest.raises(SynthError, match="'wave'"):
        spec.from_classes(np.array([[0, 0, 3, 0]]))


def test_midi_value_mapping() -> None:
    spec = _spec(TOY)
    assert spec.param("cutoff").to_midi(100) == 0 and spec.param("cutoff").to_midi(1600) == 127
    assert spec.param("cutoff").to_midi(400) in (63, 64)  # middle of the log scale
    assert spec.param("mix").to_midi(1.0) == 16383
    assert spec.param("wave").to_midi(81) == 81
    assert spec.param("fine").to_midi(-100) == 8192 - 50


def test_patch_json_round_trip(tmp_path: Path) -> None:
    spec = _spec(TOY)
    values = spec.from_classes(np.array([3, 5, 1, 0]))
    patch = Patch.from_array(spec, values)
    path = tmp_path / "p.json"
    patch.save(path)
    loaded = Patch.load(path, spec)
    np.testing.assert_array_equal(loaded.to_array(spec), values)
    assert json.loads(path.read_text())["synth"] == "toy"


def test_patch_errors_name_the_parameter(tmp_path: Path) -> None:
    spec = _spec(TOY)
    good = spec.values_to_dict(spec.default_values())
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"synth": "toy", "values": {**good, "cutoff": 5000.0}}))
    with pytest.raises(SynthError, match="'cutoff'.*5000"):
        Patch.load(path, spec)
    path.write_text(json.dumps({"synth": "toy", "values": {**good, "wave": 83}}))
    with pytest.raises(SynthError, match="'wave'"):
        Patch.load(path, spec)
    path.write_text(json.dumps({"synth": "toy", "values": {**good, "volume": 1.0}}))
    with pytest.raises(SynthError, match="'volume'"):
        Patch.load(path, spec)
    path.write_text(json.dumps({"synth": "other", "values": good}))
    with pytest.raises(SynthError, match="'other'"):
        Patch.load(path, spec)
    path.write_text("{not json")
    with pytest.raises(SynthError, match="not valid JSON"):
        Patch.load(path, spec)


def test_spec_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "sample_rate": 16000, "seconds": 1,
                                    "parameters": [{"name": "a", "min": 0, "max": 1, "foo": 1}]}))
    with pytest.raises(SynthError, match="'a'.*foo"):
        SynthSpec.load(path)
    with pytest.raises(SynthError, match="not found"):
        SynthSpec.load(tmp_path / "missing.yaml")


def test_gaussian_prior_follows_the_patches(tmp_path: Path, rng: np.random.Generator) -> None:
    spec = _spec(TOY)
    lines = []
    for _ in range(40):  # correlated: cutoff class tracks mix class, always low
        c = int(rng.integers(0, 2))
        values = spec.from_classes(np.array([c, c * 3, 0, 1]))
        lines.append(json.dumps(Patch.from_array(spec, values).to_dict()))
    jsonl = tmp_path / "patches.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    prior = GaussianPrior.fit(spec, load_patch_values(spec, jsonl))
    sample = prior.sample(spec, rng, 500)
    classes = spec.to_classes(sample)
    assert classes[:, 0].max() <= 2  # never the top of the cutoff range
    assert np.corrcoef(classes[:, 0], classes[:, 1])[0, 1] > 0.5
    np.testing.assert_array_equal(spec.quantize(sample), sample)
