"""Inversion at play time: sound -> synth patch (networks, model files, ensembles, refinement, live follower)."""
