"""One CLI, consistent across sub-commands: every --help fast and quiet, inputs/outputs checked before
TensorFlow, shared flag spellings (and their old aliases), MIDI channels 1-16, model names."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.cli_startup import CliRun
from benchmarks.cli_startup import run_latent as run_cli
from instrument.cli import build_parser, main
from instrument.cli_support import conversion_note, midi_channel
from instrument.models.names import default_model_name, model_name

#: Lines of TensorFlow / absl / oneDNN / CUDA start-up noise (none may reach a normal run's stderr).
NOISE = ("tensorflow", "onednn", "cuda", "absl", "w0000", "i0000", "e0000", "alsa lib")
#: A guard against gross regressions only (e.g. TensorFlow imported to print --help): the suite
#: shares 2 cores between test workers. The figure itself (under 1 s) is measured by
#: `latent bench cli`; the deterministic check is that no TensorFlow is imported.
MAX_SECONDS = 3.0


def command_paths() -> list[tuple[str, ...]]:
    """Every sub-command path, nested ones included, e.g. ("train", "inversion")."""
    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [prefix] if prefix else []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found += walk(sub, prefix + (name,))
        return found
    paths = walk(build_parser(), ())
    from instrument.commands.bench import BENCHMARKS

    return paths + [("bench", name) for name in BENCHMARKS]


def run_latent(repo_root: Path, *args: str, cwd: Path | None = None) -> tuple[CliRun, float]:
    """Run ``latent ARGS`` in a fresh process: (result, seconds); ``result.tensorflow`` says
    whether the run imported TensorFlow (:func:`benchmarks.cli_startup.run_latent`)."""
    result = run_cli(args, cwd=cwd or repo_root)
    return result, result.seconds


def run_fast(repo_root: Path, *args: str, cwd: Path | None = None) -> tuple[CliRun, float]:
    """:func:`run_latent` for a call that must answer quickly without importing TensorFlow: a run
    over MAX_SECONDS is timed once more, and the faster time is returned."""
    result, seconds = run_latent(repo_root, *args, cwd=cwd)
    if seconds >= MAX_SECONDS:
        again, seconds_again = run_latent(repo_root, *args, cwd=cwd)
        seconds = min(seconds, seconds_again)
    assert not result.tensorflow, f"latent {' '.join(args)} imported TensorFlow"
    return result, seconds


def assert_quiet(stderr: str) -> None:
    noisy = [line for line in stderr.splitlines() if any(word in line.lower() for word in NOISE)]
    assert not noisy, noisy


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_help_is_fast_quiet_and_shows_defaults(repo_root: Path, path: tuple[str, ...]) -> None:
    result, seconds = run_fast(repo_root, *path, "--help")
    print(f"latent {' '.join(path)} --help: {seconds:.2f} s")
    assert result.returncode == 0, result.stderr
    assert seconds < MAX_SECONDS
    assert_quiet(result.stderr)
    assert result.stderr == ""


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the CLI, built in-process as ``latent`` builds them: the sub-command tree
    (nested ones included) and each ``latent bench NAME``'s own parser (``build_parser()``)."""
    def walk(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
        found = [(parser.prog, parser)]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += walk(sub)
        return found
    import importlib

    from instrument.commands.bench import BENCHMARKS

    benches = [(f"latent bench {name}", importlib.import_module(f"benchmarks.{name}").build_parser())
               for name in BENCHMARKS]
    return walk(build_parser()) + benches


def test_every_option_with_a_default_shows_it() -> None:
    tensorflow_loaded = "tensorflow" in sys.modules  # by an earlier test in this process
    parsers = all_parsers()
    assert tensorflow_loaded or "tensorflow" not in sys.modules  # built as cheaply as --help
    progs = {prog for prog, _ in parsers}
    assert {"latent train autoencoder", "latent train inversion", "latent synth render"} <= progs
    from instrument.commands.bench import BENCHMARKS

    assert {f"latent bench {name}" for name in BENCHMARKS} <= progs
    problems = []
    for prog, parser in parsers:
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or not action.option_strings:
                continue
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
                continue
            name = f"{prog} {'/'.join(action.option_strings)}"
            if not (action.help or "").strip():
                problems.append(f"{name}: no help text")
                continue
            # the option's entry exactly as --help renders it (argparse skips the default of an
            # option without help text, so both checks are needed)
            rendered = " ".join(parser._get_formatter()._format_action(action).split())
            if "default" not in rendered.lower():
                problems.append(f"{name}: help does not show the default {action.default!r}: {rendered}")
            elif "(default: )" in rendered or "(default: [])" in rendered:
                problems.append(f"{name}: help shows an empty default: {rendered}")
    assert not problems, "\n".join(problems)


def test_top_level_help_is_fast(repo_root: Path) -> None:
    result, seconds = run_fast(repo_root, "--help")
    print(f"latent --help: {seconds:.2f} s")
    assert result.returncode == 0 and seconds < MAX_SECONDS
    assert "models" in result.stdout
    assert result.stderr == ""


#: (argv with MISSING for the absent input) for every command that takes an input.
MISSING_INPUT = [
    ("render", "MISSING", "-o", "OUT/out.wav"),
    ("render", "--input", "MISSING", "-o", "OUT/out.wav"),
    ("transfer", "MISSING", "-o", "OUT"),
    ("invert", "MISSING", "-o", "OUT/patch.json"),
    ("perform", "MISSING", "--headless", "--no-midi", "--duration", "1"),
    ("synth", "render", "MISSING", "--synth", "inversynth", "-o", "OUT/x.wav"),
    ("synth", "render", "--patch", "MISSING", "--synth", "inversynth", "-o", "OUT/x.wav"),
    ("train", "autoencoder", "MISSING", "-o", "OUT"),
    ("train", "transfer", "MISSING", "MISSING", "-o", "OUT"),
    ("train", "inversion", "--data", "MISSING", "-o", "OUT"),
    ("train", "inversion", "MISSING", "-o", "OUT"),
    ("train", "ensemble", "MISSING", "-o", "OUT/e.keras"),
    ("dataset", "synth", "--synth", "inversynth", "--count", "1", "--spec", "MISSING", "-o", "OUT"),
    ("models", "MISSING"),
    ("bench", "phase", "MISSING"),
]


@pytest.mark.parametrize("argv", MISSING_INPUT, ids=lambda argv: " ".join(argv[:3]))
def test_missing_input_fails_fast_quiet_one_line(repo_root: Path, tmp_path: Path, argv: tuple[str, ...]) -> None:
    missing = tmp_path / "not-there.wav"
    args = [str(missing) if a == "MISSING" else str(tmp_path / a[4:]) if a.startswith("OUT/") else
            str(tmp_path / "out") if a == "OUT" else a for a in argv]
    result, seconds = run_fast(repo_root, *args, cwd=tmp_path)
    print(f"latent {' '.join(argv)}: {seconds:.2f} s")
    assert result.returncode == 2, result.stderr
    assert seconds < MAX_SECONDS
    assert_quiet(result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    command = " ".join(argv[:2] if argv[0] in ("dataset", "synth", "train") else argv[:1])
    assert len(lines) == 1 and lines[0].startswith(f"latent {command}: error:"), lines
    if argv[0] != "perform":  # perform checks the sound card first (its owner's order)
        assert "not-there.wav" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written


def test_transfer_missing_model_name_lists_shipped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(2205, np.float32), 22050)
    assert main(["transfer", str(wav), "-o", str(tmp_path / "o"), "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "reconstruct" in err


def test_midi_channels_are_1_to_16(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert midi_channel("1") == 1 and midi_channel("16") == 16
    for bad in ("0", "17", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            midi_channel(bad)
    with pytest.raises(SystemExit) as info:
        main(["invert", str(tmp_path / "a.wav"), "-o", str(tmp_path / "p.json"), "--channel", "0"])
    assert info.value.code == 2
    assert "MIDI channels are 1..16" in capsys.readouterr().err


def test_old_spellings_still_parse() -> None:
    parser = build_parser()
    old = parser.parse_args(["train", "inversion", "--out", "x", "--max-minutes", "5"])
    new = parser.parse_args(["train", "inversion", "-o", "x", "--time-limit", "5"])
    assert (old.out, old.max_minutes) == (new.out, new.max_minutes) == ("x", 5.0)
    assert parser.parse_args(["train", "inversion", "--output", "y"]).out == "y"
    auto_old = parser.parse_args(["train", "autoencoder", "--data", "d", "-o", "o", "--max-minutes", "2"])
    auto_new = parser.parse_args(["train", "autoencoder", "d", "-o", "o", "--time-limit", "2"])
    assert auto_old.time_limit == auto_new.time_limit == 2.0
    assert parser.parse_args(["train", "ensemble", "a.keras", "--out", "e.keras"]).out == "e.keras"
    assert parser.parse_args(["transfer", "a.wav", "-o", "o", "--iterations", "7"]).iterations == 7
    assert parser.parse_args(["transfer", "a.wav", "-o", "o", "--gl-iterations", "9"]).iterations == 9
    perform_old = parser.parse_args(["perform", "--input", "a.wav", "--iterations", "3", "--lookahead", "1",
                                     "--record", "r.wav"])
    perform_new = parser.parse_args(["perform", "a.wav", "--phase-iterations", "3", "--phase-lookahead", "1",
                                     "-o", "r.wav"])
    assert (perform_old.iterations, perform_old.lookahead, perform_old.record) == \
        (perform_new.iterations, perform_new.lookahead, perform_new.record) == (3, 1, "r.wav")
    assert perform_new.input_pos == "a.wav"
    render = parser.parse_args(["render", "a.wav", "-o", "b.wav"])
    assert render.input_pos == "a.wav" and render.input is None


def test_hidden_aliases_are_not_listed(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, hidden in ((["train", "inversion", "--help"], "--max-minutes"),
                         (["train", "autoencoder", "--help"], "--max-minutes"),
                         (["transfer", "--help"], "--iterations "),
                         (["perform", "--help"], "--iterations "),
                         (["perform", "--help"], "--lookahead ")):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert hidden not in out
        assert "--time-limit" in out or "--gl-iterations" in out or "--phase-iterations" in out
    parsed = build_parser().parse_args(["perform", "--iterations", "3", "--lookahead", "1"])
    assert (parsed.iterations, parsed.lookahead) == (3, 1)  # the old spellings still work


def test_sizes_are_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["train", "inversion", "--batch-size", "0"], ["train", "autoencoder", "d", "-o", "o", "--epochs", "0"],
                 ["transfer", "a", "-o", "o", "--gl-iterations", "100000"], ["render", "a", "-o", "b", "--phase-iterations", "0"],
                 ["dataset", "synth", "--synth", "inversynth", "--count", "0", "-o", "o"]):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(argv)
        assert info.value.code == 2
    capsys.readouterr()


def test_two_different_inputs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert main(["render", str(a), "--input", str(b), "-o", str(tmp_path / "o.wav")]) == 2
    assert "two inputs" in capsys.readouterr().err


def test_output_that_is_the_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(2205, np.float32), 22050)
    assert main(["render", str(wav), "-o", str(wav), "--model", "none"]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err


def test_conversion_is_announced(tmp_path: Path) -> None:
    wav = tmp_path / "stereo48.wav"
    sf.write(wav, np.zeros((4800, 2), np.float32), 48000)
    note = conversion_note(wav, 22050)
    assert note is not None and "48 kHz -> 22.05 kHz" in note and "mono" in note
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(2205, np.float32), 22050)
    assert conversion_note(mono, 22050) is None


def test_render_announces_conversion_and_names_the_model(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "stereo48.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal((9600, 2)).astype(np.float32), 48000)
    assert main(["render", str(wav), "-o", str(tmp_path / "out.wav"), "--model", "reconstruct",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "48 kHz -> 22.05 kHz, 2 channels -> mono" in captured.err
    assert "model reconstruct" in captured.out


def test_model_names() -> None:
    from presets import PRESETS_DIR

    shipped = PRESETS_DIR / "models" / "reconstruct.keras"
    assert model_name(shipped) == "reconstruct"
    assert default_model_name(Path("runs/flute/model.keras")) == "flute"
    assert default_model_name(Path("x/other.keras")) == "other"


def test_models_lists_shipped_without_tensorflow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--no-latency"]) == 0
    out = capsys.readouterr().out
    assert "reconstruct" in out and "autoencoder" in out and "22050 Hz" in out
    assert "inversion (inversynth)" in out


@pytest.mark.slow
def test_models_shows_live_latency(repo_root: Path) -> None:
    result, _ = run_latent(repo_root, "models")
    assert result.returncode == 0, result.stderr
    assert_quiet(result.stderr)
    row = next(line for line in result.stdout.splitlines() if line.startswith("reconstruct "))
    assert " ms" in row


def test_invert_takes_a_shipped_model_name(tmp_path: Path) -> None:
    from instrument.commands.invert import _model_path
    from instrument.errors import ModelError

    assert Path(_model_path("inversynth-sweeptcn")).name == "inversynth-sweeptcn.keras"
    with pytest.raises(ModelError, match="shipped model names"):
        _model_path(str(tmp_path / "nope.keras"))


def test_tensorflow_run_is_quiet(repo_root: Path, tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    sf.write(wav, 0.1 * np.random.default_rng(1).standard_normal(4410).astype(np.float32), 22050)
    result, seconds = run_latent(repo_root, "render", str(wav), "-o", str(tmp_path / "o.wav"),
                                 "--model", "reconstruct", "--no-progress", cwd=tmp_path)
    print(f"latent render (TensorFlow): {seconds:.2f} s, stderr {result.stderr!r}")
    assert result.returncode == 0, result.stderr
    assert result.tensorflow  # the record works: this run did load TensorFlow
    assert_quiet(result.stderr)
    debug, _ = run_latent(repo_root, "--debug", "render", str(wav), "-o", str(tmp_path / "o2.wav"),
                          "--model", "reconstruct", "--no-progress", cwd=tmp_path)
    assert debug.returncode == 0
    assert any(word in debug.stderr.lower() for word in ("onednn", "absl", "cuda")), debug.stderr


def test_tensorflow_starts_without_importing_scikit_learn_which_stays_importable() -> None:
    """Keras's unused scikit-learn wrappers would import sklearn at start-up (about 0.9 s)."""
    code = ("import sys\nfrom instrument.quiet import quiet_tensorflow\nquiet_tensorflow()\n"
            "import tensorflow, keras\nassert 'sklearn' not in sys.modules, 'sklearn imported'\n"
            "import sklearn.base\nimport librosa\nprint('ok', tensorflow.constant(2).numpy())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok 2"


def test_transfer_same_named_inputs_fail_before_tensorflow(repo_root: Path, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "x.wav", np.zeros(2205, np.float32), 22050)
    result, seconds = run_fast(repo_root, "transfer", "a", "b", "-o", "out", cwd=tmp_path)
    print(f"latent transfer a b (one name twice): {seconds:.2f} s")
    assert result.returncode == 2 and seconds < MAX_SECONDS
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latent transfer: error:") and "x.wav" in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_cli_startup_benchmark_prints_a_row_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.cli_startup import CALLS, main as bench_main

    assert bench_main(["--repeat", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| latent ")]
    assert len(rows) == len(CALLS)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] == "no", row                       # no TensorFlow for help or a bad input
        assert cells[3] == ("0" if cells[0].endswith("--help") else "2"), row
        assert float(cells[1]) > 0
