"""Databases are created on first use, once per process (remembered), and again if one disappears.

Concurrent requests for a database not created yet share one `CREATE DATABASE`: while InfluxDB is
down or frozen, a burst costs one attempt (bounded by the write timeout), not one per request in turn.

With authentication on, the broker's InfluxDB user may be a writer, not an admin: `CREATE DATABASE` is
then refused, the database is assumed to be an administrator's, and the writes say whether it exists
(a write to a missing one is refused, and waits in the spool until it is created).
"""

from __future__ import annotations

import asyncio
import logging

from metrics_broker.influx.client import InfluxDB, NotAdmin

logger = logging.getLogger(__name__)


class Databases:
    def __init__(self, influx: InfluxDB) -> None:
        self._influx = influx
        self._created: set[str] = set()
        self._creating: dict[str, asyncio.Task[None]] = {}

    async def ensure(self, name: str) -> None:
        """Make sure `name` exists; costs nothing after the first success."""
        if name in self._created:
            return
        attempt = self._creating.get(name)
        if attempt is None:
            attempt = self._creating[name] = asyncio.create_task(self._create(name), name=f"create-{name}")
            # retrieved here too: when every waiter has hung up, nobody else would
            attempt.add_done_callback(lambda done: done.cancelled() or done.exception())
        # shielded: one waiter hanging up must not cancel the attempt the others wait for
        await asyncio.shield(attempt)

    async def _create(self, name: str) -> None:
        try:
            try:
                await self._influx.create_database(name)
            except NotAdmin as exc:
                logger.warning("%s; writing to it as it is (an administrator creates it)", exc.reason)
            self._created.add(name)
        finally:
            del self._creating[name]

    def forget(self, name: str) -> None:
        """InfluxDB said the database is gone: create it again at the next `ensure`."""
        self._created.discard(name)
