"""The engine's latency term by term, and which shipped model `latent perform` picks by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from instrument.app.render import load_models, resolve_model_paths
from instrument.engine.engine import Engine, latency_breakdown
from instrument.errors import ModelError
from presets import PRESETS_DIR

MODELS = PRESETS_DIR / "models"


@pytest.mark.parametrize("name,live", [("none", False), ("reconstruct", False), ("flute-to-clarinet", False),
                                       ("flute-to-clarinet", True)])
def test_latency_terms_add_up_to_the_engine_latency(name: str, live: bool) -> None:
    models, names, spectral = load_models(resolve_model_paths([name], live=live))
    engine = Engine(spectral, models, names)
    terms = engine.latency_terms_ms
    assert set(terms) == {"framing", "model look-ahead", "block", "phase look-ahead"}
    assert sum(terms.values()) == pytest.approx(engine.latency_ms, abs=1e-6)
    hop_ms = 1000.0 * spectral.stft.hop_length / spectral.sample_rate
    assert terms["framing"] == pytest.approx(1000.0 * (spectral.stft.n_fft - spectral.stft.hop_length)
                                             / spectral.sample_rate)
    assert terms["phase look-ahead"] == pytest.approx(2 * hop_ms)  # the default look-ahead
    if name == "flute-to-clarinet" and not live:  # non-causal: runs in blocks
        assert terms["model look-ahead"] > 0 and terms["block"] > 0
    else:  # causal (the live transfer model too): frame by frame, 58 ms
        assert terms["model look-ahead"] == 0 and terms["block"] == 0
        assert engine.latency_ms <= 70.0
    text = latency_breakdown(terms)
    assert text.startswith("framing 34.8") and text.endswith(" ms")


def test_a_shipped_name_picks_the_live_variant_when_asked() -> None:
    live = MODELS / "flute-to-clarinet-live.keras"
    assert resolve_model_paths(["flute-to-clarinet"], live=True) == [live]
    assert resolve_model_paths(["flute-to-clarinet"], live=False) == [MODELS / "flute-to-clarinet.keras"]
    # an explicit path is always taken as given
    offline = str(MODELS / "flute-to-clarinet.keras")
    assert resolve_model_paths([offline], live=True) == [Path(offline)]
    # a name without a live variant resolves to itself
    assert resolve_model_paths(["reconstruct"], live=True) == [MODELS / "reconstruct.keras"]


def test_unknown_model_name_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="no-such-model"):
        resolve_model_paths(["no-such-model"])
