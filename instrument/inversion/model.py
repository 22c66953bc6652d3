"""Inversion models on disk and at inference: sound -> synth patch.

File format: a Keras ``.keras`` zip with one extra entry, ``latent_inversion.json``::

    {"format": "latent-inversion", "version": 1, "synth": "inversynth",
     "spec": {...synth spec mapping...}, "config": {...InversionModelConfig...},
     "training": {...how it was trained...}}

Loading always uses ``safe_mode=True`` and raises :class:`ModelError` naming the file on any
problem (missing, not a zip, not an inversion model, config/shape mismatch).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from instrument.dsp.gain import normalise_peak  # noqa: F401 - re-exported: the inversion input convention

from instrument.errors import ConfigError, ModelError, SynthError
from instrument.synths.spec import SynthSpec
from presets import PRESETS_DIR

if TYPE_CHECKING:
    from instrument.synths.base import Synth

META_ENTRY = "latent_inversion.json"
FORMAT = "latent-inversion"
FORMAT_VERSION = 1
#: Shipped default model per synth name.
DEFAULT_MODELS = {"inversynth": PRESETS_DIR / "models" / "inversynth-sweeptcn.keras",
                  "fluidsynth": PRESETS_DIR / "models" / "fluidsynth-conv6xl.keras",
                  "dx7": PRESETS_DIR / "models" / "dx7-freqtcn.keras"}


@dataclass
class InversionModel:
    """A loaded inversion network with its synth spec and config.

    Attributes:
        model: keras.Model, input ``(batch, *config.input_shape)``.
        config: :class:`instrument.inversion.networks.config.InversionModelConfig`.
        spec: the :class:`instrument.synths.spec.SynthSpec` it was trained on.
        meta: the whole metadata mapping (includes ``training``).
        path: file it was loaded from (None if built in memory).
    """

    model: Any
    config: Any
    spec: SynthSpec
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def synth_name(self) -> str:
        return str(self.meta.get("synth", self.spec.name))

    def scores(self, inputs: np.ndarray) -> np.ndarray:
        """Class scores ``(batch, n_params, n_classes)`` for a batch of model inputs.

        Args:
            inputs: float32 ``(batch, *config.input_shape)`` log spectrograms.
        """
        from instrument.inversion.networks.heads import class_scores

        x = np.asarray(inputs, dtype=np.float32)
        out = np.asarray(self.model(x, training=False))
        scores = class_scores(self.config.head, out, self.config.n_classes)
        return mask_invalid_classes(scores, self.spec.levels)

    def classes(self, inputs: np.ndarray) -> np.ndarray:
        """Most likely class per parameter, int64 ``(batch, n_params)``."""
        return self.scores(inputs).argmax(axis=-1)

    def values(self, inputs: np.ndarray) -> np.ndarray:
        """Predicted parameter values ``(batch, n_params)`` float64 (class grid values)."""
        return self.spec.from_classes(self.classes(inputs))

    def inputs_from_audio(self, synth: Synth, audio: np.ndarray) -> np.ndarray:
        """Model inputs ``(batch, *config.input_shape)`` for synth-rate audio ``(batch, n_samples)``."""
        feats = synth.features(np.atleast_2d(np.asarray(audio, np.float32)))
        return np.swapaxes(feats, 1, 2) if self.config.bins_first else feats


def mask_invalid_classes(scores: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """Set scores of classes a parameter does not have (``>= levels[p]``) to ``-inf``."""
    scores = np.array(scores, dtype=np.float32)
    for p, n in enumerate(levels):
        if n < scores.shape[-1]:
            scores[:, p, n:] = -np.inf
    return scores


def save_inversion_model(model: Any, path: str | Path, config: Any, synth_name: str,
                         spec_dict: Mapping[str, Any], training: Mapping[str, Any] | None = None
                         ) -> Path:
    """Save ``model`` as ``.keras`` with the metadata entry, atomically (temp file + rename).

    Returns:
        the written path.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: inversion models are saved as .keras files")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "synth": synth_name,
            "spec": dict(spec_dict), "config": config.to_dict(), "training": dict(training or {})}
    fd, tmp_name = tempfile.mkstemp(suffix=".keras", dir=path.parent, prefix=f".{path.stem}-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(META_ENTRY, json.dumps(meta, indent=1, sort_keys=True))
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; model files are ordinary data
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_inversion_meta(path: str | Path) -> dict[str, Any]:
    """The metadata entry of an inversion model file (ModelError if absent or malformed)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as zf:
            if META_ENTRY not in zf.namelist():
                raise ModelError(f"{path}: not a latent inversion model (no {META_ENTRY} inside)")
            meta = json.loads(zf.read(META_ENTRY).decode("utf-8"))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path}: not a .keras model file ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: inversion metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: metadata is not in the {FORMAT!r} format")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{path}: inversion model format version {meta.get('version')} is newer "
                         f"than this release understands ({FORMAT_VERSION})")
    for key in ("synth", "spec", "config"):
        if key not in meta:
            raise ModelError(f"{path}: inversion metadata lacks {key!r}")
    return meta


def load_inversion_model(path: str | Path) -> InversionModel:
    """Load an inversion model with ``safe_mode=True``.

    Raises:
        ModelError: missing file, not a zip/.keras, no inversion metadata, unloadable, or the
            network's shapes disagree with its config/spec.
    """
    import keras

    # registers the custom layers before deserialising
    import instrument.models.layers  # noqa: F401  (registers every custom layer)
    from instrument.inversion.networks.config import InversionModelConfig

    path = Path(path)
    meta = read_inversion_meta(path)
    try:
        config = InversionModelConfig.from_dict(meta["config"])
        spec = SynthSpec.from_dict(meta["spec"], where=f"spec inside {path}")
    except (ConfigError, SynthError, TypeError) as exc:
        raise ModelError(f"{path}: bad inversion metadata: {exc}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # keras raises many types (ValueError, TypeError, OSError, ...)
        raise ModelError(f"{path}: cannot load the Keras model: {exc}") from exc
    if tuple(model.input_shape[1:]) != tuple(config.input_shape):
        raise ModelError(f"{path}: model input {model.input_shape[1:]} does not match its config "
                         f"{config.input_shape}")
    if config.n_params != spec.n_params or max(spec.levels) > config.n_classes:
        raise ModelError(f"{path}: model predicts {config.n_params} x {config.n_classes} but the "
                         f"synth spec has {spec.n_params} parameters with up to {max(spec.levels)} levels")
    return InversionModel(model=model, config=config, spec=spec, meta=meta, path=path)


def default_model_path(synth_name: str) -> Path:
    """The shipped model of ``synth_name`` (ModelError if none is shipped)."""
    path = DEFAULT_MODELS.get(synth_name)
    if path is None or not path.is_file():
        raise ModelError(f"no shipped inversion model for synth {synth_name!r}; "
                         f"train one with `latent train inversion --synth {synth_name}` and pass --model")
    return path


def fit_to_length(audio: np.ndarray, n_samples: int) -> tuple[np.ndarray, list[str]]:
    """Pad (zeros) or trim mono audio to ``n_samples``; warn about silence, clipping and length.

    Returns:
        (float32 ``(n_samples,)``, list of human-readable warnings).
    """
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    notes: list[str] = []
    if y.size and not np.all(np.isfinite(y)):
        notes.append("input contains NaN/Inf samples; they were replaced by 0")
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    length = y.size
    if length < 0.5 * n_samples:
        notes.append(f"input is {length} samples, far shorter than the synth's {n_samples}; "
                     "zero-padded")
    elif length > 1.5 * n_samples:
        notes.append(f"input is {length} samples, far longer than the synth's {n_samples}; "
                     "only the start is used")
    if length >= n_samples:
        y = y[:n_samples]
    else:
        y = np.pad(y, (0, n_samples - length))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak < 1e-4:
        notes.append("input is (nearly) silent; the predicted patch is a guess")
    elif np.mean(np.abs(y) >= 0.999) > 0.001:
        notes.append("input looks clipped (many samples at full scale); results may suffer")
    return y.astype(np.float32), notes


