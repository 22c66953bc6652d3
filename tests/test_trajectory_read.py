"""Trajectory read: reads along each oscillator's frame-by-frame FM path, rate scores, the
``sweeptcn`` option that uses them, its geometry from a synth, and the errors of each."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import InversionModelConfig, SweepReadoutConfig
from instrument.synths.inversynth import InverSynth
from instrument.synths.registry import get_synth, load_spec
from instrument.models.readout_geometry import trajectory_geometry
from instrument.models.layers.trajectory_read import RateScores, TrajectoryRead

NOTES = tuple(np.linspace(2.0, 5.0, 16))
DEPTHS = tuple(np.linspace(0.0, 4.0, 16))
RATES = tuple(np.linspace(0.02, 0.4, 16))
#: The sweep readout of a tiny sweeptcn (8 frames x 33 bins) with the trajectory read on rows 12..15.
TINY_SWEEP = {"sweep_note_bins": NOTES, "sweep_depth_bins": DEPTHS, "sweep_note_rows": (0, 1, 2, 3),
              "sweep_depth_rows": (8, 9, 10, 11), "sweep_harmonics": 2, "sweep_cell_units": 4,
              "sweep_read": True, "trajectory_read": True, "trajectory_rates": RATES,
              "trajectory_rate_rows": (12, 13, 14, 15)}


def _tiny(**sweep: object) -> InversionModelConfig:
    """The tiny trajectory-reading sweeptcn, with ``sweep`` fields replaced."""
    return InversionModelConfig(arch="sweeptcn", head="softmax", n_bins=33, n_frames=8,
                                width_scale=0.1, fc_units=16,
                                sweep=SweepReadoutConfig(**{**TINY_SWEEP, **sweep}))


def _joint(cells: list[tuple[int, int]], oscillators: int = 2) -> np.ndarray:
    """Joint scores that rank ``cells`` (note, depth) first, second, ... for every oscillator."""
    joint = np.zeros((1, oscillators, 16, 16), dtype=np.float32)
    for rank, (note, depth) in enumerate(cells):
        joint[0, :, note, depth] = 30.0 - 10.0 * rank
    return joint


def test_reads_follow_each_harmonic_of_the_path_through_the_frames() -> None:
    """A spectrogram whose value is its bin index reads back the path's position exactly."""
    frames, bins = 24, 40
    sequence = np.tile(np.arange(bins, dtype=np.float32), (1, frames, 1))
    note, depth = 11, 9
    layer = TrajectoryRead(NOTES, DEPTHS, RATES, harmonics=2, top_k=2)
    statistics, cells = (np.asarray(x) for x in layer([sequence, _joint([(note, depth), (0, 0)])]))
    assert statistics.shape == (1, 2, 2, 16, 2, 3)
    assert cells.shape == (1, 2, 2) and cells[0, 0, 0] > cells[0, 0, 1]
    t = np.arange(frames)
    for r, rate in enumerate(RATES):
        for h in (1, 2):
            path = h * np.abs(NOTES[note] + DEPTHS[depth] * np.cos(2 * np.pi * rate * t))
            np.testing.assert_allclose(statistics[0, 0, 0, r, h - 1],
                                       [path.mean(), path.std(), path.min()], atol=1e-4)
    # the second cell (note 0, depth 0) sits still at NOTES[0]
    np.testing.assert_allclose(statistics[0, 1, 1, :, 0, 0], NOTES[0], atol=1e-4)


def test_the_right_rate_stays_on_the_ridge_and_scores_highest() -> None:
    frames, bins = 48, 40
    note, depth, rate = 8, 12, 5
    t = np.arange(frames)
    ridge = NOTES[note] + DEPTHS[depth] * np.cos(2 * np.pi * RATES[rate] * t)
    k = np.arange(bins)[None, :]
    sequence = np.exp(-0.5 * ((k - ridge[:, None]) / 0.7) ** 2).astype(np.float32)[None]
    statistics, cells = TrajectoryRead(NOTES, DEPTHS, RATES, harmonics=1, top_k=1)(
        [sequence, _joint([(note, depth)], oscillators=1)])
    means = np.asarray(statistics)[0, 0, 0, :, 0, 0]
    others = np.delete(means, rate)
    assert int(np.argmax(means)) == rate and means[rate] > 0.8 and means[rate] > 3 * others.max()
    scores, levels = RateScores(units=4)([statistics, cells])
    assert np.asarray(scores).shape == (1, 1, 16) and np.asarray(levels).shape == (1, 3)
    assert np.all(np.isfinite(np.asarray(scores)))


