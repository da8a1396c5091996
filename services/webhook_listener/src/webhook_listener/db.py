"""The listener's database: its tables, one async engine per process, and the constraint naming rules.

Tables (their names are the listener's own; they may share a database with qa_api's):

    repository   a registered repository: provider, `group/repo` path, webhook secret, clone URL
    delivery     the inbox: every verified webhook delivery, its raw body and its processing state
    sent_ref     where each branch and tag pointed when qa_api was last told, and to which projects
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    event,
    exc,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qahub_shared.database import engine_target
from qahub_shared.errors import error_response

logger = logging.getLogger(__name__)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DELIVERY_STATES = ("received", "processing", "done", "failed")

repository = Table(
    "repository",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("provider", Text, nullable=False),
    Column("path", Text, nullable=False),
    # HMAC needs the secret itself: it is stored as given, never logged, never returned by the API.
    Column("secret", Text, nullable=False),
    Column("clone_url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("provider", "path"),
    CheckConstraint("provider IN ('gitlab', 'github')", name="provider"),
)

delivery = Table(
    "delivery",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("repository_id", BigInteger, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", Text, nullable=False, server_default="received"),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("repository_id", "idempotency_key"),
    CheckConstraint(f"state IN {DELIVERY_STATES!r}", name="state"),
    Index("ix_delivery_pending", "repository_id", "id", postgresql_where=text("state = 'received'")),
)

sent_ref = Table(
    "sent_ref",
    metadata,
    Column("repository_id", BigInteger, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("sha", Text, nullable=False),
    Column("projects", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("repository_id", "kind", "name"),
)


def create_engine(url: str, *, pool_size: int, statement_timeout_ms: int) -> AsyncEngine:
    # TLS as every service chooses it (`qahub_shared.database.tls_of`)
    target, connect_args = engine_target(url)
    connect_args["server_settings"] = {
        "statement_timeout": str(statement_timeout_ms),
        "application_name": "webhook_listener",
    }
    engine = create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        # no pre-ping round trip per checkout on the acknowledgement path: a connection the server
        # closed is refused on checkout instead (`_refuse_closed_connection`)
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(_dbapi_connection: Any, _record: Any, proxy: Any) -> None:
    """Hand out no pooled connection asyncpg knows is closed (PostgreSQL restarted, a backend killed)."""
    if proxy.driver_connection.is_closed():
        refused = exc.DisconnectionError("the pooled connection was closed by the server")
        refused.invalidate_pool = True  # the others were most likely closed with it
        raise refused


async def _on_database_unreachable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable on %s %s: %r", request.method, request.url.path, error)
    return error_response(
        503, "service_unavailable", "The database is unavailable; retry later.", headers={"Retry-After": "5"}
    )


def install_database_error_handlers(app: FastAPI) -> None:
    """The database down or gone away: 503 + Retry-After, never a 500."""
    for unreachable in (
        OSError,
        TimeoutError,
        exc.OperationalError,
        exc.InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(unreachable, _on_database_unreachable)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as asyncpg's own, outside any transaction: each statement commits on its own
    (no BEGIN and COMMIT round trips). JSON parameters are `str`s."""
    async with engine.connect() as connection:
        pooled = await connection.get_raw_connection()
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            yield driver
        except BaseException:
            if driver.is_closed():
                await connection.invalidate()
            raise


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
