"""Reproducible benchmarks on synthetic cohorts (run ``python -m benchmarks --help``)."""
