"""The latent model file: one ``.keras`` zip with its metadata inside.

:func:`save_latent_model` writes the full autoencoder with ``model.save``
and appends one extra zip entry, ``latent_metadata.json``, holding:

* ``format``: file format version (:data:`FORMAT_VERSION`);
* ``kind``: ``"autoencoder"`` or ``"transfer"`` (source -> target model);
* ``config``: the :class:`AutoencoderConfig` (with its spectral config);
* ``spectral``: the :class:`SpectralConfig` again, for quick inspection;
* ``mean_latent``: mean latent frame (for no-input mode) or null;
* ``norm_stats``: :class:`NormStats` the features were normalised with, or null;
* ``notes``: free JSON-able training notes (dataset, epochs, losses...);
* ``name``: the model's name (``latent train --name``, default the output folder's name), shown by
  render, perform and the window; files without one are named as
  :func:`instrument.models.names.model_name` says.

Keras ignores the extra entry, so ``keras.saving.load_model(path,
safe_mode=True)`` still loads the file. :func:`load_latent_model` checks the
file and returns a warmed-up :class:`~instrument.models.latent_model.LatentModel`;
every problem is a :class:`ModelError` naming the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from instrument.errors import ConfigError, ModelError
from instrument.models.latent_model import KINDS, LatentModel
from instrument.dsp.spectral import NormStats
from instrument.io.output_paths import atomic_path
import instrument.models.layers  # noqa: F401  (registers every custom layer)
from instrument.models.config import AutoencoderConfig
from instrument.models.autoencoders import LATENT
from instrument.models.names import METADATA_ENTRY, check_model_name

FORMAT_VERSION = 1
_KNOWN_KEYS = {"config", "kind", "mean_latent", "norm_stats", "notes", "name"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _latent_frame_shape(model: Any, config: AutoencoderConfig) -> tuple[int, ...]:
    shape = tuple(int(d) for d in model.get_layer(LATENT).output.shape[1:])
    return shape[1:] if config.is_conv else shape


def save_latent_model(path: str | Path, model: Any, encoder: Any = None, decoder: Any = None,
                      metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` and its metadata to one ``.keras`` file.

    Args:
        path: destination, must end with ``.keras``; parent folders are created.
        model: full autoencoder from :mod:`instrument.models.autoencoders` (has layer ``"latent"``).
        encoder, decoder: its sub-models (optional; checked against ``model``,
            not stored -- they are rebuilt from ``model`` at load time).
        metadata: ``config`` (:class:`AutoencoderConfig` or dict, required),
            ``kind`` (default ``"autoencoder"``), ``mean_latent`` (array of one
            latent frame), ``norm_stats`` (:class:`NormStats` or dict), ``notes``.
    Returns the path written, through a temporary name renamed when complete. Raises
    :class:`ModelError` on inconsistent input, or naming ``path`` when it cannot be written.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"model file name must end with .keras: {path}")
    metadata = dict(metadata or {})
    unknown = set(metadata) - _KNOWN_KEYS
    if unknown:
        raise ModelError(f"unknown latent metadata keys {sorted(unknown)} for {path}")
    config = metadata.get("config")
    try:
        if isinstance(config, Mapping):
            config = AutoencoderConfig.from_dict(config)
    except ConfigError as exc:
        raise ModelError(f"bad config for {path}: {exc}") from exc
    if not isinstance(config, AutoencoderConfig):
        raise ModelError(f"metadata['config'] must be an AutoencoderConfig to save {path}")
    kind = metadata.get("kind", "autoencoder")
    if kind not in KINDS:
        raise ModelError(f"kind must be one of {', '.join(KINDS)}, got {kind!r} for {path}")
    if tuple(model.input_shape[1:]) != tuple(config.input_shape):
        raise ModelError(f"model input shape {tuple(model.input_shape[1:])} does not match its "
                         f"config {config.input_shape} ({path})")
    if LATENT not in [layer.name for layer in model.layers]:
        raise ModelError(f"model has no layer named {LATENT!r}; not a latent model ({path})")
    latent_shape = tuple(model.get_layer(LATENT).output.shape[1:])
    if encoder is not None and tuple(encoder.output.shape[1:]) != latent_shape:
        raise ModelError(f"encoder output {tuple(encoder.output.shape[1:])} differs from the "
                         f"latent layer {latent_shape} ({path})")
    if decoder is not None and tuple(decoder.input.shape[1:]) != latent_shape:
        raise ModelError(f"decoder input {tuple(decoder.input.shape[1:])} differs from the "
                         f"latent layer {latent_shape} ({path})")
    mean_latent = metadata.get("mean_latent")
    if mean_latent is not None:
        mean_latent = np.asarray(mean_latent, np.float32)
        want = _latent_frame_shape(model, config)
        if mean_latent.shape != want:
            raise ModelError(f"mean_latent has shape {mean_latent.shape}, expected {want} ({path})")
    name = metadata.get("name")
    if name is not None:
        name = check_model_name(name, path)
    norm = metadata.get("norm_stats")
    if isinstance(norm, NormStats):
        norm = norm.to_dict()
    payload = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "config": config.to_dict(),
        "spectral": config.spectral.to_dict(),
        "mean_latent": None if mean_latent is None else mean_latent.tolist(),
        "norm_stats": _jsonable(norm),
        "notes": _jsonable(metadata.get("notes")),
    }
    if name is not None:
        payload["name"] = name
    text = json.dumps(payload)

    # A temporary name renamed when complete: a full disk or a kill never leaves a truncated
    # model or a stray temporary file, and an existing model stays as it was.
    with atomic_path(path, "model file", ModelError) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(METADATA_ENTRY, text)
    return path


def read_latent_metadata(path: str | Path) -> dict[str, Any]:
    """The raw metadata dict of a latent model file (no Keras load).

    Raises :class:`ModelError` if the file is missing, not a ``.keras`` zip or
    not a latent model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"not a Keras model file (.keras zip): {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise ModelError(f"not a Keras model file (no config.json inside): {path}")
            if METADATA_ENTRY not in names:
                raise ModelError(f"not a latent model (no {METADATA_ENTRY} inside): {path}")
            data = json.loads(archive.read(METADATA_ENTRY).decode("utf-8"))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ModelError(f"cannot read latent metadata of {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ModelError(f"unsupported latent metadata format in {path}")
    return data


def _uses_lambda(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        text = archive.read("config.json").decode("utf-8", errors="replace")
    return '"class_name": "Lambda"' in text or '"class_name":"Lambda"' in text


def load_latent_model(path: str | Path, warm_up: bool = True) -> LatentModel:
    """Load a latent model file with ``safe_mode=True``.

    Raises :class:`ModelError` naming the file when it is missing, not a
    ``.keras`` zip, has no latent metadata, contains a Lambda layer (refused:
    arbitrary code), fails to load, or its input shape differs from its config.
    """
    import keras

    path = Path(path)
    data = read_latent_metadata(path)
    try:
        config = AutoencoderConfig.from_dict(data["config"])
        norm = None if data.get("norm_stats") is None else NormStats.from_dict(data["norm_stats"])
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"bad latent metadata in {path}: {exc}") from exc
    if _uses_lambda(path):
        raise ModelError(f"refusing to load {path}: it contains a Lambda layer (arbitrary code); "
                         "only models built from registered layers can be loaded (safe_mode)")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError, OSError,
            zipfile.BadZipFile) as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ModelError(f"refusing to load {path}: unsafe content (safe_mode): {exc}") from exc
        raise ModelError(f"cannot load Keras model {path}: {exc}") from exc
    if tuple(model.input_shape[1:]) != tuple(config.input_shape):
        raise ModelError(f"{path}: model input shape {tuple(model.input_shape[1:])} does not match "
                         f"its config {config.input_shape} (arch {config.arch}, n_bins {config.n_bins})")
    if LATENT not in [layer.name for layer in model.layers]:
        raise ModelError(f"{path}: no layer named {LATENT!r}; not a latent model")
    try:
        return LatentModel(model, config, kind=data.get("kind", "autoencoder"),
                           mean_latent=data.get("mean_latent"), norm_stats=norm,
                           notes=data.get("notes"), path=path, warm_up=warm_up)
    except ConfigError as exc:
        raise ModelError(f"{path}: {exc}") from exc


