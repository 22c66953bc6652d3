"""The dx7 synth: voice bytes agree with dexed-py's Patch, sysex files round-trip and bad ones fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dexed")

from instrument.errors import SynthError  # noqa: E402
from instrument.synths.dx7.sysex import checksum, parse_dump, voice_dump  # noqa: E402
from instrument.synths.dx7.voice import LAYOUT  # noqa: E402
from instrument.synths.registry import get_synth  # noqa: E402


def test_voice_bytes_are_what_dexed_patch_writes(dx7) -> None:
    import dexed

    values = dx7.random_patches(np.random.default_rng(3), 5)
    voices = dx7.voices(values)
    for row, voice in zip(values, voices):
        patch = dexed.Patch()
        patch.algorithm = int(row[dx7.spec.index("algorithm")])
        patch.feedback = int(row[dx7.spec.index("feedback")])
        for k in range(6):
            op = patch.op[k]
            op.output_level = int(row[dx7.spec.index(f"op{k + 1}_level")])
            op.frequency_coarse = int(row[dx7.spec.index(f"op{k + 1}_coarse")])
            op.envelope.rates = [int(row[dx7.spec.index(f"op{k + 1}_r{i}")]) for i in range(1, 5)]
            op.envelope.levels = [int(row[dx7.spec.index(f"op{k + 1}_l{i}")]) for i in range(1, 4)] + [0]
        assert patch.to_sysex() == voice.tobytes()


def test_render_is_deterministic_and_below_full_scale_for_most_prior_patches(dx7) -> None:
    values = dx7.random_patches(np.random.default_rng(0), 200)
    audio = dx7.render_raw(values)
    assert audio.shape == (200, dx7.spec.n_samples) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio[:3], dx7.render_raw(values[:3]))
    np.testing.assert_allclose(np.abs(dx7.render(values[:3])).max(axis=1), 1.0, rtol=1e-6)
    peak = np.abs(audio).max(axis=1)
    assert (peak < 1e-3).mean() < 0.02 and (peak >= 1.0).mean() < 0.05


def test_carrier_outputs_sum_to_the_output(dx7) -> None:
    values = dx7.random_patches(np.random.default_rng(1), 3)
    operators = dx7.render_operators(values)
    audio = dx7.render_raw(values)
    for row, carriers in enumerate(dx7.carriers(values)):
        np.testing.assert_array_equal(operators[row, list(carriers)].sum(axis=0), audio[row])


def test_single_voice_syx_round_trips(dx7, tmp_path: Path) -> None:
    from instrument.synths.dx7.synth import read_voices

    values = dx7.random_patches(np.random.default_rng(2), 1)
    path = dx7.write_voice(tmp_path / "v.syx", values, name="BRASS 1")
    data = path.read_bytes()
    assert len(data) == 163 and data[:6] == bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B])
    assert data[-2] == checksum(data[6:-2]) and data[-1] == 0xF7
    back = dx7.values_from_voices(read_voices(path))
    back[0, dx7.spec.index("note")] = values[0, dx7.spec.index("note")]
    np.testing.assert_array_equal(back, values)
    np.testing.assert_array_equal(dx7.render(back), dx7.render(values))


def test_bank_syx_round_trips_through_dexed(dx7, tmp_path: Path) -> None:
    import dexed

    from instrument.synths.dx7.synth import read_voices

    values = dx7.random_patches(np.random.default_rng(4), 5)
    path = dx7.write_bank(tmp_path / "bank.syx", values)
    assert path.stat().st_size == 4104
    assert len(dexed.Patch.load_bank(str(path))) == 32
    voices = read_voices(path)
    assert voices.shape == (32, 156)
    np.testing.assert_array_equal(voices[:5, :145], dx7.voices(values)[:, :145])


@pytest.mark.parametrize("damage, message", [
    (lambda d: b"\x00" + d[1:], "does not start with a sysex message"),
    (lambda d: d[:1] + b"\x41" + d[2:], "not a DX7 dump"),
    (lambda d: d[:100], "is 163 bytes, this file has 100"),
    (lambda d: d[:50] + bytes([(d[50] + 1) & 0x7F]) + d[51:], "checksum"),
    (lambda d: d[:-1] + b"\x00", "ending in F7"),
])
def test_a_damaged_syx_is_one_line_naming_the_file(dx7, tmp_path: Path, damage, message: str) -> None:
    from instrument.synths.dx7.synth import read_voices

    good = voice_dump(dx7.voices(dx7.random_patches(np.random.default_rng(5), 1))[0])
    path = tmp_path / "bad.syx"
    path.write_bytes(damage(good))
    with pytest.raises(SynthError, match=message) as info:
        read_voices(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_voice_byte_out_of_range_names_the_parameter(tmp_path: Path) -> None:
    from instrument.synths.dx7.synth import init_voice, read_voices

    voice = init_voice()
    voice[LAYOUT["algorithm"][0]] = 40
    path = tmp_path / "v.syx"
    path.write_bytes(voice_dump(voice))
    with pytest.raises(SynthError, match="'algorithm' is 40, outside the DX7 range 0..31"):
        read_voices(path)


def test_parse_dump_accepts_every_channel() -> None:
    from instrument.synths.dx7.synth import init_voice

    kind, payload = parse_dump(voice_dump(init_voice(), channel=9), "x")
    assert kind == "voice" and len(payload) == 155


@pytest.mark.parametrize("parameter, message", [
    ("{name: op7_level, min: 0, max: 99, levels: 34}", "'op7_level' is not a DX7 voice parameter"),
    ("{name: op1_level, min: 0, max: 99, levels: 16}", "'op1_level' must take whole values in 0..99"),
])
def test_a_bad_dx7_spec_fails_naming_the_parameter(tmp_path: Path, parameter: str, message: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: dx7\nsample_rate: 16384\nseconds: 1.0\nparameters:\n  - {parameter}\n")
    with pytest.raises(SynthError, match=message):
        get_synth("dx7", spec=spec)


def test_only_the_dx7_synth_module_imports_dexed() -> None:
    import ast

    root = Path(__file__).resolve().parents[1]
    importers = []
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "dexed" or n.startswith("dexed.") for n in names):
                importers.append(path.relative_to(root).as_posix())
    assert importers == ["instrument/synths/dx7/synth.py"]
