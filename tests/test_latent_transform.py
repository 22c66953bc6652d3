"""Offline transform through the long-window copy equals the training-window model."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.models.io import load_latent_model
from presets import PRESETS_DIR


def _training_window_transform(model, x: np.ndarray) -> np.ndarray:
    """Slide the model at its own training window, keeping the frames transform keeps."""
    out = np.zeros_like(x)
    for start, keep_from, keep_to in model._window_plan(len(x)):
        batch = np.zeros((1, model.frames, model.n_bins), np.float32)
        chunk = x[start:start + model.frames]
        batch[0, :len(chunk)] = chunk
        out[keep_from:keep_to] = model.process(batch)[0, keep_from - start:keep_to - start]
    return out


@pytest.mark.parametrize("name", ["flute-to-clarinet", "reconstruct"])
def test_long_window_transform_equals_training_window(name: str) -> None:
    model = load_latent_model(PRESETS_DIR / "models" / f"{name}.keras")
    rng = np.random.default_rng(1)
    for frames in (7, 100, 175, 600):  # shorter than, inside and beyond the longest window
        x = np.abs(rng.normal(0.0, 0.5, (frames, model.n_bins))).astype(np.float32)
        fast = model.transform(x)
        assert fast.shape == x.shape
        window, _ = model._transform_for(frames)
        assert model.frames <= window <= 256 and window % 64 == 0 or window == model.frames
        # The last lookahead frames see past the end of the file, which a window pads with zero
        # input (raw) or, where the window itself ends, with zero activations (normalised):
        # window sizes may differ there, and only there.
        end = frames - model.lookahead_frames if frames > 2 * model.lookahead_frames else frames
        np.testing.assert_allclose(fast[:end], _training_window_transform(model, x)[:end], atol=1e-5)
