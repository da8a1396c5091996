"""PostgreSQL as every QA Hub service connects to it (SQLAlchemy's asyncpg dialect).

Operators write libpq's `?sslmode=` in `QAHUB_DATABASE_URL`; asyncpg takes it only as its `ssl` argument
and refuses it as a keyword. `engine_target(url)` gives what `create_async_engine` needs, for the
services and for their migrations alike; `create_engine` is the services' pool, `driver_connection` a
pooled connection as asyncpg's own for hot statements, and `install_unreachable_handler` makes a
database that is down or gone a 503, never a 500.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import URL, event, exc, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qahub_shared.errors import ServiceUnavailable, error_response, internal_error

logger = logging.getLogger(__name__)


def _on_this_machine(host: str | None) -> bool:
    if host is None:
        return False
    if host.startswith("/") or host == "localhost":  # a unix socket's directory, or loopback by name
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_of(url: str) -> tuple[URL, str | None]:
    """The URL without its TLS parameter, and the `sslmode` asyncpg connects with (None: its default).

    `sslmode` (libpq's name) or `ssl` in the URL wins: `disable`, `allow`, `prefer`, `require`,
    `verify-ca` or `verify-full`. Without either (and without `PGSSLMODE`), a server on this machine
    (`localhost`, a loopback address, a unix socket) is reached with `allow`: no TLS unless the server
    refuses a connection without it. On loopback TLS protects nothing, and where the server offers it,
    it costs both processes CPU on every statement. Any other host keeps asyncpg's default, `prefer`
    (TLS when the server offers it).
    """
    parsed = make_url(url)
    explicit = parsed.query.get("sslmode") or parsed.query.get("ssl")
    parsed = parsed.difference_update_query(["sslmode", "ssl"])
    if explicit is not None:
        mode = explicit if isinstance(explicit, str) else explicit[-1]
        return parsed, mode
    host = parsed.host or parsed.query.get("host")
    if "PGSSLMODE" not in os.environ and _on_this_machine(host if isinstance(host, str) else None):
        return parsed, "allow"
    return parsed, None


def engine_target(url: str) -> tuple[URL, dict[str, Any]]:
    """`create_async_engine(target, connect_args=args)` for this URL: the URL without its TLS parameter,
    and the connect arguments carrying the mode `tls_of` chose (add your own to them)."""
    target, sslmode = tls_of(url)
    return target, ({} if sslmode is None else {"ssl": sslmode})


def create_engine(
    url: str,
    *,
    application_name: str,
    pool_size: int,
    statement_timeout_ms: int,
    connect_timeout_s: float | None = None,
    pre_ping: bool = False,
) -> AsyncEngine:
    """A service's pool: up to `pool_size` connections kept, as many more under load; TLS as `tls_of`
    chooses it; `statement_timeout_ms` as PostgreSQL's cap on any statement. `connect_timeout_s` bounds
    connecting and waiting for a pooled connection (asyncpg's and SQLAlchemy's defaults otherwise).

    Without `pre_ping` (a round trip on every checkout: a fifth of a small write's CPU), a connection
    asyncpg already knows is closed is refused on checkout instead (`_refuse_closed_connection`)."""
    target, connect_args = engine_target(url)
    logger.info(
        "database %s:%s for %s, sslmode %s",
        target.host,
        target.port,
        application_name,
        connect_args.get("ssl", "asyncpg's default"),
    )
    connect_args["server_settings"] = {
        "statement_timeout": str(statement_timeout_ms),
        "application_name": application_name,
    }
    timeouts: dict[str, Any] = {}
    if connect_timeout_s is not None:
        connect_args["timeout"] = connect_timeout_s
        timeouts["pool_timeout"] = connect_timeout_s
    engine = create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        connect_args=connect_args,
        **timeouts,
    )
    if not pre_ping:
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


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as asyncpg's own, outside any transaction.

    Each statement sent on it commits on its own when it returns (PostgreSQL's autocommit): for a unit
    of work of one statement, that spares the BEGIN and COMMIT round trips. Its JSON and JSONB
    parameters are `str`s; their values come back decoded (the codecs SQLAlchemy installs).
    """
    async with engine.connect() as connection:
        pooled = await connection.get_raw_connection()
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            yield driver
        except BaseException:
            if driver.is_closed():
                # the server is gone: drop this connection, and on checkout the pool renews the rest
                await connection.invalidate()
            raise


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
    # asyncpg's own: connection lost or refused (class 08), cancelled, shutting down (class 57), and its
    # client-side errors ("connection is closed", "another operation is in progress")
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
)
"""What reaching PostgreSQL raises when it is down, gone or too slow, through SQLAlchemy or asyncpg."""

_UNAVAILABLE = ServiceUnavailable("The database is unavailable; retry later.", headers={"Retry-After": "5"})


def is_unreachable(error: BaseException) -> bool:
    """Whether `error`, or the driver's error it wraps, is one of `UNREACHABLE`. SQLAlchemy wraps some
    of asyncpg's in a plain `DBAPIError` (e.g. "the database system is shutting down", refused while a
    server stops), whose class says nothing: the cause does."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UNREACHABLE):
            return True
        seen.add(id(current))
        wrapped = current.orig if isinstance(current, exc.DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return False


async def _on_database_unreachable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable on %s %s: %r", request.method, request.url.path, error)
    return error_response(
        _UNAVAILABLE.status_code, _UNAVAILABLE.code, _UNAVAILABLE.message, headers=_UNAVAILABLE.headers
    )


async def _on_database_error(request: Request, error: Exception) -> JSONResponse:
    if is_unreachable(error):
        return await _on_database_unreachable(request, error)
    return internal_error(request.method, request.url.path, error)


def install_unreachable_handler(app: FastAPI) -> None:
    """The database down, gone away or too slow: 503 + Retry-After, never a 500. Any other database
    error without a handler of its own stays the 500 of a bug."""
    for unreachable in UNREACHABLE:
        app.add_exception_handler(unreachable, _on_database_unreachable)
    app.add_exception_handler(exc.DBAPIError, _on_database_error)
