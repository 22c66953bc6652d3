"""Sweep readout: bin statistics, (note, depth) scores read off frequency maps, row scatter,
geometry from a synth spec, and the errors of each."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.networks.config import InversionModelConfig, SweepReadoutConfig
from instrument.models.layers.sweep_pointer import ModulationSpectrum, PosteriorRead
from instrument.models.readout_geometry import sweep_geometry
from instrument.models.layers.sweep_readout import AddToRows, BinStatistics, SweepReadout
from instrument.synths.inversynth import InverSynth
from instrument.synths.registry import get_synth, load_spec

#: A sweep readout that fits a tiny 33-bin spectrogram: notes at bins 2..5, depths up to 4.
TINY_SWEEP = SweepReadoutConfig(sweep_note_bins=tuple(np.linspace(2.0, 5.0, 16)),
                                sweep_depth_bins=tuple(np.linspace(0.0, 4.0, 16)),
                                sweep_note_rows=(0, 1, 2, 3), sweep_depth_rows=(8, 9, 10, 11))
#: A tiny sweeptcn (8 frames x 33 bins) with that readout.
TINY_SWEEPTCN = {"n_bins": 33, "n_frames": 8, "width_scale": 0.1, "fc_units": 16, "sweep": TINY_SWEEP}
NOTES = (4.0, 5.0, 6.0, 7.0)
DEPTHS = (0.0, 1.0, 2.0, 3.0)


def _readout(harmonics: int = 1, oscillators: int = 2) -> SweepReadout:
    return SweepReadout(NOTES, DEPTHS, harmonics=harmonics, oscillators=oscillators)


def test_bin_statistics_are_the_time_mean_max_and_spread_of_every_bin(rng: np.random.Generator
                                                                       ) -> None:
    x = rng.random((2, 9, 5)).astype(np.float32)
    out = np.asarray(BinStatistics()(x))
    assert out.shape == (2, 5, 3)
    np.testing.assert_allclose(out[..., 0], x.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], x.max(axis=1), atol=1e-6)
    np.testing.assert_allclose(out[..., 2], x.std(axis=1), atol=1e-3)


def test_readout_finds_the_note_and_depth_whose_centre_and_edges_light_up() -> None:
    """Oscillator 1 plays note class 2 (bin 6) with depth class 3 (3 bins): its centre map peaks
    at bin 6, its upper edge at 9 and its lower edge at 3; oscillator 0's maps are flat."""
    bins, oscillators = 16, 2
    maps = np.zeros((1, bins, 3 * oscillators), dtype=np.float32)
    for map_index, peak in ((0, 6), (1, 9), (2, 3)):
        maps[0, peak, map_index * oscillators + 1] = 5.0
    scores = np.asarray(_readout()(maps))
    assert scores.shape == (1, 2 * oscillators, 4)
    assert int(np.argmax(scores[0, 1])) == 2          # oscillator 1's note
    assert int(np.argmax(scores[0, oscillators + 1])) == 3  # oscillator 1's depth
    np.testing.assert_allclose(scores[0, 0], np.log(4.0), rtol=1e-6)  # flat: logsumexp of 4 zeros
    # the joint score of (note 2, depth 3) sums all three maps
    np.testing.assert_allclose(scores[0, 1, 2], np.log(np.exp(15.0) + 3 * np.exp(5.0)), rtol=1e-5)


def test_readout_interpolates_between_bins_and_reads_harmonics() -> None:
    readout = SweepReadout((4.5,), (0.0,), harmonics=2, oscillators=1)
    maps = np.zeros((1, 12, 6), dtype=np.float32)
    maps[0, 4, 0], maps[0, 5, 0] = 1.0, 3.0  # centre of harmonic 1, read at bin 4.5
    maps[0, 9, 3] = 10.0                     # centre of harmonic 2, read at bin 9
    np.testing.assert_allclose(np.asarray(readout(maps))[0, :, 0], [12.0, 12.0], rtol=1e-6)


def test_add_to_rows_adds_each_extra_row_to_its_target() -> None:
    logits = np.zeros((1, 5, 3), dtype=np.float32)
    extra = np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.float32)
    out = np.asarray(AddToRows((3, 0), 5)([logits, extra]))
    np.testing.assert_array_equal(out[0, 3], [1, 2, 3])
    np.testing.assert_array_equal(out[0, 0], [4, 5, 6])
    assert not out[0, [1, 2, 4]].any()


