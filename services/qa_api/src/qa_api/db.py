"""The database: one async engine per process, a session per unit of work, constraint naming rules.

Errors of the database reach clients in the one envelope, never as a 500, whether they come through
SQLAlchemy or, on the write path of runs, straight from asyncpg:

    connection lost, refused, timed out, cancelled  → 503 + Retry-After (retryable)
    a constraint race                                → 409
    a value PostgreSQL cannot store                  → 422
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import BigInteger, MetaData, any_, bindparam, exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlmodel import SQLModel

from qahub_shared import database
from qahub_shared.errors import Conflict, InvalidInput, error_response

logger = logging.getLogger(__name__)

# Constraint names are stable across migrations and name what they guard (error messages cite them).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

SessionFactory = async_sessionmaker[AsyncSession]


def any_id(ids: Sequence[int]) -> Any:
    """`column == any_id(ids)`: `= ANY(:ids)` with one array parameter, where `IN` renders one parameter
    per id into the SQL of every request (about an eighth of a 50-commit page's CPU, in py-spy).
    """
    return any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))


def create_engine(url: str, *, pool_size: int, statement_timeout_ms: int) -> AsyncEngine:
    return database.create_engine(
        url, application_name="qa_api", pool_size=pool_size, statement_timeout_ms=statement_timeout_ms
    )


def session_factory(engine: AsyncEngine) -> SessionFactory:
    # Objects stay readable after commit: lazy loads raise under async sessions.
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


@dataclass(frozen=True)
class Database:
    """The process's database: ORM sessions for units of work, and asyncpg itself for hot statements."""

    engine: AsyncEngine
    sessions: SessionFactory

    def driver_connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A pooled connection as asyncpg's own, outside any transaction
        (`qahub_shared.database.driver_connection`)."""
        return database.driver_connection(self.engine)


async def _on_integrity_error(request: Request, error: Exception) -> JSONResponse:
    # Writes are idempotent upserts; reaching this means a race we did not foresee: say so, retryable.
    logger.warning("integrity error on %s %s: %s", request.method, request.url.path, error)
    return error_response(Conflict.status_code, Conflict.code, "Conflicting concurrent write; retry.")


async def _on_data_error(request: Request, error: Exception) -> JSONResponse:
    logger.info("data refused by the database on %s %s: %s", request.method, request.url.path, error)
    return error_response(InvalidInput.status_code, InvalidInput.code, "A value is out of range for storage.")


def install_database_error_handlers(app: FastAPI) -> None:
    """Database down or too slow → 503 + Retry-After; a constraint race → 409; a bad value → 422.

    Through SQLAlchemy (its wrappers) and from asyncpg directly (`Database.driver_connection`).
    """
    database.install_unreachable_handler(app)
    app.add_exception_handler(exc.IntegrityError, _on_integrity_error)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, _on_integrity_error)
    app.add_exception_handler(exc.DataError, _on_data_error)
    # a value PostgreSQL refuses (class 22), or one asyncpg cannot encode (out of range for its type)
    app.add_exception_handler(asyncpg.DataError, _on_data_error)
