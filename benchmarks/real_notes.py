"""`latent bench inversion --real DIR`: how close do inverted patches come to real sounds?

Every audio file under DIR (e.g. ``presets/real-notes``: TimGM6mb notes no model was trained on)
is inverted by :func:`instrument.inversion.pipeline.invert_audio`, the ``latent invert`` pipeline,
network only (``--refine 0``) and refined (``--refine-seconds``, default 2 s). There is no
ground-truth patch: each row compares the patch's render with the clip the pipeline inverted
(aligned, fitted to the synth's length, peak-normalised): pcc_stft (x100, higher is better), MSS,
LSD (dB), SC and MFCC distance (lower is better), plus the input pitch and the number of warnings
(e.g. a pitch outside the synth's note range). Mean rows: all notes, and the notes without
warnings.

With ``baselines`` the same clips also get: ``search-only`` (the refinement's search from the
middle of every range, given the refinement's budget plus the network's inference time),
``nearest`` (the patch of the nearest clip in a rendered bank, by pooled log-STFT features, as in
the test-set benchmark) and ``random`` (one of the synth's random patches: uniform classes, the
dx7's musical prior).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from benchmarks.nearest import nearest_neighbour_scores
from instrument.config import AudioConfig
from instrument.errors import AudioFileError
from instrument.inversion.pipeline import invert_audio

if TYPE_CHECKING:
    from instrument.inversion.model import InversionModel
    from instrument.synths.base import Synth

#: Metrics reported per method, in table order: (key in the metrics dict, column heading).
METRICS = (("pcc_stft", "pcc_stft"), ("mss", "MSS"), ("lsd_db", "LSD dB"), ("sc", "SC"),
           ("mfcc", "MFCC"))
METHODS = ("network", "refined", "search-only", "nearest", "random")


def run_real(inv: InversionModel, synth: Synth, folder: str | Path, refine_seconds: float,
             progress: bool = True, bank: tuple[np.ndarray, np.ndarray] | None = None,
             baselines: bool = False, seed: int = 0, picture_dir: Path | None = None,
             pictures: int = 0) -> list[dict[str, Any]]:
    """One row per audio file under ``folder``: name, pitch, warnings, metrics per method.

    Args:
        bank: (features ``(n, frames, bins)``, values ``(n, n_params)``) of the nearest-neighbour
            bank (``baselines`` only; None: no nearest row).
        baselines: also the search-only, nearest and random rows.
        picture_dir, pictures: spectrograms of the input against each method's render for the
            first ``pictures`` files, as ``picture_dir/<file stem>.png``.

    Raises:
        AudioFileError: no audio files in ``folder``, or a file that cannot be read (names it).
    """
    from tqdm import tqdm

    from instrument.io.audio_files import list_audio_files, load_audio
    from instrument.inversion.metrics import audio_metrics
    from instrument.inversion.refine.search import RefineConfig, search_only

    folder = Path(folder)
    files = list_audio_files(folder)
    if not files:
        raise AudioFileError(f"--real {folder}: no audio files (wav/flac/ogg/aiff/mp3)")
    config = AudioConfig(sample_rate=synth.spec.sample_rate)
    rows = []
    for path in tqdm(files, desc="real sounds", unit="sound", disable=not progress):
        audio = load_audio(path, config)
        runs = {"network": invert_audio(inv, synth, audio, 0.0)}
        if refine_seconds > 0:
            runs["refined"] = invert_audio(inv, synth, audio, refine_seconds)
        first = runs["network"]
        if baselines:
            clip = first["audio"]
            others: dict[str, np.ndarray] = {}
            if refine_seconds > 0:
                budget = refine_seconds + first["infer_seconds"]
                others["search-only"] = search_only(synth, clip, RefineConfig(seconds=budget)).audio
            if bank is not None:
                _, nearest = nearest_neighbour_scores(bank[0], synth.spec.to_classes(bank[1]),
                                                      synth.features(clip[None]), max(synth.spec.levels))
                others["nearest"] = synth.render(bank[1][nearest[:1]])[0]
            rng = np.random.default_rng([seed, len(rows)])
            others["random"] = synth.render(synth.random_patches(rng, 1))[0]
            for name, rendered in others.items():
                runs[name] = {"rendered": rendered, "metrics": {k: float(v[0]) for k, v in audio_metrics(
                    clip[None], rendered[None], synth.spec.sample_rate).items()}}
        if picture_dir is not None and len(rows) < pictures:
            from instrument.plots import plot_audio_spectrograms

            named = [(f"input {path.name} (aligned, peak-normalised)", first["audio"])]
            named += [(f"{m}: pcc_stft {r['metrics']['pcc_stft']:.1f}, MSS {r['metrics']['mss']:.2f}",
                       r["rendered"]) for m, r in runs.items() if m in ("network", "refined", "nearest")]
            plot_audio_spectrograms(named, Path(picture_dir) / f"{path.stem}.png", synth.spec.sample_rate,
                                    synth.spec.stft, f"{synth.spec.name}: {path.name} and its inverted patches")
        hz = first["stages"]["pitch"]["hz"]
        rows.append({"file": str(path.relative_to(folder)), "pitch_hz": None if hz is None else float(hz),
                     "warnings": first["warnings"],
                     "metrics": {m: {k: float(r["metrics"][k]) for k, _ in METRICS}
                                 for m, r in runs.items()},
                     "refine_seconds": None if "refined" not in runs
                     else runs["refined"]["refine"]["seconds"]})
    return rows


def means(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean of every metric per method over ``rows`` (empty when there are none)."""
    if not rows:
        return {}
    return {m: {k: float(np.mean([r["metrics"][m][k] for r in rows])) for k, _ in METRICS}
            for m in rows[0]["metrics"]}