@pytest.mark.parametrize("layer, inputs", [
    (BinStatistics(), [(6, 10)]),
    (ModulationSpectrum(rates=3), [(6, 10)]),
    (PosteriorRead(NOTES, DEPTHS, harmonics=2), [(24, 5), (3, 4, 4)]),
    (SweepReadout(NOTES, DEPTHS, harmonics=1, oscillators=2, return_joint=True), [(16, 6)]),
    (SweepReadout(NOTES, DEPTHS, harmonics=2, oscillators=2), [(24, 12)]),
    (SweepReadout(NOTES, DEPTHS, harmonics=2, oscillators=2, cell_units=3), [(24, 12)]),
    (AddToRows((2, 0), 4), [(4, 3), (2, 3)]),
])
def test_sweep_layers_round_trip_alone(layer: keras.layers.Layer, inputs: list[tuple[int, int]],
                                       tmp_path: Path, rng: np.random.Generator) -> None:
    tensors = [keras.Input(shape=s) for s in inputs]
    model = keras.Model(tensors, layer(tensors[0] if len(tensors) == 1 else tensors))
    x = [rng.random((2, *s)).astype(np.float32) for s in inputs]
    expected = keras.tree.flatten(model(x))
    model.save(tmp_path / "layer.keras")
    loaded = keras.saving.load_model(tmp_path / "layer.keras", safe_mode=True)
    for got, want in zip(keras.tree.flatten(loaded(x)), expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_bad_readout_arguments_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="as many note as depth"):
        SweepReadout((1.0, 2.0), (0.0,))
    with pytest.raises(ConfigError, match="note_bins"):
        SweepReadout((0.0, 2.0), (0.0, 1.0))
    with pytest.raises(ConfigError, match="depth_bins"):
        SweepReadout((1.0, 2.0), (-1.0, 1.0))
    with pytest.raises(ConfigError, match="harmonics"):
        SweepReadout(NOTES, DEPTHS, harmonics=0)
    with pytest.raises(ConfigError, match="cell_units"):
        SweepReadout(NOTES, DEPTHS, cell_units=-1)
    with pytest.raises(ConfigError, match="sweep_cell_units"):
        dataclasses.replace(TINY_SWEEP, sweep_cell_units=-1)
    with pytest.raises(ConfigError, match="sweep_cell_units is for the sweeptcn arch"):
        InversionModelConfig.from_dict({"arch": "freqtcn", "sweep_cell_units": 8})
    with pytest.raises(ConfigError, match="beyond"):
        _readout(harmonics=2).build((None, 16, 12))  # reads up to bin 2 * (7 + 3) = 20
    with pytest.raises(ConfigError, match="maps"):
        _readout().build((None, 16, 5))
    with pytest.raises(ConfigError, match="distinct"):
        AddToRows((1, 1), 4)
    with pytest.raises(ConfigError, match="distinct"):
        AddToRows((4,), 4)


def test_geometry_of_inversynth_puts_notes_and_depths_in_bins() -> None:
    synth = get_synth("inversynth")
    geometry = sweep_geometry(synth)
    spec = synth.spec
    assert [spec.names[r] for r in geometry["sweep_note_rows"]] == ["f_sin", "f_saw", "f_tri", "f_sqr"]
    assert [spec.names[r] for r in geometry["sweep_depth_rows"]] == ["B_sin", "B_saw", "B_tri", "B_sqr"]
    bin_hz = spec.sample_rate / spec.n_fft  # 32 Hz
    np.testing.assert_allclose(geometry["sweep_note_bins"][0], 440.0 / bin_hz)
    np.testing.assert_allclose(geometry["sweep_depth_bins"][-1], 1500.0 / bin_hz)
    config = InversionModelConfig(arch="sweeptcn", head="softmax",
                                  sweep=SweepReadoutConfig(**geometry, sweep_harmonics=3))
    assert config.sweep is not None and config.sweep.sweep_note_rows == (0, 1, 2, 3)


def test_geometry_needs_fm_oscillators_with_depths_in_hz() -> None:
    with pytest.raises(ConfigError, match="FM oscillators"):
        sweep_geometry(get_synth("fluidsynth"))
    spec = load_spec("inversynth")
    radians = dataclasses.replace(spec, options={**spec.options, "fm_depth_units": "radians"})
    with pytest.raises(ConfigError, match="Hz"):
        sweep_geometry(InverSynth(radians))


