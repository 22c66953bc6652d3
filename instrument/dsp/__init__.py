"""Pure signal processing: the one STFT convention, phase reconstruction, limiter."""
