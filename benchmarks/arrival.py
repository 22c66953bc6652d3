"""`latent bench inversion --arrival`: does inversion survive how real sounds arrive?

Fresh random patches of the synth (an rng stream no model was trained, validated, calibrated or
tested on: ``[seed, ARRIVAL_SEED_OFFSET]``) are rendered and inverted by
:func:`instrument.inversion.pipeline.invert_audio` (network + refinement, the ``latent invert``
defaults) as they would arrive:

* ``aligned``: the render as is (note-on at sample 0);
* ``37 samples late``: 37 zero samples first (a little latency);
* ``after 20 ms silence``: 20 ms of zeros first;
* ``after 20 ms noise (-60 dB)``: 20 ms of white noise at 1e-3 of the peak, and the same noise over
  the note (a recorded floor; no target, shown for what it is);
* ``37 samples late, not aligned``: the alignment switched off (the behaviour before it).

Each row gives mean and median pcc_stft plus the other audio metrics, comparing the patch's render
with the clip the pipeline inverted (aligned, fitted to the synth's length), and ``pcc_stft as
given``: against the input as it arrived (fitted, not aligned).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from instrument.inversion.model import InversionModel, fit_to_length, normalise_peak
from instrument.inversion.pipeline import invert_audio

if TYPE_CHECKING:
    from instrument.synths.base import Synth

#: Seeds the arrival set (neither training, validation, test nor ensemble calibration).
ARRIVAL_SEED_OFFSET = 4_000_003
#: (label, delay in seconds or samples, noise level relative to the peak, align).
CONDITIONS = (("aligned", 0, 0.0, True),
              ("37 samples late", 37, 0.0, True),
              ("after 20 ms silence", "20ms", 0.0, True),
              ("after 20 ms noise (-60 dB)", "20ms", 1e-3, True),
              ("37 samples late, not aligned", 37, 0.0, False))
METRICS = ("pcc_stft", "pcc_ft", "pcc_time", "sc", "lsd_db", "mss", "mfcc")


def arrival_inputs(clean: np.ndarray, delay: int, noise: float, rng: np.random.Generator
                   ) -> np.ndarray:
    """``(n, samples)`` clips -> ``(n, delay + samples)`` delayed (zeros first) with optional
    white noise of standard deviation ``noise`` (times the clip's peak) over everything."""
    out = np.concatenate([np.zeros((len(clean), delay), np.float32), clean], axis=1)
    if noise > 0:
        peak = np.max(np.abs(clean), axis=1, keepdims=True)
        out = out + (noise * peak * rng.standard_normal(out.shape)).astype(np.float32)
    return out


def run_arrival(inv: InversionModel, synth: Synth, count: int, seed: int, refine_seconds: float,
                conditions: Sequence[tuple[str, Any, float, bool]] = CONDITIONS
                ) -> dict[str, dict[str, Any]]:
    """Per condition: per-sound metric arrays and the seconds the condition took."""
    from instrument.inversion.metrics import audio_metrics

    spec = synth.spec
    values = synth.random_patches(np.random.default_rng([seed, ARRIVAL_SEED_OFFSET]), count)
    clean = synth.render(values)
    results: dict[str, dict[str, Any]] = {}
    for label, delay, noise, align in conditions:
        samples = round(0.02 * spec.sample_rate) if delay == "20ms" else int(delay)
        inputs = arrival_inputs(clean, samples, noise, np.random.default_rng([seed, 91]))
        t0 = time.monotonic()
        per: dict[str, list[float]] = {m: [] for m in (*METRICS, "pcc_stft_as_given")}
        lags = []
        for x in inputs:
            r = invert_audio(inv, synth, x, refine_seconds, align=align)
            for m in METRICS:
                per[m].append(r["metrics"][m])
            given = normalise_peak(fit_to_length(x, spec.n_samples)[0])
            per["pcc_stft_as_given"].append(float(audio_metrics(given[None],
                                                                r["rendered"][None])["pcc_stft"][0]))
            lags.append(r["stages"]["align"]["trimmed_samples"] - samples)
        results[label] = {"metrics": {k: np.asarray(v) for k, v in per.items()},
                          "seconds": time.monotonic() - t0,
                          "onset_error_samples": np.asarray(lags)}
    return results


def arrival_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: one row per condition, mean / median of each metric."""
    cols = ["pcc_stft mean", "pcc_stft median", "pcc_stft as given", "pcc_ft", "pcc_time", "SC",
            "LSD dB", "MSS", "MFCC", "onset error |mean| (samples)", "s/sound"]
    lines = ["| condition | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, r in results.items():
        m = r["metrics"]
        n = len(m["pcc_stft"])
        row = [f"{np.mean(m['pcc_stft']):.2f}", f"{np.median(m['pcc_stft']):.2f}",
               f"{np.mean(m['pcc_stft_as_given']):.2f}", f"{np.mean(m['pcc_ft']):.2f}",
               f"{np.mean(m['pcc_time']):.2f}", f"{np.mean(m['sc']):.3f}",
               f"{np.mean(m['lsd_db']):.2f}", f"{np.mean(m['mss']):.3f}",
               f"{np.mean(m['mfcc']):.2f}", f"{np.mean(np.abs(r['onset_error_samples'])):.1f}",
               f"{r['seconds'] / max(n, 1):.2f}"]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(lines)
