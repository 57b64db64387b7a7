"""Passes over lowered IR, one per module; ``pipeline`` lists them in order."""
