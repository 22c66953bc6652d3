"""Guard rails on what users give the library: bad SoundFonts, outputs that would hurt inputs,
unwritable outputs, unbounded sizes, deeply nested or huge values, typed action arguments,
truncated WAVs, stale temporaries, filters above Nyquist, the Keras pin.

Every bad input raises the exact error type (library) or exits 2 with one line (CLI), and
no existing file changes.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from controllers.actions import Action, read_events
from controllers.maps import load_map
from instrument.cli import main
from instrument.config import SpectralConfig
from instrument.errors import (AudioFileError, ConfigError, ControllerMapError, DatasetError,
                               SynthError)
from presets import PRESETS_DIR

ROOT = Path(__file__).resolve().parents[1]
SR = 8000
HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None


def _have_default_soundfont() -> bool:
    from instrument.synths.soundfont import find_soundfont

    try:
        find_soundfont(None)
        return True
    except SynthError:
        return False


needs_fluidsynth = pytest.mark.skipif(
    not HAVE_FLUIDSYNTH or not _have_default_soundfont(),
    reason="fluidsynth or FluidR3_GM.sf2 not installed (Debian packages fluidsynth, fluid-soundfont-gm)")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_tone(path: Path, seconds: float = 0.3, f0: float = 330.0, sample_rate: int = SR) -> Path:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), sample_rate)
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# -- 4. a bad SoundFont is an error, not fluidsynth's default -----------------------------

def fake_riff_sfbk(path: Path) -> Path:
    """A file with a consistent RIFF 'sfbk' header and no SoundFont inside."""
    body = b"sfbk" + b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    return path


def test_find_soundfont_rejects_a_file_that_is_not_a_soundfont(tmp_path: Path) -> None:
    from instrument.synths.soundfont import find_soundfont

    bad = tmp_path / "bad.sf2"
    bad.write_bytes(os.urandom(256))
    with pytest.raises(SynthError, match=r"bad\.sf2.*not a SoundFont"):
        find_soundfont(bad)
    truncated = tmp_path / "cut.sf2"
    truncated.write_bytes(b"RIFF" + (10_000).to_bytes(4, "little") + b"sfbk" + b"\0" * 20)
    with pytest.raises(SynthError, match=r"cut\.sf2.*truncated"):
        find_soundfont(truncated)


def test_latent_soundfont_variable_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from instrument.synths.soundfont import find_soundfont

    bad = tmp_path / "env.sf2"
    bad.write_text("not a soundfont\n")
    monkeypatch.setenv("LATENT_SOUNDFONT", str(bad))
    with pytest.raises(SynthError, match="env.sf2"):
        find_soundfont(None)


@needs_fluidsynth
def test_fluidsynth_failing_to_load_the_soundfont_is_an_error(tmp_path: Path) -> None:
    from instrument.synths.soundfont import render_note

    fake = fake_riff_sfbk(tmp_path / "hollow.sf2")  # passes the header check, fluidsynth refuses it
    with pytest.raises(SynthError, match=r"could not load the SoundFont .*hollow\.sf2"):
        render_note(73, 60, 100, 0.2, SR, soundfont=fake, release_seconds=0.0)


@needs_fluidsynth
def test_fluidsynth_synth_refuses_a_bad_soundfont(tmp_path: Path) -> None:
    from instrument.synths.fluidsynth import FluidSynth
    from instrument.synths.spec import SynthSpec

    spec = SynthSpec.load(PRESETS_DIR / "synths" / "fluidsynth.yaml")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(os.urandom(64))
    with pytest.raises(SynthError, match="bad.sf2"):
        FluidSynth(spec, soundfont=bad)


@needs_fluidsynth
def test_dataset_soundfont_cli_with_a_bad_soundfont_exits_2(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(os.urandom(256))
    out = tmp_path / "out"
    assert main(["dataset", "soundfont", "--soundfont", str(bad), "--instrument", "flute",
                 "--notes", "C4", "--seconds", "0.2", "--release", "0", "--workers", "1",
                 "-o", str(out)]) == 2
    one_line_error(capsys, "bad.sf2")
    assert not out.exists() or not any(out.iterdir())


# -- 5. outputs never overwrite an input, never two outputs to one name --------------------

def test_transfer_refuses_same_named_inputs_from_different_roots(tmp_path: Path) -> None:
    from instrument.app.transfer import collect_inputs, plan_outputs, transfer_files

    for root in ("a", "b", "c"):
        (tmp_path / root).mkdir()
        write_tone(tmp_path / root / "take.wav")
    inputs = [tmp_path / r / "take.wav" for r in ("a", "b", "c")]
    out = tmp_path / "out"
    with pytest.raises(AudioFileError, match=r"take\.wav would be written from both .*a.take\.wav and "
                                             r".*b.take\.wav"):
        plan_outputs(collect_inputs(inputs), out)
    with pytest.raises(AudioFileError, match="written from both"):
        transfer_files(None, inputs, out, progress=False)  # refused before any model work
    assert not out.exists()
    # folders keep their relative paths; x.flac and x.wav in one folder would share x.wav
    (tmp_path / "a" / "take.flac").write_bytes((tmp_path / "a" / "take.wav").read_bytes())
    with pytest.raises(AudioFileError, match="written from both"):
        plan_outputs(collect_inputs([tmp_path / "a"]), out)
    # the same file given twice is one input, one output
    plan = plan_outputs(collect_inputs([inputs[1], inputs[1]]), out)
    assert plan == [(inputs[1], out / "take.wav")]


def test_transfer_into_the_input_folder_is_refused(tmp_path: Path) -> None:
    from instrument.app.transfer import collect_inputs, plan_outputs, transfer_files

    folder = tmp_path / "takes"
    folder.mkdir()
    write_tone(folder / "one.wav")
    (folder / "sub").mkdir()
    write_tone(folder / "sub" / "two.wav")
    before = snapshot(folder)
    with pytest.raises(AudioFileError, match=r"one\.wav is the input"):
        plan_outputs(collect_inputs([folder]), folder)
    with pytest.raises(AudioFileError, match="refusing to overwrite an input"):
        transfer_files(None, [folder], folder, progress=False)
    with pytest.raises(AudioFileError, match="refusing to overwrite an input"):  # via another spelling
        transfer_files(None, [folder / "sub" / "two.wav"], folder / "sub" / ".." / "sub", progress=False)
    assert snapshot(folder) == before


def test_transfer_cli_refuses_to_overwrite_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "takes"
    folder.mkdir()
    write_tone(folder / "one.wav")
    before = snapshot(folder)
    assert main(["transfer", "--model", str(PRESETS_DIR / "models" / "flute-to-clarinet.keras"),
                 str(folder), "-o", str(folder), "--iterations", "2"]) == 2
    one_line_error(capsys, "one.wav")
    assert snapshot(folder) == before


def test_render_output_equal_to_its_input_is_refused(tmp_path: Path) -> None:
    from instrument.app.render import check_render_paths

    take = write_tone(tmp_path / "p.wav")
    before = take.read_bytes()
    with pytest.raises(AudioFileError, match=r"p\.wav is the input"):
        check_render_paths(take, [take])
    with pytest.raises(AudioFileError, match="is the input"):
        check_render_paths(tmp_path / "." / "p.wav", [take, None])
    log = tmp_path / "a.jsonl"
    log.write_text('{"time": 0.1, "action": "zero_all"}\n')
    with pytest.raises(AudioFileError, match=r"a\.jsonl"):
        check_render_paths(tmp_path / "r.wav", [take, log], plot=log)
    with pytest.raises(AudioFileError, match="both"):
        check_render_paths(tmp_path / "r.wav", [take], plot=tmp_path / "r.wav")
    check_render_paths(tmp_path / "r.wav", [take, log], plot=tmp_path / "r.png")
    assert take.read_bytes() == before


# -- 6. unwritable or full outputs: one error naming the path, no partial file -------------

def test_save_audio_into_an_impossible_folder_names_the_path(tmp_path: Path) -> None:
    from instrument.io.audio_files import save_audio

    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder\n")
    with pytest.raises(AudioFileError, match=r"file\.txt/r\.wav"):
        save_audio(blocker / "r.wav", np.zeros(100, np.float32), SR)
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(AudioFileError, match=r"dir\.wav"):
        save_audio(tmp_path / "dir.wav", np.zeros(100, np.float32), SR)
    assert blocker.read_text() == "a file, not a folder\n"


def test_save_audio_on_a_full_disk_leaves_no_partial_file(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes writes fail as on a full disk."""
    from instrument.io.audio_files import save_audio

    target = tmp_path / "r.wav"
    write_tone(target, seconds=0.1)
    before = target.read_bytes()
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    try:
        with pytest.raises(AudioFileError, match=r"r\.wav"):
            save_audio(target, np.zeros(SR * 5, np.float32), SR)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.wav"]  # no partial file


