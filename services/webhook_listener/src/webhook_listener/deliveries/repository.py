"""SQL of the inbox: storing verified deliveries, and moving them through their states.

received ──claim──▶ processing ──▶ done
   ▲                    │
   └──── retry ─────────┤ (qa_api unavailable, or a fetch failed: after a backoff)
                        └──▶ failed (reason) ──redelivery──▶ received
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from webhook_listener.db import delivery, repository

RECONCILE_EVENT = "reconcile"


class Stored(StrEnum):
    ACCEPTED = "accepted"
    """A new delivery."""
    REQUEUED = "requeued"
    """A redelivery of a delivery whose processing failed: it is processed again."""
    DUPLICATE = "duplicate"
    """Seen before (received, being processed or done): not processed again."""


# The acknowledgement path speaks to asyncpg itself: two prepared statements, no SQL built per request.
_FIND_REPOSITORY = "SELECT id, secret FROM repository WHERE provider = $1 AND path = $2"
_STORE = """
INSERT INTO delivery (repository_id, provider, event, idempotency_key, headers, body)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
ON CONFLICT (repository_id, idempotency_key) DO UPDATE
SET state = 'received', reason = NULL, headers = EXCLUDED.headers, body = EXCLUDED.body,
    attempts = 0, next_attempt_at = now(), updated_at = now(), finished_at = NULL
