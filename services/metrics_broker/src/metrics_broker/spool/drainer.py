"""The drainer: one background task that writes spooled payloads to InfluxDB, oldest first.

It takes up to `batch_size` payloads at a time, writes consecutive ones for the same database together,
and removes them from the spool once InfluxDB has acknowledged them. When InfluxDB is unavailable, it
keeps what was written, waits (exponential backoff, `retry_min_seconds` doubling up to
`retry_max_seconds`) and starts again from the oldest. A payload InfluxDB rejects goes to the dead-letter
table with InfluxDB's reason. A write that timed out may still have landed; writing it again is harmless,
identical points overwrite each other, so each point is stored exactly once.

`backlog` is what the request path reads: True while anything may wait in the spool, so that new
payloads queue behind it instead of overtaking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

from metrics_broker.influx.client import InfluxUnavailable, PointsRejected
from metrics_broker.influx.writer import GroupCommitWriter
from metrics_broker.spool.repository import Batch, Spool, SpooledPayload, SpoolUnavailable

logger = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 5.0


class Drainer:
    def __init__(
        self,
        spool: Spool,
        writer: GroupCommitWriter,
        *,
        batch_size: int,
        max_points: int,
        retry_min_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self._spool = spool
        self._writer = writer
        self._batch_size = batch_size
        self._max_points = max_points
        self._retry_min = retry_min_seconds
        self._retry_max = retry_max_seconds
        self._woken = asyncio.Event()
        self._appending = 0
        self._task: asyncio.Task[None] | None = None
        self.backlog = False
        self.drained_points = 0
        """Spooled points written to InfluxDB since start (observability)."""

    @contextlib.asynccontextmanager
    async def appending(self) -> AsyncIterator[None]:
        """Wrap an append to the spool: once it is in, new payloads queue behind it; the drainer wakes.

        A failed append leaves `backlog` as it was: with PostgreSQL down, one InfluxDB hiccup must not
        send every later payload to a spool that cannot take it while InfluxDB could."""
        self._appending += 1
        try:
            yield
            self.backlog = True
        finally:
            self._appending -= 1
            self._woken.set()

    async def start(self, *, check_timeout_seconds: float) -> None:
        """Look once whether the spool holds anything (a previous run's), then drain in the background."""
        try:
            self.backlog = not await asyncio.wait_for(self._spool.is_empty(), check_timeout_seconds)
        except (SpoolUnavailable, TimeoutError) as exc:
            # keep serving: the drainer keeps looking, and finds the backlog once PostgreSQL answers
            logger.warning("could not look into the spool at start (%s); will retry", exc)
        self._task = asyncio.create_task(self._run(), name="spool-drainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.0
        while True:
            self._woken.clear()
            try:
                emptied = await self._drain()
            except (InfluxUnavailable, SpoolUnavailable) as exc:
                delay = min(max(delay * 2, self._retry_min), self._retry_max)
                logger.info("spool: cannot drain now (%s); next try in %.1fs", exc.reason, delay)
                await asyncio.sleep(delay)
                continue
            except Exception:
                logger.exception("spool: unexpected error while draining")
                delay = min(max(delay * 2, self._retry_min), self._retry_max)
                await asyncio.sleep(delay)
                continue
            delay = 0.0
            if emptied:
                if self._appending == 0 and not self._woken.is_set():
                    self.backlog = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), IDLE_CHECK_SECONDS)

    async def _drain(self) -> bool:
        """Drain until the spool is empty (True). Raises when InfluxDB or PostgreSQL is unavailable,
        after removing from the spool what was written."""
        while True:
            unavailable: InfluxUnavailable | None = None
            async with self._spool.oldest(self._batch_size) as batch:
                if not batch.payloads:
                    return True
                self.backlog = True
                try:
                    await self._write(batch)
                except InfluxUnavailable as exc:
                    unavailable = exc  # leave the block normally: what was written leaves the spool
            if unavailable is not None:
                raise unavailable

    async def _write(self, batch: Batch) -> None:
        for run in _runs(batch.payloads, self._max_points):
            database = run[0].database
            try:
                await self._writer.write_now(database, [payload.lines for payload in run])
            except PointsRejected:
                for payload in run:
                    await self._write_alone(batch, payload)
            else:
                for payload in run:
                    batch.done(payload)
                self.drained_points += sum(payload.points for payload in run)

    async def _write_alone(self, batch: Batch, payload: SpooledPayload) -> None:
        try:
            await self._writer.write_now(payload.database, [payload.lines])
        except PointsRejected as exc:
            logger.warning("spool: InfluxDB rejected spooled payload %d: %s", payload.id, exc.reason)
            batch.dead(payload, exc.reason)
        else:
            batch.done(payload)
            self.drained_points += payload.points


def _runs(payloads: list[SpooledPayload], max_points: int) -> Iterator[list[SpooledPayload]]:
    """Consecutive payloads for one database, up to `max_points` points per run (order kept)."""
    run: list[SpooledPayload] = []
    points = 0
    for payload in payloads:
        if run and (payload.database != run[0].database or points + payload.points > max_points):
            yield run
            run, points = [], 0
        run.append(payload)
        points += payload.points
    if run:
        yield run
