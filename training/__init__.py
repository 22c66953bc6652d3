"""Training: datasets, Keras layers and models, training loops, synths for inversion."""
