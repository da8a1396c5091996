"""The writer requests await: InfluxDB first (group commit), the spool when InfluxDB cannot take it.

    nothing of the payload's database waits in the spool:
                      write to InfluxDB ──ok──▶ 204 (X-Stored-In: influxdb)
                           │ unavailable (down, 5xx, slower than the write timeout)
                           ▼
                      append to the spool ──ok──▶ 204 (X-Stored-In: spool)  ──▶ the drainer writes it later
                           │ unavailable
                           ▼
                      503 + Retry-After: nothing stored, nothing claimed
    the database has a backlog in the spool:
                      append to the spool directly, so nothing overtakes what waits there; other
                      databases are not affected

A point InfluxDB rejects (422) is not spooled: sending it again would not make it valid.
"""

from __future__ import annotations

from collections.abc import Sequence

from metrics_broker.influx.client import InfluxUnavailable, PointsRejected
from metrics_broker.influx.writer import GroupCommitWriter, Stored
from metrics_broker.observability import Counters
from metrics_broker.spool.drainer import Drainer
from metrics_broker.spool.repository import Spool


class SpoolingWriter:
    def __init__(self, direct: GroupCommitWriter, spool: Spool, drainer: Drainer, counters: Counters) -> None:
        self._direct = direct
        self._spool = spool
        self._drainer = drainer
        self._counters = counters

    async def write(self, database: str, lines: Sequence[str]) -> Stored:
        stored = await self._write(database, lines)
        self._counters.points[(database, stored.value)] += len(lines)
        return stored

    async def _write(self, database: str, lines: Sequence[str]) -> Stored:
        if not self._drainer.has_backlog(database):
            try:
                return await self._direct.write(database, lines)
            except InfluxUnavailable:
                pass  # acknowledged from the spool instead
            except PointsRejected:
                self._counters.rejected[database] += len(lines)
                raise
        async with self._drainer.appending(database):
            await self._spool.append(database, lines)
        return Stored.SPOOL
