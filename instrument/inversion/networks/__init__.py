"""Inversion networks: log spectrogram -> synth parameter classes or values.

``config`` (what a network is, saved in its file), ``heads`` (outputs, losses, targets, scores),
``conv`` (``conv6xl``), ``tcn`` (``freqtcn``), ``sweeptcn`` and ``build``. Their Keras layers live
in :mod:`instrument.models.layers`."""
