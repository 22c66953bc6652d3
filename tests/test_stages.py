"""Per-hop stages: delay lines, bypass, model bank crossfade, magnitude collector, phase factory."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import StftConfig
from instrument.errors import ConfigError
from instrument.engine.stages import (BypassStage, FrameDelay, MagnitudeCollector, ModelBank, SampleDelay,
                                      Stage, StreamingPhaseStage, make_phase)


def test_frame_delay_delays_by_n_pushes() -> None:
    delay = FrameDelay(4, 2)
    outs = [delay.process(np.full(4, float(i), np.float32)).copy() for i in range(1, 6)]
    assert [o[0] for o in outs] == [0.0, 0.0, 1.0, 2.0, 3.0]
    passthrough = FrameDelay(4, 0)
    np.testing.assert_array_equal(passthrough.process(np.arange(4, dtype=np.float32)), np.arange(4))
    with pytest.raises(ConfigError):
        FrameDelay(4, -1)


@pytest.mark.parametrize("delay_samples", [0, 1, 100, 256, 700, 1280])
def test_sample_delay_is_exact(delay_samples: int) -> None:
    hop = 256
    signal = np.random.default_rng(0).standard_normal(hop * 12).astype(np.float32)
    line = SampleDelay(hop, delay_samples)
    out = np.concatenate([line.process(signal[i * hop:(i + 1) * hop]).copy() for i in range(12)])
    expected = np.concatenate([np.zeros(delay_samples, np.float32), signal])[:len(signal)]
    np.testing.assert_array_equal(out, expected)


class _Constant:
    """A model stage that always outputs one value (a real, minimal ModelStage)."""

    kind = "test"
    n_units = 1
    latency_frames = 0

    def __init__(self, value: float, n_bins: int = 3) -> None:
        self.name = f"const{value}"
        self.out = np.full(n_bins, value, np.float32)
        self.latent = np.zeros(1, np.float32)
        self.pushes = 0

    def reset(self) -> None:
        self.pushes = 0

    def process(self, frame: np.ndarray, scales: np.ndarray) -> np.ndarray:
        self.pushes += 1
        return self.out

    def process_latent(self, latent: np.ndarray | None, scales: np.ndarray) -> np.ndarray:
        self.pushes += 1
        return self.out


def test_model_bank_feeds_every_stage_and_crossfades() -> None:
    a, b = _Constant(1.0), _Constant(3.0)
    bank = ModelBank([a, b], crossfade_frames=2)
    frame, ones = np.zeros(3, np.float32), [np.ones(1, np.float32)] * 2
    assert bank.process(frame, ones)[0] == 1.0
    bank.switch(1)
    mixed = [bank.process(frame, ones)[0] for _ in range(3)]
    assert 1.0 < mixed[0] < mixed[1] < 3.0 and mixed[2] == 3.0
    assert a.pushes == b.pushes == 4
    assert bank.process(None, ones)[0] == 3.0 and a.pushes == 5
    with pytest.raises(ConfigError, match="out of range"):
        bank.switch(2)
    with pytest.raises(ConfigError, match="integer"):
        bank.switch("1")
    with pytest.raises(ConfigError):
        ModelBank([])


def test_bypass_stage_passes_frames_and_silences_latents() -> None:
    stage = BypassStage(3)
    frame = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_array_equal(stage.process(frame, np.ones(1)), frame)
    np.testing.assert_array_equal(stage.process_latent(None, np.ones(1)), 0.0)


def test_magnitude_collector_grows_and_keeps_order() -> None:
    config = StftConfig()
    collector = MagnitudeCollector(config, capacity_frames=2)
    for i in range(5):
        hop = collector.process(np.full(config.n_bins, float(i), np.float32))
        assert hop.shape == (config.hop_length,) and not hop.any()
    mags = collector.magnitudes()
    assert mags.shape == (5, config.n_bins) and mags[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert collector.latency_samples == config.n_fft - config.hop_length


def test_make_phase_modes() -> None:
    config = StftConfig()
    streaming = make_phase("streaming", config, lookahead_frames=2)
    assert isinstance(streaming, StreamingPhaseStage)
    assert streaming.latency_samples == 2 * 256 + 768
    assert isinstance(make_phase("offline", config), MagnitudeCollector)
    with pytest.raises(ConfigError, match="phase mode"):
        make_phase("magic", config)


def test_every_hop_stage_has_process_and_reset_and_reset_clears_its_state() -> None:
    config = StftConfig()
    stages: list[Stage] = [FrameDelay(config.n_bins, 2), SampleDelay(config.hop_length, 300),
                           MagnitudeCollector(config), make_phase("streaming", config, lookahead_frames=1)]
    rng = np.random.default_rng(3)
    for stage in stages:
        size = config.hop_length if isinstance(stage, SampleDelay) else config.n_bins
        inputs = [rng.random(size).astype(np.float32) for _ in range(6)]
        first = [stage.process(x).copy() for x in inputs]
        stage.reset()
        again = [stage.process(x).copy() for x in inputs]
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


def test_model_bank_crossfade_is_the_mix_function_over_frames() -> None:
    from instrument.dsp.mix import crossfade

    a, b = _Constant(1.0), _Constant(3.0)
    bank = ModelBank([a, b], crossfade_frames=4)
    frame, ones = np.zeros(3, np.float32), [np.ones(1, np.float32)] * 2
    bank.process(frame, ones)
    bank.switch(1)
    for k in range(4):
        gain = 1.0 - (4 - k - 0.5) / 4
        np.testing.assert_array_equal(bank.process(frame, ones), crossfade(a.out, b.out, gain))
    np.testing.assert_array_equal(bank.process(frame, ones), b.out)
