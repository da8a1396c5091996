"""Exponential backoff, as every QA Hub service waits between retries."""

from __future__ import annotations


def retry_delay(attempts: int, shortest: float, longest: float) -> float:
    """The wait before attempt `attempts + 1`: doubling from `shortest`, at most `longest`."""
    # the exponent is capped: after days of failures, 2 ** attempts would overflow a float
    doublings = min(max(attempts - 1, 0), 30)
    return min(longest, shortest * float(2**doublings))
