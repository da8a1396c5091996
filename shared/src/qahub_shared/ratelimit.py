"""A sliding-window rate limiter, in memory, per process: at most `limit` events per window per key.

Used where guessing must be slow (password logins, per account and per client address). Memory is
bounded: beyond `max_keys`, the keys used least recently are forgotten.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_seconds: float, *, max_keys: int = 100_000) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window_seconds
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_keys = max_keys

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may act again; None when it may act now."""
        events = self._events.get(key)
        if events is None:
            return None
        now = time.monotonic()
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) < self.limit:
            return None
        return events[0] + self.window - now

    def hit(self, key: str) -> None:
        """Record one event of `key`."""
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
            if len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(time.monotonic())

    def reset(self, key: str) -> None:
        self._events.pop(key, None)