def test_output_path_helpers(tmp_path: Path) -> None:
    from instrument.io.output_paths import atomic_path, check_writable, check_writable_dir

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(AudioFileError, match=r"output file .*file\.txt/deep/r\.wav"):
        check_writable(blocker / "deep" / "r.wav")
    with pytest.raises(DatasetError, match="is a folder"):
        check_writable(tmp_path, error=DatasetError)
    with pytest.raises(AudioFileError, match="not a folder"):
        check_writable_dir(blocker)
    assert check_writable(tmp_path / "new" / "r.wav") == tmp_path / "new" / "r.wav"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "x.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


# -- 7. every size a file or flag sets is bounded -----------------------------------------

def test_scene_with_a_huge_unit_count_is_refused_at_once(tmp_path: Path) -> None:
    from instrument.engine.scenes import MAX_UNITS, load_scene

    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\nn_units: 100000000\n")
    with pytest.raises(ConfigError, match=rf"huge\.yaml: n_units 100000000 is above the limit of {MAX_UNITS}"):
        load_scene(path)


def test_render_length_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.app.render import MAX_RENDER_SECONDS, check_render_seconds, render
    from instrument.engine.engine import Engine, make_source

    spectral = SpectralConfig()
    engine = Engine(spectral, source=make_source("none", spectral.stft.hop_length))
    with pytest.raises(ConfigError, match=rf"above the limit of {MAX_RENDER_SECONDS:g} s"):
        render(engine, int(1e9 * spectral.sample_rate))
    for bad in (1e9, float("inf"), float("nan"), 0.0, -1.0):
        with pytest.raises(ConfigError, match="--duration"):
            check_render_seconds(bad)
    assert check_render_seconds(12.5) == 12.5
    take = write_tone(tmp_path / "loop.wav", sample_rate=spectral.sample_rate)
    assert main(["render", "--model", "none", "--input", str(take), "--loop", "--duration", "1e9",
                 "-o", str(tmp_path / "r.wav"), "--no-progress"]) == 2
    one_line_error(capsys, "limit")
    assert not (tmp_path / "r.wav").exists()


