"""`latent bench datasets`: a table row per measurement, render alone at least as fast as with features."""

from __future__ import annotations

import pytest

from benchmarks.datasets import main, measure


def test_dx7_rows_and_the_render_alone_ceiling(capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("dexed")
    assert main(["--synths", "dx7", "--clips", "128", "--batch", "32", "--workers", "1",
                 "--command-clips", "0"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dx7 |")]
    assert [r.split("|")[2].strip() for r in rows] == ["render alone", "render + features"]
    cpu_ms = [float(r.split("|")[6]) for r in rows]
    assert 0 < cpu_ms[0] < cpu_ms[1]        # features cost something on top of Dexed's render


def test_measure_counts_every_clip() -> None:
    rate, cpu_ms = measure("inversynth", 40, 16, 1, render_only=True)
    assert rate > 0 and cpu_ms > 0
