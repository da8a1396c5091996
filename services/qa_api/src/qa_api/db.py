"""The database: one async engine per process, a session per unit of work, constraint naming rules."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, exc, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

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


def create_engine(url: str, *, pool_size: int, statement_timeout_ms: int) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                "statement_timeout": str(statement_timeout_ms),
                "application_name": "qa_api",
            },
        },
    )


def session_factory(engine: AsyncEngine) -> SessionFactory:
    # Objects stay readable after commit: lazy loads raise under async sessions.
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


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
    """Database down or too slow → 503 + Retry-After; a constraint race → 409; a bad value → 422."""
    for unreachable in (OSError, TimeoutError, exc.OperationalError, exc.InterfaceError, exc.TimeoutError):
        app.add_exception_handler(unreachable, _on_database_unreachable)
    app.add_exception_handler(exc.IntegrityError, _on_integrity_error)
    app.add_exception_handler(exc.DataError, _on_data_error)
