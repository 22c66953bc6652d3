"""FluidSynth over SoundFont NRPN: every exposed parameter audibly changes the render."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from instrument.errors import SynthError
from instrument.synths.registry import get_synth, load_spec
from instrument.synths.base import Synth


def _available() -> bool:
    if shutil.which("fluidsynth") is None:
        return False
    try:
        from instrument.synths.soundfont import find_soundfont

        find_soundfont(None)
    except SynthError:
        return False
    return True


needs_fluidsynth = pytest.mark.skipif(
    not _available(), reason="fluidsynth or FluidR3_GM.sf2 missing (Debian: fluidsynth, "
    "fluid-soundfont-gm)")


@pytest.fixture(scope="module")
def synth() -> Synth:
    return get_synth("fluidsynth")


def test_messages_follow_the_soundfont_nrpn_protocol() -> None:
    spec = load_spec("fluidsynth")
    from instrument.synths.midi_send import patch_messages

    values = spec.default_values()
    values[spec.index("cutoff_cents")] = -2400.0
    messages = patch_messages(values, spec, channel=3)
    assert messages[0].type == "program_change"
    i = next(k for k, m in enumerate(messages) if m.type == "control_change" and m.value == 8
             and m.control == 98)
    select, data_lsb, data_msb = messages[i - 1], messages[i + 1], messages[i + 2]
    assert (select.control, select.value) == (99, 120)
    assert (data_lsb.control, data_msb.control) == (38, 6)  # FluidSynth applies on CC 6
    assert (data_msb.value << 7) + data_lsb.value == 8192 - 1200  # -2400 cents / 2 per step
    assert all(m.channel == 3 for m in messages)


@needs_fluidsynth
@pytest.mark.slow
def test_each_parameter_changes_the_audio(synth: Synth) -> None:
    """For every shipped program, each generator's extremes give different spectrograms."""
    spec = synth.spec
    base = spec.default_values()
    base[spec.index("filter_env_cents")] = 4800.0  # so the filter envelope's attack is heard
    base[spec.index("attack_tc")] = 0.0  # and the decay towards a quieter sustain level
    base[spec.index("sustain_cb")] = 240.0
    programs = spec.param("waveform").grid()
    rows = [base, base]
    for program in programs:
        base_p = base.copy()
        base_p[spec.index("waveform")] = program
        for i, p in enumerate(spec.parameters):
            lo, hi = base_p.copy(), base_p.copy()
            lo[i], hi[i] = p.grid()[0], p.grid()[-1]
            rows += [lo, hi]
    audio = synth.render(np.stack(rows))
    assert audio.shape == (len(rows), spec.n_samples)
    assert np.all(np.abs(audio).max(axis=1) > 0.99)  # every clip sounds (normalised)
    feats = synth.features(audio)
    noise = float(np.abs(feats[0] - feats[1]).mean())  # same patch twice
    assert noise < 0.005
    k = 2
    for program in programs:
        for p in spec.parameters:
            change = float(np.abs(feats[k] - feats[k + 1]).mean())
            k += 2
            assert change > 5 * max(noise, 1e-3), (
                f"program {program:g}: {p.name} does not change the sound ({change:.4f})")


@needs_fluidsynth
def test_cutoff_darkens_the_sound(synth: Synth) -> None:
    spec = synth.spec
    dark, bright = spec.default_values(), spec.default_values()
    dark[spec.index("cutoff_cents")] = -7200.0
    bright[spec.index("cutoff_cents")] = 0.0
    for v in (dark, bright):
        v[spec.index("filter_env_cents")] = 0.0
        v[spec.index("waveform")] = 81.0  # saw lead
    feats = synth.features(synth.render(np.stack([dark, bright])))
    high = feats[:, 10:50, 128:].mean(axis=(1, 2))  # above 4 kHz while the key is held
    assert high[0] < 0.5 * high[1]


def test_spec_without_midi_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: fluidsynth\nsample_rate: 16384\nseconds: 1\n"
                    "parameters:\n  - {name: cutoff, min: 0, max: 1}\n")
    with pytest.raises(SynthError, match="'cutoff' has no MIDI mapping"):
        get_synth("fluidsynth", spec=path)


@needs_fluidsynth
def test_bulk_rendering_uses_one_process_per_file_of_patches(synth: Synth) -> None:
    from training.synth_dataset import render_features

    assert synth.render_batch == synth.spec.options["patches_per_file"] == 256
    assert get_synth("inversynth").render_batch == 64
    values = synth.random_patches(np.random.default_rng(4), 3)
    features = render_features(synth, values)
    assert features.shape == (3, synth.spec.n_frames, synth.spec.n_bins)
    np.testing.assert_allclose(features, render_features(synth, values, chunk=1), atol=0.05)
