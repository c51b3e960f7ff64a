"""Benchmarks: measured figures, not timed tests."""
