"""Offline timbre transfer of recorded files through a latent model.

Per file: load -> ``log1p|STFT|`` -> ``LatentModel.transform`` (sliding windows, bounded
memory) ->
dry/wet mix in the log1p domain -> fast Griffin-Lim (warm-started from the
input phase; long files in overlapping chunks) -> RMS loudness matched to the input -> WAV (+ optional PNG).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from instrument.dsp.limiter import peak_ceiling
from instrument.dsp.mix import wet_dry_mix
from instrument.dsp.spectral import log_magnitude, magnitude_from_log, stft
from instrument.errors import AudioFileError, ConfigError, ModelError
from instrument.io.audio_files import AUDIO_SUFFIXES, load_audio, save_audio
from instrument.io.output_paths import check_distinct, check_not_input, check_writable_dir
from presets import PRESETS_DIR


def default_model_path() -> Path:
    """The shipped flute -> clarinet model."""
    return PRESETS_DIR / "models" / "flute-to-clarinet.keras"


def load_model(path: str | Path | None) -> Any:
    """Load a latent model (``None`` = the shipped default).

    Raises:
        ModelError: missing file, or a file that is not a latent model.
    """
    from instrument.models.io import load_latent_model

    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    return load_latent_model(path)


@dataclass
class TransferResult:
    input_path: Path
    output_path: Path
    plot_path: Path | None
    seconds: float
    wall_seconds: float

    @property
    def real_time_factor(self) -> float:
        return self.wall_seconds / max(self.seconds, 1e-9)


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0


def transfer_audio(model: Any, audio: np.ndarray, iterations: int = 100, mix: float = 1.0,
                   init: str = "input") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timbre-transfer mono audio.

    Args:
        audio: float32 samples at ``model.spectral.sample_rate``, shape ``(samples,)``.
        iterations: fast Griffin-Lim iterations.
        mix: 1 = fully transferred, 0 = dry; crossfade in the log1p domain.
        init: ``input`` warm-starts Griffin-Lim with the input phase, ``random`` does not.
    Returns:
        (output audio ``(samples,)``, input features, output features ``(frames, n_bins)``).
    """
    from instrument.dsp.phase.chunked import griffin_lim_chunked

    if not 0.0 <= mix <= 1.0:
        raise ConfigError(f"mix must be in 0..1, got {mix}")
    if init not in ("input", "random"):
        raise ConfigError(f"init must be 'input' or 'random', got {init!r}")
    stft_config = model.spectral.stft
    spectrum = stft(audio, stft_config)
    dry = log_magnitude(spectrum)
    wet = model.transform(dry)  # sliding windows: bounded memory for long files
    mixed = wet_dry_mix(dry, np.asarray(wet, np.float32), mix)  # dry: float32 already
    phase = np.angle(spectrum) if init == "input" else None
    # Overlapping chunks of at most 2048 frames: bounded memory on long files.
    out = griffin_lim_chunked(magnitude_from_log(mixed), stft_config, n_iter=int(iterations),
                              init_phase=phase, length=len(audio))
    level_in, level_out = rms(audio), rms(out)
    if level_out > 1e-9:
        out = out * (level_in / level_out)
    return peak_ceiling(out), dry, mixed


def collect_inputs(inputs: Sequence[str | Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every file or audio file under each folder.

    A file reached twice (given twice, or given and inside a given folder) is kept once, at
    its first place.

    Raises:
        AudioFileError: an input does not exist or a folder holds no audio.
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                raise AudioFileError(f"{path}: no audio files in this folder")
            found.extend((f, f.relative_to(path)) for f in files)
        elif path.is_file():
            found.append((path, Path(path.name)))
        else:
            raise AudioFileError(f"{path}: no such file or folder")
    unique: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for path, relative in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, relative))
    return unique


def plot_folder(plot: bool | str | Path | None) -> Path | None:
    """The folder of the PNGs for ``transfer_files(plot=...)``: None beside each output (``True``
    or ``""``), else the given folder."""
    if plot is True or plot is None or plot is False or str(plot) == "":
        return None
    return Path(plot)