def test_rate_scores_sum_cells_and_average_the_reads_of_equal_scores() -> None:
    statistics = np.ones((2, 3, 2, 16, 2, 3), dtype=np.float32)
    cells = np.log(np.full((2, 3, 2), 0.5, dtype=np.float32))
    scores, levels = RateScores(units=5)([statistics, cells])
    scores = np.asarray(scores)
    np.testing.assert_allclose(scores, scores[..., :1] * np.ones((1, 1, 16)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(levels), 1.0, atol=1e-6)


def test_sweeptcn_with_the_trajectory_read_round_trips(tmp_path: Path,
                                                       rng: np.random.Generator) -> None:
    from instrument.inversion.model import load_inversion_model, save_inversion_model
    from training.inversion.train import spec_dict

    config = _tiny()
    model = build_inversion_model(config)
    assert model.get_layer("trajectory_read") is not None
    x = rng.random((2, 8, 33)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    assert expected.shape == (2, 23, 16)
    np.testing.assert_allclose(expected.sum(axis=-1), 1.0, atol=1e-5)
    path = save_inversion_model(model, tmp_path / "trajectory.keras", config, "inversynth",
                                spec_dict("inversynth"))
    loaded = load_inversion_model(path)
    assert loaded.config == config
    np.testing.assert_allclose(np.asarray(loaded.model(x, training=False)), expected, atol=1e-6)


def test_geometry_of_inversynth_is_its_rates_per_hop_and_rate_rows() -> None:
    synth = get_synth("inversynth")
    geometry = trajectory_geometry(synth)
    spec = synth.spec
    np.testing.assert_allclose(geometry["trajectory_rates"],
                               spec.param("v_sin").grid() * spec.hop_length / spec.sample_rate)
    assert geometry["trajectory_rate_rows"] == tuple(spec.index(f"v_{w}")
                                                     for w in ("sin", "saw", "tri", "sqr"))


def test_bad_trajectory_settings_name_the_value() -> None:
    with pytest.raises(ConfigError, match="trajectory_read is for the sweeptcn"):
        InversionModelConfig.from_dict({"arch": "freqtcn", "trajectory_read": True})
    with pytest.raises(ConfigError, match="cycles per frame hop"):
        _tiny(trajectory_rates=(*RATES[:-1], 0.7))
    with pytest.raises(ConfigError, match="one rate per class"):
        _tiny(trajectory_rates=RATES[:4])
    with pytest.raises(ConfigError, match="trajectory_rate_rows"):
        _tiny(trajectory_rate_rows=(8, 13, 14, 15))
    with pytest.raises(ConfigError, match="trajectory_rates and trajectory_rate_rows"):
        _tiny(trajectory_read=False)
    with pytest.raises(ConfigError, match="top_k"):
        TrajectoryRead(NOTES, DEPTHS, RATES, top_k=0)
    with pytest.raises(ConfigError, match="TrajectoryRead needs"):
        TrajectoryRead(NOTES, DEPTHS, RATES).build([(None, 8, 33), (None, 4, 16, 15)])
    with pytest.raises(ConfigError, match="RateScores units"):
        RateScores(units=0)
    with pytest.raises(ConfigError, match="has none"):
        trajectory_geometry(get_synth("fluidsynth"))
    spec = load_spec("inversynth")
    with pytest.raises(ConfigError, match="n_fft 1024, hop_length 256"):
        trajectory_geometry(InverSynth(dataclasses.replace(spec, n_fft=1024)))