def write_log(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_automation_times_are_bounded(tmp_path: Path) -> None:
    from instrument.app.render import load_automation

    spectral = SpectralConfig()
    late = write_log(tmp_path / "late.jsonl", [{"time": 1e9, "action": "zero_all"}])
    with pytest.raises(ConfigError, match=r"late\.jsonl: event 1: time 1e\+09 s is later than the"):
        load_automation(late, spectral)
    with pytest.raises(ConfigError, match="12 s limit"):
        load_automation(write_log(tmp_path / "l2.jsonl", [{"time": 20, "action": "zero_all"}]), spectral,
                        max_seconds=12)
    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"time": 1e308, "action": "zero_all"}\n')  # was OverflowError
    with pytest.raises(ConfigError, match="later than"):
        load_automation(huge, spectral)
    bigint = tmp_path / "bigint.jsonl"
    bigint.write_text('{"time": 1' + "0" * 400 + ', "action": "zero_all"}\n')
    with pytest.raises(ControllerMapError, match=r"bigint\.jsonl:1: event time .* too large"):
        load_automation(bigint, spectral)
    word = write_log(tmp_path / "word.jsonl", [{"time": "soon", "action": "zero_all"}])
    with pytest.raises(ControllerMapError, match=r"word\.jsonl:1: event time must be a number"):
        load_automation(word, spectral)