def picture_path(target: Path, out_dir: str | Path, plot: bool | str | Path | None) -> Path:
    """Where the PNG of the output ``target`` goes: beside it, or under the plot folder with the
    same path relative to ``out_dir``."""
    folder = plot_folder(plot)
    if folder is None:
        return target.with_suffix(".png")
    return (folder / target.relative_to(out_dir)).with_suffix(".png")


def plan_outputs(files: Sequence[tuple[Path, Path]], out_dir: str | Path,
                 plot: bool | str | Path | None = False) -> list[tuple[Path, Path]]:
    """``(input, output .wav)`` for every collected input; every check done before any work.

    Outputs keep each input's path relative to its input root, with the suffix ``.wav``;
    ``plot`` (see :func:`transfer_files`) checks the PNGs' folder and names too.

    Raises:
        AudioFileError: the output folder cannot be written, an output would overwrite an
            input (e.g. ``-o`` the input folder), or two inputs would write one output
            (same name under different roots, or ``x.flac`` and ``x.wav``): names both.
    """
    out_dir = check_writable_dir(out_dir, "output folder")
    inputs = [path for path, _ in files]
    plan = [(path, (out_dir / relative).with_suffix(".wav")) for path, relative in files]
    for path, target in plan:
        check_not_input(target, inputs)
    check_distinct(plan)
    if plot is not None and plot is not False:
        folder = plot_folder(plot)
        if folder is not None:
            check_writable_dir(folder, "plot folder")
        pictures = [(path, picture_path(target, out_dir, plot)) for path, target in plan]
        for _, picture in pictures:
            check_not_input(picture, inputs, "plot file")
        check_distinct(pictures, "plot file")
    return plan


def transfer_files(model: Any, inputs: Sequence[str | Path], out_dir: str | Path, *,
                   iterations: int = 100, mix: float = 1.0, plot: bool | str | Path | None = False,
                   init: str = "input", progress: bool = True) -> list[TransferResult]:
    """Transfer every input file into ``out_dir`` (same relative names, ``.wav``).

    ``plot``: False/None no pictures; True (or ``""``) an input/output spectrogram PNG beside
    each output (``OUTDIR/NAME.png``); a folder: the PNGs go there, with the outputs' relative
    names (``PLOTDIR/NAME.png``).

    Raises:
        AudioFileError: see :func:`collect_inputs` and :func:`plan_outputs` (checked before any
            file is processed), or an input cannot be read / an output cannot be written.
    """
    from tqdm import tqdm

    plan = plan_outputs(collect_inputs(inputs), out_dir, plot=plot)
    results: list[TransferResult] = []
    for path, target in tqdm(plan, desc="transfer", unit="file", disable=not progress):
        start = time.perf_counter()
        audio = load_audio(path, model.spectral.audio)
        out, dry, wet = transfer_audio(model, audio, iterations=iterations, mix=mix, init=init)
        save_audio(target, out, model.spectral.sample_rate)  # peak-limited by transfer_audio
        plot_path = None
        if plot is not None and plot is not False:
            from instrument.plots import plot_spectrograms

            plot_path = plot_spectrograms(
                [[(f"{path.name} (input)", magnitude_from_log(dry))],
                 [(f"{path.name} (transferred, mix {mix:g})", magnitude_from_log(wet))]],
                picture_path(target, out_dir, plot), model.spectral.sample_rate, model.spectral.stft,
                title=f"timbre transfer of {path.name}")
        results.append(TransferResult(path, target, plot_path, len(audio) / model.spectral.sample_rate,
                                      time.perf_counter() - start))
    return results


def check_is_latent(path: str | Path, model: Any) -> None:
    """Raise ModelError when ``model`` lacks what offline transfer needs."""
    for attribute in ("transform", "spectral"):
        if not hasattr(model, attribute):
            raise ModelError(f"{path}: not a latent model (no {attribute})")


def describe(results: Iterable[TransferResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.input_path} -> {r.output_path} ({r.seconds:.2f} s audio, "
                     f"{r.wall_seconds:.2f} s wall, RTF {r.real_time_factor:.3f})")
    return "\n".join(lines)
