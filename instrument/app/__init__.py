"""Applications on top of the engine: perform, window, render, transfer, demo."""
