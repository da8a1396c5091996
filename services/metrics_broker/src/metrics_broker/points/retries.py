"""The moment a point without `time` is stamped with, kept for the sender's retries.

A point without `time` gets the moment its payload was accepted. If the sender retries the payload
because it never got a success (a 503, a 422 after InfluxDB kept part of it, or its connection dropped
before the answer) and the retry were stamped anew, InfluxDB, which may have stored the first attempt,
would hold the point twice. So a payload whose storing did not end in a success sent back is remembered,
by its sender and the SHA-256 of its body, for `WINDOW_SECONDS`; the same body from the same sender in
that window gets the first attempt's moment, and InfluxDB overwrites rather than adds. A success forgets
it: once the sender has its answer, the same body again is a new measurement.

This is memory of one process (bounded: the oldest entries go first). Across broker restarts, or several
brokers behind a balancer, `POST /api/v1/points` with an `Idempotency-Key` is the durable way: the key
keeps the moment in PostgreSQL.
"""

from __future__ import annotations

import time
from collections import OrderedDict

WINDOW_SECONDS = 3600.0
CAPACITY = 10_000


class RetryMoments:
    def __init__(self, *, window_seconds: float = WINDOW_SECONDS, capacity: int = CAPACITY) -> None:
        self._window = window_seconds
        self._capacity = capacity
        # (sender, body digest) -> (moment in ns since the epoch, monotonic time it expires)
        self._moments: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()

    def moment(self, sender: str, digest: str) -> int:
        """The moment to stamp this payload's time-less points with: its earlier attempt's, or now."""
        entry = self._moments.get((sender, digest))
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        return time.time_ns()

    def failed(self, sender: str, digest: str, moment: int) -> None:
        """Storing did not end in a success the sender saw: keep the moment for its retry."""
        key = (sender, digest)
        self._moments[key] = (moment, time.monotonic() + self._window)
        self._moments.move_to_end(key)
        while len(self._moments) > self._capacity:
            self._moments.popitem(last=False)

    def succeeded(self, sender: str, digest: str) -> None:
        self._moments.pop((sender, digest), None)
