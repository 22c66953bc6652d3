"""`latent bench synth_prior`: the dx7's musical prior gives far fewer silent clips than uniform classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.synth_prior import level_stats, main


def test_level_stats_counts_silent_clipped_and_quiet_clips() -> None:
    audio = np.zeros((4, 1000), np.float32)
    audio[1] = 1.0                      # clipped
    audio[2, 0] = 0.1                   # peak -20 dBFS, RMS -50 dBFS
    audio[3] = 0.3                      # ordinary
    stats = level_stats(audio)
    assert stats["silent_pct"] == 25.0 and stats["clipped_pct"] == 25.0
    assert stats["quiet_pct"] == 50.0   # the silent one and the single spike


def test_dx7_prior_is_rarely_silent_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("dexed")
    assert main(["--synth", "dx7", "--count", "300", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "synth_prior.json").read_text())["samplers"]
    prior, uniform = result["random_patches"], result["uniform classes"]
    assert prior["silent_pct"] < 2.0 and prior["clipped_pct"] < 5.0
    assert uniform["quiet_pct"] > prior["quiet_pct"] + 20.0
    assert "| random_patches (the synth's prior) |" in capsys.readouterr().out
