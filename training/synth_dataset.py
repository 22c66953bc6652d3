"""(spectrogram, patch) datasets for synth parameter inversion.

On disk (``latent dataset synth``): a folder with ``meta.json``, the synth spec
(``spec.yaml``) and shards ``shard_00000.npz`` ... each holding

* ``features``: ``(n, n_frames, n_bins)`` float16 log1p STFT magnitudes,
* ``classes``: ``(n, n_params)`` int16 class indices,
* ``values``: ``(n, n_params)`` float32 parameter values.

Shard ``i`` is generated from ``numpy.random.default_rng([seed, i])`` alone, so shards
are reproducible, can be made in any order by a process pool, and a rerun skips the
complete ones (writes are atomic: temporary file, then rename).

On the fly: :func:`synth_tf_dataset` renders fresh batches forever from a seeded rng,
so training is not bounded by disk.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml

from instrument.errors import DatasetError, SynthError
from instrument.io.output_paths import atomic_path, check_writable_dir
from instrument.synths.registry import get_synth
from instrument.synths.allocator import keep_freed_memory
from instrument.synths.base import Synth
from instrument.synths.patch import load_patch_values
from instrument.synths.prior import GaussianPrior
from instrument.synths.spec import SynthSpec
from training.float16 import to_float16

TARGETS = ("one_hot", "classes", "normalized")
RENDER_CHUNK = 64
FORMAT_VERSION = 1
#: Bounds of the sizes the command line sets: clips per shard (one shard is held in memory)
#: and clips in a dataset.
MAX_SHARD_SIZE = 10_000
MAX_COUNT = 10_000_000
#: Temporary shard files: ``shard_00000.npz.<random>.tmp.npz`` (see :func:`_write_npz_atomic`).
TEMP_GLOB = "shard_*.npz.*.tmp.npz"


# -- targets ----------------------------------------------------------------
def make_targets(spec: SynthSpec, values: np.ndarray, targets: str = "one_hot") -> np.ndarray:
    """Training targets for values ``(batch, n_params)``.

    ``one_hot``: concatenated per-parameter one-hot ``(batch, sum(levels))`` float32 (Barkan's
    multi-label sigmoid head, 23 x 16 = 368 for inversynth); ``classes``: ``(batch, n_params)``
    int32; ``normalized``: ``(batch, n_params)`` float32 positions in [0, 1].
    """
    if targets not in TARGETS:
        raise SynthError(f"unknown targets {targets!r}; choose one of {', '.join(TARGETS)}")
    if targets == "normalized":
        return spec.normalize(values).astype(np.float32)
    classes = spec.to_classes(values)
    if targets == "classes":
        return classes.astype(np.int32)
    return spec.one_hot(classes)


def target_width(spec: SynthSpec, targets: str) -> int:
    if targets not in TARGETS:
        raise SynthError(f"unknown targets {targets!r}; choose one of {', '.join(TARGETS)}")
    return sum(spec.levels) if targets == "one_hot" else spec.n_params


def render_features(synth: Synth, values: np.ndarray, chunk: int | None = None,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Render values ``(n, n_params)`` in chunks (default ``synth.render_batch``) -> features
    ``(n, frames, bins)``: float32, or written into ``out`` (any float dtype, such as the
    shards' float16) one chunk at a time, so no float32 copy of the whole set is made."""
    spec = synth.spec
    chunk = chunk or max(RENDER_CHUNK, synth.render_batch)
    if out is None:
        out = np.empty((len(values), spec.n_frames, spec.n_bins), dtype=np.float32)
    elif out.shape != (len(values), spec.n_frames, spec.n_bins):
        raise DatasetError(f"feature buffer of shape {out.shape} for {len(values)} clips of "
                           f"{spec.n_frames}x{spec.n_bins}")
    keep_freed_memory()  # the same multi-megabyte blocks every chunk: no page faults
    exact_half = out.dtype == np.float16 and out.flags.c_contiguous
    for i in range(0, len(values), chunk):
        features = synth.render_features(values[i:i + chunk])
        if exact_half and features.dtype == np.float32 and features.flags.c_contiguous:
            to_float16(features, out[i:i + chunk])  # numpy's cast, bit for bit, faster
        else:
            out[i:i + chunk] = features
    return out