def test_dataset_soundfont_bounds_are_checked_before_rendering(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli_dataset_soundfont import render_notes

    out = tmp_path / "out"
    with pytest.raises(SynthError, match=r"--seconds 1e\+09 must be in \(0, 60\]"):
        render_notes("flute", [60], out, seconds=1e9, workers=1, progress=False)
    with pytest.raises(SynthError, match="--release"):
        render_notes("flute", [60], out, release_seconds=1e9, workers=1, progress=False)
    with pytest.raises(SynthError, match="--workers"):
        render_notes("flute", [60], out, workers=10_000, progress=False)
    assert main(["dataset", "soundfont", "--instrument", "flute", "--notes", "C4", "--seconds", "1e9",
                 "-o", str(out)]) == 2
    one_line_error(capsys, "--seconds", "60")
    assert not out.exists()


def test_render_note_and_midi_length_are_bounded() -> None:
    import mido

    from instrument.synths.soundfont import build_midi, render_note

    with pytest.raises(SynthError, match="seconds"):
        render_note(73, 60, 100, 1e9, SR)
    with pytest.raises(SynthError, match="3600"):
        build_midi([(0.0, mido.Message("note_on", note=60))], 1e7)


def fluid_spec_dict(**options: object) -> dict:
    data = yaml.safe_load((PRESETS_DIR / "synths" / "fluidsynth.yaml").read_text())
    data["options"].update(options)
    return data


@pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason="fluidsynth not installed")
def test_fluidsynth_spec_options_are_bounded() -> None:
    from instrument.synths.fluidsynth import FluidSynth
    from instrument.synths.spec import SynthSpec

    with pytest.raises(SynthError, match=r"gap_seconds 1e\+06 must be in 0..10 s"):
        FluidSynth(SynthSpec.from_dict(fluid_spec_dict(gap_seconds=1e6)))
    with pytest.raises(SynthError, match="patches_per_file 100000000 must be in"):
        FluidSynth(SynthSpec.from_dict(fluid_spec_dict(patches_per_file=100_000_000)))
    with pytest.raises(SynthError, match="above the limit of 3600 s"):
        FluidSynth(SynthSpec.from_dict(fluid_spec_dict(patches_per_file=4000, gap_seconds=9)))
    with pytest.raises(SynthError, match="gap_seconds"):
        FluidSynth(SynthSpec.from_dict(fluid_spec_dict(gap_seconds="long")))


def test_synth_spec_levels_are_bounded(tmp_path: Path) -> None:
    from instrument.synths.spec import MAX_LEVELS, SynthSpec

    data = yaml.safe_load((PRESETS_DIR / "synths" / "inversynth.yaml").read_text())
    data["levels"] = 100_000_000
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SynthError, match=rf"levels 100000000 is above the limit of {MAX_LEVELS}"):
        SynthSpec.load(path)
    data["levels"] = 16
    data["stft"] = {"n_fft": 2 ** 30, "hop_length": 256}
    with pytest.raises(SynthError, match="n_fft 1073741824 is above the limit"):
        SynthSpec.from_dict(data)


# -- 8. one-line errors instead of tracebacks ---------------------------------------------

def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_patch_and_automation_are_one_line_errors(tmp_path: Path) -> None:
    from instrument.app.render import load_automation
    from instrument.synths.patch import Patch, load_patch_values
    from instrument.synths.spec import SynthSpec

    spec = SynthSpec.load(PRESETS_DIR / "synths" / "inversynth.yaml")
    deep = tmp_path / "deep.json"
    deep.write_text('{"synth": "inversynth", "values": ' + nested(100_000) + "}")
    with pytest.raises(SynthError, match=r"deep\.json.*nested too deeply"):
        Patch.load(deep, spec)
    with pytest.raises(SynthError, match=r"deep\.json.*nested too deeply"):
        load_patch_values(spec, deep)
    log = tmp_path / "deep.jsonl"
    log.write_text('{"time": 0.1, "action": "zero_all"}\n' + nested(100_000)[:4000] + "\n")
    with pytest.raises(ControllerMapError, match=r"deep\.jsonl:2: not an event: nested too deeply"):
        load_automation(log, SpectralConfig())
    long_line = tmp_path / "long.jsonl"
    long_line.write_text('{"time": 0.1, "action": "zero_all", "pad": "' + "x" * 10_000 + '"}\n')
    with pytest.raises(ControllerMapError, match=r"long\.jsonl:1: line of"):
        load_automation(long_line, SpectralConfig())


