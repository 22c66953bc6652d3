"""Model names, read without Keras: what render, perform, the window and ``latent models`` show.

A latent model file stores its name in its metadata (``latent train --name``, default the output
folder's name). A file without one is named by its stem (the shipped models), or by its folder
when the stem is what training writes (``runs/flute/model.keras`` -> ``flute``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from instrument.errors import ModelError

#: The zip entry holding a latent model's metadata (see :mod:`instrument.models.io`).
METADATA_ENTRY = "latent_metadata.json"
#: File stems training writes; a model so named is called after its folder instead.
GENERIC_STEMS = ("model", "checkpoint", "tmp-model")
#: Longest model name.
MAX_NAME_LENGTH = 64


def check_model_name(name: Any, where: str | Path = "--name") -> str:
    """A model name: 1..64 printable characters without a path separator (ModelError otherwise)."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH \
            or not name.isprintable() or "/" in name or "\\" in name:
        raise ModelError(f"model name must be 1..{MAX_NAME_LENGTH} printable characters without '/', "
                         f"got {name!r} ({where})")
    return name.strip()


def default_model_name(path: str | Path) -> str:
    """The name of a model file without a stored name."""
    path = Path(path)
    if path.stem in GENERIC_STEMS:
        folder = path.resolve().parent.name
        if folder:
            return folder
    return path.stem


def stored_metadata(path: str | Path) -> dict[str, Any] | None:
    """The latent metadata dict inside a ``.keras`` file, or None when it has none or is unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_ENTRY not in archive.namelist():
                return None
            data = json.loads(archive.read(METADATA_ENTRY).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, KeyError):
        return None
    return data if isinstance(data, dict) else None


def model_name(path: str | Path) -> str:
    """The name a latent model file is shown by: its stored ``name``, else its default name."""
    data = stored_metadata(path) or {}
    name = data.get("name")
    return name if isinstance(name, str) and name else default_model_name(path)
