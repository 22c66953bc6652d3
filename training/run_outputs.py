"""Output folders of training runs: checked before TensorFlow loads, every file written atomically.

* the folder itself is checked by the command before any work
  (:func:`instrument.io.output_paths.check_writable_dir`: a probe file is written and removed);
* :func:`write_text` - a text output (``metrics.json``, ``state.json``) through
  :func:`instrument.io.output_paths.atomic_path`: a failed write leaves no partial file and the
  previous file as it was;
* :func:`writing` - turns an ``OSError`` from a library that writes ``path`` itself (Keras,
  TensorFlow, CSV logs) into a one-line error naming the path;
* :func:`check_keras_file` - a ``.keras`` (zip) or ``.weights.h5`` checkpoint is complete.

Imports nothing heavy.
"""

from __future__ import annotations

import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from instrument.errors import LatentError, ModelError
from instrument.io.output_paths import atomic_path

#: What every truncated/corrupt checkpoint message ends with.
CORRUPT_ADVICE = "delete it or use another -o folder"


def write_text(path: Path, text: str, kind: str = "output file",
               error: type[LatentError] = LatentError) -> Path:
    """Write ``text`` to ``path`` through a temporary name, fsynced, renamed when complete."""
    with atomic_path(path, kind, error) as tmp:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return path


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def writing(path: str | Path, kind: str = "output file",
            error: type[LatentError] = ModelError) -> Iterator[None]:
    """Re-raise an ``OSError`` (or a TensorFlow file error) of the block as ``error`` naming
    the file the system names (else ``path``)."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or path
        raise error(f"cannot write {kind} {where}: {_first_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - only TensorFlow's file errors are converted
        if type(exc).__name__ in ("PermissionDeniedError", "ResourceExhaustedError",
                                  "NotFoundError", "FailedPreconditionError") \
                and type(exc).__module__.startswith("tensorflow"):
            raise error(f"cannot write {kind} {path}: {_first_line(exc)}") from exc
        raise


def check_keras_file(path: str | Path, kind: str = "checkpoint") -> Path:
    """A complete ``.keras`` zip or ``.weights.h5`` file, else ModelError "truncated/corrupt"."""
    path = Path(path)
    reason = ""
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad is not None:
                    reason = f"entry {bad} is damaged"
        elif path.name.endswith(".h5"):
            import h5py

            with h5py.File(path, "r") as handle:
                handle.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
    except (OSError, zipfile.BadZipFile, RuntimeError, KeyError, ValueError) as exc:
        reason = _first_line(exc)
    if reason:
        raise ModelError(f"{kind} {path} is truncated/corrupt ({reason}): {CORRUPT_ADVICE}")
    return path
