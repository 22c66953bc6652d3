"""Output paths that never hurt the user's files.

* :func:`check_writable` / :func:`check_writable_dir` - before any work starts, check that a
  file or folder can be written, by writing and removing a probe file there.
* :func:`check_not_input` - refuse an output that resolves to one of the inputs.
* :func:`check_distinct` - refuse two outputs with one name.
* :func:`atomic_path` - write to a temporary name next to the target and rename it into
  place only when the write completed; on failure the partial file is removed and the
  target (if it existed) is left as it was.

Every failure raises a :class:`~instrument.errors.LatentError` subclass (``error``,
:class:`AudioFileError` by default) whose one-line message names the path.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from instrument.errors import AudioFileError, LatentError

#: Temporary files are ``.<name>.partial-<pid><suffix>`` in the target's folder.
PARTIAL_MARK = ".partial-"


def _probe_folder(folder: Path, kind: str, shown: Path, error: type[LatentError]) -> None:
    """Write and delete one small file in ``folder``, creating missing folders for the probe and
    removing them again: permissions, read-only or pseudo file systems (``/proc``) and missing
    parents all fail here, even for root, for whom ``os.access`` says yes to everything."""
    created: list[Path] = []
    probe = folder / f".write-test-{os.getpid()}"
    try:
        missing = folder
        while not missing.exists() and missing != missing.parent:
            created.append(missing)
            missing = missing.parent
        if not missing.is_dir():
            raise error(f"{kind} {shown}: {missing} is not a folder")
        for path in reversed(created):
            path.mkdir()
        with open(probe, "wb") as handle:
            handle.write(b"0")
    except OSError as exc:
        raise error(f"{kind} {shown}: cannot write in {folder} ({exc.strerror or exc})") from exc
    finally:
        try:
            probe.unlink()
        except OSError:
            pass  # never created
        for path in created:
            try:
                path.rmdir()
            except OSError:
                pass  # not created, or not empty


def check_writable(path: str | Path, kind: str = "output file",
                   error: type[LatentError] = AudioFileError) -> Path:
    """Check that ``path`` (a file to be written) can be written; returns it as a Path.

    Checks the target is not a folder, a probe file can be written in its folder (missing
    folders are created for the probe and removed again), and an existing target is writable.
    Leaves nothing behind.

    Raises:
        error: naming ``kind`` and the path, and what is wrong.
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise error(f"{kind} {str(path)!r}: not a file name")
    if path.is_dir():
        raise error(f"{kind} {path}: is a folder, expected a file name")
    _probe_folder(path.parent if str(path.parent) else Path("."), kind, path, error)
    if path.exists() and not os.access(path, os.W_OK):
        raise error(f"{kind} {path}: file exists and is not writable")
    return path


def check_writable_dir(folder: str | Path, kind: str = "output folder",
                       error: type[LatentError] = AudioFileError) -> Path:
    """Check that files can be written into ``folder`` (existing or to be created) by writing
    one; leaves nothing behind."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise error(f"{kind} {folder}: exists and is not a folder")
    _probe_folder(folder, kind, folder, error)
    return folder


def check_not_input(output: str | Path, inputs: Iterable[str | Path], kind: str = "output file",
                    error: type[LatentError] = AudioFileError) -> None:
    """Refuse an output that is (resolves to, or is a hard link of) one of ``inputs``."""
    output = Path(output)
    target = output.resolve()
    for item in inputs:
        source = Path(item)
        same = source.resolve() == target
        if not same and source.exists() and output.exists():
            try:
                same = os.path.samefile(source, output)
            except OSError:
                same = False
        if same:
            raise error(f"{kind} {output} is the input {source}; refusing to overwrite an input, "
                        "choose another output name")


def check_distinct(pairs: Iterable[tuple[str | Path, str | Path]], kind: str = "output file",
                   error: type[LatentError] = AudioFileError) -> None:
    """Refuse two outputs with one name; ``pairs`` is ``(source, output)`` in order."""
    seen: dict[Path, Path] = {}
    for source, output in pairs:
        key = Path(os.path.normcase(Path(output).resolve()))
        if key in seen:
            raise error(f"{kind} {output} would be written from both {seen[key]} and {source}; "
                        "rename one of them")
        seen[key] = Path(source)


def partial_name(path: str | Path) -> Path:
    """The temporary name :func:`atomic_path` writes before renaming to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | Path, kind: str = "output file",
                error: type[LatentError] = AudioFileError) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block completes.

    The folder is created when missing. On any exception inside the block, or when the
    rename fails, the temporary file is removed and ``path`` is untouched; an ``OSError``
    is re-raised as ``error`` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot write {kind} {path}: cannot create folder {path.parent} "
                    f"({exc.strerror or exc})") from exc
    tmp = partial_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise error(f"cannot write {kind} {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # best effort: the original error is what the user needs to see
