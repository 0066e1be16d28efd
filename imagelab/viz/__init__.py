"""Figures: every function takes arrays and returns a matplotlib Figure."""
