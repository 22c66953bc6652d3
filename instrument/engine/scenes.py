"""Scenes: the whole unit control state saved and recalled as YAML.

A scene file (``presets/scenes/<name>.yaml``) holds::

    name: bright
    model: reconstruct        # model file stem the scene was made for (informative)
    n_units: 16
    wet_dry: 1.0
    scales: [1.0, 0.0, ...]   # one fader per unit
    knobs: [1.0, 1.0, ...]    # one knob per unit
    muted: [3]                # unit indices
    soloed: []

Files are read with ``yaml.safe_load`` and written with ``yaml.safe_dump``. A
:class:`SceneBook` loads every scene of a folder once, at start, so recalling
one in the processing thread does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from instrument.errors import ConfigError
from instrument.engine.unit_state import UnitState
from instrument.io.output_paths import atomic_path

SCENE_SUFFIXES = (".yaml", ".yml")
#: Most latent units a scene may describe (shipped models have 16; the largest sensible far fewer).
MAX_UNITS = 4096


@dataclass(frozen=True)
class Scene:
    """One saved control state.

    Attributes:
        name: scene name (file stem by default).
        units: :meth:`UnitState.to_dict` output (n_units, scales, knobs, muted, soloed).
        wet_dry: transfer mix 0..1.
        model: name of the model the scene was made for ("" if unknown).
    """

    name: str
    units: Mapping[str, Any] = field(default_factory=dict)
    wet_dry: float = 1.0
    model: str = ""

    @property
    def n_units(self) -> int:
        return int(self.units["n_units"])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "wet_dry": float(self.wet_dry), **dict(self.units)}

    def apply_to(self, units: UnitState) -> None:
        """Load this scene into ``units`` (raises ConfigError if the unit count differs)."""
        units.load_dict(self.units, source=f"scene {self.name!r}")


def scene_from_state(name: str, units: UnitState, wet_dry: float = 1.0, model: str = "") -> Scene:
    """Capture the current control state as a :class:`Scene`."""
    return Scene(name=name, units=units.to_dict(), wet_dry=float(wet_dry), model=model)


def parse_scene(data: Any, source: str) -> Scene:
    """Validate a decoded YAML document and return a :class:`Scene`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a scene must be a YAML mapping, got {type(data).__name__}")
    unknown = set(data) - {"name", "model", "wet_dry", "n_units", "scales", "knobs", "muted", "soloed"}
    if unknown:
        raise ConfigError(f"{source}: unknown scene field(s) {sorted(unknown)}")
    n_units = data.get("n_units")
    if isinstance(n_units, bool) or not isinstance(n_units, int) or n_units <= 0:
        raise ConfigError(f"{source}: n_units must be a positive integer, got {n_units!r}")
    if n_units > MAX_UNITS:
        raise ConfigError(f"{source}: n_units {n_units} is above the limit of {MAX_UNITS}")
    wet_dry = data.get("wet_dry", 1.0)
    if isinstance(wet_dry, bool) or not isinstance(wet_dry, (int, float)) or not 0.0 <= wet_dry <= 1.0:
        raise ConfigError(f"{source}: wet_dry must be a number in 0..1, got {wet_dry!r}")
    units = {k: data[k] for k in ("n_units", "scales", "knobs", "muted", "soloed") if k in data}
    UnitState(n_units).load_dict(units, source=source)  # validates values and indices
    name = str(data.get("name") or Path(source).stem)
    return Scene(name=name, units=units, wet_dry=float(wet_dry), model=str(data.get("model") or ""))


def load_scene(path: str | Path) -> Scene:
    """Read one scene file; :class:`ConfigError` names the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"scene file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: YAML nested too deeply to be a scene") from exc
    return parse_scene(data, str(path))


def save_scene(path: str | Path, scene: Scene) -> Path:
    """Write ``scene`` as YAML (``yaml.safe_dump``); returns the path written."""
    path = Path(path)
    text = yaml.safe_dump(scene.to_dict(), sort_keys=False, default_flow_style=None)
    with atomic_path(path, "scene file", error=ConfigError) as tmp:  # whole file or none
        tmp.write_text(text)
    return path


class SceneBook:
    """Scenes loaded once, in name order, with a cursor for next/prev.

    Args:
        scenes: the scenes (usually from :meth:`from_dir`).
    """

    def __init__(self, scenes: list[Scene] | None = None) -> None:
        self.scenes: list[Scene] = list(scenes or [])
        self.index = -1

    @classmethod
    def from_dir(cls, folder: str | Path, n_units: int | None = None) -> "SceneBook":
        """Load every ``*.yaml`` scene in ``folder`` (missing folder: empty book).

        Args:
            n_units: keep only scenes made for this many units (None: all).
        """
        folder = Path(folder)
        scenes: list[Scene] = []
        if folder.is_dir():
            for path in sorted(p for p in folder.iterdir() if p.suffix in SCENE_SUFFIXES):
                scene = load_scene(path)
                if n_units is None or scene.n_units == n_units:
                    scenes.append(scene)
        return cls(scenes)

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenes]

    @property
    def current(self) -> Scene | None:
        return self.scenes[self.index] if 0 <= self.index < len(self.scenes) else None

    def add(self, scene: Scene) -> None:
        """Add or replace (same name) a scene."""
        for i, existing in enumerate(self.scenes):
            if existing.name == scene.name:
                self.scenes[i] = scene
                return
        self.scenes.append(scene)

    def get(self, name: str) -> Scene:
        for i, scene in enumerate(self.scenes):
            if scene.name == name:
                self.index = i
                return scene
        raise ConfigError(f"unknown scene {name!r}; known: {', '.join(self.names) or 'none'}")

    def step(self, delta: int) -> Scene:
        """The next (``delta=1``) or previous (``-1``) scene, cycling."""
        if not self.scenes:
            raise ConfigError("no scenes loaded")
        if self.index < 0:
            self.index = 0 if delta > 0 else len(self.scenes) - 1
        else:
            self.index = (self.index + delta) % len(self.scenes)
        return self.scenes[self.index]
