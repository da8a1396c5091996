"""All SQL of idempotency keys. A failure to reach PostgreSQL is a `ServiceUnavailable` (503)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from metrics_broker.kinds.repository import unavailable
from metrics_broker.points.models import idempotency_key
from metrics_broker.spool.repository import DATABASE_ERRORS


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key after a claim: this request's now (`mine`), or held by another request (or an earlier one)."""

    mine: bool
    claimed_at: datetime | None
    """When the request holding it claimed it (this request's claim, when `mine`)."""
    body_sha256: str
    accepted_at_ns: int
    """The moment the key's points without `time` are stamped with: the first attempt's for this body."""
    response: str | None
    """The first answer, the JSON sent; None while that request is still running."""


class IdempotencyKeys:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self,
        *,
        caller: str,
        key: str,
        body_sha256: str,
        accepted_at_ns: int,
        keep: timedelta,
        lease: timedelta,
    ) -> KeyRecord:
        """Take the key for a request about to write (`mine`), or say who holds it. An expired key, a
        released one, or one whose request has held it for longer than `lease` (its broker died) is taken
        over; the same body taking over an unexpired key keeps the key's moment, so a retry stamps its
        time-less points as the first attempt did."""
        table = idempotency_key
        now = func.now()
        statement = (
            insert(table)
            .values(
                caller=caller,
                key=key,
                body_sha256=body_sha256,
                accepted_at_ns=accepted_at_ns,
                expires_at=now + literal(keep),
            )
            .on_conflict_do_update(
                index_elements=[table.c.caller, table.c.key],
                set_={
                    "body_sha256": body_sha256,
                    "accepted_at_ns": case(
                        (
                            and_(
                                table.c.body_sha256 == body_sha256,
                                table.c.expires_at >= now,
                                table.c.accepted_at_ns.is_not(None),
                            ),
                            table.c.accepted_at_ns,
                        ),
                        else_=accepted_at_ns,
                    ),
                    "response": None,
                    "claimed_at": now,
                    "expires_at": now + literal(keep),
                },
                where=or_(
                    table.c.expires_at < now,
                    and_(table.c.response.is_(None), table.c.claimed_at < now - literal(lease)),
                ),
            )
            .returning(table.c.accepted_at_ns, table.c.claimed_at)
        )
        try:
            async with self._engine.begin() as connection:
                taken = (await connection.execute(statement)).first()
                if taken is not None:
                    return KeyRecord(
                        mine=True,
                        claimed_at=taken[1],
                        body_sha256=body_sha256,
                        accepted_at_ns=taken[0],
                        response=None,
                    )
                row = (
                    await connection.execute(
                        select(table.c.body_sha256, table.c.accepted_at_ns, table.c.response).where(
                            table.c.caller == caller, table.c.key == key
                        )
                    )
                ).one()
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc
        return KeyRecord(
            mine=False,
            claimed_at=None,
            body_sha256=row.body_sha256,
            accepted_at_ns=accepted_at_ns if row.accepted_at_ns is None else row.accepted_at_ns,
            response=row.response,
        )

    async def complete(self, *, caller: str, key: str, claimed_at: datetime, response: str) -> None:
        """Remember the answer, for the retries, if the key is still this claim's (a request that outlived
        its lease may have lost it to another)."""
        table = idempotency_key
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    update(table)
                    .where(table.c.caller == caller, table.c.key == key, table.c.claimed_at == claimed_at)
                    .values(response=response)
                )
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc

    async def release(self, *, caller: str, key: str, claimed_at: datetime, keep_moment: bool) -> None:
        """Give the key back, if it is still this claim's: the request failed, and a retry must be able to
        write. `keep_moment`: the write was attempted (InfluxDB may hold some of it), so the retry must
        stamp the same moment."""
        table = idempotency_key
        unfinished = (
            table.c.caller == caller,
            table.c.key == key,
            table.c.claimed_at == claimed_at,
            table.c.response.is_(None),
        )
        statement = (
            update(table)
            .where(*unfinished)
            .values(claimed_at=literal("-infinity").cast(DateTime(timezone=True)))
            if keep_moment
            else delete(table).where(*unfinished)
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(statement)
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc

    async def purge(self) -> int:
        """Forget expired keys; how many."""
        try:
            async with self._engine.begin() as connection:
                result = await connection.execute(
                    delete(idempotency_key)
                    .where(idempotency_key.c.expires_at < func.now())
                    .returning(idempotency_key.c.key)
                )
                return len(result.all())
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc
