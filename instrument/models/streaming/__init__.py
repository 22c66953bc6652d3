"""One frame in, one frame out: the latent model at the hop rate.

:class:`StreamingLatentModel` wraps a :class:`~instrument.models.latent_model.LatentModel`
and picks the cheapest exact mode for it (:func:`streaming_mode`):

* ``"dense"``  -- per-frame model, latency 0.
* ``"cached"`` -- causal conv model without time pooling: RAVE-style cached
  convolution. Each causal conv keeps a preallocated history of its past
  input activations; each push computes only the new frame. Output frame
  ``t`` equals frame ``t`` of an offline causal pass starting from silence
  (``LatentModel.process`` / ``transform``); latency 0.
* ``"block"`` -- any other conv model (non-causal, or with time pooling):
  every ``B = block_frames`` hops the model runs once on a window of
  ``W = left + B + lookahead`` input frames (``left >= past_frames``; ``W``
  and ``B`` multiples of the time-pooling factor) and the ``B`` output frames
  whose receptive field the window covers are emitted one per hop afterwards.
  Cost per hop is about ``W / B`` frames of the model instead of a whole
  window per hop. The call is bursty (one every ``B`` hops): with
  ``compute_hops = K > 0`` (default ``ceil(B / 2)``) it runs on a helper
  thread while the previous block is emitted, and its first frame comes out
  ``K`` pushes after the push that completed the block; with ``K = 0`` that
  push runs the call itself (the caller's output queue must then hold more
  audio than one call takes). ``latency_frames = lookahead + B - 1 + K``.
  Output frames whose receptive field lies after the reset equal
  :meth:`LatentModel.transform` (tested), for every ``K``. Faders (scales)
  are read once per block. Defaults: :func:`default_block_frames`,
  :func:`default_compute_hops`.

Backends: ``"numpy"`` (default when every layer is supported) runs the
per-frame step as preallocated numpy matmuls on the model's weights
(:mod:`.numpy_layers`); ``"tf"`` runs a one-frame Keras copy of the model
(:func:`instrument.models.autoencoders.build_streaming_parts`, caches inside
:class:`~instrument.models.layers.autoencoder.CausalPad`) through a fixed-signature
``tf.function`` (:mod:`.tf_path`). Both give the same frames (tested).

Scales (``(n_units,)``) multiply the latent unit axis between encoder and
decoder on every push (:func:`instrument.models.scales.scale_latent`), so faders act
within one hop (block mode: within one block).

Files: :mod:`.plan` (modes, block sizes), :mod:`.numpy_layers` (numpy interpreter of
the layers), :mod:`.tf_path` (TF graphs), :mod:`.blocks` (block window and helper
thread), :mod:`.model` (:class:`StreamingLatentModel`).
"""

from instrument.models.streaming.model import StreamingLatentModel
from instrument.models.streaming.plan import (BACKENDS, MODES, BlockPlan, default_block_frames, default_compute_hops,
                                              plan_blocks, streaming_mode, time_pool_factor)

__all__ = ["BACKENDS", "MODES", "BlockPlan", "StreamingLatentModel", "default_block_frames",
           "default_compute_hops", "plan_blocks", "streaming_mode", "time_pool_factor"]
