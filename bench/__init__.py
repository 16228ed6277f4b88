"""Benchmarks: scripts that print figures and end with a RESULT line; they assert nothing."""
