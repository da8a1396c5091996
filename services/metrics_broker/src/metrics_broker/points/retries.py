"""The moment a point without `time` is stamped with, kept for the sender's retries.

A point without `time` gets the moment its payload was accepted. If the sender sends the payload again
(a retry) and the retry were stamped anew, InfluxDB, which may hold the first attempt, would hold the
point twice. So the moment of a payload is remembered by its sender and the SHA-256 of its body:

- while an attempt is in flight: a retry sent before the first attempt answered (the client gave up
  waiting) gets the same moment;
- for `WINDOW_SECONDS` after an attempt that did not end in a success (a 503, a 422 after InfluxDB kept
  part of it, the sender hanging up before the answer): the retry gets the same moment, and InfluxDB
  overwrites rather than adds.

A success forgets it once no attempt is in flight: the same body sent after a success is a new
measurement, with a new moment. What stays open: a success whose answer never reached the sender (the
connection broke after the 204 was sent) cannot be told apart from a new measurement; its retry is
stamped anew.

This is memory of one process (bounded: the oldest entries go first). Across broker restarts, or several
brokers behind a balancer, `POST /api/v1/points` with an `Idempotency-Key` is the durable way: the key
keeps the moment in PostgreSQL.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

WINDOW_SECONDS = 3600.0
CAPACITY = 10_000


class Outcome(Enum):
    STORED = "stored"
    """The points are stored and the sender is answered so."""
    FAILED = "failed"
    """Not known to be stored, or stored in part: a retry must stamp the same moment."""
    REFUSED = "refused"
    """Refused before any write (invalid): nothing to remember."""


@dataclass(slots=True)
class _Moment:
    ns: int
    in_flight: int
    kept_until: float | None
    """Monotonic time it is kept until after a failure; None: kept only while attempts are in flight."""


class RetryMoments:
    def __init__(self, *, window_seconds: float = WINDOW_SECONDS, capacity: int = CAPACITY) -> None:
        self._window = window_seconds
        self._capacity = capacity
        self._moments: OrderedDict[tuple[str, str], _Moment] = OrderedDict()

    def begin(self, sender: str, digest: str) -> int:
        """An attempt to store this payload starts: the moment to stamp its time-less points with (an
        earlier attempt's, or now). Every `begin` is followed by one `end`."""
        key = (sender, digest)
        entry = self._moments.get(key)
        if entry is None or not self._alive(entry):
            entry = self._moments[key] = _Moment(time.time_ns(), 0, None)
        entry.in_flight += 1
        self._moments.move_to_end(key)
        while len(self._moments) > self._capacity:
            self._moments.popitem(last=False)
        return entry.ns

    def end(self, sender: str, digest: str, outcome: Outcome) -> None:
        key = (sender, digest)
        entry = self._moments.get(key)
        if entry is None:  # pushed out by newer ones
            return
        entry.in_flight = max(entry.in_flight - 1, 0)
        if outcome is Outcome.FAILED:
            entry.kept_until = time.monotonic() + self._window
        elif entry.in_flight == 0 and (outcome is Outcome.STORED or entry.kept_until is None):
            del self._moments[key]

    def _alive(self, entry: _Moment) -> bool:
        return entry.in_flight > 0 or (entry.kept_until is not None and entry.kept_until > time.monotonic())