def test_sweeptcn_configs_are_checked() -> None:
    geometry = sweep_geometry(get_synth("inversynth"))
    sweep = SweepReadoutConfig(**geometry)
    with pytest.raises(ConfigError, match="sweeptcn needs sweep"):
        InversionModelConfig(arch="sweeptcn", head="softmax")
    with pytest.raises(ConfigError, match="one note and one depth row"):
        SweepReadoutConfig(**{**geometry, "sweep_note_rows": (0, 1, 2)})
    with pytest.raises(ConfigError, match="softmax or sigmoid"):
        InversionModelConfig(arch="sweeptcn", head="regression", sweep=sweep)
    with pytest.raises(ConfigError, match="distinct"):
        SweepReadoutConfig(**{**geometry, "sweep_depth_rows": (0, 9, 10, 11)})
    with pytest.raises(ConfigError, match="distinct parameter indices in 0..22"):
        InversionModelConfig(arch="sweeptcn", head="softmax",
                             sweep=SweepReadoutConfig(**{**geometry, "sweep_depth_rows": (8, 9, 10, 23)}))
    with pytest.raises(ConfigError, match="beyond"):  # 4 harmonics of 2546 Hz pass 8 kHz
        InversionModelConfig(arch="sweeptcn", head="softmax",
                             sweep=dataclasses.replace(sweep, sweep_harmonics=4))
    with pytest.raises(ConfigError, match="sweep_harmonics"):
        dataclasses.replace(sweep, sweep_harmonics=0)
    with pytest.raises(ConfigError, match="one position per class"):
        InversionModelConfig(arch="sweeptcn", head="softmax",
                             sweep=SweepReadoutConfig(**{**geometry, "sweep_note_bins": (14.0, 15.0)}))
    with pytest.raises(ConfigError, match="must be a list"):
        SweepReadoutConfig(**{**geometry, "sweep_note_rows": 3})
    with pytest.raises(ConfigError, match="must list integers"):
        SweepReadoutConfig(**{**geometry, "sweep_note_rows": (0.5, 1, 2, 3)})
    with pytest.raises(ConfigError, match="sweep_read must be a bool"):
        SweepReadoutConfig(**geometry, sweep_read=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="trajectory_rates and trajectory_rate_rows"):
        SweepReadoutConfig(**geometry, trajectory_rate_rows=(12, 13, 14, 15))


def test_joint_probabilities_agree_with_the_readout_and_plot(tmp_path: Path,
                                                              rng: np.random.Generator) -> None:
    from instrument.inversion.networks.build import build_inversion_model
    from benchmarks.sweep_plot import sweep_joint_probabilities
    from instrument.plots import plot_sweep_readout

    config = InversionModelConfig(arch="sweeptcn", head="softmax", **TINY_SWEEPTCN)
    model = build_inversion_model(config)
    x = rng.random((2, 8, 33)).astype(np.float32)
    probabilities = sweep_joint_probabilities(model, x)
    assert probabilities.shape == (2, 4, 16, 16)
    np.testing.assert_allclose(probabilities.sum(axis=(2, 3)), 1.0, rtol=1e-6)
    # the readout's note scores are the log-sum-exp of the same joint scores over depths
    maps = keras.Model(model.input, model.get_layer("sweep_maps").output)(x)
    notes = np.asarray(model.get_layer("sweep_readout")(maps)[0])[:, :4]
    np.testing.assert_array_equal(notes.argmax(-1), probabilities.sum(axis=3).argmax(-1))
    path = plot_sweep_readout(tmp_path / "sweep.png", probabilities[0], ["a", "b", "c", "d"],
                              np.arange(16) * 10.0, np.arange(16) * 5.0, np.zeros((4, 2), int))
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="no sweep readout"):
        sweep_joint_probabilities(build_inversion_model(InversionModelConfig(
            arch="freqtcn", n_bins=33, n_frames=8, width_scale=0.1, fc_units=16)), x)
    with pytest.raises(ConfigError, match="one name per"):
        plot_sweep_readout(tmp_path / "bad.png", probabilities[0], ["a"], [1.0], [1.0])


