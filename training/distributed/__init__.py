"""Distributed training: strategies, jobs, latent and inversion runs."""

#: Names accepted by ``--strategy`` (kept here, free of TensorFlow, so ``latent --help`` stays fast).
STRATEGIES = ("default", "mirrored", "multiworker")
