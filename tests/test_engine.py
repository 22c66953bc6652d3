"""The streaming engine: resynthesis quality, latency, every action, model stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from controllers.actions import Action
from instrument.config import SpectralConfig
from instrument.engine.engine import BANK_SIZE, Engine, hop_index_for_time, make_source, time_for_hop
from instrument.errors import ConfigError, ControllerMapError
from instrument.engine.scenes import SceneBook, scene_from_state
from instrument.engine.sources import FileSource, LiveSource, NoInputSource
from instrument.dsp.spectral import spectral_convergence_db, stft
from instrument.engine.unit_state import UnitState
from presets import PRESETS_DIR

SPECTRAL = SpectralConfig()
SR = SPECTRAL.sample_rate
HOP = SPECTRAL.stft.hop_length


def tone(seconds: float = 1.0, f0: float = 220.0, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a little noise, float32."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.25 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6))
    y = y + 0.003 * np.random.default_rng(seed).standard_normal(len(t))
    return y.astype(np.float32)


def run(engine: Engine, hops: int, input_hops: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros(hops * HOP, np.float32)
    for i in range(hops):
        hop = None if input_hops is None else input_hops[i * HOP:(i + 1) * HOP]
        out[i * HOP:(i + 1) * HOP] = engine.process_hop(hop)
    return out


def aligned(engine: Engine, y: np.ndarray) -> np.ndarray:
    """Play ``y`` from a file source through ``engine``; output with the latency removed."""
    hops = -(-(len(y) + engine.latency_samples) // HOP)
    return run(engine, hops)[engine.latency_samples:engine.latency_samples + len(y)]


# --------------------------------------------------------------- no model (analysis/resynthesis)
def test_model_none_reproduces_input_via_rtisi_la() -> None:
    y = tone(1.5)
    engine = Engine(SPECTRAL, source=FileSource(y, HOP))
    out = aligned(engine, y)
    sc = spectral_convergence_db(np.abs(stft(y, SPECTRAL.stft)), out, SPECTRAL.stft)
    assert sc < -25.0, sc
    assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(y ** 2)), rel=0.1)


def test_latency_is_stft_framing_plus_phase_lookahead() -> None:
    for lookahead in (0, 2, 3):
        engine = Engine(SPECTRAL, phase_lookahead=lookahead)
        expected = lookahead * HOP + SPECTRAL.stft.n_fft - HOP
        assert engine.latency_samples == expected
        assert engine.latency_ms == pytest.approx(1000 * expected / SR)
    assert Engine(SPECTRAL).latency_ms <= 60.0


def test_original_path_is_the_input_delayed_by_the_latency() -> None:
    y = tone(0.5)
    engine = Engine(SPECTRAL, source=FileSource(y, HOP))
    engine.apply(Action("set_source", {"synth": False}))
    np.testing.assert_array_equal(aligned(engine, y), y)


def test_toggle_source_crossfades_in_one_hop() -> None:
    y = tone(1.0)
    engine = Engine(SPECTRAL, source=FileSource(y, HOP))
    run(engine, 20)
    engine.apply(Action("toggle_source"))
    assert engine.synth is False
    engine.process_hop()
    assert engine.synth_gain_curve[0] < 1.0 and engine.synth_gain_curve[-1] == 0.0
    engine.process_hop()
    assert not engine.synth_gain_curve.any()
    engine.apply(Action("toggle_source"))
    assert engine.synth is True


def test_live_source_reads_the_given_hop_and_none_is_silence() -> None:
    y = tone(0.5)
    engine = Engine(SPECTRAL, source=LiveSource(HOP))
    engine.apply(Action("set_source", {"synth": False}))
    hops = len(y) // HOP
    out = run(engine, hops, y)
    lat = engine.latency_samples
    np.testing.assert_array_equal(out[lat:], y[:hops * HOP - lat])
    silent = Engine(SPECTRAL, source=LiveSource(HOP))
    assert not run(silent, 10).any()


def test_stop_rewinds_and_play_pause_toggles() -> None:
    y = tone(1.0)
    source = FileSource(y, HOP)
    engine = Engine(SPECTRAL, source=source)
    run(engine, 10)
    assert source.position == 10 * HOP and engine.playing
    engine.apply(Action("play_pause"))
    assert not engine.playing
    run(engine, 5)
    assert source.position == 10 * HOP
    np.testing.assert_array_equal(engine.input_hop, 0.0)
    engine.apply(Action("play_pause"))
    run(engine, 2)
    assert source.position == 12 * HOP
    engine.apply(Action("stop"))
    assert source.position == 0 and not engine.playing
    out = run(engine, 40)  # tails decay to silence while stopped
    assert np.abs(out[-HOP:]).max() < 1e-6
    engine.apply(Action("play_pause"))
    engine.process_hop()
    np.testing.assert_array_equal(engine.input_hop, y[:HOP])


def test_file_source_end_stops_or_loops() -> None:
    y = tone(0.1)
    once = FileSource(y, HOP)
    buf = np.zeros(HOP, np.float32)
    for _ in range(len(y) // HOP + 2):
        once.read(buf)
    assert once.finished and not once.playing
    loop = FileSource(y, HOP, loop=True)
    for _ in range(len(y) // HOP + 2):
        loop.read(buf)
    assert loop.playing and not loop.finished


def test_actions_quit_bank_and_bad_arguments() -> None:
    engine = Engine(SPECTRAL)
    engine.apply(Action("quit"))
    assert engine.quit_requested
    engine.apply(Action("bank", {"bank": 3}))
    assert engine.bank == 0  # one bank only without a model
    with pytest.raises(ConfigError, match="wet_dry"):
        engine.apply(Action("wet_dry", {"value": 1.5}))
    with pytest.raises(ConfigError, match="model 1 out of range"):
        engine.apply(Action("switch_model", {"model": 1}))
    with pytest.raises(ConfigError, match="unknown scene"):
        engine.apply(Action("recall_scene", {"scene": "nope"}))
    failed = engine.apply_all([Action("wet_dry", {"value": 0.5}), Action("scale_unit", {"unit": 99, "value": 1}),
                               Action("toggle_source")], strict=False)
    assert [a.name for a, _ in failed] == ["scale_unit"]
    assert engine.wet_dry == 0.5 and engine.synth is False


def test_every_action_has_exactly_one_handler() -> None:
    from controllers.actions import ACTIONS

    assert set(Engine.ACTION_HANDLERS) == set(ACTIONS)
    assert all(callable(handler) for handler in Engine.ACTION_HANDLERS.values())


def test_every_action_applies_through_its_handler_with_example_arguments() -> None:
    """One example per action name: each reaches its handler (a missing one would raise ConfigError)."""
    from controllers.actions import ACTIONS

    scene_engine = Engine(SPECTRAL, source=FileSource(tone(0.2), HOP))
    scene_engine.capture_scene("a")
    examples = {"scale_unit": {"unit": 0, "value": 0.5}, "knob_unit": {"unit": 0, "value": 2.0},
                "wet_dry": {"value": 0.25}, "bank": {"bank": 0}, "reset_unit": {"unit": 0},
                "solo": {"unit": 0, "on": True}, "mute": {"unit": 0, "on": True}, "set_source": {"synth": False},
                "recall_scene": {"scene": "a"}, "switch_model": {"model": 0}, "master_gain": {"db": -6.0},
                "auto_gain": {"on": True}}
    for name in ACTIONS:
        scene_engine.apply(Action(name, examples.get(name, {})))
    assert scene_engine.quit_requested and scene_engine.wet_dry == 1.0  # scene "a" restored wet/dry


def test_master_gain_and_model_stepping_actions() -> None:
    engine = Engine(SPECTRAL)
    engine.apply(Action("master_gain", {"db": -12.5}))
    assert engine.master_gain_db == -12.5
    for bad in (13.0, -61.0):
        with pytest.raises(ConfigError, match="master_gain"):
            engine.apply(Action("master_gain", {"db": bad}))
    for bad in ("loud", True):  # wrong types never become actions (typed action arguments)
        with pytest.raises(ControllerMapError, match="'db' must be a finite number"):
            Action("master_gain", {"db": bad})
    engine.apply(Action("next_model"))
    engine.apply(Action("prev_model"))
    assert engine.model_index == 0  # one (bypass) stage: stepping wraps onto itself


def test_unknown_action_name_is_refused_by_the_engine() -> None:
    """An action that passed the schema but has no handler raises ConfigError naming it."""
    from controllers.actions import ACTIONS

    engine = Engine(SPECTRAL)
    ACTIONS["brand_new"] = ((), "an action the engine does not know yet")
    try:
        action = Action("brand_new")
        with pytest.raises(ConfigError, match="does not handle action 'brand_new'"):
            engine.apply(action)
    finally:
        del ACTIONS["brand_new"]


def test_hop_time_rule_round_trips() -> None:
    for i in (0, 1, 7, 1000, 123457):
        assert hop_index_for_time(round(time_for_hop(i, SPECTRAL), 6), SPECTRAL) == i


def test_process_hop_reuses_buffers_and_times_itself() -> None:
    engine = Engine(SPECTRAL, source=FileSource(tone(0.5), HOP))
    first = engine.process_hop()
    second = engine.process_hop()
    assert first is second and second.dtype == np.float32 and second.shape == (HOP,)
    assert engine.hops_timed == 2 and engine.timing_stats()["max_s"] > 0
    assert engine.cpu_load > 0


def test_make_source_modes() -> None:
    assert isinstance(make_source("live", HOP), LiveSource)
    assert isinstance(make_source("none", HOP), NoInputSource)
    assert isinstance(make_source("file", HOP, tone(0.1)), FileSource)
    with pytest.raises(ConfigError):
        make_source("tape", HOP)
    with pytest.raises(ConfigError):
        make_source("file", HOP)


# --------------------------------------------------------------- latent models
def _tiny_model(folder: Path, kind: str = "autoencoder", units: int = 8, arch: str = "dense",
                causal: bool = True) -> Path:
    """A small untrained causal latent model (dense per-frame, or conv) saved with the model I/O."""
    import keras

    from instrument.models.io import save_latent_model
    from instrument.models.config import AutoencoderConfig
    from instrument.models.autoencoders import build_autoencoder_parts

    keras.utils.set_random_seed(3)
    if arch == "dense":
        config = AutoencoderConfig(arch="dense", hidden_units=(32, units), dropout=0.0, causal=True)
    else:
        config = AutoencoderConfig(arch=arch, frames=8, channels=4, latent_channels=units, depth=1,
                                   dropout=0.0, causal=causal, pool_time=1)
    model, encoder, decoder = build_autoencoder_parts(config)
    path = folder / f"tiny-{kind}-{arch}-{causal}.keras"
    shape = (units,) if arch == "dense" else tuple(int(d) for d in encoder.output.shape[2:])
    mean = np.abs(np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
    save_latent_model(path, model, encoder, decoder, {"config": config, "kind": kind, "mean_latent": mean})
    return path


@pytest.fixture(scope="module")
def model_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped default model when present, plus tiny causal test models."""
    folder = tmp_path_factory.mktemp("models")
    paths = {"tiny": _tiny_model(folder), "tiny_transfer": _tiny_model(folder, "transfer", units=4),
             "tiny_conv": _tiny_model(folder, units=4, arch="dilres"),
             "tiny_lookahead": _tiny_model(folder, units=4, arch="shallow", causal=False)}
    shipped = PRESETS_DIR / "models" / "reconstruct.keras"
    paths["default"] = shipped if shipped.is_file() else paths["tiny"]
    return paths


