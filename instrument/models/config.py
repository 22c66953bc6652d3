"""Frozen, validated configuration of a spectral autoencoder.

:class:`AutoencoderConfig` describes every architecture of the model zoo
(:mod:`instrument.models.autoencoders`) and is saved inside every model file, together with
the :class:`~instrument.config.SpectralConfig` the features were computed with.

Architectures (see :mod:`instrument.models.autoencoders` for the layer graphs):

* ``dense``    -- Sarroff & Casey: per-frame fully connected autoencoder,
  sigmoid hidden layers (``hidden_units``, e.g. ``(256,)`` or ``(256, 8)``),
  linear output, gaussian-noise denoising, greedy layer-wise pretraining.
* ``shallow``  -- Paterna Fig. 3.1: one 3x3 conv hidden layer, no pooling.
* ``deep``     -- Paterna stacked conv autoencoder: ``depth`` x (conv + max-pool)
  in the encoder, mirrored (up-sample + conv) decoder; layer-wise pretraining.
* ``dilated``  -- Paterna Fig. 3.2: parallel dilated branches merged by max.
* ``residual`` -- Paterna Fig. 3.3: identity shortcut in the encoder.
* ``dilres``   -- Paterna Fig. 3.4: residual + dilated blocks, max-pooling in
  the encoder, up-sampling in the decoder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from instrument.config import SpectralConfig
from instrument.errors import ConfigError

ARCHS = ("dense", "shallow", "deep", "dilated", "residual", "dilres")
CONV_ARCHS = ("shallow", "deep", "dilated", "residual", "dilres")
#: Architectures with max-pooling / up-sampling (``pool_time`` x ``pool_freq``).
POOLING_ARCHS = ("deep", "dilres")
#: Bounds of the integer fields, inclusive: ``name -> (low, high)``.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "frames": (1, 4096), "channels": (1, 4096), "latent_channels": (1, 4096), "depth": (1, 16),
    "kernel_size": (1, 31), "pool_time": (1, 8), "pool_freq": (1, 8), "freq_context": (0, 4096)}
#: Bounds of the non-negative float fields, inclusive: ``name -> high``.
FLOAT_BOUNDS: dict[str, float] = {"noise_stddev": 10.0, "l1": 1.0, "l2": 1.0, "sparsity_beta": 100.0}
#: Most dense hidden layers, and most units in one.
MAX_HIDDEN_LAYERS = 16
MAX_HIDDEN_UNITS = 65536


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class AutoencoderConfig:
    """Hyper-parameters of one autoencoder (validated on construction).

    Attributes:
        arch: one of :data:`ARCHS`.
        spectral: analysis settings; ``n_bins = spectral.stft.n_bins``.
        frames: time window ``T`` (frames) the conv models see; input shape
            ``(T, n_bins)``. Dense models are per frame (input ``(n_bins,)``)
            and ignore it.
        channels: filters of the hidden conv layers (Paterna used 256).
        latent_channels: latent units of conv models = channels of the
            ``latent`` layer, the axis the faders scale.
        depth: conv layers (``deep``) or residual blocks (``dilres``) in the encoder.
        hidden_units: dense hidden layer sizes, encoder order; the last one is
            the latent (e.g. ``(256,)`` or Sarroff's ``(256, 8)``).
        kernel_size: square kernel of plain conv layers (3 = Paterna).
        pool_time, pool_freq: max-pool / up-sample factors of pooling archs.
            ``pool_time`` must be 1 for causal models (one frame in, one out).
        causal: pad the time axis on the past side only (lookahead 0).
        freq_bias: ``dilres`` only: add a trainable per-(bin, channel) bias after every
            encoder residual block and after the decoder block
            (:class:`instrument.models.layers.autoencoder.FrequencyBias`, frequency-position awareness).
        freq_context: ``dilres`` only: units of a :class:`instrument.models.layers.autoencoder.FrequencyContext`
            (whole-frame summary added to every bin) after every block; 0 = none.
        freq_template: with ``freq_context``: the context layers also decode a whole-frame
            spectral template (``FrequencyContext(spectral=True)``), so the model can add
            harmonics the input lacks.
        noise_stddev: gaussian noise added to the input at training time.
        sparsity_rho, sparsity_beta: KL sparsity target and weight on the
            latent activations (``beta = 0`` disables).
        l1, l2: kernel regularisation strengths.
        dropout: dropout rate before the first conv / dense layer.
        learning_rate: Adam learning rate.
    """

    arch: str = "dilres"
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    frames: int = 16
    channels: int = 32
    latent_channels: int = 16
    depth: int = 2
    hidden_units: tuple[int, ...] = (256,)
    kernel_size: int = 3
    pool_time: int = 1
    pool_freq: int = 2
    causal: bool = False
    freq_bias: bool = False
    freq_context: int = 0
    freq_template: bool = False
    noise_stddev: float = 0.0
    sparsity_rho: float = 0.01
    sparsity_beta: float = 0.5
    l1: float = 0.0
    l2: float = 1e-6
    dropout: float = 0.1
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if not isinstance(self.spectral, SpectralConfig):
            raise ConfigError(f"spectral must be a SpectralConfig, got {type(self.spectral).__name__}")
        for name, (low, high) in INT_BOUNDS.items():
            value = getattr(self, name)
            if not _is_int(value):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ConfigError(f"{name} must be in {low}..{high}, got {value}")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {self.kernel_size}")
        hidden = self.hidden_units
        if isinstance(hidden, list):
            hidden = tuple(hidden)
            object.__setattr__(self, "hidden_units", hidden)
        if (not isinstance(hidden, tuple) or not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS
                or not all(_is_int(h) and 1 <= h <= MAX_HIDDEN_UNITS for h in hidden)):
            raise ConfigError(f"hidden_units must be 1..{MAX_HIDDEN_LAYERS} integers in "
                              f"1..{MAX_HIDDEN_UNITS}, got {hidden!r}")
        if not isinstance(self.causal, bool):
            raise ConfigError(f"causal must be true or false, got {self.causal!r}")
        if not isinstance(self.freq_bias, bool):
            raise ConfigError(f"freq_bias must be true or false, got {self.freq_bias!r}")
        if self.freq_bias and self.arch != "dilres":
            raise ConfigError(f"freq_bias is for arch 'dilres', not {self.arch!r}")
        if self.freq_context and self.arch != "dilres":
            raise ConfigError(f"freq_context is for arch 'dilres', not {self.arch!r}")
        if not isinstance(self.freq_template, bool):
            raise ConfigError(f"freq_template must be true or false, got {self.freq_template!r}")
        if self.freq_template and not self.freq_context:
            raise ConfigError("freq_template needs freq_context > 0 (the template is decoded from "
                              "the context units)")
        for name, high in FLOAT_BOUNDS.items():
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= high:
                raise ConfigError(f"{name} must be a number in [0, {high:g}], got {value!r}")
        if not _is_number(self.sparsity_rho) or not 0.0 < self.sparsity_rho < 1.0:
            raise ConfigError(f"sparsity_rho must be in (0, 1), got {self.sparsity_rho!r}")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not _is_number(self.learning_rate) or not 0.0 < self.learning_rate <= 1.0:
            raise ConfigError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        if self.arch in POOLING_ARCHS:
            if self.causal and self.pool_time != 1:
                raise ConfigError(
                    f"pool_time must be 1 for a causal model (one frame in, one frame out), "
                    f"got {self.pool_time}")
            if self.frames % (self.pool_time ** self.n_pools):
                raise ConfigError(
                    f"frames {self.frames} must be a multiple of pool_time**{self.n_pools} "
                    f"= {self.pool_time ** self.n_pools}")
            if self.pool_freq ** self.n_pools > self.n_bins:
                raise ConfigError(
                    f"pool_freq**{self.n_pools} = {self.pool_freq ** self.n_pools} must not exceed "
                    f"the {self.n_bins} frequency bins (pool_freq {self.pool_freq})")

    # ----------------------------------------------------------------- derived
    @property
    def n_bins(self) -> int:
        """Frequency bins of the features, ``n_fft // 2 + 1``."""
        return self.spectral.stft.n_bins

    @property
    def is_conv(self) -> bool:
        return self.arch in CONV_ARCHS

    @property
    def n_units(self) -> int:
        """Latent units (faders): last hidden size (dense) or ``latent_channels``."""
        return self.hidden_units[-1] if self.arch == "dense" else self.latent_channels

    @property
    def n_pools(self) -> int:
        """Max-pool layers in the encoder (``deep``: depth, ``dilres``: 1, else 0)."""
        if self.arch == "deep":
            return self.depth
        if self.arch == "dilres":
            return 1
        return 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Model input shape without batch: ``(n_bins,)`` dense, ``(frames, n_bins)`` conv."""
        return (self.n_bins,) if self.arch == "dense" else (self.frames, self.n_bins)

    def replace(self, **changes: Any) -> "AutoencoderConfig":
        """Copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["spectral"] = self.spectral.to_dict()
        data["hidden_units"] = list(self.hidden_units)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AutoencoderConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"autoencoder config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown autoencoder config fields: {sorted(unknown)}")
        values = dict(data)
        if "spectral" in values:
            values["spectral"] = SpectralConfig.from_dict(values["spectral"])
        if "hidden_units" in values and isinstance(values["hidden_units"], list):
            values["hidden_units"] = tuple(values["hidden_units"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AutoencoderConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"autoencoder config is not valid JSON: {exc}") from exc


#: Named starting points. ``live`` is the causal model sized for the live
#: engine (numpy cached-convolution step well under 1.5 ms per hop at 513 bins;
#: its 26 past frames fit the 32-frame training window, so offline transform
#: equals streaming). ``paterna`` is Fig. 3.4 at the thesis' 256 channels
#: (offline only); ``sarroff`` is the 256-8 dense denoising autoencoder.
MODEL_PRESETS: dict[str, AutoencoderConfig] = {
    "live": AutoencoderConfig(arch="dilres", causal=True, frames=32, channels=16,
                              latent_channels=8, depth=2, pool_freq=2),
    "paterna": AutoencoderConfig(arch="dilres", frames=16, channels=256, latent_channels=256,
                                 depth=2, pool_time=2, pool_freq=2, learning_rate=1e-4),
    "paterna_shallow": AutoencoderConfig(arch="shallow", frames=16, latent_channels=256),
    "sarroff": AutoencoderConfig(arch="dense", hidden_units=(256, 8), noise_stddev=0.1,
                                 dropout=0.0),
}
