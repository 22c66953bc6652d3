"""Block mode's state: the input window, double-buffered blocks and the helper thread.

Every ``B`` pushes the window ``(1, W, n_bins)`` is copied into a job and the model
runs once on it (inline, or on one helper thread when ``compute_hops = K > 0``); its
``B`` output rows are emitted one per push afterwards, ``K`` pushes after the push
that completed the block. See :mod:`instrument.models.streaming` for the timing.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from instrument.models.streaming.plan import BlockPlan
from instrument.models.streaming.tf_path import TfFrameGraphs


class BlockRunner:
    """Window, block buffers and model calls of block-mode streaming.

    Args:
        graphs: the block-mode :class:`TfFrameGraphs`.
        plan: its :class:`BlockPlan`.
        n_bins: frame size.
        latent_frame_shape: one latent frame (conv ``(F', n_units)``).
        silence: the (normalised) frame of silence ``(n_bins,)`` the window starts from.
    """

    def __init__(self, graphs: TfFrameGraphs, plan: BlockPlan, n_bins: int,
                 latent_frame_shape: tuple[int, ...], silence: np.ndarray) -> None:
        self._graphs = graphs
        self.plan = plan
        n_units = latent_frame_shape[-1]
        block, window = plan.block_frames, plan.window_frames
        self._silence = silence
        self._count = 0
        self._window = np.zeros((1, window, n_bins), np.float32)
        # the block being emitted and the next one (computed from the job inputs), swapped by reference
        self._block_out = np.zeros((block, n_bins), np.float32)
        self._block_latent = np.zeros((plan.latent_rows,) + tuple(latent_frame_shape), np.float32)
        self._block_held = False  # decoded from a held latent (no input): no latent frames to show
        self._next_out = np.zeros_like(self._block_out)
        self._next_latent = np.zeros_like(self._block_latent)
        self._next_held = False
        self._job_x = np.zeros_like(self._window)
        self._job_scales = np.ones(n_units, np.float32)
        self._job_latent = np.zeros(latent_frame_shape, np.float32)
        self._job_held = False
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future | None = None

    def reset(self, scales: np.ndarray) -> None:
        """Forget the past: the window holds silence and its block (computed now) is emitted
        by the pushes before the first full block."""
        self._wait_job()
        self._window[0] = self._silence
        self._count = 0
        self._launch(scales, None, inline=True)
        self._swap()

    def _launch(self, scales: np.ndarray, held: np.ndarray | None, inline: bool = False) -> None:
        """Start the block of the current window (a copy), then slide the window by ``B``.

        ``held``: decode this latent frame repeated over the window instead (no input).
        Runs inline, or on the helper thread when ``compute_hops > 0``.
        """
        self._job_x[:] = self._window
        self._job_scales[:] = scales
        self._job_held = held is not None
        if held is not None:
            self._job_latent[:] = held
        b = self.plan.block_frames
        self._window[0, :-b] = self._job_x[0, b:]
        if inline or self.plan.compute_hops == 0:
            self._compute_job()
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latent-block")
        self._future = self._executor.submit(self._compute_job)

    def _compute_job(self) -> None:
        """One model call on the job inputs into the next-block buffers."""
        if self._job_held:
            self._next_out[:] = self._graphs.decode(self._job_latent, self._job_scales).numpy()
        else:
            y, z = self._graphs.step(self._job_x, self._job_scales)
            self._next_out[:] = y.numpy()
            self._next_latent[:] = z.numpy()
        self._next_held = self._job_held

    def _wait_job(self) -> None:
        if self._future is not None:
            future, self._future = self._future, None
            future.result()  # re-raises an error of the model call here

    def _swap(self) -> None:
        """The next block (waited for) becomes the emitted one."""
        self._wait_job()
        self._block_out, self._next_out = self._next_out, self._block_out
        self._block_latent, self._next_latent = self._next_latent, self._block_latent
        self._block_held = self._next_held

    def push(self, x: np.ndarray, scales: np.ndarray, held: np.ndarray | None,
             latent_frame: np.ndarray) -> np.ndarray:
        """Store the (normalised) frame ``(n_bins,)``, start/collect blocks on their hops, emit a row.

        A block starts on the push that completes its ``B`` frames (count
        ``c % B == 0``) and is emitted from ``compute_hops`` pushes later.
        ``latent_frame`` (``latent_frame_shape``) receives the latent frame aligned with
        the emitted row unless the block was decoded from a held latent.
        Returns the emitted ``(n_bins,)`` row (a view of the block buffer).
        """
        plan = self.plan
        b, k = plan.block_frames, plan.compute_hops
        self._window[0, plan.window_frames - b + self._count % b] = x
        self._count += 1
        c = self._count
        if k == 0:
            if c % b == 0:
                self._launch(scales, held)
                self._swap()
        else:
            if c > k and (c - k) % b == 0:
                self._swap()
            if c % b == 0:
                self._launch(scales, held)
        row = (c - k) % b
        if not self._block_held:
            latent_frame[...] = self._block_latent[(plan.first_row + row) // plan.pool - plan.latent_first]
        return self._block_out[row]
