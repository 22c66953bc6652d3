"""The `latent` command line: help for every sub-command, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from instrument.cli import COMMANDS, main


def run_latent(repo_root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(repo_root), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "instrument.cli", *args], cwd=cwd or repo_root, env=env,
                          capture_output=True, text=True, timeout=600)


def error_lines(stderr: str) -> list[str]:
    """stderr lines written by latent itself (TensorFlow may log start-up noise first)."""
    return [line for line in stderr.splitlines() if line.startswith("latent")]


@pytest.mark.slow
def test_top_level_help_subprocess(repo_root: Path) -> None:
    result = run_latent(repo_root, "--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert name in capsys.readouterr().out


def test_bench_phase_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "phase", "--help"])
    assert exit_info.value.code == 0
    assert "--input" in capsys.readouterr().out


def test_unknown_command_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "no-such-command" in capsys.readouterr().err


def test_corrupt_audio_gives_exit_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage that is not audio" * 10)
    assert main(["bench", "phase", "--input", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("latent bench: error:") and "corrupt.wav" in err[0]


def test_bad_config_value_gives_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "phase", "--hop-length", "2048"]) == 2
    assert "2048" in capsys.readouterr().err


@pytest.mark.slow
def test_corrupt_audio_subprocess_has_no_traceback(repo_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"\xff" * 3000)
    result = run_latent(repo_root, "bench", "phase", "--input", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "broken.flac" in lines[0]


def test_missing_file_gives_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "does-not-exist.wav"
    assert main(["bench", "phase", "--input", str(missing)]) == 2
    assert "does-not-exist.wav" in capsys.readouterr().err
