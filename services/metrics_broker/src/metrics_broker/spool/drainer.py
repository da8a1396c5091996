"""The drainer: one background task that writes spooled payloads to InfluxDB, each database oldest first.

Each database drains on its own, up to `DRAINING` of them at once: a turn takes up to `batch_size` of
its oldest payloads, writes them (consecutive ones together, up to `max_points` points per write) and
removes them from the spool once InfluxDB has acknowledged them. Brokers sharing the spool drain a
database one at a time (`Spool.oldest` takes its advisory lock), so its payloads are written in order.
When InfluxDB cannot take a database's payloads (down, slow, or refusing that database: a 401 or 403
for a database the broker may not create or write), that database waits
(exponential backoff, `retry_min_seconds` doubling up to `retry_max_seconds`) and starts again from its
oldest, while the other databases go on draining. A payload InfluxDB rejects goes to the dead-letter
table with InfluxDB's reason. A write that timed out may still have landed; writing it again is harmless,
identical points overwrite each other, so each point is stored exactly once.

`has_backlog(database)` is what the request path reads: true while anything of that database may wait in
the spool, so that its new payloads queue behind it instead of overtaking it. When PostgreSQL cannot be
reached at start, what a previous run left there is unknown until it can: meanwhile payloads go straight
to InfluxDB (the broker keeps serving without PostgreSQL) and may overtake that backlog. Overtaking matters
only for a point with the same measurement, tags and time as a spooled one, which would then overwrite
the newer one when the drainer writes it. The drainer looks into the spool again every `LOOK_SECONDS`,
whatever its backlog: what another broker sharing the spool left there, or an append whose commit this
process never saw confirmed (the client hung up), joins the backlog within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator

from metrics_broker.influx.client import InfluxUnavailable, PointsRejected
from metrics_broker.influx.writer import GroupCommitWriter
from metrics_broker.spool.repository import Batch, Spool, SpooledPayload, SpoolUnavailable
from qahub_shared.backoff import retry_delay
from qahub_shared.logging import Outage

logger = logging.getLogger(__name__)

LOOK_SECONDS = 5.0
"""How often the drainer asks the spool which databases wait in it."""
DRAINING = 4
"""Databases drained at once: one InfluxDB is slow to take holds back only itself (each turn holds a
PostgreSQL connection of the pool)."""


class _Backoff:
    """Failures in a row, and when to try again (`retry_delay`); a success starts afresh."""

    def __init__(self, shortest: float, longest: float, outage: Outage) -> None:
        self._shortest = shortest
        self._longest = longest
        self.outage = outage
        """What is logged: when the failures start, now and then while they go on, when they end."""
        self.failures = 0
        self.delay = 0.0
        self.until = 0.0
        """Loop time before which nothing is tried."""

    def failed(self, now: float, reason: BaseException | str, *, traceback: bool = False) -> float:
        self.failures += 1
        self.delay = retry_delay(self.failures, self._shortest, self._longest)
        self.until = now + self.delay
        self.outage.failed(reason, traceback=traceback)
        return self.delay

    def succeeded(self) -> None:
        self.failures, self.delay = 0, 0.0
        self.outage.succeeded()


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
        self._task: asyncio.Task[None] | None = None
        self._looked_at: float | None = None
        """Loop time the spool was last looked into (None: never yet)."""
        self._backlog: set[str] = set()
        self._appending: Counter[str] = Counter()
        self._appended: Counter[str] = Counter()
        """Appends committed per database: a drain that saw the spool empty checks none came in since."""
        self._waits: dict[str, _Backoff] = {}
        self._elsewhere: set[str] = set()
        """Databases another broker sharing the spool was draining at their last turn."""
        self.drained_points = 0
        """Spooled points written to InfluxDB since start (observability)."""

    def has_backlog(self, database: str) -> bool:
        """Whether a new payload for `database` must queue behind the spool (not overtake it)."""
        return database in self._backlog

    @property
    def backlog(self) -> bool:
        """Whether any database has a backlog."""
        return bool(self._backlog)

    @property
    def backlogged_databases(self) -> list[str]:
        return sorted(self._backlog)

    @property
    def draining_elsewhere(self) -> list[str]:
        return sorted(self._elsewhere)

    def waiting_databases(self) -> dict[str, float]:
        """The databases InfluxDB could not take lately, and their current retry delay (seconds)."""
        return {database: wait.delay for database, wait in sorted(self._waits.items()) if wait.delay}

    @contextlib.asynccontextmanager
    async def appending(self, database: str) -> AsyncIterator[None]:
        """Wrap an append to the spool: once it is in, new payloads for its database queue behind it; the
        drainer wakes.

        A failed append leaves the backlog as it was: with PostgreSQL down, one InfluxDB hiccup must not
        send every later payload to a spool that cannot take it while InfluxDB could."""
        self._appending[database] += 1
        try:
            yield
            self._backlog.add(database)
            self._appended[database] += 1
        finally:
            self._appending[database] -= 1
            if not self._appending[database]:
                del self._appending[database]
            self._woken.set()

    async def start(self, *, check_timeout_seconds: float) -> None:
        """Look once which databases the spool holds (a previous run's), then drain in the background."""
        try:
            await asyncio.wait_for(self._look(), check_timeout_seconds)
        except (SpoolUnavailable, TimeoutError) as exc:
            # keep serving: the drainer keeps looking (see the module docstring)
            logger.warning("could not look into the spool at start (%s); will retry", exc)
        self._task = asyncio.create_task(self._run(), name="spool-drainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _look(self) -> None:
        self._backlog |= await self._spool.databases()
        self._looked_at = asyncio.get_running_loop().time()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        spool_wait = _Backoff(self._retry_min, self._retry_max, Outage(logger, "spool: draining"))
        turns = asyncio.Semaphore(DRAINING)
        while True:
            self._woken.clear()
            try:
                if self._looked_at is None or loop.time() - self._looked_at >= LOOK_SECONDS:
                    await self._look()
                progressed = await self._round(turns)
            except SpoolUnavailable as exc:
                await asyncio.sleep(spool_wait.failed(loop.time(), exc.reason))
                continue
            except Exception as exc:  # a bug: its traceback is logged once, when the failures start
                await asyncio.sleep(spool_wait.failed(loop.time(), exc, traceback=True))
                continue
            spool_wait.succeeded()
            if progressed:
                continue
            assert self._looked_at is not None
            waits = [self._waits[database].until for database in self._backlog if database in self._waits]
            timeout = min([self._looked_at + LOOK_SECONDS, *waits]) - loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), max(timeout, 0.0))

    async def _round(self, turns: asyncio.Semaphore) -> bool:
        """A turn of each database that is not waiting; whether any payload left the spool. Raises
        `SpoolUnavailable` once every turn has ended, if one met it."""
        now = asyncio.get_running_loop().time()
        due = [db for db in sorted(self._backlog) if db not in self._waits or self._waits[db].until <= now]
        ended = await asyncio.gather(
            *(self._turn(database, turns) for database in due), return_exceptions=True
        )
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome
        return any(ended)

    async def _turn(self, database: str, turns: asyncio.Semaphore) -> bool:
        """Drain a batch of the database; whether any payload left the spool."""
        async with turns:
            appended = self._appended[database]
            try:
                drained = await self._drain_batch(database)
            except InfluxUnavailable as exc:
                wait = self._waits.get(database)
                if wait is None:
                    outage = Outage(logger, f"spool: writing {database} to InfluxDB")
                    wait = self._waits[database] = _Backoff(self._retry_min, self._retry_max, outage)
                wait.failed(asyncio.get_running_loop().time(), exc.reason)
                return False
        if drained is None:  # another broker is draining it: keep queueing behind it
            self._elsewhere.add(database)
            return False
        self._elsewhere.discard(database)
        wait = self._waits.pop(database, None)
        if wait is not None:
            wait.succeeded()
        if not drained and not self._appending[database] and self._appended[database] == appended:
            # empty, and nothing was appended meanwhile: new payloads may go to InfluxDB again
            self._backlog.discard(database)
        return drained > 0

    async def _drain_batch(self, database: str) -> int | None:
        """Write a batch of the database's oldest payloads; how many left the spool (None: another broker
        is draining it). Raises when InfluxDB or PostgreSQL is unavailable, after removing from the spool
        what was written."""
        unavailable: InfluxUnavailable | None = None
        async with self._spool.oldest(database, self._batch_size) as batch:
            if batch.busy:
                return None
            if not batch.payloads:
                return 0
            try:
                await self._write(batch)
            except InfluxUnavailable as exc:
                unavailable = exc  # leave the block normally: what was written leaves the spool
        if unavailable is not None:
            raise unavailable
        return len(batch.payloads)

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
    """Consecutive payloads, up to `max_points` points per run (order kept)."""
    run: list[SpooledPayload] = []
    points = 0
    for payload in payloads:
        if run and points + payload.points > max_points:
            yield run
            run, points = [], 0
        run.append(payload)
        points += payload.points
    if run:
        yield run
