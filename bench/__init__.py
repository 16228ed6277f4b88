"""Benchmarks: scripts printing figures and a RESULT line; run as python -m bench.NAME."""
