"""Ids of rows this process has seen committed, so the write path of a run skips their lookups.

Every report of a run names its commit, branch, batch and test input; after the first report they all
exist, and looking them up again costs most of a report's time. A remembered id can go stale when a row
is deleted (e.g. `qa optimize` drops its iteration batches, perhaps in another process): the write then
fails on its foreign key, and the caller forgets everything and takes the slow path once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

DEFAULT_CAPACITY = 20_000


class KnownRows:
    """A bounded, least-recently-used memory of existing rows' ids."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def has_all(self, keys: Iterable[Hashable]) -> bool:
        return all(self.get(key) is not None for key in keys)

    def remember(self, entries: dict[Hashable, Any]) -> None:
        """Remember rows that exist: call only once the transaction that made or read them committed."""
        for key, value in entries.items():
            self._entries[key] = value
            self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget_all(self) -> None:
        self._entries.clear()
