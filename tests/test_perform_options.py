"""PerformOptions: built from `latent perform` flags, every bad value refused naming its flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from instrument.app.perform_options import PerformOptions
from instrument.cli import build_parser
from instrument.commands.perform import options_from_args
from instrument.errors import ConfigError


def _options(tmp_path: Path, *flags: str) -> PerformOptions:
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")  # the file is only opened by perform(), not by the options
    args = build_parser().parse_args(["perform", "--model", "none", "--headless", "--no-midi",
                                      "--input", str(wav), *flags])
    return options_from_args(args)


def test_flags_become_typed_options(tmp_path: Path) -> None:
    options = _options(tmp_path, "--seed", "3", "--lookahead", "1", "--iterations", "2", "--ahead", "9",
                       "--latency", "0.05", "--rt-priority", "0", "--block", "4", "--compute-hops", "0",
                       "--duration", "1.5", "--record", "out.wav", "--log-events", "ev.jsonl")
    assert options.model_paths == () and options.source == "file" and options.input_path == tmp_path / "in.wav"
    assert (options.seed, options.phase_lookahead, options.phase_iterations, options.ahead_hops) == (3, 1, 2, 9)
    assert options.latency == 0.05 and options.realtime_priority == 0
    assert (options.block_frames, options.compute_hops, options.duration_s) == (4, 0, 1.5)
    assert options.record == Path("out.wav") and options.log_events == Path("ev.jsonl")
    assert options.headless and not options.use_midi and not options.loop


def test_source_flags(tmp_path: Path) -> None:
    args = build_parser().parse_args(["perform", "--model", "none", "--headless", "--no-midi", "--live-input"])
    assert options_from_args(args).source == "live"
    args = build_parser().parse_args(["perform", "--model", "none", "--headless", "--no-midi", "--no-input"])
    assert options_from_args(args).source == "none"


@pytest.mark.parametrize("flags, flag", [
    (["--blocksize", "20000"], "--blocksize"), (["--ahead", "0"], "--ahead"),
    (["--lookahead", "-1"], "--phase-lookahead"), (["--iterations", "-2"], "--phase-iterations"),
    (["--phase-lookahead", "65"], "--phase-lookahead"), (["--phase-iterations", "100000"], "--phase-iterations"),
    (["--rt-priority", "100"], "--rt-priority"), (["--block", "0"], "--block"),
    (["--compute-hops", "-1"], "--compute-hops"), (["--invert-midi-out", "synth"], "--invert-midi-out"),
    (["--invert-model", "m.keras"], "--invert-model"),
])
def test_bad_flags_are_refused_naming_the_flag(tmp_path: Path, flags: list[str], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        _options(tmp_path, *flags)


def test_screenshot_needs_the_window(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--screenshot"):
        _options(tmp_path, "--screenshot", "shot.png")


@pytest.mark.parametrize("field, value, flag", [
    ("latency", "soon", "--latency"), ("latency", -0.1, "--latency"), ("duration_s", 0.0, "--duration"),
    ("seed", 1.5, "--seed"), ("ahead_hops", True, "--ahead"), ("midi_api", "carrier-pigeon", "--midi-api"),
    ("input_path", None, "--input"),
])
def test_direct_construction_is_validated(field: str, value: object, flag: str) -> None:
    settings = {"source": "file", "input_path": Path("in.wav"), field: value}
    with pytest.raises(ConfigError, match=flag):
        PerformOptions(**settings)


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ConfigError, match="source"):
        PerformOptions(source="radio")
