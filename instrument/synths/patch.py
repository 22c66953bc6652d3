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
        data = _read_json(path.read_text(), f"patch file {path}")
        return cls.from_dict(data, spec, where=f"patch file {path}")


#: What a prior / patch source may be, for error messages.
PATCH_SOURCES = ("a patch .json file, a .json file holding a list of patches, a .jsonl file with "
                 "one patch per line, or a folder of patch .json files")


def _read_json(text: str, where: str) -> Any:
    """``json.loads`` with one-line SynthErrors (bad JSON, nesting too deep)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SynthError(f"{where} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise SynthError(f"{where}: JSON nested too deeply to be a patch") from exc


def load_patch_values(spec: SynthSpec, source: str | Path) -> np.ndarray:
    """Values ``(n, n_params)`` from a folder of patch ``*.json`` files, one patch file, a
    JSON file holding a list of patches, or a ``.jsonl`` file (one patch per line)."""
    source = Path(source)
    rows: list[np.ndarray] = []
    if source.is_dir():
        files = sorted(source.glob("*.json"))
        if not files:
            raise SynthError(f"no patch *.json files in {source}")
        rows = [Patch.load(f, spec).to_array(spec) for f in files]
    elif source.is_file():
        try:
            text = source.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SynthError(f"cannot read patches from {source}: {exc}") from exc
        try:
            whole = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            whole = None
        if isinstance(whole, dict):  # one patch (pretty-printed or not)
            rows = [Patch.from_dict(whole, spec, where=str(source)).to_array(spec)]
        elif isinstance(whole, list):  # a list of patches
            rows = [Patch.from_dict(item, spec, where=f"{source} item {i}").to_array(spec)
                    for i, item in enumerate(whole)]
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                    raise SynthError(f"{source} line {n} is not valid JSON ({detail}); expected "
                                     f"{PATCH_SOURCES}") from exc
                rows.append(Patch.from_dict(data, spec, where=f"{source} line {n}").to_array(spec))
    else:
        raise SynthError(f"prior patches not found: {source}")
    if not rows:
        raise SynthError(f"no patches in {source}")
    return np.stack(rows)