def test_a_single_patch_file_is_accepted_as_patches(tmp_path: Path) -> None:
    from instrument.synths.patch import Patch, load_patch_values
    from instrument.synths.prior import GaussianPrior
    from instrument.synths.spec import SynthSpec

    spec = SynthSpec.load(PRESETS_DIR / "synths" / "inversynth.yaml")
    single = tmp_path / "single.json"
    Patch.from_array(spec, spec.default_values()).save(single)  # pretty-printed, many lines
    values = load_patch_values(spec, single)
    assert values.shape == (1, spec.n_params)
    with pytest.raises(SynthError, match=r"at least 2 patches \(a folder of patch \.json files"):
        GaussianPrior.fit(spec, values)
    listed = tmp_path / "two.json"
    patch = Patch.from_array(spec, spec.default_values()).to_dict()
    listed.write_text(json.dumps([patch, patch], indent=2))
    assert load_patch_values(spec, listed).shape == (2, spec.n_params)
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "synth": "inversynth",\n')
    with pytest.raises(SynthError, match=r"broken\.json line 1 is not valid JSON .*expected a patch \.json file"):
        load_patch_values(spec, broken)


def test_synth_cli_with_a_single_patch_prior_says_what_is_expected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.synths.patch import Patch
    from instrument.synths.spec import SynthSpec

    spec = SynthSpec.load(PRESETS_DIR / "synths" / "inversynth.yaml")
    single = tmp_path / "single.json"
    Patch.from_array(spec, spec.default_values()).save(single)
    out = tmp_path / "d"
    assert main(["dataset", "synth", "--synth", "inversynth", "--count", "2", "--prior", str(single),
                 "-o", str(out), "--workers", "1"]) == 2
    one_line_error(capsys, "at least 2 patches")
    assert not out.exists()  # no empty dataset folder left behind


# -- 9. paths, typed action arguments, truncated WAVs, temporaries, Nyquist, Keras ----------

