"""Benchmarks: ``python -m bench.<name>`` (see docs/benchmarks.md for the figures and commands)."""
