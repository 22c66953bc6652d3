"""Benchmarks that print tables; run as `latent bench NAME` or `python -m benchmarks.NAME`."""
