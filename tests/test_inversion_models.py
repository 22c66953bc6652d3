"""Inversion networks: shapes, parameter counts, .keras round trips under safe_mode, and configs
(including the flat configs of older model files)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from instrument.errors import ConfigError, ModelError
from instrument.inversion.model import (DEFAULT_MODELS, load_inversion_model, read_inversion_meta,
                                        save_inversion_model)
from instrument.inversion.networks.build import build_inversion_model
from instrument.inversion.networks.config import (ARCHS, HEADS, REMOVED_ARCHS, InversionModelConfig,
                                                  SweepReadoutConfig)
from instrument.inversion.networks.heads import class_scores, loss_for, targets_for
from instrument.models.layers.inversion import (FeatureStandardize, SpectralSummary, SpectrogramToImage,
                                                SpectrogramToSequence)
from training.inversion.train import InversionTrainConfig, spec_dict


#: ``sweeptcn`` readout that fits the tiny 33-bin spectrogram (2 harmonics of 4 oscillators: notes
#: at bins 2..5, depths up to 4 bins, highest position 2 * (5 + 4) = 18).
TINY_SWEEP = SweepReadoutConfig(sweep_note_bins=tuple(np.linspace(2.0, 5.0, 16)),
                                sweep_depth_bins=tuple(np.linspace(0.0, 4.0, 16)),
                                sweep_note_rows=(0, 1, 2, 3), sweep_depth_rows=(8, 9, 10, 11),
                                sweep_harmonics=2, sweep_cell_units=4, sweep_read=True)


def _tiny(arch: str, head: str = "sigmoid", bins_first: bool = False) -> InversionModelConfig:
    return InversionModelConfig(arch=arch, head=head, n_params=23, n_classes=16, n_bins=33,
                                n_frames=8, bins_first=bins_first, fc_units=16, width_scale=0.1,
                                feature_mean=0.3, feature_std=0.5,
                                sweep=TINY_SWEEP if arch == "sweeptcn" else None)


def _inputs(config: InversionModelConfig, rng: np.random.Generator) -> np.ndarray:
    return rng.random((2, *config.input_shape)).astype(np.float32)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_round_trips_through_keras_file(arch: str, tmp_path: Path,
                                                   rng: np.random.Generator) -> None:
    config = _tiny(arch, "softmax" if arch == "sweeptcn" else "sigmoid")
    model = build_inversion_model(config)
    x = _inputs(config, rng)
    expected = np.asarray(model(x, training=False))
    assert expected.shape == (2, 23, 16)
    path = save_inversion_model(model, tmp_path / f"{arch}.keras", config, "inversynth",
                                spec_dict("inversynth"), {"note": "test"})
    loaded = load_inversion_model(path)
    assert loaded.config == config
    assert loaded.spec.n_params == 23
    np.testing.assert_allclose(np.asarray(loaded.model(x, training=False)), expected, atol=1e-6)


@pytest.mark.parametrize("head", HEADS)
def test_every_head_round_trips(head: str, tmp_path: Path, rng: np.random.Generator) -> None:
    config = _tiny("conv6xl", head, bins_first=True)
    model = build_inversion_model(config)
    x = _inputs(config, rng)
    out = np.asarray(model(x, training=False))
    assert out.shape == ((2, 23) if head == "regression" else (2, 23, 16))
    if head == "softmax":
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)
    path = save_inversion_model(model, tmp_path / "m.keras", config, "inversynth",
                                spec_dict("inversynth"))
    again = load_inversion_model(path)
    np.testing.assert_allclose(np.asarray(again.model(x, training=False)), out, atol=1e-6)
    assert again.scores(x).shape == (2, 23, 16)


@pytest.mark.parametrize("layer", [FeatureStandardize(0.5, 2.0), SpectrogramToImage(True),
                                   SpectrogramToImage(False), SpectrogramToSequence(True),
                                   SpectralSummary()])
def test_custom_layers_round_trip_alone(layer: keras.layers.Layer, tmp_path: Path,
                                        rng: np.random.Generator) -> None:
    inputs = keras.Input(shape=(5, 7))
    model = keras.Model(inputs, layer(inputs))
    x = rng.random((3, 5, 7)).astype(np.float32)
    expected = np.asarray(model(x))
    model.save(tmp_path / "layer.keras")
    loaded = keras.saving.load_model(tmp_path / "layer.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), expected)


def test_spectral_summary_describes_mean_spectrum_and_envelope_rate() -> None:
    """Mean spectrum / spread per bin, envelope per frame, and a modulation-spectrum peak at the
    envelope's rate (4 cycles in 16 frames -> DFT bin 4)."""
    frames, bins = 16, 5
    envelope = np.cos(2 * np.pi * 4 * np.arange(frames) / frames).astype(np.float32)
    x = (envelope[:, None] + np.arange(bins, dtype=np.float32)[None, :])[None]
    out = np.asarray(SpectralSummary()(x))
    assert out.shape == (1, 2 * bins + frames + frames // 2 + 1)
    np.testing.assert_allclose(out[0, :bins], np.arange(bins), atol=1e-5)
    np.testing.assert_allclose(out[0, bins:2 * bins], np.sqrt(0.5), atol=1e-3)
    np.testing.assert_allclose(out[0, 2 * bins:2 * bins + frames], envelope + 2.0, atol=1e-5)
    modulation = out[0, 2 * bins + frames:]
    assert int(np.argmax(modulation)) == 4
    np.testing.assert_allclose(modulation[4], 0.5, atol=1e-3)


def test_spectral_summary_rejects_unknown_frames() -> None:
    with pytest.raises(ConfigError):
        SpectralSummary().build((None, None, 7))


def test_paper_parameter_count() -> None:
    """Barkan Table 2: Conv6XL has ~2.3M weights."""
    assert 2.2e6 < build_inversion_model(InversionModelConfig(arch="conv6xl")).count_params() < 2.4e6


def test_targets_and_scores_for_regression_rank_the_true_class_first() -> None:
    classes = np.array([[0, 5, 15]])
    values = targets_for("regression", classes, 16)
    np.testing.assert_allclose(values, [[0.0, 5 / 15, 1.0]])
    assert (class_scores("regression", values, 16).argmax(axis=-1) == classes).all()
    assert targets_for("sigmoid", classes, 16).shape == (1, 3, 16)


def test_targets_are_one_hot_and_soft_labels_are_gone() -> None:
    from instrument.cli import build_parser

    classes = np.array([[0, 7, 15]])
    np.testing.assert_array_equal(targets_for("softmax", classes, 16), np.eye(16)[classes])
    # runs recorded before soft labels were removed resume at their one-hot value only
    assert InversionTrainConfig.from_dict({"head": "softmax", "label_sigma": 0.0}).head == "softmax"
    with pytest.raises(ConfigError, match="label_sigma = 1.0"):
        InversionTrainConfig.from_dict({"head": "softmax", "label_sigma": 1.0})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "inversion", "--label-sigma", "1.0"])