def test_dataset_soundfont_prefix_cannot_leave_the_output_folder(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli_dataset_soundfont import file_stem, render_notes

    out = tmp_path / "a" / "b" / "out"
    for prefix in ("../../escape", "..", "sub/name", "back\\slash", ".hidden", "  "):
        with pytest.raises(DatasetError, match="prefix"):
            render_notes("flute", [60], out, prefix=prefix, workers=1, progress=False)
    assert file_stem("french horn", None) == "french-horn"
    assert file_stem("flute", "My Flute") == "my-flute"
    assert main(["dataset", "soundfont", "--instrument", "flute", "--notes", "C4", "--prefix",
                 "../../escape", "-o", str(out)]) == 2
    one_line_error(capsys, "../../escape")
    assert snapshot(tmp_path) == {}


@pytest.mark.parametrize("name, args, fragment", [
    ("scale_unit", {"unit": 0, "value": 1.0, "extra": 3}, "extra argument(s) 'extra'"),
    ("zero_all", {"unit": 1}, "takes no arguments"),
    ("scale_unit", {"unit": -1, "value": 1.0}, "'unit' must be an integer >= 0"),
    ("scale_unit", {"unit": True, "value": 1.0}, "'unit' must be an integer >= 0"),
    ("scale_unit", {"unit": 1.5, "value": 1.0}, "'unit' must be an integer >= 0"),
    ("scale_unit", {"unit": 0, "value": "loud"}, "'value' must be a finite number"),
    ("scale_unit", {"unit": 0, "value": float("nan")}, "'value' must be a finite number"),
    ("scale_unit", {"unit": 0, "value": False}, "'value' must be a finite number"),
    ("solo", {"unit": 0, "on": 1}, "'on' must be true or false"),
    ("set_source", {"synth": "yes"}, "'synth' must be true or false"),
    ("recall_scene", {"scene": 3}, "'scene' must be a non-empty string"),
    ("recall_scene", {"scene": ""}, "'scene' must be a non-empty string"),
    ("master_gain", {"db": float("inf")}, "'db' must be a finite number"),
    ("switch_model", {"model": "1"}, "'model' must be an integer >= 0"),
    ("bank", {"bank": [1]}, "'bank' must be an integer >= 0"),
])
def test_action_arguments_are_typed(name: str, args: dict, fragment: str) -> None:
    with pytest.raises(ControllerMapError) as info:
        Action(name, args)
    assert fragment in str(info.value)


def test_valid_action_arguments_and_shipped_files_stay_valid() -> None:
    Action("scale_unit", {"unit": np.int64(3), "value": np.float32(0.5)})
    Action("scale_unit", {"unit": 3, "value": 1})  # JSON 1 is a number
    Action("solo", {"unit": 0, "on": np.bool_(True)})
    Action("master_gain", {"db": -6})
    Action("recall_scene", {"scene": "1-original"})
    Action("switch_model", {"model": 0})
    events = list(read_events(PRESETS_DIR / "automation" / "demo.jsonl"))
    assert len(events) > 10
    for path in sorted((PRESETS_DIR / "controllers").glob("*.yaml")):
        load_map(path)


def test_event_log_with_a_wrongly_typed_argument_names_the_line(tmp_path: Path) -> None:
    log = write_log(tmp_path / "typed.jsonl", [{"time": 0.1, "action": "solo", "unit": 0, "on": True},
                                               {"time": 0.2, "action": "solo", "unit": 0, "on": 1}])
    with pytest.raises(ControllerMapError, match=r"typed\.jsonl:2: action 'solo': argument 'on'"):
        list(read_events(log))
    extra = write_log(tmp_path / "extra.jsonl", [{"time": 0.1, "action": "stop", "why": "x" * 100}])
    with pytest.raises(ControllerMapError, match=r"extra\.jsonl:1: .*'stop' takes no arguments"):
        list(read_events(extra))


def test_controller_map_args_are_typed(tmp_path: Path) -> None:
    text = (PRESETS_DIR / "controllers" / "nanokontrol2.yaml").read_text()
    assert "args: {synth: false}" in text
    path = tmp_path / "typed.yaml"
    path.write_text(text.replace("args: {synth: false}", "args: {synth: 0}", 1))
    with pytest.raises(ControllerMapError, match=r"typed\.yaml.*args.*'synth' must be true or false"):
        load_map(path)
    path.write_text(text.replace("args: {synth: false}", "args: {synth: false, volume: 11}", 1))
    with pytest.raises(ControllerMapError, match=r"typed\.yaml.*extra argument\(s\) 'volume'"):
        load_map(path)


def test_truncated_wav_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.io.audio_files import load_audio

    whole = write_tone(tmp_path / "whole.wav", seconds=1.0, sample_rate=22050)
    cut = tmp_path / "cut.wav"
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    assert sf.info(str(cut)).frames > 0  # libsndfile reads the half without complaint
    with pytest.raises(AudioFileError, match=r"cut\.wav: truncated WAV: the header declares \d+ bytes"):
        load_audio(cut)
    assert len(load_audio(whole)) > 0
    assert main(["render", "--model", "none", "--input", str(cut), "-o", str(tmp_path / "r.wav"),
                 "--no-progress"]) == 2
    one_line_error(capsys, "cut.wav", "truncated")
    assert not (tmp_path / "r.wav").exists()


def test_dataset_rerun_removes_stale_temporaries(tmp_path: Path) -> None:
    from training.synth_dataset import generate_dataset

    out = tmp_path / "d"
    generate_dataset("inversynth", 4, 1, out, shard_size=4, workers=1, progress=False)
    stale = out / "shard_00000.npz.k1ll3d.tmp.npz"  # what a killed run leaves
    stale.write_bytes(b"partial")
    keep = out / "notes.txt"
    keep.write_text("mine")
    generate_dataset("inversynth", 4, 1, out, shard_size=4, workers=1, progress=False)
    assert not stale.exists()
    assert keep.read_text() == "mine"
    with pytest.raises(DatasetError, match="shard_size 100000000 is above the limit"):
        generate_dataset("inversynth", 4, 1, tmp_path / "e", shard_size=100_000_000, progress=False)
    assert not (tmp_path / "e").exists()


def test_cutoff_above_nyquist_is_refused() -> None:
    from instrument.synths.inversynth import InverSynth
    from instrument.synths.spec import SynthSpec

    data = yaml.safe_load((PRESETS_DIR / "synths" / "inversynth.yaml").read_text())
    for param in data["parameters"]:
        if param["name"] == "f_cut":
            param["max"] = 12000.0
    spec = SynthSpec.from_dict(data)
    with pytest.raises(SynthError, match=r"'f_cut' max 12000 Hz is above the Nyquist frequency 8192 Hz"):
        InverSynth(spec)
    InverSynth(SynthSpec.load(PRESETS_DIR / "synths" / "inversynth.yaml"))


def test_keras_pin_excludes_versions_with_safe_mode_bypasses() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"keras>=(\d+)\.(\d+)', text)
    assert match, "pyproject.toml must pin keras with a lower bound"
    assert (int(match.group(1)), int(match.group(2))) >= (3, 14)