def real_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table: per file, then the mean over all and over the files without warnings;
    then each warning, one line per file."""
    methods = [m for m in METHODS[:2] if m in rows[0]["metrics"]]
    head = ["sound", "pitch Hz"] + [f"{m} {h}" for m in methods for _, h in METRICS] + ["warnings"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cells(metrics: dict[str, dict[str, float]]) -> list[str]:
        digits = {"pcc_stft": 1, "mfcc": 1, "lsd_db": 2}
        return [f"{metrics[m][k]:.{digits.get(k, 3)}f}" for m in methods for k, _ in METRICS]

    for r in rows:
        pitch = "-" if r["pitch_hz"] is None else f"{r['pitch_hz']:.0f}"
        lines.append("| " + " | ".join([r["file"], pitch, *cells(r["metrics"]),
                                         str(len(r["warnings"]))]) + " |")
    clean = [r for r in rows if not r["warnings"]]
    for label, group in ((f"mean ({len(rows)})", rows), (f"mean, no warnings ({len(clean)})", clean)):
        if group:
            lines.append("| " + " | ".join([f"**{label}**", "", *cells(means(group)),
                                             str(sum(len(r["warnings"]) for r in group))]) + " |")
    notes = [f"{r['file']}: {w}" for r in rows for w in r["warnings"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def method_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of the mean of every metric per method (rows), over all sounds and over
    the sounds without warnings."""
    methods = [m for m in METHODS if m in rows[0]["metrics"]]
    clean = [r for r in rows if not r["warnings"]]
    head = ["method"] + [f"{h} (all {len(rows)})" for _, h in METRICS] + \
        [f"{h} (no warnings, {len(clean)})" for _, h in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    every, fine = means(rows), means(clean) if clean else {}
    digits = {"pcc_stft": 1, "mfcc": 1, "lsd_db": 2}
    for m in methods:
        cells = [f"{every[m][k]:.{digits.get(k, 3)}f}" for k, _ in METRICS]
        cells += [f"{fine[m][k]:.{digits.get(k, 3)}f}" if fine else "-" for k, _ in METRICS]
        lines.append("| " + " | ".join([m, *cells]) + " |")
    return "\n".join(lines)
