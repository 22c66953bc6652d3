"""Scenes: YAML save/load round trip, shipped scenes, next/prev, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from instrument.errors import ConfigError
from instrument.engine.scenes import SceneBook, load_scene, save_scene, scene_from_state
from instrument.engine.unit_state import UnitState
from presets import PRESETS_DIR


def test_round_trip(tmp_path: Path) -> None:
    units = UnitState(6)
    units.set_scale(2, 0.0)
    units.set_knob(5, 1.5)
    units.set_mute(1, True)
    units.set_solo(4, True)
    path = save_scene(tmp_path / "a.yaml", scene_from_state("a", units, wet_dry=0.25, model="m"))
    scene = load_scene(path)
    restored = UnitState(6)
    scene.apply_to(restored)
    assert scene.name == "a" and scene.model == "m" and scene.wet_dry == 0.25
    np.testing.assert_array_equal(restored.scales, units.scales)
    np.testing.assert_array_equal(restored.knobs, units.knobs)
    np.testing.assert_array_equal(restored.effective(), units.effective())


@pytest.mark.parametrize("text", [
    "- just\n- a list\n",
    "name: x\nn_units: 2\nscales: [1.0]\n",
    "name: x\nn_units: 2\nscales: [1.0, -3]\n",
    "name: x\nn_units: 2\nmuted: [7]\n",
    "name: x\nn_units: 2\nwet_dry: 2\n",
    "name: x\nn_units: 2\nvolume: 3\n",
    "name: x\n",
    "name: [unclosed\n",
    "!!python/object:os.system {}\n",
])
def test_bad_scene_files_raise_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_scene(path)


def test_missing_scene_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_scene(tmp_path / "nope.yaml")


def test_scene_for_other_model_size_is_refused(tmp_path: Path) -> None:
    path = save_scene(tmp_path / "s.yaml", scene_from_state("s", UnitState(4)))
    with pytest.raises(ConfigError, match="4 units"):
        load_scene(path).apply_to(UnitState(8))


def test_book_next_prev_and_get(tmp_path: Path) -> None:
    for name in ("b", "a", "c"):
        units = UnitState(2)
        units.set_scale(0, {"a": 0.1, "b": 0.2, "c": 0.3}[name])
        save_scene(tmp_path / f"{name}.yaml", scene_from_state(name, units))
    save_scene(tmp_path / "other.yaml", scene_from_state("other", UnitState(3)))
    book = SceneBook.from_dir(tmp_path, n_units=2)
    assert book.names == ["a", "b", "c"]
    assert book.step(1).name == "a"
    assert book.step(1).name == "b"
    assert book.step(-1).name == "a"
    assert book.step(-1).name == "c"
    assert book.get("b").name == "b"
    with pytest.raises(ConfigError, match="unknown scene"):
        book.get("zzz")
    with pytest.raises(ConfigError, match="no scenes"):
        SceneBook().step(1)


def test_shipped_scenes_load() -> None:
    folder = PRESETS_DIR / "scenes"
    paths = sorted(folder.glob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        scene = load_scene(path)
        assert scene.n_units > 0 and len(scene.units["scales"]) == scene.n_units
        assert yaml.safe_load(path.read_text())["n_units"] == scene.n_units


def test_shipped_scenes_fit_the_default_model() -> None:
    model = PRESETS_DIR / "models" / "reconstruct.keras"
    if not model.is_file():
        pytest.skip("default model reconstruct.keras not shipped in this checkout")
    from instrument.models.io import read_latent_metadata
    from instrument.models.config import AutoencoderConfig

    n_units = AutoencoderConfig.from_dict(read_latent_metadata(model)["config"]).n_units
    book = SceneBook.from_dir(PRESETS_DIR / "scenes", n_units=n_units)
    assert len(book) >= 2, f"no shipped scene fits the default model's {n_units} units"
