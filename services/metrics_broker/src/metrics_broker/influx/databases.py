"""Databases are created on first use, once per process (remembered), and again if one disappears."""

from __future__ import annotations

import asyncio

from metrics_broker.influx.client import InfluxDB


class Databases:
    def __init__(self, influx: InfluxDB) -> None:
        self._influx = influx
        self._created: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, name: str) -> None:
        """Make sure `name` exists; costs nothing after the first success."""
        if name in self._created:
            return
        async with self._lock:
            if name not in self._created:
                await self._influx.create_database(name)
                self._created.add(name)

    def forget(self, name: str) -> None:
        """InfluxDB said the database is gone: create it again at the next `ensure`."""
        self._created.discard(name)
