"""Benchmarks, one script per service: `uv run python bench/<service>.py` (see `make bench`)."""