def test_sweep_options_need_the_sweeptcn_arch() -> None:
    for option in ({"sweep_harmonics": 3}, {"sweep_cell_units": 16}, {"sweep_read": True},
                   {"trajectory_read": True}):
        with pytest.raises(ConfigError, match=f"{next(iter(option))} is for the sweeptcn arch"):
            InversionTrainConfig(arch="freqtcn", **option)


def test_summary_and_fc_widths_set_the_clip_layers() -> None:
    model = build_inversion_model(InversionModelConfig(arch="freqtcn", width_scale=0.25,
                                                       summary_units=96, fc_units=40))
    assert model.get_layer("summary_dense").units == 96
    assert model.get_layer("fc").units == 40
    default = build_inversion_model(InversionModelConfig(arch="freqtcn", width_scale=0.25))
    assert default.get_layer("summary_dense").units == default.get_layer("frame_dense").units
    with pytest.raises(ConfigError, match="summary_units"):
        InversionModelConfig(summary_units=-1)
    with pytest.raises(ConfigError, match="fc_units"):
        InversionTrainConfig(fc_units=0)
    with pytest.raises(ConfigError, match="summary_units"):
        InversionTrainConfig(summary_units=-3)


def test_bad_configs_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        InversionModelConfig(arch="conv9")
    with pytest.raises(ConfigError):
        InversionModelConfig(head="tanh")
    with pytest.raises(ConfigError):
        InversionModelConfig(feature_std=0.0)
    with pytest.raises(ConfigError):
        FeatureStandardize(0.0, -1.0)
    with pytest.raises(ConfigError):
        SpectrogramToImage(bins_first="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_frames"):
        InversionModelConfig(n_frames=0)
    with pytest.raises(ConfigError, match="unknown inversion model config fields: \\['colour'\\]"):
        InversionModelConfig.from_dict({"arch": "freqtcn", "colour": "red"})
    with pytest.raises(ConfigError, match="both sweep and flat sweep fields"):
        InversionModelConfig.from_dict({**_tiny("sweeptcn", "softmax").to_dict(), "sweep_read": True})


