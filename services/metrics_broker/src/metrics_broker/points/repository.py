"""All SQL of idempotency keys. A failure to reach PostgreSQL is a `ServiceUnavailable` (503)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from metrics_broker.kinds.repository import unavailable
from metrics_broker.points.models import idempotency_key
from metrics_broker.spool.repository import DATABASE_ERRORS


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key someone else's request (or an earlier one) holds."""

    body_sha256: str
    response: str | None
    """The first answer, the JSON sent; None while that request is still running."""


class IdempotencyKeys:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, *, caller: str, key: str, body_sha256: str, keep: timedelta, lease: timedelta
    ) -> KeyRecord | None:
        """Take the key for a request about to write (None), or return who holds it. An expired key, or
        one whose request has held it for longer than `lease` (its broker died), is taken over."""
        table = idempotency_key
        statement = (
            insert(table)
            .values(caller=caller, key=key, body_sha256=body_sha256, expires_at=func.now() + literal(keep))
            .on_conflict_do_update(
                index_elements=[table.c.caller, table.c.key],
                set_={
                    "body_sha256": body_sha256,
                    "response": None,
                    "claimed_at": func.now(),
                    "expires_at": func.now() + literal(keep),
                },
                where=or_(
                    table.c.expires_at < func.now(),
                    and_(table.c.response.is_(None), table.c.claimed_at < func.now() - literal(lease)),
                ),
            )
            .returning(table.c.key)
        )
        try:
            async with self._engine.begin() as connection:
                if (await connection.execute(statement)).first() is not None:
                    return None
                row = (
                    await connection.execute(
                        select(table.c.body_sha256, table.c.response).where(
                            table.c.caller == caller, table.c.key == key
                        )
                    )
                ).one()
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc
        return KeyRecord(body_sha256=row.body_sha256, response=row.response)

    async def complete(self, *, caller: str, key: str, response: str) -> None:
        """Remember the answer, for the retries."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    update(idempotency_key)
                    .where(idempotency_key.c.caller == caller, idempotency_key.c.key == key)
                    .values(response=response)
                )
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc

    async def release(self, *, caller: str, key: str) -> None:
        """Give the key back: the request failed, and a retry must be able to write."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    delete(idempotency_key).where(
                        idempotency_key.c.caller == caller,
                        idempotency_key.c.key == key,
                        idempotency_key.c.response.is_(None),
                    )
                )
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
