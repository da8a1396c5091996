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
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import BigInteger, MetaData, any_, bindparam, event, exc, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

from qahub_shared.database import tls_of
from qahub_shared.errors import Conflict, InvalidInput, ServiceUnavailable, error_response

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
    target, sslmode = tls_of(url)
    logger.info("database %s:%s, sslmode %s", target.host, target.port, sslmode or "asyncpg's default")
    connect_args: dict[str, Any] = {
        "server_settings": {
            "statement_timeout": str(statement_timeout_ms),
            "application_name": "qa_api",
        },
    }
    if sslmode is not None:
        connect_args["ssl"] = sslmode
    engine = create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping round trip on every checkout (a fifth of a run report's CPU): a connection whose
        # server went away is refused on checkout by `_refuse_closed_connection` instead.
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(_dbapi_connection: Any, _record: Any, proxy: Any) -> None:
    """Hand out no pooled connection that asyncpg already knows is closed; costs no round trip.

    When PostgreSQL restarts or a backend is terminated, the server closes the socket and asyncpg marks
    the idle connection closed as soon as the event loop reads that. The whole pool is then renewed,
    and the pool hands out a fresh connection. What this cannot see (a peer gone without closing, as
    behind a dead network link) fails the one request that uses it with a 503, and that connection is
    dropped.
    """
    if proxy.driver_connection.is_closed():
        refused = exc.DisconnectionError("the pooled connection was closed by the server")
        refused.invalidate_pool = True  # the others were most likely closed with it
        raise refused


def session_factory(engine: AsyncEngine) -> SessionFactory:
    # Objects stay readable after commit: lazy loads raise under async sessions.
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


@dataclass(frozen=True)
class Database:
    """The process's database: ORM sessions for units of work, and asyncpg itself for hot statements."""

    engine: AsyncEngine
    sessions: SessionFactory

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection as asyncpg's own, outside any transaction.

        Each statement sent on it commits on its own when it returns (PostgreSQL's autocommit): for a
        unit of work of one statement, that spares the BEGIN and COMMIT round trips. Its JSON and JSONB
        parameters are `str`s; their values come back decoded (the codecs SQLAlchemy installs).
        """
        async with self.engine.connect() as connection:
            pooled = await connection.get_raw_connection()
            driver: asyncpg.Connection = pooled.driver_connection
            try:
                yield driver
            except BaseException:
                if driver.is_closed():
                    # the server is gone: drop this connection, and on checkout the pool renews the rest
                    await connection.invalidate()
                raise


# How a failure of the database reaches the client: never as a 500.
_UNAVAILABLE = ServiceUnavailable("The database is unavailable; retry later.", headers={"Retry-After": "5"})


async def _on_database_unreachable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable on %s %s: %r", request.method, request.url.path, error)
    return error_response(
        _UNAVAILABLE.status_code, _UNAVAILABLE.code, _UNAVAILABLE.message, headers=_UNAVAILABLE.headers
    )


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
    for unreachable in (
        OSError,
        TimeoutError,
        exc.OperationalError,
        exc.InterfaceError,
        exc.TimeoutError,
        # asyncpg's own: connection lost or refused (class 08), cancelled, shutting down (class 57),
        # and its client-side errors ("connection is closed", "another operation is in progress")
        asyncpg.PostgresConnectionError,
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(unreachable, _on_database_unreachable)
    app.add_exception_handler(exc.IntegrityError, _on_integrity_error)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, _on_integrity_error)
    app.add_exception_handler(exc.DataError, _on_data_error)
    # a value PostgreSQL refuses (class 22), or one asyncpg cannot encode (out of range for its type)
    app.add_exception_handler(asyncpg.DataError, _on_data_error)