@pytest.mark.parametrize("arch", REMOVED_ARCHS)
def test_removed_archs_raise_config_error_naming_them(arch: str) -> None:
    with pytest.raises(ConfigError, match=f"inversion arch '{arch}' was removed"):
        InversionModelConfig(arch=arch)
    with pytest.raises(ConfigError, match=f"'{arch}' was removed"):  # as an older file stores it
        InversionModelConfig.from_dict({"arch": arch, "lstm_units": 64, "fine_bins": 300})
    with pytest.raises(ConfigError, match="unknown arch"):
        InversionTrainConfig(arch=arch)


def _stored_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("latent_inversion.json"))["config"]


def test_the_flat_config_of_the_shipped_files_loads_per_architecture() -> None:
    """The shipped files store the old flat config, every field of every experiment."""
    stored = _stored_config(DEFAULT_MODELS["inversynth"])
    assert {"fine_n_fft", "lstm_units", "n_samples", "sweep_read"} <= set(stored)
    config = InversionModelConfig.from_dict(stored)
    assert config.arch == "sweeptcn" and config.head == "softmax" and config.width_scale == 0.5
    assert config.feature_mean == stored["feature_mean"] and config.input_shape == (64, 257)
    sweep = config.sweep
    assert sweep is not None and sweep.sweep_harmonics == 3 and sweep.sweep_cell_units == 16
    assert sweep.sweep_read and not sweep.trajectory_read and sweep.trajectory_rates == ()
    assert sweep.sweep_note_bins == tuple(stored["sweep_note_bins"])
    assert sweep.sweep_depth_rows == (8, 9, 10, 11)
    assert InversionModelConfig.from_dict(json.loads(config.to_json())) == config
    assert "fine_n_fft" not in config.to_dict() and "sweep_read" not in config.to_dict()
    fluid = InversionModelConfig.from_dict(_stored_config(DEFAULT_MODELS["fluidsynth"]))
    assert fluid.arch == "conv6xl" and fluid.sweep is None and fluid.n_params == 11
    assert "sweep" not in fluid.to_dict()


@pytest.mark.parametrize("field, value", [("fine_bins", 300), ("fine_feature_std", 0.7),
                                          ("lstm_units", 8), ("fine_hop", 512)])
def test_a_removed_field_off_its_unused_value_raises_naming_it(field: str, value: object,
                                                               tmp_path: Path) -> None:
    stored = _stored_config(DEFAULT_MODELS["fluidsynth"])
    with pytest.raises(ConfigError, match=f"field {field} = {value!r} belongs to a removed"):
        InversionModelConfig.from_dict({**stored, field: value})
    # n_samples only sized raw-audio inputs: any stored value is read
    assert InversionModelConfig.from_dict({**stored, "n_samples": 8192}).arch == "conv6xl"
    # in a model file: ModelError naming the file and the field
    config = _tiny("freqtcn")
    path = save_inversion_model(build_inversion_model(config), tmp_path / "old.keras", config,
                                "inversynth", spec_dict("inversynth"))
    meta = read_inversion_meta(path)
    meta["config"] = {**meta["config"], field: value}
    rewritten = tmp_path / "rewritten.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewritten, "w") as dst:
        for item in src.namelist():
            data = json.dumps(meta).encode() if item == "latent_inversion.json" else src.read(item)
            dst.writestr(item, data)
    with pytest.raises(ModelError, match=f"rewritten.keras: bad inversion metadata: .*{field}"):
        load_inversion_model(rewritten)


def test_flat_sweep_fields_of_other_archs_must_be_unused() -> None:
    stored = _stored_config(DEFAULT_MODELS["fluidsynth"])
    unused = {"sweep_note_bins": [], "sweep_note_rows": [], "sweep_harmonics": 1,
              "sweep_cell_units": 0, "sweep_read": False, "trajectory_read": False}
    assert InversionModelConfig.from_dict({**stored, **unused}).sweep is None
    with pytest.raises(ConfigError, match="sweep_harmonics is for the sweeptcn arch, not 'conv6xl'"):
        InversionModelConfig.from_dict({**stored, **unused, "sweep_harmonics": 3})