def test_modulation_spectrum_finds_the_rate_a_bin_moves_at() -> None:
    from instrument.models.layers.sweep_pointer import ModulationSpectrum

    frames = 32
    moving = np.cos(2 * np.pi * 5 * np.arange(frames) / frames).astype(np.float32)
    x = np.stack([moving, np.ones(frames, np.float32)], axis=1)[None]  # bin 0 moves, bin 1 is still
    out = np.asarray(ModulationSpectrum(rates=8, scale=2.0)(x))
    assert out.shape == (1, 2, 8)
    assert int(np.argmax(out[0, 0])) == 4  # rate 5 is column 4 (rates start at 1)
    np.testing.assert_allclose(out[0, 0, 4], 1.0, rtol=1e-4)  # |DFT| = frames / 2, x 2 / frames
    np.testing.assert_allclose(out[0, 1], 0.0, atol=1e-3)
    with pytest.raises(ConfigError, match="rates"):
        ModulationSpectrum(rates=20).build((None, 32, 4))
    with pytest.raises(ConfigError, match="scale"):
        ModulationSpectrum(scale=0.0)


def test_posterior_read_averages_values_at_each_oscillators_sweep_positions() -> None:
    """All probability on (note 1, depth 2) of oscillator 0: it reads bin 5 (centre), 5 + 2 = 7
    (upper edge) and 5 - 2 = 3 (lower edge); oscillator 1 split evenly between two pairs."""
    from instrument.models.layers.sweep_pointer import PosteriorRead

    layer = PosteriorRead(NOTES, DEPTHS, harmonics=1)
    values = np.zeros((1, 16, 2), dtype=np.float32)
    values[0, :, 0] = np.arange(16)        # channel 0: the bin index
    values[0, :, 1] = 1.0                  # channel 1: constant
    joint = np.full((1, 2, 4, 4), -50.0, dtype=np.float32)
    joint[0, 0, 1, 2] = 50.0
    joint[0, 1, 0, 0] = joint[0, 1, 3, 0] = 50.0  # centres at bins 4 and 7
    out = np.asarray(layer([values, joint])).reshape(2, 3, 2)
    np.testing.assert_allclose(out[0, :, 0], [5.0, 7.0, 3.0], atol=1e-4)
    np.testing.assert_allclose(out[:, :, 1], 1.0, atol=1e-4)
    np.testing.assert_allclose(out[1, 0, 0], 5.5, atol=1e-4)
    with pytest.raises(ConfigError, match="PosteriorRead needs"):
        layer.build([(None, 16, 2), (None, 2, 4, 5)])


def test_sweep_read_belongs_to_sweeptcn() -> None:
    with pytest.raises(ConfigError, match="sweep_read is for the sweeptcn arch"):
        InversionModelConfig.from_dict({"arch": "freqtcn", "sweep_read": True})
    with pytest.raises(ConfigError, match="sweep .*is for the sweeptcn arch"):
        InversionModelConfig(arch="freqtcn", sweep=TINY_SWEEP)


def test_sweeptcn_with_sweep_read_round_trips(tmp_path: Path, rng: np.random.Generator) -> None:
    from instrument.inversion.model import load_inversion_model, save_inversion_model
    from instrument.inversion.networks.build import build_inversion_model
    from training.inversion.train import spec_dict

    config = InversionModelConfig(arch="sweeptcn", head="softmax", **{
        **TINY_SWEEPTCN, "sweep": dataclasses.replace(TINY_SWEEP, sweep_harmonics=2, sweep_read=True)})
    model = build_inversion_model(config)
    assert model.get_layer("posterior_read") is not None
    x = rng.random((2, 8, 33)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    path = save_inversion_model(model, tmp_path / "read.keras", config, "inversynth",
                                spec_dict("inversynth"))
    loaded = load_inversion_model(path)
    assert loaded.config == config
    np.testing.assert_allclose(np.asarray(loaded.model(x, training=False)), expected, atol=1e-6)


def test_the_cell_network_starts_as_the_plain_sum_and_then_weighs_the_reads(
        rng: np.random.Generator) -> None:
    """Output weights start at zero, so a fresh readout scores pairs as the sum of its reads;
    with weights set, the scores change and follow every oscillator's reads at a pair."""
    plain = SweepReadout(NOTES, DEPTHS, harmonics=2, oscillators=2)
    cells = SweepReadout(NOTES, DEPTHS, harmonics=2, oscillators=2, cell_units=4)
    maps = rng.random((2, 24, 12)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(cells(maps)), np.asarray(plain(maps)), rtol=1e-6)
    cells.cell_output.assign(np.ones((2, 4), dtype=np.float32))
    changed = np.asarray(cells(maps))
    assert not np.allclose(changed, np.asarray(plain(maps)))
    assert cells.cell_kernel.shape == (2 * 3 * 2, 2 * 4)
