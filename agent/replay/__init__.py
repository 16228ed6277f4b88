"""Regression tools: scenarios, scripted runs, transcript replay and comparison."""