def test_wrong_model_files_raise_model_error(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(ModelError):
        load_inversion_model(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ModelError):
        load_inversion_model(junk)
    plain = tmp_path / "plain.keras"
    inputs = keras.Input(shape=(4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(plain)
    with pytest.raises(ModelError):
        load_inversion_model(plain)
    with pytest.raises(ModelError):
        read_inversion_meta(plain)


def test_training_writes_outputs_and_resumes(tmp_path: Path) -> None:
    from training.inversion.train import train_inversion

    config = InversionTrainConfig(arch="conv6xl", epochs=2, steps_per_epoch=2, batch_size=4,
                                  val_count=8, patience=0, width_scale=0.1)
    metrics = train_inversion(config, tmp_path, log=lambda _: None, verbose=0)
    for name in ("model.keras", "checkpoint.keras", "state.json", "metrics.json", "loss.png",
                 "history.csv"):
        assert (tmp_path / name).is_file(), name
    assert metrics["epochs_run"] == 2
    assert 0.0 <= metrics["validation"]["mean_mpr"] <= 100.0
    assert set(metrics["validation"]["mpr"]) >= {"f_cut", "q", "a"}
    # a run recorded before the config split (flat model config, label_sigma) resumes too
    state_path = tmp_path / "state.json"
    state = json.loads(state_path.read_text())
    state["train_config"]["label_sigma"] = 0.0
    state["model_config"].update(n_samples=16384, lstm_units=256, fine_n_fft=4096, fine_hop=1024,
                                 fine_bins=768, fine_feature_mean=0.0, fine_feature_std=1.0,
                                 sweep_harmonics=1, sweep_read=False, sweep_note_rows=[])
    state_path.write_text(json.dumps(state))
    more = InversionTrainConfig(**{**config.to_dict(), "epochs": 3})
    resumed = train_inversion(more, tmp_path, resume=True, log=lambda _: None, verbose=0)
    assert resumed["epochs_run"] == 3
    model = load_inversion_model(tmp_path / "model.keras")
    assert model.meta["training"]["epochs_run"] == 3 and model.synth_name == "inversynth"
    with pytest.raises(ModelError):
        train_inversion(InversionTrainConfig(**{**config.to_dict(), "arch": "freqtcn"}), tmp_path,
                        resume=True, log=lambda _: None, verbose=0)


def test_unknown_synth_raises_synth_error(tmp_path: Path) -> None:
    from instrument.cli import build_parser
    from instrument.errors import SynthError

    args = build_parser().parse_args(["train", "inversion", "--synth", "moog", "-o", str(tmp_path)])
    with pytest.raises(SynthError):
        args.func(args)


def test_training_from_a_disk_dataset(tmp_path: Path) -> None:
    from training.inversion.train import train_inversion
    from training.synth_dataset import generate_dataset

    data = tmp_path / "data"
    generate_dataset("inversynth", 24, 5, data, shard_size=12, workers=1, progress=False)
    config = InversionTrainConfig(arch="freqtcn", head="regression", epochs=1, steps_per_epoch=50,
                                  batch_size=8, val_count=8, patience=0, width_scale=0.1,
                                  data=str(data))
    metrics = train_inversion(config, tmp_path / "run", log=lambda _: None, verbose=0)
    assert metrics["epochs_run"] == 1 and np.isfinite(metrics["history"]["loss"][0])
    loaded = load_inversion_model(tmp_path / "run" / "model.keras")
    assert loaded.config.head == "regression" and loaded.config.arch == "freqtcn"
    assert loaded.meta["training"]["data"] == "data"  # the folder's name, never a machine path


def test_cli_choices_match_the_models() -> None:
    from training import cli_train_inversion

    assert cli_train_inversion.ARCHS == ARCHS and cli_train_inversion.HEADS == HEADS


def test_export_for_inference_drops_the_optimizer_and_keeps_outputs(tmp_path: Path,
                                                                    rng: np.random.Generator) -> None:
    from training.inversion.build import export_for_inference

    config = _tiny("conv6xl")
    model = build_inversion_model(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss_for("sigmoid"))
    x = _inputs(config, rng)
    model.fit(x, targets_for("sigmoid", rng.integers(0, 16, (2, 23)), 16), epochs=1, verbose=0)
    full = save_inversion_model(model, tmp_path / "full.keras", config, "inversynth",
                                spec_dict("inversynth"), {"epochs_run": 1})
    small = export_for_inference(full, tmp_path / "small.keras")
    assert small.stat().st_size < full.stat().st_size
    loaded = load_inversion_model(small)
    assert loaded.meta["training"]["epochs_run"] == 1 and loaded.synth_name == "inversynth"
    np.testing.assert_allclose(loaded.scores(x), load_inversion_model(full).scores(x), atol=1e-6)


def test_a_fresh_process_loads_every_arch_with_its_custom_layers(tmp_path: Path) -> None:
    """``latent invert`` and ``latent bench`` load files in a new interpreter: every custom layer
    a model may hold must be registered by importing the loader alone."""
    import subprocess
    import sys

    paths = []
    for arch in ARCHS:
        config = _tiny(arch, "softmax" if arch == "sweeptcn" else "sigmoid")
        path = save_inversion_model(build_inversion_model(config), tmp_path / f"{arch}.keras",
                                    config, "inversynth", spec_dict("inversynth"), {})
        paths.append(str(path))
    script = ("import sys\nfrom instrument.inversion.model import load_inversion_model\n"
              "print(' '.join(load_inversion_model(p).config.arch for p in sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == list(ARCHS)
