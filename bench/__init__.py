"""Benchmarks: `python -m bench.run` runs every module here and writes bench/results/*.json."""
