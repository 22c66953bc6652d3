"""`latent invert`: patch JSON, render, plot, warnings on odd audio, MIDI out, error types."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from instrument.cli import build_parser, main
from instrument.errors import AudioFileError, ModelError, SynthError
from instrument.inversion.model import DEFAULT_MODELS, save_inversion_model
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import InversionModelConfig
from training.inversion.train import spec_dict
from instrument.synths.registry import get_synth
from instrument.synths.patch import Patch
from instrument.synths.spec import SynthSpec


def _save_model(path: Path, synth_name: str) -> Path:
    spec = SynthSpec.from_dict(spec_dict(synth_name))
    config = InversionModelConfig(arch="conv6xl", n_params=spec.n_params, n_classes=max(spec.levels),
                                  n_bins=spec.n_bins, n_frames=spec.n_frames, width_scale=0.1, fc_units=16,
                                  feature_mean=0.3, feature_std=0.5)
    return save_inversion_model(build_inversion_model(config), path, config, synth_name,
                                spec_dict(synth_name))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("invert-models")
    return {name: _save_model(root / f"{name}.keras", name) for name in ("inversynth", "fluidsynth")}


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = get_synth("inversynth")
    audio = synth.render(synth.random_patches(np.random.default_rng(3), 1))[0]
    path = tmp_path_factory.mktemp("invert-audio") / "in.wav"
    sf.write(path, 0.7 * audio, synth.spec.sample_rate)
    return path


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_invert_writes_patch_render_and_plot(models: dict[str, Path], sound: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "patch.json"
    code = main(["invert", str(sound), "--model", str(models["inversynth"]), "-o", str(out),
                 "--render", str(tmp_path / "out.wav"), "--plot", str(tmp_path / "out.png"),
                 "--refine", "0.3"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["synth"] == "inversynth" and len(doc["values"]) == 23 and len(doc["classes"]) == 23
    assert set(doc["metrics"]) >= {"pcc_stft", "pcc_ft", "pcc_time", "f_delta", "sc", "lsd_db"}
    assert doc["refine"]["objective"] == "pcc_stft"
    assert doc["refine"]["after_x100"] >= doc["refine"]["before_x100"]
    spec = get_synth("inversynth").spec
    assert Patch.load(out, spec).to_array(spec).shape == (23,)
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == 16384 and audio.shape == (16384,)
    assert (tmp_path / "out.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "f_cut" in printed and "pcc_stft" in printed


@pytest.mark.parametrize("kind", ["silent", "short", "long", "clipped"])
def test_odd_audio_warns_but_works(kind: str, models: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    rate = 22050
    t = np.arange(int({"short": 0.1, "long": 3.0}.get(kind, 1.0) * rate)) / rate
    y = 0.5 * np.sin(2 * np.pi * 440 * t)
    if kind == "silent":
        y[:] = 0.0
    if kind == "clipped":
        y = np.clip(4 * y, -1, 1)
    wav = tmp_path / f"{kind}.wav"
    sf.write(wav, y.astype(np.float32), rate)
    out = tmp_path / "p.json"
    assert _run(["invert", str(wav), "--model", str(models["inversynth"]), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    word = {"silent": "silent", "short": "shorter", "long": "longer", "clipped": "clipped"}[kind]
    assert word in err
    assert json.loads(out.read_text())["warnings"]


def test_error_types(models: dict[str, Path], sound: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "p.json")
    with pytest.raises(SynthError):
        _run(["invert", str(sound), "--synth", "moog", "-o", out])
    junk = tmp_path / "junk.keras"
    junk.write_text("nope")
    with pytest.raises(ModelError):
        _run(["invert", str(sound), "--model", str(junk), "-o", out])
    with pytest.raises(ModelError):      # model for another synth
        _run(["invert", str(sound), "--synth", "inversynth", "--model", str(models["fluidsynth"]),
              "-o", out])
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(AudioFileError):
        _run(["invert", str(bad), "--model", str(models["inversynth"]), "-o", out])
    with pytest.raises(AudioFileError):
        _run(["invert", str(tmp_path / "missing.wav"), "--model", str(models["inversynth"]), "-o", out])
    assert main(["invert", str(bad), "--model", str(models["inversynth"]), "-o", out]) == 2


@pytest.mark.skipif(not DEFAULT_MODELS["inversynth"].is_file(), reason="shipped model not built")
def test_shipped_default_model_inverts(sound: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert _run(["invert", str(sound), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["model"].endswith("inversynth-sweeptcn.keras")
    assert doc["metrics"]["pcc_stft"] > 20.0


@pytest.mark.skipif(not DEFAULT_MODELS["fluidsynth"].is_file(), reason="shipped model not built")
def test_shipped_fluidsynth_model_inverts_a_fluidsynth_note(tmp_path: Path) -> None:
    synth = get_synth("fluidsynth")
    audio = synth.render(synth.random_patches(np.random.default_rng(11), 1))[0]
    sound = tmp_path / "note.wav"
    sf.write(sound, 0.8 * audio, synth.spec.sample_rate)
    out = tmp_path / "p.json"
    assert _run(["invert", str(sound), "--synth", "fluidsynth", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["synth"] == "fluidsynth" and doc["model"].endswith("fluidsynth-conv6xl.keras")
    assert Patch.load(out, synth.spec).to_array(synth.spec).shape == (synth.spec.n_params,)
    assert doc["metrics"]["pcc_stft"] > 60.0


def test_midi_out_sends_the_patch_over_jack(models: dict[str, Path], sound: Path, tmp_path: Path,
                                            jack_server: str) -> None:
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    received: list[mido.Message] = []
    with backend.open_input("invert-recorder", virtual=True, callback=received.append):
        port = next(n for n in backend.get_output_names() if "invert-recorder" in n)
        out = tmp_path / "p.json"
        assert _run(["invert", str(sound), "--model", str(models["fluidsynth"]), "-o", str(out),
                     "--midi-out", port, "--midi-api", "jack", "--note", "60"]) == 0
        deadline = time.monotonic() + 5.0
        while not any(m.type == "note_off" for m in received) and time.monotonic() < deadline:
            time.sleep(0.05)
    spec = get_synth("fluidsynth").spec
    assert received[0].type == "program_change"
    assert sum(m.type == "control_change" and m.control == 99 for m in received) == spec.n_params - 1
    assert [m.type for m in received[-2:]] == ["note_on", "note_off"]


def test_refines_by_default_and_says_which_stages_ran(models: dict[str, Path], sound: Path,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    assert _run(["invert", str(sound), "--model", str(models["inversynth"]), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["refine"]["budget_seconds"] == 2.0 and doc["refine"]["renders"] > 1
    assert doc["stages"]["network"]["ms"] > 0 and doc["stages"]["refine"]["seconds"] > 0
    assert {"mss", "mfcc", "lsd_db", "sc"} <= set(doc["metrics"])
    printed = capsys.readouterr().out
    assert "network" in printed and "refinement" in printed and "renders" in printed
    assert _run(["invert", str(sound), "--model", str(models["inversynth"]), "-o", str(out),
                 "--refine", "0"]) == 0
    assert json.loads(out.read_text())["refine"] is None
    assert "refinement off" in capsys.readouterr().out


def test_pitch_outside_the_note_range_warns_and_transpose_auto_moves_it(
        models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rate = 22050
    t = np.arange(rate) / rate
    wav = tmp_path / "c4.wav"
    sf.write(wav, (0.5 * np.sin(2 * np.pi * 261.6 * t)).astype(np.float32), rate)
    out = tmp_path / "p.json"
    argv = ["invert", str(wav), "--model", str(models["inversynth"]), "-o", str(out), "--refine", "0"]
    assert _run(argv) == 0
    warnings = json.loads(out.read_text())["warnings"]
    assert any("input pitch 262 Hz (C4) is below inversynth's note range 440-1047 Hz" in w
               for w in warnings)
    assert "below inversynth's note range" in capsys.readouterr().out
    assert _run(argv + ["--transpose", "auto"]) == 0
    doc = json.loads(out.read_text())
    assert any(w.startswith("transposed +12 semitones") for w in doc["warnings"])
    assert not any("note range" in w for w in doc["warnings"])
    assert doc["stages"]["pitch"]["transpose_semitones"] == 12.0


@pytest.mark.parametrize("delay", [37, 328])
def test_late_input_is_aligned_to_the_note_on(models: dict[str, Path], delay: int) -> None:
    from instrument.inversion.model import load_inversion_model
    from instrument.inversion.pipeline import invert_audio

    inv = load_inversion_model(models["inversynth"])
    synth = get_synth("inversynth", spec=inv.spec)
    clip = synth.render(synth.random_patches(np.random.default_rng(5), 1))[0]
    late = np.concatenate([np.zeros(delay, np.float32), clip])
    result = invert_audio(inv, synth, late, 0.0)
    assert abs(result["stages"]["align"]["trimmed_samples"] - delay) <= 3
    assert result["stages"]["align"]["exact_onset"]
    np.testing.assert_allclose(result["audio"][:1000], clip[:1000] / np.abs(clip).max(), atol=0.05)


@pytest.mark.parametrize("api", ["jack", "alsa"])
def test_midi_out_without_a_midi_system_is_one_line_before_any_work(api: str, models: dict[str, Path],
                                                                     sound: Path, tmp_path: Path) -> None:
    """No JACK server / no ALSA sequencer: one line naming the flag, the port and the fix, exit 2,
    no output written, and none of libjack's or ALSA's own lines."""
    import os
    import subprocess
    import sys

    if api == "alsa" and os.path.exists("/dev/snd/seq"):
        pytest.skip("this machine has an ALSA sequencer")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), JACK_DEFAULT_SERVER="latent-no-such-server",
               JACK_NO_START_SERVER="1")
    out = tmp_path / "patch.json"
    out.write_text("{}")  # an earlier result: must survive
    proc = subprocess.run([sys.executable, "-m", "instrument.cli", "invert", str(sound), "--model",
                           str(models["inversynth"]), "-o", str(out), "--midi-out", "synth",
                           "--midi-api", api], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("latent invert: error: --midi-out 'synth': MIDI API")
    assert ("jackd" if api == "jack" else "modprobe") in lines[0]
    assert out.read_text() == "{}"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("where", ["-o", "--render", "batch -o"])
def test_an_output_that_cannot_be_written_fails_before_any_work(
        where: str, models: dict[str, Path], sound: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """/proc refuses new files even to root (for whom os.access allows everything): the probe
    write finds it before the model loads, in one line naming the path."""
    ok = tmp_path / "ok.json"
    argv = {"-o": [str(sound), "-o", "/proc/latent-none/p.json"],
            "--render": [str(sound), "-o", str(ok), "--render", "/proc/latent-r.wav"],
            "batch -o": [str(sound), str(sound.parent), "-o", "/proc/latent-out"]}[where]
    start = time.perf_counter()
    code = main(["invert", *argv, "--model", str(models["inversynth"])])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "/proc/latent-" in err[0] and "cannot write" in err[0]
    assert seconds < 5.0  # no model load, no inversion (a refined one takes several seconds)
    assert not ok.exists()
