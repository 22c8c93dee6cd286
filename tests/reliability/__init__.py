"""Reliability tests: model-based, crash, disk-full, hostile input, stress and corruption."""