# -- on-disk shards -----------------------------------------------------------
@dataclass(frozen=True)
class DatasetMeta:
    """``meta.json`` of a dataset folder."""

    synth: str
    count: int
    seed: int
    shard_size: int
    prior: dict[str, Any] | None
    n_frames: int
    n_bins: int
    n_params: int
    version: int = FORMAT_VERSION

    @property
    def n_shards(self) -> int:
        return -(-self.count // self.shard_size)

    def shard_count(self, index: int) -> int:
        return min(self.shard_size, self.count - index * self.shard_size)

    def to_dict(self) -> dict[str, Any]:
        return {"synth": self.synth, "count": self.count, "seed": self.seed,
                "shard_size": self.shard_size, "prior": self.prior, "n_frames": self.n_frames,
                "n_bins": self.n_bins, "n_params": self.n_params, "version": self.version}

    @classmethod
    def load(cls, directory: Path) -> "DatasetMeta":
        path = directory / "meta.json"
        if not path.is_file():
            raise DatasetError(f"{directory} is not a synth dataset (no meta.json)")
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise DatasetError(f"{path} is not a valid synth dataset meta file: {exc}") from exc


def shard_path(directory: Path, index: int) -> Path:
    return directory / f"shard_{index:05d}.npz"


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The shapes of the arrays in an ``.npz`` file, from their headers alone (no data read).

    Raises:
        OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile: not a complete ``.npz``.
    """
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, _ = read_header(member)
            shapes[info.filename.removesuffix(".npy")] = tuple(shape)
    return shapes


def _shard_complete(path: Path, count: int, meta: DatasetMeta) -> bool:
    if not path.is_file():
        return False
    try:
        shapes = npz_shapes(path)  # shards are renamed into place complete: headers suffice
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False
    return (shapes.get("features") == (count, meta.n_frames, meta.n_bins)
            and shapes.get("classes") == (count, meta.n_params)
            and shapes.get("values") == (count, meta.n_params))


def _write_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise DatasetError(f"cannot write dataset shard {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete shard temporaries a killed earlier run left behind; returns what was removed.

    Called once the folder is known to hold this dataset and before any worker starts, so
    no temporary of this run exists yet.
    """
    removed = []
    for stale in sorted(directory.glob(TEMP_GLOB)):
        try:
            stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DatasetError(f"cannot remove the stale temporary file {stale}: "
                               f"{exc.strerror or exc}") from exc
    return removed


#: The synth of each (name, spec file) a worker process has rendered with: made once per process,
#: not once per shard (a spec is parsed and a renderer set up in tens of milliseconds).
_WORKER_SYNTHS: dict[tuple[str, str], Synth] = {}


def _worker_synth(name: str, spec_file: str) -> Synth:
    key = (name, spec_file)
    if key not in _WORKER_SYNTHS:
        _WORKER_SYNTHS[key] = get_synth(name, spec=spec_file)
    return _WORKER_SYNTHS[key]


def _close_worker_synths() -> None:
    while _WORKER_SYNTHS:
        _WORKER_SYNTHS.popitem()[1].close()


def render_shard(synth: Synth, seed: int, index: int, count: int,
                 prior: GaussianPrior | None = None) -> dict[str, np.ndarray]:
    """Shard ``index`` of a dataset as written: ``features`` ``(count, frames, bins)`` float16,
    ``classes`` ``(count, n_params)`` int16, ``values`` ``(count, n_params)`` float32, all drawn
    from ``default_rng([seed, index])``."""
    spec = synth.spec
    values = synth.random_patches(np.random.default_rng([seed, index]), count, prior)
    features = np.empty((count, spec.n_frames, spec.n_bins), dtype=np.float16)
    render_features(synth, values, out=features)
    return {"features": features, "classes": spec.to_classes(values).astype(np.int16),
            "values": values.astype(np.float32)}


def _make_shard(task: tuple[str, str, dict[str, Any] | None, int, int, int, str]) -> int:
    """Worker: render shard ``index`` (``count`` clips) into ``path``; returns ``count``."""
    name, spec_file, prior_dict, seed, index, count, path = task
    prior = None
    if prior_dict is not None:
        prior = GaussianPrior(mean=np.asarray(prior_dict["mean"]), cov=np.asarray(prior_dict["cov"]))
    _write_npz_atomic(Path(path), **render_shard(_worker_synth(name, spec_file), seed, index, count,
                                                 prior))
    return count


def generate_dataset(synth_name: str, count: int, seed: int, out_dir: str | Path,
                     prior: str | Path | None = None, shard_size: int = 1000,
                     workers: int | None = None, spec: SynthSpec | str | Path | None = None,
                     progress: bool = True) -> DatasetMeta:
    """Write (or finish) a sharded dataset; returns its meta.

    Args:
        synth_name: registry name (``inversynth``, ``fluidsynth``).
        count: clips in total; seed: base seed (shard ``i`` uses ``[seed, i]``).
        prior: folder of patch ``*.json`` or a ``.jsonl`` file: sample a multivariate normal
            fitted to them (Vecoven 4.7) instead of uniform classes (Barkan).
        shard_size: clips per shard; workers: processes (default: all cores).
        spec: override the shipped spec (object or YAML path).
    Raises:
        DatasetError: the folder holds a different dataset (resume needs the same settings).
    """
    from tqdm import tqdm

    if count < 1 or shard_size < 1:
        raise DatasetError(f"count and shard_size must be positive, got {count}, {shard_size}")
    if count > MAX_COUNT:
        raise DatasetError(f"count {count} is above the limit of {MAX_COUNT} clips")
    if shard_size > MAX_SHARD_SIZE:
        raise DatasetError(f"shard_size {shard_size} is above the limit of {MAX_SHARD_SIZE} clips")
    out = check_writable_dir(out_dir, "dataset folder", error=DatasetError)
    synth = get_synth(synth_name, spec=spec)
    s = synth.spec
    prior_dict = None
    if prior is not None:  # a bad prior fails before the folder is made
        fitted = GaussianPrior.fit(s, load_patch_values(s, prior))
        prior_dict = {"source": str(prior), "mean": fitted.mean.tolist(), "cov": fitted.cov.tolist()}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create dataset folder {out}: {exc.strerror or exc}") from exc
    meta = DatasetMeta(synth=s.name, count=count, seed=seed, shard_size=shard_size,
                       prior=prior_dict, n_frames=s.n_frames, n_bins=s.n_bins, n_params=s.n_params)
    meta_path = out / "meta.json"
    if meta_path.is_file():
        old = DatasetMeta.load(out)
        if old.to_dict() != json.loads(json.dumps(meta.to_dict())):
            raise DatasetError(f"{out} already holds a different dataset ({old.synth}, count "
                               f"{old.count}, seed {old.seed}, shard size {old.shard_size}); "
                               "use a new folder or the same settings to resume")
    else:
        with atomic_path(meta_path, "dataset meta file", error=DatasetError) as tmp:
            tmp.write_text(json.dumps(meta.to_dict(), indent=1) + "\n")
    spec_file = out / "spec.yaml"
    if not spec_file.is_file():
        with atomic_path(spec_file, "dataset spec file", error=DatasetError) as tmp:
            tmp.write_text(yaml.safe_dump(spec_to_dict(s), sort_keys=False))
    synth.close()
    remove_stale_temporaries(out)
    todo = [i for i in range(meta.n_shards)
            if not _shard_complete(shard_path(out, i), meta.shard_count(i), meta)]
    tasks = [(s.name, str(spec_file), prior_dict, seed, i, meta.shard_count(i),
              str(shard_path(out, i))) for i in todo]
    done = count - sum(meta.shard_count(i) for i in todo)
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    with tqdm(total=count, initial=done, unit="clip", desc=f"{s.name} dataset",
              disable=not progress) as bar:
        if workers == 1:
            try:
                for task in tasks:
                    bar.update(_make_shard(task))
            finally:
                _close_worker_synths()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for n in pool.map(_make_shard, tasks):
                    bar.update(n)
    return meta


def spec_to_dict(spec: SynthSpec) -> dict[str, Any]:
    """A YAML-ready dict that :meth:`SynthSpec.from_dict` reads back to an equal spec."""
    params = []
    for p in spec.parameters:
        d: dict[str, Any] = {"name": p.name, "group": p.group}
        if p.scale == "list":
            d["scale"] = list(p.values)
        else:
            d.update({"min": p.min, "max": p.max, "scale": p.scale, "levels": p.levels})
        m = p.midi
        if m is not None:
            if m.kind == "program":
                d["program"] = True
            elif m.kind == "cc":
                d["cc"] = {"number": m.number, "range": [m.lo, m.hi]}
            else:
                n: dict[str, Any] = {"msb": m.msb, "lsb": m.lsb}
                if m.center is not None:
                    n.update({"center": m.center, "units_per_step": m.units_per_step})
                else:
                    n["range"] = [m.lo, m.hi]
                d["nrpn"] = n
        params.append(d)
    return {"name": spec.name, "sample_rate": spec.sample_rate, "seconds": spec.seconds,
            "stft": {"n_fft": spec.n_fft, "hop_length": spec.hop_length},
            "options": dict(spec.options), "parameters": params}


def dataset_spec(directory: str | Path) -> SynthSpec:
    """The synth spec a dataset folder was generated with."""
    return SynthSpec.load(Path(directory) / "spec.yaml")


def iter_shards(directory: str | Path) -> Iterator[dict[str, np.ndarray]]:
    """Complete shards in order: dicts with ``features``, ``classes``, ``values``."""
    d = Path(directory)
    meta = DatasetMeta.load(d)
    for i in range(meta.n_shards):
        path = shard_path(d, i)
        if not _shard_complete(path, meta.shard_count(i), meta):
            raise DatasetError(f"shard {path} is missing or incomplete; rerun "
                               "`latent dataset synth` with the same settings to finish it")
        with np.load(path) as data:
            yield {k: data[k] for k in ("features", "classes", "values")}


def load_dataset(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole dataset in memory: features ``(n, frames, bins)`` float16, classes ``(n, n_params)``
    int16, values ``(n, n_params)`` float32. Each shard is copied into arrays allocated once, so
    the peak memory is the dataset plus one shard (33 KB a clip at 64 x 257)."""
    meta = DatasetMeta.load(Path(directory))
    features = np.empty((meta.count, meta.n_frames, meta.n_bins), dtype=np.float16)
    classes = np.empty((meta.count, meta.n_params), dtype=np.int16)
    values = np.empty((meta.count, meta.n_params), dtype=np.float32)
    start = 0
    for shard in iter_shards(directory):
        stop = start + len(shard["features"])
        features[start:stop], classes[start:stop], values[start:stop] = (
            shard["features"], shard["classes"], shard["values"])
        start = stop
    return features, classes, values


# -- tf.data ------------------------------------------------------------------
def synth_tf_dataset(synth: Synth, batch_size: int, seed: int, shard_index: int = 0,
                     num_shards: int = 1, targets: str = "one_hot",
                     prior: GaussianPrior | None = None) -> Any:
    """An endless ``tf.data.Dataset`` of freshly rendered batches.

    Yields ``(features, targets)``: features ``(batch, n_frames, n_bins)`` float32 log1p
    magnitudes; targets per :func:`make_targets`. Worker ``shard_index`` of ``num_shards``
    draws from ``default_rng([seed, shard_index, num_shards])``, so distributed workers see
    different, reproducible streams.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise SynthError(f"batch_size must be positive, got {batch_size}")
    if not 0 <= shard_index < num_shards:
        raise SynthError(f"shard_index {shard_index} must be in 0..{num_shards - 1}")
    spec = synth.spec
    width = target_width(spec, targets)

    def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([seed, shard_index, num_shards])
        while True:
            values = synth.random_patches(rng, batch_size, prior)
            yield synth.render_features(values), make_targets(spec, values, targets)

    target_dtype = tf.int32 if targets == "classes" else tf.float32
    return tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((batch_size, spec.n_frames, spec.n_bins), tf.float32),
        tf.TensorSpec((batch_size, width), target_dtype)))


def disk_tf_dataset(directory: str | Path, batch_size: int, targets: str = "one_hot",
                    shuffle_seed: int | None = 0, repeat: bool = False) -> Any:
    """A ``tf.data.Dataset`` over a dataset folder (loaded into memory), same element layout
    as :func:`synth_tf_dataset` (features cast to float32)."""
    import tensorflow as tf

    spec = dataset_spec(directory)
    features, classes, values = load_dataset(directory)
    if targets == "normalized":
        y = make_targets(spec, values.astype(np.float64), targets)
    elif targets == "classes":
        y = classes.astype(np.int32)
    else:
        y = spec.one_hot(classes)
    ds = tf.data.Dataset.from_tensor_slices((features, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(features), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).map(lambda f, t: (tf.cast(f, tf.float32), t),
                                    num_parallel_calls=tf.data.AUTOTUNE)
