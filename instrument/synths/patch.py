"""Patches: named parameter values of one synth, as JSON files or JSON lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from instrument.errors import SynthError
from instrument.synths.spec import SynthSpec


@dataclass(frozen=True)
class Patch:
    """A named set of parameter values for one synth (JSON: ``{"synth": ..., "values": {...}}``)."""

    synth: str
    values: Mapping[str, float]

    def to_array(self, spec: SynthSpec) -> np.ndarray:
        """Validated values ``(n_params,)`` in spec order."""
        if self.synth != spec.name:
            raise SynthError(f"patch is for synth {self.synth!r}, not {spec.name!r}")
        return spec.values_from_dict(self.values, where=f"patch for {self.synth!r}")

    @classmethod
    def from_array(cls, spec: SynthSpec, values: np.ndarray) -> "Patch":
        return cls(synth=spec.name, values=spec.values_to_dict(values))

    def to_dict(self) -> dict[str, Any]:
        return {"synth": self.synth, "values": dict(self.values)}

    @classmethod
    def from_dict(cls, data: Any, spec: SynthSpec | None = None, where: str = "patch") -> "Patch":
        if not isinstance(data, Mapping) or "synth" not in data or "values" not in data:
            raise SynthError(f"{where}: a patch must be a JSON object with 'synth' and 'values'")
        if not isinstance(data["values"], Mapping):
            raise SynthError(f"{where}: 'values' must be an object of parameter -> number")
        patch = cls(synth=str(data["synth"]), values=dict(data["values"]))
        if spec is not None:
            if patch.synth != spec.name:
                raise SynthError(f"{where}: patch is for synth {patch.synth!r}, not {spec.name!r}")
            spec.values_from_dict(patch.values, where=where)
        return patch

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, spec: SynthSpec | None = None) -> "Patch":
        path = Path(path)
        if not path.is_file():
            raise SynthError(f"patch file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SynthError(f"patch file {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, spec, where=f"patch file {path}")


def load_patch_values(spec: SynthSpec, source: str | Path) -> np.ndarray:
    """Values ``(n, n_params)`` from a folder of patch ``*.json`` files or a ``.jsonl`` file."""
    source = Path(source)
    rows: list[np.ndarray] = []
    if source.is_dir():
        files = sorted(source.glob("*.json"))
        if not files:
            raise SynthError(f"no patch *.json files in {source}")
        rows = [Patch.load(f, spec).to_array(spec) for f in files]
    elif source.is_file():
        for n, line in enumerate(source.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SynthError(f"{source} line {n} is not valid JSON: {exc}") from exc
            rows.append(Patch.from_dict(data, spec, where=f"{source} line {n}").to_array(spec))
    else:
        raise SynthError(f"prior patches not found: {source}")
    if not rows:
        raise SynthError(f"no patches in {source}")
    return np.stack(rows)
