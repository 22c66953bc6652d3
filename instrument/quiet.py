"""Keep TensorFlow's start-up chatter off a musician's terminal (``--debug`` shows it).

TensorFlow 2.21 logs through absl before ``absl::InitializeLog()`` runs, so
``TF_CPP_MIN_LOG_LEVEL`` no longer silences its import: every process printed the
"All log messages before absl::InitializeLog()" warning, the oneDNN notice and "Could not find
cuda drivers" twice, whatever the level (``tensorflow-cpu`` drops only the CUDA line). What
works, measured on TF 2.21 / Keras 3.15:

* ``TF_CPP_MIN_LOG_LEVEL=3`` hides what TensorFlow logs after its import (the ``cuInit`` error
  at the first operation);
* ``GRPC_VERBOSITY=ERROR`` hides gRPC's notices (distributed training);
* the C++ lines printed while ``tensorflow`` imports go to file descriptor 2 directly, so
  :func:`quiet_tensorflow` installs an import hook that points fd 2 at ``/dev/null`` while (and
  only while) the ``tensorflow`` package itself executes, wherever it is first imported (Keras
  imports it too). A Python exception raised by the import still propagates and is reported;
* after the import, the ``absl`` and ``tensorflow`` Python loggers drop to ERROR and Python
  warnings issued from ``tensorflow``/``keras``/``absl`` modules are ignored.

Nothing here imports TensorFlow; it costs nothing for commands that never use it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

#: Environment read by TensorFlow's and gRPC's C++ code when they load.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}

#: Modules whose Python warnings are start-up/deprecation notices, not the user's business.
_NOISY_MODULES = r"(tensorflow|keras|absl|tf_keras|google\.protobuf)(\..*)?$"


@contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 (and ``sys.stderr``) at ``/dev/null`` inside the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded, closed): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)


def _after_import() -> None:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


class _NoSklearn(importlib.abc.MetaPathFinder):
    """Makes ``sklearn`` unimportable (ImportError) while it sits on ``sys.meta_path``."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "sklearn" or fullname.startswith("sklearn."):
            raise ImportError(f"{fullname} is not imported while TensorFlow starts")
        return None


@contextmanager
def _without_sklearn() -> Iterator[None]:
    """While TensorFlow (and the Keras it loads) imports, hide scikit-learn: Keras's scikit-learn
    wrappers, which this program never uses, import it at start-up (0.9 s of the 5 s before
    ``latent perform`` plays) and do without it. Later imports of scikit-learn (librosa) work as
    usual; only those wrappers stay without it."""
    if "sklearn" in sys.modules:
        yield
        return
    blocker = _NoSklearn()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` with fd 2 silenced, then steps aside."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        with stderr_silenced(), _without_sklearn():
            self._loader.exec_module(module)
        _after_import()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


#: Top-level packages whose import runs silenced and without scikit-learn (Keras imports TensorFlow,
#: or TensorFlow Keras, whichever comes first).
_WRAPPED = ("tensorflow", "keras")


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders and wraps its loader in :class:`_QuietLoader`."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _WRAPPED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


_quiet = False


@contextmanager
def library_noise_hidden() -> Iterator[None]:
    """Hide what C libraries print on stderr inside the block (libjack's and ALSA's lines when a
    MIDI API cannot start), unless the run shows them (``--debug``: :func:`quiet_tensorflow` not
    enabled). Our own errors still reach the user as one line: they are raised, not printed."""
    if not _quiet:
        yield
        return
    with stderr_silenced():
        yield


def quiet_tensorflow(enabled: bool = True) -> None:
    """Silence TensorFlow, absl, oneDNN, CUDA and gRPC start-up lines for this process.

    Call before anything imports TensorFlow (the ``latent`` dispatcher does, unless ``--debug``).
    Idempotent; with ``enabled=False`` it does nothing. Child processes inherit the environment.
    """
    global _quiet
    if not enabled:
        return
    _quiet = True
    os.environ.update(QUIET_ENV)
    warnings.filterwarnings("ignore", module=_NOISY_MODULES)
    if "tensorflow" in sys.modules:
        _after_import()
        return
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
