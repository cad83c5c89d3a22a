"""Benchmarks of Python parallel back-ends: how measurements are made, kept, shown."""

__version__ = "0.1.0"