WHERE delivery.state = 'failed'
RETURNING id, xmax = 0
"""
_EXISTING = "SELECT id FROM delivery WHERE repository_id = $1 AND idempotency_key = $2"


async def find_repository(driver: asyncpg.Connection, *, provider: str, path: str) -> tuple[int, str] | None:
    """The id and webhook secret of a registered repository."""
    row = await driver.fetchrow(_FIND_REPOSITORY, provider, path)
    return None if row is None else (int(row[0]), str(row[1]))


async def store(
    driver: asyncpg.Connection,
    *,
    repository_id: int,
    provider: str,
    event: str,
    idempotency_key: str,
    headers: dict[str, str],
    body: bytes,
) -> tuple[int, Stored]:
    """Store a delivery, unless one with the same key was stored before and has not failed."""
    row = await driver.fetchrow(
        _STORE, repository_id, provider, event, idempotency_key, json.dumps(headers), body
    )
    if row is not None:
        return int(row[0]), Stored.ACCEPTED if row[1] else Stored.REQUEUED
    existing = await driver.fetchval(_EXISTING, repository_id, idempotency_key)
    return int(existing), Stored.DUPLICATE


async def queue_reconcile(connection: AsyncConnection, repository_id: int) -> bool:
    """Queue a reconciliation of the repository, unless one is waiting already."""
    waiting = await connection.execute(
        select(delivery.c.id).where(
            delivery.c.repository_id == repository_id,
            delivery.c.event == RECONCILE_EVENT,
            delivery.c.state == "received",
        )
    )
    if waiting.first() is not None:
        return False
    provider = select(repository.c.provider).where(repository.c.id == repository_id).scalar_subquery()
    await connection.execute(
        pg_insert(delivery).values(
            repository_id=repository_id,
            provider=provider,
            event=RECONCILE_EVENT,
            idempotency_key=f"reconcile:{uuid.uuid4()}",
            headers={},
            body=b"",
        )
    )
    return True


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    project: str
    provider: str
    event: str
    idempotency_key: str
    state: str
    reason: str | None
    attempts: int
    received_at: datetime
    updated_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None


async def page(
    connection: AsyncConnection,
    *,
    before_id: int | None,
    limit: int,
    state: str | None,
    repository_id: int | None,
    provider: str | None = None,
) -> list[DeliveryRow]:
    """Newest first."""
    conditions: list[Any] = []
    if provider is not None:
        conditions.append(delivery.c.provider == provider)
    if before_id is not None:
        conditions.append(delivery.c.id < before_id)
    if state is not None:
        conditions.append(delivery.c.state == state)
    if repository_id is not None:
        conditions.append(delivery.c.repository_id == repository_id)
    statement = (
        select(
            delivery.c.id,
            repository.c.path.label("project"),
            delivery.c.provider,
            delivery.c.event,
            delivery.c.idempotency_key,
            delivery.c.state,
            delivery.c.reason,
            delivery.c.attempts,
            delivery.c.received_at,
            delivery.c.updated_at,
            delivery.c.next_attempt_at,
            delivery.c.finished_at,
        )
        .join(repository, repository.c.id == delivery.c.repository_id)
        .where(*conditions)
        .order_by(delivery.c.id.desc())
        .limit(limit)
    )
    return [DeliveryRow(**row._asdict()) for row in await connection.execute(statement)]


async def resume_interrupted(connection: AsyncConnection, repository_id: int) -> int:
    """The repository's deliveries left `processing` (by a process that stopped, or whose database
    connection failed as it finished them) are received again. Call it holding the repository's lock:
    then no live process is working on them."""
    result = await connection.execute(
        update(delivery)
        .where(delivery.c.repository_id == repository_id, delivery.c.state == "processing")
        .values(state="received", updated_at=func.now())
    )
    return result.rowcount


async def purge_finished(connection: AsyncConnection, *, older_than: timedelta) -> int:
    """Delete deliveries finished (done or failed) longer ago than `older_than`; returns how many."""
    result = await connection.execute(
        delete(delivery).where(
            delivery.c.state.in_(("done", "failed")), delivery.c.finished_at < func.now() - older_than
        )
    )
    return result.rowcount


async def due_repositories(connection: AsyncConnection) -> list[int]:
    """Repositories with a received delivery whose time has come, the longest waiting first; then those
    with deliveries left `processing` (if no process holds their lock, they were interrupted)."""
    statement = (
        select(delivery.c.repository_id)
        .where(delivery.c.state == "received")
        .group_by(delivery.c.repository_id)
        .having(func.max(delivery.c.next_attempt_at) <= func.now())
        .order_by(func.min(delivery.c.id))
    )
    due = list((await connection.execute(statement)).scalars())
    interrupted = select(delivery.c.repository_id).where(delivery.c.state == "processing").distinct()
    return due + [found for found in (await connection.execute(interrupted)).scalars() if found not in due]


async def claim(connection: AsyncConnection, repository_id: int) -> list[int]:
    """Every received delivery of the repository → processing, oldest first; none while one of them
    waits for its retry (so a later delivery never overtakes an earlier one)."""
    waiting = exists().where(
        delivery.c.repository_id == repository_id,
        delivery.c.state == "received",
        delivery.c.next_attempt_at > func.now(),
    )
    statement = (
        update(delivery)
        .where(and_(delivery.c.repository_id == repository_id, delivery.c.state == "received", ~waiting))
        .values(state="processing", attempts=delivery.c.attempts + 1, updated_at=func.now())
        .returning(delivery.c.id)
    )
    return sorted((await connection.execute(statement)).scalars())


async def finish(connection: AsyncConnection, ids: list[int], *, reason: str | None = None) -> None:
    """Done (or, with a reason, failed)."""
    await connection.execute(
        update(delivery)
        .where(delivery.c.id.in_(ids))
        .values(
            state="done" if reason is None else "failed",
            reason=reason,
            updated_at=func.now(),
            finished_at=func.now(),
        )
    )


async def retry_later(
    connection: AsyncConnection, ids: list[int], *, reason: str, delay_seconds: float
) -> None:
    await connection.execute(
        update(delivery)
        .where(delivery.c.id.in_(ids))
        .values(
            state="received",
            reason=reason,
            updated_at=func.now(),
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, delay_seconds),
        )
    )


async def fewest_attempts(connection: AsyncConnection, ids: list[int]) -> int:
    """The attempts of the freshest of these deliveries: a delivery that just arrived, batched with
    older ones still retrying, gets its own full count of attempts."""
    statement = select(func.min(delivery.c.attempts)).where(delivery.c.id.in_(ids))
    return int((await connection.execute(statement)).scalar_one() or 0)