@pytest.fixture(scope="module")
def models(model_paths: dict[str, Path]) -> dict[str, object]:
    from instrument.models.io import load_latent_model

    return {name: load_latent_model(path) for name, path in model_paths.items()}


def model_engine(model: object, y: np.ndarray | None = None, **kwargs: object) -> Engine:
    source = NoInputSource(HOP) if y is None else FileSource(y, HOP)
    return Engine(model.spectral, [model], ["m"], source=source, **kwargs)


def out_spectrum(engine: Engine, hops: int) -> np.ndarray:
    """Mean output magnitude frame over ``hops`` hops."""
    total = np.zeros(engine.n_bins)
    for _ in range(hops):
        engine.process_hop()
        total += engine.output_magnitude
    return total / hops


def test_model_engine_runs_and_reports_latency(models: dict[str, object]) -> None:
    model = models["default"]
    engine = model_engine(model, tone(1.0))
    out = aligned(engine, tone(1.0))
    assert np.isfinite(out).all() and np.abs(out).max() > 0
    assert engine.latency_samples == (engine.model_lookahead_frames * HOP + engine.phase.latency_samples)
    assert engine.n_units == model.n_units and engine.n_banks == -(-model.n_units // BANK_SIZE)


def test_fader_at_zero_changes_the_output_spectrum(models: dict[str, object]) -> None:
    y = tone(1.0)
    probe = model_engine(models["default"], y)
    run(probe, 20)
    unit = int(np.argmax(np.abs(probe.stage.latent)))  # the most active unit (a trained model may have idle ones)
    ref = out_spectrum(model_engine(models["default"], y), 40)
    engine = model_engine(models["default"], y)
    engine.apply(Action("scale_unit", {"unit": unit, "value": 0.0}))
    assert engine.unit_state.effective()[unit] == 0.0
    changed = out_spectrum(engine, 40)
    assert np.abs(changed - ref).max() > 1e-4 * max(ref.max(), 1e-6)


def test_zero_all_makes_the_output_independent_of_the_input(models: dict[str, object]) -> None:
    spectra = []
    for f0 in (220.0, 550.0):
        engine = model_engine(models["default"], tone(1.0, f0))
        engine.apply(Action("zero_all"))
        assert not engine.unit_state.effective().any()
        spectra.append(out_spectrum(engine, 30))
    np.testing.assert_allclose(spectra[0], spectra[1], rtol=1e-4, atol=1e-6)
    engine.apply(Action("reset_all"))
    np.testing.assert_array_equal(engine.unit_state.effective(), 1.0)


def test_solo_equals_zeroing_the_others_and_mute_equals_zeroing_one(models: dict[str, object]) -> None:
    model = models["default"]
    y = tone(0.5)
    solo = model_engine(model, y)
    solo.apply(Action("solo", {"unit": 1, "on": True}))
    zeroed = model_engine(model, y)
    for unit in range(model.n_units):
        if unit != 1:
            zeroed.apply(Action("scale_unit", {"unit": unit, "value": 0.0}))
    np.testing.assert_array_equal(run(solo, 20), run(zeroed, 20))
    mute = model_engine(model, y)
    mute.apply(Action("mute", {"unit": 2, "on": True}))
    one = model_engine(model, y)
    one.apply(Action("scale_unit", {"unit": 2, "value": 0.0}))
    np.testing.assert_array_equal(run(mute, 20), run(one, 20))
    mute.apply(Action("mute", {"unit": 2, "on": False}))
    mute.apply(Action("knob_unit", {"unit": 2, "value": 0.5}))
    mute.apply(Action("reset_unit", {"unit": 2}))
    assert mute.unit_state.effective()[2] == 1.0


def test_bank_view_and_latent_view(models: dict[str, object]) -> None:
    model = models["default"]
    engine = model_engine(model, tone(0.5))
    run(engine, 5)
    view = np.zeros(BANK_SIZE, np.float32)
    engine.latent_view(view)
    assert np.isfinite(view).all()
    engine.apply(Action("bank", {"bank": engine.n_banks}))  # wraps around
    assert engine.bank == 0
    scales = engine.scales_view(np.zeros(BANK_SIZE, np.float32))
    assert scales[:min(BANK_SIZE, model.n_units)].tolist() == [1.0] * min(BANK_SIZE, model.n_units)


@pytest.mark.parametrize("name", ["default", "tiny_conv"])
def test_no_input_mode_decodes_the_held_latent_scaled_by_faders(models: dict[str, object], name: str) -> None:
    model = models[name]
    engine = model_engine(model)
    assert engine.source_mode == "none"
    loud = out_spectrum(engine, 30)
    assert loud.max() > 0
    engine.apply(Action("zero_all"))
    zero = out_spectrum(engine, 30)
    assert np.abs(loud - zero).max() > 1e-4 * loud.max()
    engine.apply(Action("play_pause"))
    run(engine, 30)
    assert np.abs(engine.output_hop).max() < 1e-6


@pytest.mark.parametrize("name", ["default", "tiny_conv"])
def test_capture_latent_holds_the_current_frame(models: dict[str, object], name: str) -> None:
    model = models[name]
    engine = model_engine(model, tone(0.5))
    run(engine, 10)
    engine.apply(Action("capture_latent"))
    held = engine.stage.held_latent.copy()
    np.testing.assert_array_equal(held, engine.stage.latent_frame)
    engine.set_source(NoInputSource(HOP))
    out = out_spectrum(engine, 10)
    assert out.max() > 0


def test_scenes_recall_next_prev(models: dict[str, object]) -> None:
    model = models["default"]
    units = UnitState(model.n_units)
    units.set_scale(0, 0.0)
    a = scene_from_state("a", units, wet_dry=0.5)
    units.reset_all()
    units.set_mute(1, True)
    b = scene_from_state("b", units)
    wrong = scene_from_state("c-other-model", UnitState(model.n_units + 1))
    engine = Engine(model.spectral, [model], ["m"], source=FileSource(tone(0.3), HOP),
                    scenes=SceneBook([a, b, wrong]))
    engine.apply(Action("recall_scene", {"scene": "a"}))
    assert engine.unit_state.scales[0] == 0.0 and engine.wet_dry == 0.5
    engine.apply(Action("next_scene"))
    assert engine.unit_state.muted[1] and engine.unit_state.scales[0] == 1.0
    engine.apply(Action("next_scene"))  # skips the scene made for another unit count
    assert engine.unit_state.scales[0] == 0.0
    engine.apply(Action("prev_scene"))
    assert engine.unit_state.muted[1]
    with pytest.raises(ConfigError, match="units"):
        engine.apply(Action("recall_scene", {"scene": "c-other-model"}))


def test_switch_model_keeps_every_model_fed_and_crossfades(models: dict[str, object]) -> None:
    first, second = models["tiny"], models["tiny_transfer"]
    y = tone(1.0)
    both = Engine(first.spectral, [first, second], ["a", "b"], source=FileSource(y, HOP))
    only_b = Engine(second.spectral, [second], ["b"], source=FileSource(y, HOP))
    run(both, 20)
    run(only_b, 20)
    both.apply(Action("switch_model", {"model": 1}))
    assert both.model_name == "b" and both.n_units == second.n_units
    both.process_hop()
    only_b.process_hop()
    # after the one-frame crossfade the heard model's frames equal a model that ran alone
    for _ in range(3):
        both.process_hop()
        only_b.process_hop()
    np.testing.assert_allclose(both.output_magnitude, only_b.output_magnitude, rtol=1e-5, atol=1e-6)


def test_wet_dry_zero_is_the_dry_analysis(models: dict[str, object]) -> None:
    model = models["tiny_transfer"]
    y = tone(1.0)
    engine = model_engine(model, y)
    engine.apply(Action("wet_dry", {"value": 0.0}))
    none = Engine(SPECTRAL, source=FileSource(y, HOP))
    np.testing.assert_allclose(run(engine, 30), run(none, 30), atol=1e-5)


def test_models_with_different_spectral_settings_are_refused(models: dict[str, object]) -> None:
    other = SpectralConfig.from_dict({"stft": {"n_fft": 512, "hop_length": 128}})
    with pytest.raises(ConfigError, match="spectral"):
        Engine(other, [models["tiny"]], ["m"])


@pytest.mark.parametrize("name", ["default", "tiny_conv"])
def test_latent_stage_exposes_the_streaming_model_latent(models: dict[str, object], name: str) -> None:
    from instrument.engine.stages import LatentStage
    from instrument.models.streaming import StreamingLatentModel

    model = models[name]
    stage, reference = LatentStage(model, name), StreamingLatentModel(model)
    frames = np.log1p(np.abs(stft(tone(0.3), model.spectral.stft)))
    scales = np.linspace(0.0, 2.0, model.n_units).astype(np.float32)
    for frame in frames[:12]:
        np.testing.assert_allclose(stage.process(frame, scales), reference.push(frame, scales),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(stage.latent_frame, reference.latent_frame, rtol=1e-5, atol=1e-5)
    assert stage.latent_frame.shape == tuple(model.latent_frame_shape)


def test_lookahead_model_adds_latency_and_keeps_dry_and_original_aligned(models: dict[str, object]) -> None:
    model = models["tiny_lookahead"]
    y = tone(1.0)
    engine = model_engine(model, y)
    lookahead = engine.model_lookahead_frames
    assert lookahead >= 1
    assert engine.latency_samples == lookahead * HOP + engine.phase.latency_samples
    engine.apply(Action("wet_dry", {"value": 0.0}))
    none = Engine(SPECTRAL, source=FileSource(y, HOP))
    np.testing.assert_allclose(aligned(engine, y), aligned(none, y), atol=1e-5)
    original = model_engine(model, y)
    original.apply(Action("set_source", {"synth": False}))
    np.testing.assert_array_equal(aligned(original, y), y)
    # a causal model loaded next to it is padded to the same latency, so switching stays aligned
    both = Engine(model.spectral, [models["tiny"], model], ["causal", "lookahead"], source=FileSource(y, HOP))
    assert both.latency_samples == engine.latency_samples
    assert {s.latency_frames for s in both.bank_models.stages} == {lookahead}


def test_non_finite_input_and_extreme_scales_stay_finite(models: dict[str, object]) -> None:
    engine = Engine(SPECTRAL, source=LiveSource(HOP))
    bad = np.full(HOP, np.nan, np.float32)
    bad[::3] = np.inf
    engine.process_hop(bad)
    out = run(engine, 10, np.tile(tone(0.2)[:HOP], 10))
    assert np.isfinite(out).all() and np.abs(out).max() > 0
    loud = model_engine(models["default"], tone(0.5))
    for unit in range(models["default"].n_units):
        loud.apply(Action("scale_unit", {"unit": unit, "value": 8.0}))
        loud.apply(Action("knob_unit", {"unit": unit, "value": 8.0}))
    assert np.isfinite(run(loud, 20)).all()
    assert loud.output_magnitude.max() <= SPECTRAL.stft.n_fft + 1e-3


def test_block_frames_setting_sets_block_and_latency(models: dict[str, object]) -> None:
    model = models["tiny_lookahead"]
    y = tone(0.5)
    per_hop = model_engine(model, y, block_frames=1, compute_hops=0)
    assert per_hop.model_block_frames == 1 and per_hop.model_lookahead_frames == model.lookahead_frames
    blocked = model_engine(model, y, block_frames=4, compute_hops=2)  # model call on a helper thread
    assert blocked.model_block_frames == 4
    assert blocked.model_lookahead_frames == model.lookahead_frames + 3 + 2
    assert blocked.latency_samples == per_hop.latency_samples + 5 * HOP
    # the same frames come out, five hops later
    a, b = run(per_hop, 40), run(blocked, 45)
    np.testing.assert_allclose(b[5 * HOP:], a, atol=1e-4)
    causal = model_engine(models["tiny_conv"], y, block_frames=4)  # frame-by-frame models ignore it
    assert causal.model_block_frames == 1 and causal.model_lookahead_frames == 0


def test_realtime_scheduling_applies_to_a_thread_or_reports_it_cannot() -> None:
    import os
    import threading

    from instrument.io.scheduling import realtime_scheduling

    seen: dict[str, object] = {}

    def body() -> None:
        applied = realtime_scheduling(0, 1)
        seen["applied"] = applied
        seen["policy"] = os.sched_getscheduler(0)
        if applied:  # back to normal before the thread ends
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(5.0)
    assert seen["applied"] in (True, False)
    assert seen["policy"] == (os.SCHED_FIFO if seen["applied"] else os.SCHED_OTHER)
    with pytest.raises(ConfigError, match="priority"):
        realtime_scheduling(0, 0)
    with pytest.raises(ConfigError, match="priority"):
        realtime_scheduling(0, True)
