"""All SQL of custom kinds. A failure to reach PostgreSQL is a `ServiceUnavailable` (503)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from metrics_broker.kinds.models import custom_kind
from metrics_broker.kinds.schemas import KindCreate, KindDefinition, KindPublic
from metrics_broker.spool.repository import DATABASE_ERRORS
from qahub_shared.errors import Conflict, ServiceUnavailable

logger = logging.getLogger(__name__)


def unavailable(exc: BaseException) -> ServiceUnavailable:
    """PostgreSQL could not be reached: a 503 the client may retry."""
    logger.warning("broker database: %s", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
    return ServiceUnavailable(
        "The broker's database (PostgreSQL) is unavailable; retry shortly.", headers={"Retry-After": "5"}
    )


def _public(row: Any) -> KindPublic:
    definition = KindDefinition.model_validate(row.definition)
    return KindPublic(
        name=row.name,
        project=row.project,
        database=row.database,
        created_by=row.created_by,
        created_at=row.created_at,
        **definition.model_dump(),
    )


class KindRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> list[KindPublic]:
        try:
            async with self._engine.connect() as connection:
                rows = (await connection.execute(select(custom_kind).order_by(custom_kind.c.name))).all()
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc
        kinds = []
        for row in rows:
            try:
                kinds.append(_public(row))
            except ValidationError as exc:
                # written by another version of the broker, or by hand: skipped, not a 500 for everyone
                logger.error("custom kind %r has an invalid definition, skipped: %s", row.name, exc)
        return kinds

    async def create(self, kind: KindCreate, *, created_by: str) -> KindPublic:
        definition = KindDefinition.model_validate(kind.model_dump(include=set(KindDefinition.model_fields)))
        try:
            async with self._engine.begin() as connection:
                row = (
                    await connection.execute(
                        insert(custom_kind)
                        .values(
                            name=kind.name,
                            project=kind.project,
                            database=kind.database,
                            definition=definition.model_dump(mode="json"),
                            created_by=created_by,
                        )
                        .returning(custom_kind)
                    )
                ).one()
        except IntegrityError as exc:
            raise Conflict(f"A kind named {kind.name!r} exists already; delete it first.") from exc
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc
        return _public(row)

    async def delete(self, name: str, *, check_project: Callable[[str], None]) -> bool:
        """Delete the kind if `check_project` (given its project, read in the same transaction) does not
        raise; False when there is no such kind."""
        try:
            async with self._engine.begin() as connection:
                project = (
                    await connection.execute(
                        select(custom_kind.c.project).where(custom_kind.c.name == name).with_for_update()
                    )
                ).scalar_one_or_none()
                if project is None:
                    return False
                check_project(project)
                await connection.execute(delete(custom_kind).where(custom_kind.c.name == name))
                return True
        except DATABASE_ERRORS as exc:
            raise unavailable(exc) from exc
