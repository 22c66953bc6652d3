"""Refinement of an inverted patch by search and oscillator stem matching."""
