"""The streaming plan: which mode a model streams in, and the sizes of block mode.

Modes (see :mod:`instrument.models.streaming`): ``"dense"`` (per-frame model),
``"cached"`` (causal conv without time pooling, cached convolutions) and ``"block"``
(anything else: one model call per ``B`` hops on a window of ``W`` frames).
"""

from __future__ import annotations

from dataclasses import dataclass

from instrument.errors import ConfigError
from instrument.models.autoencoders import can_stream_cached
from instrument.models.config import AutoencoderConfig
from instrument.models.latent_model import LatentModel

BACKENDS = ("auto", "numpy", "tf")
MODES = ("dense", "cached", "block")


def streaming_mode(config: AutoencoderConfig) -> str:
    """The cheapest exact mode of one :data:`MODES` for a model of ``config``."""
    if config.arch == "dense":
        return "dense"
    if can_stream_cached(config):
        return "cached"
    return "block"


def time_pool_factor(latent_model: LatentModel) -> int:
    """Frames per latent frame: ``pool_time ** n_pools`` for pooling archs, else 1."""
    config = latent_model.config
    if not config.is_conv:
        return 1
    return max(1, int(latent_model.frames) // max(1, int(latent_model.latent_shape[0])))


def default_block_frames(latent_model: LatentModel) -> int:
    """Default block length ``B`` (frames) for block-mode streaming.

    ``B`` = the model's receptive field ``R`` (past + 1 + look-ahead frames),
    capped so the block window ``W = B + past + look-ahead`` stays within the
    window ``T`` the model was trained on (when that leaves at least one frame),
    rounded up to a multiple of the time-pooling factor. With ``B = R`` each
    block computes about ``2 B`` frames for ``B`` outputs, so cost per hop is
    about twice one frame of the model plus ``1 / R`` of the per-call overhead,
    while latency grows by ``R - 1`` frames only.
    """
    q = time_pool_factor(latent_model)
    past, ahead = int(latent_model.past_frames), int(latent_model.lookahead_frames)
    block = int(latent_model.receptive_field_frames)
    room = int(latent_model.frames) - past - ahead
    if room >= 1:
        block = min(block, room)
    return max(q, -(-block // q) * q)


def default_compute_hops(block_frames: int) -> int:
    """Default ``K``: half a block (rounded up), so a block's model call may take
    half a block period (10 hops = 116 ms for ``B = 19`` at hop 256 / 22050 Hz) on the helper
    thread before the processing thread has to wait for it; latency grows by ``K``."""
    return (int(block_frames) + 1) // 2


@dataclass(frozen=True)
class BlockPlan:
    """Sizes of block-mode streaming (all in frames unless named ``latent_*``).

    Attributes:
        block_frames: ``B``, output frames per model call.
        compute_hops: ``K``, pushes between starting a block's call and emitting its first frame.
        window_frames: ``W``, input frames one call sees (multiple of ``pool``).
        latency_frames: ``lookahead + B - 1 + K``.
        pool: time-pooling factor ``q`` (frames per latent frame).
        first_row: window row of the block's first output frame (``W - lookahead - B``).
        latent_first, latent_rows: latent rows of the window covering the block's frames.
        latent_window: latent rows of the whole window (``W / q``).
    """

    block_frames: int
    compute_hops: int
    window_frames: int
    latency_frames: int
    pool: int
    first_row: int
    latent_first: int
    latent_rows: int
    latent_window: int


def plan_blocks(latent_model: LatentModel, block_frames: int | None,
                compute_hops: int | None) -> BlockPlan:
    """The :class:`BlockPlan` of a model; None picks :func:`default_block_frames` /
    :func:`default_compute_hops`. Raises :class:`ConfigError` naming a bad ``block_frames``
    (not a multiple of the time pooling) or ``compute_hops`` (outside ``0..B``)."""
    q = time_pool_factor(latent_model)
    block = default_block_frames(latent_model) if block_frames is None else int(block_frames)
    if block % q:
        raise ConfigError(f"block_frames {block} must be a multiple of the model's time pooling {q}")
    spread = default_compute_hops(block) if compute_hops is None else int(compute_hops)
    if not 0 <= spread <= block:
        raise ConfigError(f"compute_hops must be in 0..block_frames ({block}), got {compute_hops!r}")
    ahead = int(latent_model.lookahead_frames)
    window = -(-(block + int(latent_model.past_frames) + ahead) // q) * q
    first_row = window - ahead - block
    latent_first = first_row // q
    return BlockPlan(block_frames=block, compute_hops=spread, window_frames=window,
                     latency_frames=ahead + block - 1 + spread, pool=q, first_row=first_row,
                     latent_first=latent_first,
                     latent_rows=(first_row + block - 1) // q - latent_first + 1,
                     latent_window=window // q)
