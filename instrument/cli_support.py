"""Shared pieces of every ``latent`` command line (sub-commands, training and benchmarks).

* :class:`HelpFormatter` / :class:`LatentArgumentParser`: every ``--help`` shows each option's
  default (unless its help already says it) and keeps paragraphs readable;
* :func:`add_hidden_alias`: an old option spelling that still works but is not listed;
* argument types that bound sizes and MIDI channels (1-16, as printed on every controller);
* checks of input files, output paths and MIDI ports that run before TensorFlow is imported,
  so a typo costs a fraction of a second, not a model load;
* :func:`announce_conversion`: one line when an input's rate or channels are changed.

Imports nothing heavy: ``latent --help`` must stay fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from instrument.errors import AudioFileError, ConfigError, LatentError
from instrument.io.output_paths import check_not_input, check_writable, check_writable_dir
from instrument.models.names import stored_metadata
from instrument.quiet import library_noise_hidden

#: MIDI channels as users count them.
MIDI_CHANNELS = range(1, 17)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to options that have a default and do not mention one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if text is argparse.SUPPRESS or "default" in text.lower() or "%(default)" in text:
            return text
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS \
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


class RawDescriptionHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """:class:`HelpFormatter` keeping the description's line breaks (tables in docstrings)."""


class LatentArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose sub-parsers (any depth) show their defaults in ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        formatter = kwargs.get("formatter_class")
        if formatter is argparse.RawDescriptionHelpFormatter:
            kwargs["formatter_class"] = RawDescriptionHelpFormatter
        elif formatter in (None, argparse.HelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
            kwargs["formatter_class"] = HelpFormatter
        super().__init__(*args, **kwargs)


def add_hidden_alias(parser: Any, *flags: str, dest: str, **kwargs: Any) -> None:
    """Accept ``flags`` as another spelling of ``dest`` without listing them in ``--help``."""
    parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def _bounded(cast: Callable[[str], Any], kind: str, low: Any, high: Any) -> Callable[[str], Any]:
    """An argparse type: ``cast(text)`` within ``low..high`` (``kind`` names it in errors and help)."""
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not {'an' if kind == 'integer' else 'a'} {kind}: {text!r}") from exc
        if not low <= value <= high:
            if cast is int:
                raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {value}")
            raise argparse.ArgumentTypeError(f"must be in {low:g}..{high:g}, got {text}")
        return value
    parse.__name__ = kind
    return parse


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``low..high``."""
    return _bounded(int, "integer", low, high)


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in ``low..high``."""
    return _bounded(float, "number", low, high)


def midi_channel(text: str) -> int:
    """An argparse type: a MIDI channel as users count them, 1..16."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a MIDI channel: {text!r} (1..16)") from exc
    if value not in MIDI_CHANNELS:
        raise argparse.ArgumentTypeError(f"MIDI channels are 1..16, got {value}")
    return value


def one_input(args: argparse.Namespace, positional: str, option: str, flag: str = "--input") -> str | None:
    """The input given positionally or with ``flag`` (both: they must agree)."""
    first, second = getattr(args, positional, None), getattr(args, option, None)
    if first is not None and second is not None and str(first) != str(second):
        raise ConfigError(f"two inputs given: {first} and {flag} {second}; give one")
    return first if first is not None else second


def check_input_file(path: str | Path, what: str = "input file",
                     error: type[LatentError] = AudioFileError) -> Path:
    """An existing, non-empty, readable file, or ``error`` naming it."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {path}: no such file")
    if path.is_dir():
        raise error(f"{what} {path}: is a folder, expected a file")
    if path.stat().st_size == 0:
        raise error(f"{what} {path}: file is empty (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise error(f"{what} {path}: cannot read ({exc.strerror or exc})") from exc
    return path


def check_input_folder(path: str | Path, what: str = "input folder",
                       error: type[LatentError] = AudioFileError) -> Path:
    """An existing folder, or ``error`` naming it."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {path}: no such folder")
    if not path.is_dir():
        raise error(f"{what} {path}: is a file, expected a folder")
    return path


def check_outputs(files: Iterable[tuple[str | Path | None, str]] = (),
                  folders: Iterable[tuple[str | Path | None, str]] = (),
                  inputs: Sequence[str | Path] = ()) -> None:
    """Check every ``(path, kind)`` output file / folder can be written and is not an input."""
    for path, kind in files:
        if path is not None:
            check_writable(path, kind)
            check_not_input(path, inputs, kind)
    for path, kind in folders:
        if path is not None:
            check_writable_dir(path, kind)


def resolve_midi_output(port: str, api: str | None, flag: str = "--midi-out") -> str:
    """The full name of the MIDI output ``port`` names, matched as everywhere (the exact name, else
    the one port containing it, case-insensitive: :func:`controllers.ports.find_port`); checked
    before anything loads. DeviceError (one line naming the flag) when the API cannot start or
    none or several ports match; the C libraries' own lines are hidden unless ``--debug``."""
    from controllers.ports import resolve_ports

    with library_noise_hidden():
        return resolve_ports(api, outputs=[(flag, port)])[flag]


def audio_format(path: str | Path) -> tuple[int, int] | None:
    """(sample rate, channels) of an audio file from its header, or None when unknown."""
    try:
        import soundfile as sf

        info = sf.info(str(path))
        return int(info.samplerate), int(info.channels)
    except Exception:  # noqa: BLE001 - any format libsndfile cannot read: the loader reports it
        return None


def conversion_note(path: str | Path, sample_rate: int) -> str | None:
    """One line saying how ``path`` is converted to ``sample_rate`` mono, or None if it is not."""
    fmt = audio_format(path)
    if fmt is None:
        return None
    rate, channels = fmt
    changes = []
    if rate != sample_rate:
        changes.append(f"{rate / 1000:g} kHz -> {sample_rate / 1000:g} kHz")
    if channels != 1:
        changes.append(f"{channels} channels -> mono")
    if not changes:
        return None
    return f"note: {Path(path).name}: {', '.join(changes)} (the model's format)"


def announce_conversion(path: str | Path, sample_rate: int) -> None:
    """Print :func:`conversion_note` to stderr when the input is converted."""
    note = conversion_note(path, sample_rate)
    if note:
        print(note, file=sys.stderr)


def announce_conversions(paths: Sequence[str | Path], sample_rate: int, what: str = "") -> None:
    """One stderr line for all ``paths`` whose rate or channel count the model's format changes."""
    if len(paths) == 1:
        note = conversion_note(paths[0], sample_rate)
        if note:
            print(note + (f"; {what}" if what else ""), file=sys.stderr)
        return
    formats = [audio_format(p) for p in paths]
    changed = [f for f in formats if f is not None and (f[0] != sample_rate or f[1] != 1)]
    if changed:
        rates = sorted({f"{f[0] / 1000:g} kHz" for f in changed})
        print(f"note: {len(changed)} of {len(paths)} inputs ({', '.join(rates)}) are converted to "
              f"{sample_rate / 1000:g} kHz mono (the model's format)" + (f"; {what}" if what else ""),
              file=sys.stderr)


def model_sample_rate(path: str | Path, default: int = 22050) -> int:
    """The sample rate stored in a latent model file's metadata (no Keras), else ``default``."""
    meta = stored_metadata(path) or {}
    spectral = meta.get("spectral") or (meta.get("config") or {}).get("spectral") or {}
    rate = (spectral.get("audio") or {}).get("sample_rate")
    return int(rate) if isinstance(rate, int) else default
