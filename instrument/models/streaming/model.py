""":class:`StreamingLatentModel`: one frame in, one frame out, for any latent model."""

from __future__ import annotations

import numpy as np
import threadpoolctl

from instrument.errors import ConfigError
from instrument.models.latent_model import LatentModel
from instrument.models.scales import check_scales, scale_latent
from instrument.models.streaming.blocks import BlockRunner
from instrument.models.streaming.numpy_layers import UnsupportedLayer, compile_numpy
from instrument.models.streaming.plan import BACKENDS, plan_blocks, streaming_mode
from instrument.models.streaming.tf_path import TfFrameGraphs


class StreamingLatentModel:
    """Hop-rate inference with explicit preallocated state.

    Args:
        latent_model: the loaded model.
        backend: ``"auto"`` (numpy when possible), ``"numpy"`` or ``"tf"``.
        blas_threads: with the numpy backend, limit BLAS to this many threads
            (process-wide, via threadpoolctl). Per-frame matmuls are tiny:
            on 2 busy cores a multi-threaded BLAS costs 5-10x more CPU than one
            thread. None leaves the BLAS setting alone.
        block_frames: block mode only (models that cannot stream frame by
            frame): frames ``B`` computed per model call; None picks
            :func:`~instrument.models.streaming.plan.default_block_frames`. Must be a multiple
            of the time-pooling factor. Ignored by dense and cached models.
        compute_hops: block mode only: ``K`` in ``0..B``. 0 runs the model call
            inside the push that completes a block (that push then takes the
            whole call; the caller's output queue must cover it). ``K > 0`` runs
            it on a helper thread while the previous block is emitted and waits
            for it ``K`` pushes later, so pushes stay short as long as a call
            takes less than ``K`` hops; latency grows by ``K``. None:
            :func:`~instrument.models.streaming.plan.default_compute_hops`. The helper thread is
            created by the first push that starts a block and inherits that thread's
            scheduling (a real-time processing thread keeps its model calls
            real-time: measured, fewer underflows than a normal-priority helper).
    Attributes:
        mode: ``"dense"``, ``"cached"`` or ``"block"``.
        backend: ``"numpy"`` or ``"tf"`` (block mode is always ``"tf"``).
        latency_frames: output frame returned by a push corresponds to the
            input frame pushed ``latency_frames`` hops earlier.
        block_frames: ``B`` (1 for dense and cached models).
        compute_hops: ``K`` (0 for dense and cached models).
        window_frames: ``W``, the frames one block-mode model call sees (1 otherwise).
        n_bins, n_units: frame and scale vector sizes.
        latent_frame_shape: one latent frame, conv ``(F', n_units)``, dense ``(n_units,)``.
        latent_frame: the unscaled latent frame of the last push (block
            mode: the latent frame aligned with the returned output frame).
    """

    def __init__(self, latent_model: LatentModel, backend: str = "auto",
                 blas_threads: int | None = 1, block_frames: int | None = None,
                 compute_hops: int | None = None) -> None:
        if not isinstance(latent_model, LatentModel):
            raise ConfigError(f"expected a LatentModel, got {type(latent_model).__name__}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if block_frames is not None and (isinstance(block_frames, bool)
                                         or not isinstance(block_frames, (int, np.integer))
                                         or block_frames < 1):
            raise ConfigError(f"block_frames must be a positive integer, got {block_frames!r}")
        self.latent_model = latent_model
        config = latent_model.config
        self.config = config
        self.n_bins = latent_model.n_bins
        self.n_units = latent_model.n_units
        self._norm = latent_model.norm_stats
        self._out = np.zeros(self.n_bins, np.float32)
        self._frame = np.zeros(self.n_bins, np.float32)
        self._scales = np.ones(self.n_units, np.float32)
        self.latent_frame_shape = tuple(int(d) for d in latent_model.latent_frame_shape)
        self.latent_frame = np.zeros(self.latent_frame_shape, np.float32)
        self._scaled = np.zeros(self.latent_frame_shape, np.float32)  # numpy backend: latent * scales
        self.mode = streaming_mode(config)
        self.latency_frames = 0
        self.block_frames = 1
        self.compute_hops = 0
        self.window_frames = 1
        self._enc_ops: list = []
        self._dec_ops: list = []
        self.backend = "tf"
        if self.mode != "block" and backend in ("auto", "numpy"):
            try:
                self._enc_ops, self._dec_ops = compile_numpy(latent_model.model, self.n_bins)
                self.backend = "numpy"
            except UnsupportedLayer as exc:
                if backend == "numpy":
                    raise ConfigError(f"numpy streaming cannot run this model: {exc}") from exc
        elif backend == "numpy":
            raise ConfigError("numpy streaming needs a dense or causal conv model without time pooling")
        plan = None
        if self.mode == "block":
            plan = plan_blocks(latent_model, block_frames, compute_hops)
            self.block_frames = plan.block_frames
            self.compute_hops = plan.compute_hops
            self.window_frames = plan.window_frames
            self.latency_frames = plan.latency_frames
        self._graphs: TfFrameGraphs | None = None
        self._x = np.zeros(0, np.float32)
        self._blocks: BlockRunner | None = None
        if self.backend == "tf":
            self._graphs = TfFrameGraphs(latent_model, self.mode, plan)
            if plan is None:
                self._x = np.zeros(self._graphs.input_shape, np.float32)  # dense/cached step input
            else:
                silence = np.zeros(self.n_bins, np.float32)
                if self._norm is not None:
                    silence[:] = self._norm.normalise(np.zeros(self.n_bins, np.float32))
                self._silence = silence
                self._blocks = BlockRunner(self._graphs, plan, self.n_bins, self.latent_frame_shape, silence)
        elif blas_threads is not None:
            threadpoolctl.threadpool_limits(limits=int(blas_threads), user_api="blas")
        self.reset()

    def reset(self) -> None:
        """Forget the past (silence): zero caches / window.

        Block mode also recomputes the block of a silent window, which the
        pushes before the first full block return.
        """
        for op in self._enc_ops + self._dec_ops:
            op.reset()
        if self._graphs is None:
            return
        self._x[:] = 0.0
        self._graphs.reset()
        if self._blocks is not None:
            self._blocks.reset(self._scales)

    def _validated(self, scales: np.ndarray | None) -> np.ndarray:
        return self._scales if scales is None else check_scales(scales, self.n_units)

    def push(self, frame: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Push one log1p magnitude frame ``(n_bins,)``; returns one ``(n_bins,)`` frame.

        ``scales`` ``(n_units,)`` multiply the latent units (default ones; block
        mode reads them on the push that completes a block).
        The returned array is a preallocated buffer overwritten by the next push.
        """
        frame = np.asarray(frame, np.float32)
        if frame.shape != (self.n_bins,):
            raise ConfigError(f"push expects a frame of shape ({self.n_bins},), got {frame.shape}")
        scales = self._validated(scales)
        x = self._frame
        if self._norm is not None:
            np.subtract(frame, self._norm.mean, out=x)
            x /= self._norm.std
        else:
            x[:] = frame
        if self._blocks is not None:
            return self._finish(self._blocks.push(x, scales, None, self.latent_frame))
        if self.backend == "numpy":
            z = x
            for op in self._enc_ops:
                z = op.step(z)
            self.latent_frame[...] = z
            y = scale_latent(z, scales, out=self._scaled)
            for op in self._dec_ops:
                y = op.step(y)
        else:
            self._x.reshape(self.n_bins)[:] = x
            y, z = self._graphs.step(self._x, scales)
            self.latent_frame[...] = z.numpy()
            y = y.numpy()
        return self._finish(y)

    def push_latent(self, latent: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
        """Decode one latent frame (no-input mode): ``latent * scales`` -> ``(n_bins,)``.

        ``latent`` has shape :attr:`latent_frame_shape` (e.g. ``mean_latent``).
        Cached decoders advance one hop, like :meth:`push`; block mode decodes
        the frame repeated over the window once per block (the input window
        meanwhile receives silence). Returns the preallocated output buffer.
        """
        latent = np.asarray(latent, np.float32)
        if latent.shape != self.latent_frame_shape:
            raise ConfigError(f"latent frame must have shape {self.latent_frame_shape}, got {latent.shape}")
        scales = self._validated(scales)
        if self._blocks is not None:
            return self._finish(self._blocks.push(self._silence, scales, latent, self.latent_frame))
        if self.backend == "numpy":
            y = scale_latent(latent, scales, out=self._scaled)
            for op in self._dec_ops:
                y = op.step(y)
        else:
            y = self._graphs.decode(latent, scales).numpy()
        return self._finish(y)

    def _finish(self, y: np.ndarray) -> np.ndarray:
        if self._norm is not None:
            np.multiply(y, self._norm.std, out=self._out)
            self._out += self._norm.mean
        else:
            self._out[:] = y
        return self._out
