"""`latent invert A.wav B.wav DIR/ -o OUTDIR/`: many sounds, one model load, one summary.

* :func:`plan_batch` - before TensorFlow loads: every input file (a folder gives every audio file
  under it), its patch JSON ``OUTDIR/<relative name>.json`` and optional render
  ``RENDER_DIR/<relative name>.wav`` (relative to the folder given, or just the file name for a
  file given), refusing two outputs with one name (naming both inputs), an output that is an
  input, and an output that cannot be written;
* :func:`run_batch` - invert each file with :func:`~instrument.inversion.pipeline.invert_audio`
  under a tqdm bar; a file that cannot be read (unreadable, empty, NaN) is one line naming it and
  a ``failed`` row, the others still run;
* :func:`summary_table` / :func:`write_summary_csv` - file, pitch, pcc_stft, mss, warnings,
  status; the CSV is written atomically;
* for a synth that takes voices (``dx7``, ``voices=True``): each patch also as a single-voice
  ``.syx`` beside its JSON, and :func:`write_cartridges` - the inverted voices, in input order, as
  32-voice banks ``OUTDIR/cartridge.syx`` (more than 32 inputs: ``cartridge-1.syx``,
  ``cartridge-2.syx``, ...), voice names from the input file names. Every name is checked by
  :func:`plan_batch` with the others; every file is written to a temporary name, then renamed.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from instrument.config import AudioConfig
from instrument.dsp.limiter import peak_ceiling
from instrument.errors import AudioFileError, ConfigError, LatentError
from instrument.inversion.pipeline import invert_audio
from instrument.io.output_paths import (atomic_path, check_distinct, check_not_input, check_writable,
                                        check_writable_dir)
from instrument.synths.voice_files import cartridge_count, cartridge_paths, write_cartridges as write_banks

if TYPE_CHECKING:
    from instrument.inversion.model import InversionModel
    from instrument.synths.base import Synth
    from instrument.synths.spec import SynthSpec

#: The summary written next to the patches.
SUMMARY_NAME = "summary.csv"
SUMMARY_COLUMNS = ("file", "pitch_hz", "pcc_stft", "mss", "warnings", "status")


@dataclass
class BatchItem:
    """One input: where it comes from, where its outputs go, and (after the run) how it went."""

    source: Path
    patch: Path
    render: Path | None = None
    voice: Path | None = None
    values: np.ndarray | None = None
    pitch_hz: float | None = None
    pcc_stft: float | None = None
    mss: float | None = None
    warnings: list[str] = field(default_factory=list)
    status: str = "not run"


def is_batch(sounds: Sequence[str]) -> bool:
    """More than one input, or a folder: ``-o`` names a folder."""
    return len(sounds) > 1 or any(Path(s).is_dir() for s in sounds)


def plan_batch(sounds: Sequence[str], out_dir: str | Path, render_dir: str | Path | None = None,
               voices: bool = False) -> list[BatchItem]:
    """The inputs and their output names, checked; nothing is created.

    ``voices``: each patch also gets ``<name>.syx`` beside its JSON, and the batch its banks
    (:func:`cartridge_files`).

    Raises:
        AudioFileError: an input that does not exist, a folder without audio files, an output
            that is an input or cannot be written, two outputs with one name (naming both inputs).
    """
    from instrument.io.audio_files import list_audio_files

    out_dir, render_dir = Path(out_dir), None if render_dir is None else Path(render_dir)
    check_writable_dir(out_dir, "output folder (-o)")
    if render_dir is not None:
        check_writable_dir(render_dir, "render folder (--render-dir)")
    pairs: list[tuple[Path, Path]] = []  # (input file, name relative to the output folders)
    for sound in sounds:
        root = Path(sound)
        if root.is_dir():
            found = list_audio_files(root)
            if not found:
                raise AudioFileError(f"input folder {root}: no audio files (wav/flac/ogg/aiff/mp3)")
            pairs += [(f, f.relative_to(root)) for f in found]
        elif root.exists():
            pairs.append((root, Path(root.name)))
        else:
            raise AudioFileError(f"input {root}: no such file or folder")
    items = [BatchItem(src, out_dir / rel.with_suffix(".json"),
                       None if render_dir is None else render_dir / rel.with_suffix(".wav"),
                       out_dir / rel.with_suffix(".syx") if voices else None)
             for src, rel in pairs]
    inputs = [i.source for i in items]
    summary = out_dir / SUMMARY_NAME
    banks = cartridge_files(out_dir, len(items)) if voices else []
    check_distinct([(i.source, i.patch) for i in items], "patch file")
    if render_dir is not None:
        check_distinct([(i.source, i.render) for i in items], "render file")
    if voices:
        check_distinct([("the batch's 32-voice bank", b) for b in banks]
                       + [(i.source, i.voice) for i in items], "voice file")
    outputs = [(summary, "summary file")] + [(b, "voice bank file") for b in banks]
    outputs += [(p, k) for i in items for p, k in ((i.patch, "patch file"), (i.render, "render file"),
                                                   (i.voice, "voice file")) if p is not None]
    for path, kind in outputs:
        check_writable(path, kind)
        check_not_input(path, inputs, kind)
    return items


def cartridge_files(out_dir: str | Path, n_inputs: int) -> list[Path]:
    """The 32-voice banks a batch of ``n_inputs`` may write (``cartridge.syx``, or numbered when
    the inputs need more than one bank)."""
    return cartridge_paths(out_dir, n_inputs)


def write_cartridges(items: Sequence[BatchItem], synth: Synth, out_dir: str | Path
                     ) -> list[tuple[Path, list[str]]]:
    """The inverted patches (status ``ok``, input order) as 32-voice banks in ``out_dir``, named
    as :func:`cartridge_files` planned for all the items; voice names are the input file stems.

    Returns:
        ``(bank path, its voice names)`` per bank written (none when nothing was inverted).
    """
    done = [i for i in items if i.status == "ok" and i.values is not None]
    if not done:
        return []
    values = np.stack([i.values for i in done])
    return write_banks(synth, values, [i.source.stem for i in done], out_dir,
                       numbered=cartridge_count(len(items)) > 1)


def patch_document(spec: SynthSpec, inv: InversionModel, result: dict[str, Any],
                   source: str | Path) -> dict[str, Any]:
    """The patch JSON ``latent invert`` writes for one sound."""
    return {
        "synth": spec.name,
        "values": {p.name: float(v) for p, v in zip(spec.parameters, result["values"])},
        "classes": {p.name: int(c) for p, c in zip(spec.parameters, result["classes"])},
        "metrics": result["metrics"], "source": str(source),
        "model": str(inv.path) if inv.path else None,
        "refine": result["refine"], "warnings": result["warnings"], "stages": result["stages"],
    }


def write_json(path: Path, doc: dict[str, Any], kind: str = "patch file") -> Path:
    """Write ``doc`` to ``path`` through a temporary name (never a partial file)."""
    with atomic_path(path, kind) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def run_batch(items: Sequence[BatchItem], inv: InversionModel, synth: Synth, refine_seconds: float,
              transpose: str | float | None = None, progress: bool = True) -> list[BatchItem]:
    """Invert every item, writing its patch (and render); a failing input is reported and skipped."""
    from tqdm import tqdm

    from instrument.io.audio_files import load_audio, save_audio

    spec = synth.spec
    config = AudioConfig(sample_rate=spec.sample_rate)
    bar = tqdm(items, desc="inverting", unit="sound", disable=not progress, file=sys.stderr)
    for item in bar:
        try:
            audio = load_audio(item.source, config)
            result = invert_audio(inv, synth, audio, refine_seconds, transpose)
            write_json(item.patch, patch_document(spec, inv, result, item.source))
            if item.voice is not None:
                synth.write_voice(item.voice, result["values"][None], name=item.source.stem)
            if item.render is not None:
                save_audio(item.render, peak_ceiling(result["rendered"]), spec.sample_rate)
        except LatentError as exc:
            message = str(exc)
            prefix = f"{item.source}: "
            item.status = "failed: " + (message[len(prefix):] if message.startswith(prefix) else message)
            tqdm.write(f"error: {exc}", file=sys.stderr)
            continue
        item.values = np.asarray(result["values"], np.float64)
        item.pitch_hz = result["stages"]["pitch"]["hz"]
        item.pcc_stft, item.mss = result["metrics"]["pcc_stft"], result["metrics"]["mss"]
        item.warnings = list(result["warnings"])
        item.status = "ok"
        for note in item.warnings:
            tqdm.write(f"warning: {item.source}: {note}", file=sys.stderr)
    return list(items)


def _row(item: BatchItem) -> dict[str, str]:
    return {"file": str(item.source),
            "pitch_hz": "" if item.pitch_hz is None else f"{item.pitch_hz:.0f}",
            "pcc_stft": "" if item.pcc_stft is None else f"{item.pcc_stft:.1f}",
            "mss": "" if item.mss is None else f"{item.mss:.3f}",
            "warnings": "" if item.status != "ok" else str(len(item.warnings)),
            "status": item.status}


def summary_table(items: Sequence[BatchItem]) -> str:
    """A plain-text table: one row per input, then how many succeeded."""
    rows = [_row(i) for i in items]
    heads = ("file", "pitch Hz", "pcc_stft", "mss", "warnings", "status")
    width = max([len(heads[0])] + [len(r["file"]) for r in rows])
    lines = [f"{heads[0]:<{width}} {heads[1]:>8} {heads[2]:>8} {heads[3]:>7} {heads[4]:>8}  {heads[5]}"]
    for r in rows:
        status = r["status"] if len(r["status"]) <= 60 else r["status"][:57] + "..."
        lines.append(f"{r['file']:<{width}} {r['pitch_hz']:>8} {r['pcc_stft']:>8} {r['mss']:>7} "
                     f"{r['warnings']:>8}  {status}")
    failed = sum(i.status != "ok" for i in items)
    lines.append(f"{len(items) - failed} of {len(items)} inverted" + (f", {failed} failed" if failed else ""))
    return "\n".join(lines)


def write_summary_csv(items: Sequence[BatchItem], path: str | Path) -> Path:
    """``summary.csv`` (columns :data:`SUMMARY_COLUMNS`), written atomically."""
    path = Path(path)
    with atomic_path(path, "summary file") as tmp:
        with open(tmp, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            writer.writerows(_row(i) for i in items)
    return path


def check_batch_options(render: str | None, plot: str | None, midi_out: str | None) -> None:
    """Single-file options that have no batch meaning: one line saying what to use instead."""
    if render:
        raise ConfigError("--render WAV names one file; with several inputs or a folder use "
                          "--render-dir DIR (one WAV per input)")
    if plot:
        raise ConfigError("--plot works on one input only; invert that file on its own to plot it")
    if midi_out:
        raise ConfigError("--midi-out works on one input only; invert that file on its own to send it")
