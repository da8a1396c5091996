"""All SQL of the spool. Every failure to reach PostgreSQL is a `SpoolUnavailable`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from metrics_broker.spool.models import dead_letter, spooled_payload
from qahub_shared import database
from qahub_shared.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

# what reaching PostgreSQL can raise, whatever the layer: each means "the spool is unavailable now"
DATABASE_ERRORS = _DATABASE_ERRORS = (
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


DRAIN_LOCK = 5000
"""First key of the advisory lock a broker holds while it drains a database (the second: its name's hash)."""

# a loose index scan on (database, id): one probe per distinct database, not a read of every row
_DATABASES = text(
    """
    WITH RECURSIVE found(database) AS (
        (SELECT database FROM metrics_broker.spooled_payload ORDER BY database LIMIT 1)
        UNION ALL
        SELECT (
            SELECT next.database FROM metrics_broker.spooled_payload AS next
            WHERE next.database > found.database ORDER BY next.database LIMIT 1
        )
        FROM found WHERE found.database IS NOT NULL
    )
    SELECT database FROM found WHERE database IS NOT NULL
    """
)

SPOOL_UNAVAILABLE = (
    "InfluxDB and the spool are both unavailable: the points are not known to be stored (InfluxDB may "
    "still store what it did not acknowledge in time). Retry shortly with the same body: points without "
    "`time` get the same moment again."
)


class SpoolUnavailable(ServiceUnavailable):
    def __init__(self, reason: str) -> None:
        super().__init__(
            SPOOL_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SpooledPayload:
    id: int
    database: str
    lines: str
    points: int
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    database: str
    points: int
    reason: str
    accepted_at: datetime
    rejected_at: datetime
    lines: str


@dataclass(frozen=True, slots=True)
class SpoolStats:
    payloads: int
    points: int
    oldest_accepted_at: datetime | None
    dead_letters: int


def create_engine(
    url: str, *, pool_size: int, statement_timeout_ms: int, connect_timeout_s: float
) -> AsyncEngine:
    """The spool's pool. Timeouts everywhere, and a ping before each use: the spool is what answers when
    InfluxDB does not, so it must neither hang nor fail on a connection PostgreSQL dropped."""
    return database.create_engine(
        url,
        application_name="metrics_broker",
        pool_size=pool_size,
        statement_timeout_ms=statement_timeout_ms,
        connect_timeout_s=connect_timeout_s,
        pre_ping=True,
    )


def _unavailable(exc: BaseException) -> SpoolUnavailable:
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    # not a warning per call: the drainer, which looks into the spool every few seconds, logs when it
    # starts and stops failing; a request that met it answers 503
    logger.debug("spool: %s", reason)
    return SpoolUnavailable(reason)


class Spool:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(self, database: str, lines: Sequence[str]) -> None:
        """Store one payload's lines durably (committed when this returns)."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(spooled_payload).values(
                        database=database, lines="\n".join(lines), points=len(lines)
                    )
                )
        except _DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def databases(self) -> set[str]:
        """The databases with payloads waiting: one index probe per database (a loose index scan on
        `(database, id)`), however many payloads wait."""
        try:
            async with self._engine.connect() as connection:
                found = await connection.execute(_DATABASES)
                return set(found.scalars())
        except _DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def oldest(self, database: str, limit: int) -> AsyncIterator[Batch]:
        """The database's oldest spooled payloads, for this transaction; what the caller marks done or
        dead is removed when the block ends without error.

        One broker at a time drains a database (a transaction-level advisory lock on its name): brokers
        sharing the spool never write a database's payloads out of order. When another broker holds it,
        the batch is empty and `busy`: the database is not drained here, nor known to be empty."""
        try:
            async with self._engine.begin() as connection:
                mine = await connection.scalar(
                    select(func.pg_try_advisory_xact_lock(DRAIN_LOCK, func.hashtext(database)))
                )
                if not mine:
                    yield Batch(connection, [], busy=True)
                    return
                rows = await connection.execute(
                    select(spooled_payload)
                    .where(spooled_payload.c.database == database)
                    .order_by(spooled_payload.c.id)
                    .limit(limit)
                )
                batch = Batch(connection, [SpooledPayload(**row._mapping) for row in rows])
                yield batch
                await batch.flush()
        except _DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def stats(self) -> SpoolStats:
        try:
            async with self._engine.connect() as connection:
                spooled = (
                    await connection.execute(
                        select(
                            func.count(),
                            func.coalesce(func.sum(spooled_payload.c.points), 0),
                            func.min(spooled_payload.c.accepted_at),
                        )
                    )
                ).one()
                dead = (await connection.execute(select(func.count()).select_from(dead_letter))).scalar_one()
        except _DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc
        return SpoolStats(
            payloads=spooled[0], points=int(spooled[1]), oldest_accepted_at=spooled[2], dead_letters=dead
        )

    async def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        try:
            async with self._engine.connect() as connection:
                rows = await connection.execute(
                    select(dead_letter).order_by(dead_letter.c.id.desc()).limit(limit)
                )
                return [DeadLetter(**row._mapping) for row in rows]
        except _DATABASE_ERRORS as exc:
            raise _unavailable(exc) from exc


class Batch:
    """Payloads taken from the spool in one transaction; `done` and `dead` ones leave it at commit."""

    def __init__(
        self, connection: AsyncConnection, payloads: list[SpooledPayload], *, busy: bool = False
    ) -> None:
        self._connection = connection
        self.payloads = payloads
        self.busy = busy
        """Another broker is draining this database."""
        self._done: list[int] = []
        self._dead: list[dict[str, Any]] = []

    def done(self, payload: SpooledPayload) -> None:
        self._done.append(payload.id)

    def dead(self, payload: SpooledPayload, reason: str) -> None:
        self._done.append(payload.id)
        self._dead.append(
            {
                "database": payload.database,
                "lines": payload.lines,
                "points": payload.points,
                "reason": reason,
                "accepted_at": payload.accepted_at,
            }
        )

    async def flush(self) -> None:
        if self._dead:
            await self._connection.execute(insert(dead_letter), self._dead)
        if self._done:
            await self._connection.execute(
                delete(spooled_payload).where(spooled_payload.c.id.in_(self._done))
            )
