"""WAV recorder and event log: background writing, bit-exact float WAV, valid files after close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from controllers.actions import Action, read_events
from instrument.errors import AudioFileError
from instrument.io.eventlog import EventLog
from instrument.io.recorder import WavRecorder


def test_recorder_writes_every_pushed_hop_bit_exact(tmp_path: Path, rng: np.random.Generator) -> None:
    hops = [rng.standard_normal(256).astype(np.float32) * 0.3 for _ in range(40)]
    path = tmp_path / "rec.wav"
    with WavRecorder(path, 22050) as recorder:
        for hop in hops:
            recorder.push(hop)
            hop[:] = 0.0  # the recorder must have taken a copy
    data, rate = sf.read(path, dtype="float32")
    assert rate == 22050
    assert data.shape == (40 * 256,)
    expected = np.concatenate([rng_hop for rng_hop in _regenerate(40)])
    np.testing.assert_array_equal(data, expected)
    assert recorder.frames_written == 40 * 256


def _regenerate(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    return [rng.standard_normal(256).astype(np.float32) * 0.3 for _ in range(count)]


def test_recorder_close_is_idempotent_and_push_after_close_is_ignored(tmp_path: Path) -> None:
    recorder = WavRecorder(tmp_path / "a.wav", 8000).start()
    recorder.push(np.ones(100, np.float32))
    recorder.close()
    recorder.close()
    recorder.push(np.ones(100, np.float32))
    assert sf.info(str(tmp_path / "a.wav")).frames == 100


def test_recorder_skips_leading_frames(tmp_path: Path) -> None:
    with WavRecorder(tmp_path / "s.wav", 8000, skip_frames=150) as recorder:
        for k in range(3):
            recorder.push(np.full(100, k, np.float32))
    data, _ = sf.read(tmp_path / "s.wav", dtype="float32")
    np.testing.assert_array_equal(data, np.r_[np.ones(50), np.full(100, 2.0)].astype(np.float32))


def test_recorder_bad_folder_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="missing"):
        WavRecorder(tmp_path / "missing" / "x.wav", 22050).start()


def test_event_log_round_trips_through_read_events(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    with EventLog(path, hop_seconds=256 / 22050) as log:
        log.log(0, Action("bank", {"bank": 1}))
        log.log(10, Action("scale_unit", {"unit": 3, "value": 0.0}))
        log.log(10, Action("zero_all"))
    events = list(read_events(path))
    assert [a.name for _, a in events] == ["bank", "scale_unit", "zero_all"]
    assert events[1][0] == pytest.approx(10 * 256 / 22050, abs=1e-6)
    assert events[1][1].args == {"unit": 3, "value": 0.0}
