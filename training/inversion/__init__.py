"""Fit time for inversion models: training, ensembles, the shipped build."""