def compute_mean_latent(encoder: Any, config: AutoencoderConfig, features: np.ndarray,
                        batch_size: int = 64) -> np.ndarray:
    """Mean latent frame of ``features`` (log1p ``(frames, n_bins)`` or conv
    windows ``(N, T, n_bins)``, already normalised if the model uses
    NormStats) for the no-input mode.

    Returns conv ``(F', n_units)`` / dense ``(n_units,)`` float32.
    """
    x = np.asarray(features, np.float32)
    if x.ndim == 3 and config.is_conv and x.shape[1:] == tuple(config.input_shape):
        pass  # already windows (N, T, n_bins)
    elif x.ndim != 2 or x.shape[1] != config.n_bins:
        raise ConfigError(f"features must have shape (frames, {config.n_bins}), got {x.shape}")
    elif config.is_conv:
        t = config.frames
        usable = len(x) // t * t
        if usable == 0:
            x = np.pad(x, ((0, t - len(x)), (0, 0)))
            usable = t
        x = x[:usable].reshape(-1, t, config.n_bins)
    total = None
    count = 0
    for start in range(0, len(x), batch_size):
        z = np.asarray(encoder(x[start:start + batch_size], training=False))
        flat = z.reshape(-1, *z.shape[2:]) if config.is_conv else z
        part = flat.sum(axis=0)
        total = part if total is None else total + part
        count += len(flat)
    return (total / max(count, 1)).astype(np.float32)
