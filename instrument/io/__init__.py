"""Thin I/O: audio files, sound-card devices, ring buffers, recorder, event log."""
