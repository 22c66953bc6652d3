"""dx7 voice files from the CLI: `latent synth random/render` and `latent invert` write and read .syx."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("dexed")

from instrument.cli import main  # noqa: E402
from instrument.errors import SynthError  # noqa: E402
from instrument.synths.patch import Patch  # noqa: E402
from instrument.synths.patch_sources import fit_prior, load_patch_values_any  # noqa: E402
from instrument.synths.registry import KNOWN_SYNTHS, get_synth  # noqa: E402
from instrument.synths.voice_files import (VOICE_SYNTHS, cartridge_paths, takes_voices,  # noqa: E402
                                           write_cartridges)


@pytest.fixture(scope="module")
def dx7_model(tiny_inversion_model) -> Path:
    """An untrained small network over the dx7 spec."""
    return tiny_inversion_model("dx7")


def _sounds(dx7, folder: Path, names: list[str], seed: int = 7) -> list[Path]:
    """One rendered dx7 note per name, as ``folder/<name>.wav``."""
    folder.mkdir(parents=True, exist_ok=True)
    audio = dx7.render(dx7.random_patches(np.random.default_rng(seed), len(names)))
    paths = []
    for name, clip in zip(names, audio):
        sf.write(folder / f"{name}.wav", 0.7 * clip, dx7.spec.sample_rate)
        paths.append(folder / f"{name}.wav")
    return paths


def _voice_values(dx7, path: Path, note: float | None = None) -> np.ndarray:
    """The patches of a .syx ``(n, n_params)``, their note set to ``note`` (a voice has none)."""
    from instrument.synths.dx7.synth import read_voices

    values = dx7.values_from_voices(read_voices(path))
    if note is not None:
        values[:, dx7.spec.index("note")] = note
    return values


def _one_error_line(err: str, *parts: str) -> None:
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    for part in parts:
        assert part in lines[0], lines[0]


def test_the_voice_synths_are_the_synths_that_take_voices() -> None:
    for name in KNOWN_SYNTHS:
        try:
            synth = get_synth(name)
        except SynthError as exc:  # fluidsynth without its binary: nothing to compare
            pytest.skip(str(exc))
        assert takes_voices(synth) == (name in VOICE_SYNTHS), name


def test_random_writes_a_prior_patch_and_its_voice(dx7, tmp_path: Path) -> None:
    out = tmp_path / "P.json"
    assert main(["synth", "random", "--synth", "dx7", "--seed", "3", "-o", str(out)]) == 0
    values = Patch.load(out, dx7.spec).to_array(dx7.spec)
    np.testing.assert_array_equal(values, dx7.random_patches(np.random.default_rng(3), 1)[0])
    voice = tmp_path / "P.syx"
    assert voice.stat().st_size == 163
    back = _voice_values(dx7, voice, note=values[dx7.spec.index("note")])
    np.testing.assert_array_equal(back[0], values)


def test_random_from_a_bank_prior_and_bad_priors(dx7, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bank = dx7.write_bank(tmp_path / "bank.syx", dx7.random_patches(np.random.default_rng(1), 8))
    assert load_patch_values_any(dx7.spec, "dx7", bank).shape == (32, dx7.spec.n_params)
    assert fit_prior(dx7.spec, "dx7", bank).mean.shape == (dx7.spec.n_params,)
    assert main(["synth", "random", "--synth", "dx7", "--prior", str(bank), "-o",
                 str(tmp_path / "R.json")]) == 0
    assert (tmp_path / "R.syx").stat().st_size == 163
    capsys.readouterr()
    one = dx7.write_voice(tmp_path / "one.syx", dx7.random_patches(np.random.default_rng(2), 1))
    assert main(["synth", "random", "--synth", "dx7", "--prior", str(one), "-o", str(tmp_path / "S.json")]) == 2
    _one_error_line(capsys.readouterr().err, str(one), "one voice", "at least 2 patches")
    assert main(["synth", "random", "--synth", "inversynth", "--prior", str(bank), "-o",
                 str(tmp_path / "T.json")]) == 2
    _one_error_line(capsys.readouterr().err, str(bank), "'inversynth' does not take")
    with pytest.raises(SynthError, match="does not take"):
        load_patch_values_any(get_synth("inversynth").spec, "inversynth", bank)


def test_random_never_overwrites_its_prior_and_wants_a_json_name(dx7, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bank = dx7.write_bank(tmp_path / "P.syx", dx7.random_patches(np.random.default_rng(1), 4))
    before = bank.read_bytes()
    assert main(["synth", "random", "--synth", "dx7", "--prior", str(bank), "-o", str(tmp_path / "P.json")]) == 2
    _one_error_line(capsys.readouterr().err, "P.syx", "refusing to overwrite an input")
    assert bank.read_bytes() == before and not (tmp_path / "P.json").exists()
    assert main(["synth", "random", "--synth", "dx7", "-o", str(tmp_path / "Q.syx")]) == 2
    _one_error_line(capsys.readouterr().err, "Q.syx", "name the patch JSON")


def test_render_a_voice_file_plays_the_default_or_given_note(dx7, tmp_path: Path) -> None:
    patch = tmp_path / "P.json"
    assert main(["synth", "random", "--synth", "dx7", "--seed", "5", "-o", str(patch)]) == 0
    wav = {}
    for name, source, note in (("syx", "P.syx", []), ("json60", "P.json", ["--note", "60"]),
                               ("syx72", "P.syx", ["--note", "72"]), ("json72", "P.json", ["--note", "72"])):
        wav[name] = tmp_path / f"{name}.wav"
        assert main(["synth", "render", str(tmp_path / source), "--synth", "dx7", "-o", str(wav[name])]
                    + note) == 0
    audio = {k: sf.read(v, dtype="float32")[0] for k, v in wav.items()}
    np.testing.assert_array_equal(audio["syx"], audio["json60"])   # a voice has no note: the default, 60
    np.testing.assert_array_equal(audio["syx72"], audio["json72"])
    assert not np.array_equal(audio["syx"], audio["syx72"])


@pytest.mark.parametrize("case, parts", [
    ("algorithm 40", ["bad.json", "'algorithm'", "40"]),
    ("op1_r1 150", ["bad.json", "'op1_r1'", "150"]),
    ("bank", ["bank.syx", "bank of 32 voices", "one voice"]),
    ("damaged", ["bad.syx", "checksum"]),
    ("note 20", ["--note 20", "48..96"]),
])
def test_render_bad_input_is_one_line_and_exit_2(dx7, tmp_path: Path, case: str, parts: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    values = dx7.random_patches(np.random.default_rng(4), 1)
    Patch.from_array(dx7.spec, values[0]).save(tmp_path / "good.json")
    argv = ["synth", "render", "--synth", "dx7", "-o", str(tmp_path / "x.wav")]
    if case in ("algorithm 40", "op1_r1 150"):
        name, value = case.split()
        doc = json.loads((tmp_path / "good.json").read_text())
        doc["values"][name] = float(value)
        (tmp_path / "bad.json").write_text(json.dumps(doc))
        argv.append(str(tmp_path / "bad.json"))
    elif case == "bank":
        argv.append(str(dx7.write_bank(tmp_path / "bank.syx", values)))
    elif case == "damaged":
        data = bytearray(dx7.write_voice(tmp_path / "v.syx", values).read_bytes())
        data[40] = (data[40] + 1) & 0x7F
        (tmp_path / "bad.syx").write_bytes(bytes(data))
        argv.append(str(tmp_path / "bad.syx"))
    else:
        argv += [str(tmp_path / "good.json"), "--note", "20"]
    assert main(argv) == 2
    _one_error_line(capsys.readouterr().err, *parts)
    assert not (tmp_path / "x.wav").exists()


def test_cartridges_split_by_32(dx7, tmp_path: Path) -> None:
    from instrument.synths.dx7.synth import read_voices

    assert cartridge_paths(tmp_path, 0) == []
    assert [p.name for p in cartridge_paths(tmp_path, 32)] == ["cartridge.syx"]
    assert [p.name for p in cartridge_paths(tmp_path, 33)] == ["cartridge-1.syx", "cartridge-2.syx"]
    values = dx7.random_patches(np.random.default_rng(9), 33)
    names = [f"v{i}" for i in range(33)]
    written = write_cartridges(dx7, values, names, tmp_path)
    assert [(p.name, len(n)) for p, n in written] == [("cartridge-1.syx", 32), ("cartridge-2.syx", 1)]
    np.testing.assert_array_equal(read_voices(tmp_path / "cartridge-2.syx")[0, :145],
                                  dx7.voices(values[32:])[0, :145])
    assert bytes(read_voices(tmp_path / "cartridge-2.syx")[0, 145:155]).decode() == "v32".ljust(10)


def test_invert_writes_a_voice_beside_the_patch(dx7, dx7_model: Path, tmp_path: Path) -> None:
    (sound,) = _sounds(dx7, tmp_path / "in", ["brass"])
    out = tmp_path / "out" / "brass.json"
    assert main(["invert", str(sound), "--model", str(dx7_model), "--refine", "0", "-o", str(out)]) == 0
    values = Patch.from_dict(json.loads(out.read_text()), dx7.spec).to_array(dx7.spec)
    voice = out.with_suffix(".syx")
    back = _voice_values(dx7, voice, note=values[dx7.spec.index("note")])
    np.testing.assert_array_equal(back[0], values)
    np.testing.assert_array_equal(dx7.render(back), dx7.render(values[None]))
    assert sorted(p.name for p in out.parent.iterdir()) == ["brass.json", "brass.syx"]  # no leftovers


def test_invert_refuses_outputs_that_clash_with_the_voice_file(dx7, dx7_model: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (sound,) = _sounds(dx7, tmp_path, ["a"])
    base = ["invert", str(sound), "--model", str(dx7_model), "--refine", "0"]
    assert main(base + ["-o", str(tmp_path / "p.syx")]) == 2
    _one_error_line(capsys.readouterr().err, "p.syx", "name the patch JSON")
    assert main(base + ["-o", str(tmp_path / "p.json"), "--render", str(tmp_path / "p.syx")]) == 2
    _one_error_line(capsys.readouterr().err, "p.syx", "voice file")
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "p.syx").exists()


def test_invert_batch_writes_voices_and_a_cartridge(dx7, dx7_model: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from instrument.synths.dx7.synth import read_voices

    a, b = _sounds(dx7, tmp_path / "in", ["horn", "bell"])
    (c,) = _sounds(dx7, tmp_path / "in" / "sub", ["pluck"], seed=8)
    out = tmp_path / "out"
    assert main(["invert", str(a), str(b), str(tmp_path / "in" / "sub"), "--model", str(dx7_model),
                 "--refine", "0", "-o", str(out)]) == 0
    assert "cartridge.syx: 3 voices (horn, bell, pluck)" in capsys.readouterr().out
    bank = read_voices(out / "cartridge.syx")
    for row, name in enumerate(["horn", "bell", "pluck"]):
        values = Patch.from_dict(json.loads((out / f"{name}.json").read_text()), dx7.spec).to_array(dx7.spec)
        note = values[dx7.spec.index("note")]
        single = _voice_values(dx7, out / f"{name}.syx", note=note)
        in_bank = dx7.values_from_voices(bank[row:row + 1])
        in_bank[:, dx7.spec.index("note")] = note
        np.testing.assert_array_equal(single[0], values)
        np.testing.assert_array_equal(in_bank[0], values)
        assert bytes(bank[row, 145:155]).decode().rstrip() == name
    assert not list(out.glob(".*"))  # every file renamed into place


def test_invert_batch_refuses_an_input_whose_voice_is_the_cartridge(dx7, dx7_model: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _sounds(dx7, tmp_path / "in", ["cartridge", "other"])
    out = tmp_path / "out"
    assert main(["invert", str(tmp_path / "in"), "--model", str(dx7_model), "--refine", "0",
                 "-o", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, "cartridge.syx", "32-voice bank", "cartridge.wav")
    assert not out.exists()
