"""The pool's connections to PostgreSQL: dropped by the server, they cost at most one 503, never a 500."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from qa_api.config import Settings
from qa_api.db import create_engine
from qahub_shared.database import tls_of
from tests.qa_api.builders import output_report, post_output


async def _connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url.replace("+asyncpg", ""))


async def _terminate_qa_api_backends(admin: asyncpg.Connection, *, waiting_on_a_lock: bool) -> int:
    """Terminate qa_api's backends (only those waiting on a lock, if asked); returns how many."""
    terminated: int = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'qa_api'"
        " AND (NOT $1 OR wait_event_type = 'Lock')",
        waiting_on_a_lock,
    )
    return terminated


async def test_a_run_is_reported_after_postgresql_dropped_every_pooled_connection(
    client: httpx.AsyncClient, database_url: str
) -> None:
    queued = await post_output(client, output_report(stage="queued"))
    admin = await _connect(database_url)
    try:
        # what a restart of PostgreSQL does to the pool's idle connections
        assert await _terminate_qa_api_backends(admin, waiting_on_a_lock=False) >= 1
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the server's goodbye reaches the pooled connections

    running = await client.post("/api/v1/output/", json=output_report(stage="running"))
    listed = await client.get("/api/v2/projects")

    assert running.status_code == 200, running.text
    assert running.json()["id"] == queued["id"]
    assert running.json()["is_running"] is True
    assert listed.status_code == 200, listed.text


async def test_a_connection_lost_during_a_run_report_is_a_503_and_the_next_report_succeeds(
    client: httpx.AsyncClient, database_url: str
) -> None:
    queued = await post_output(client, output_report(stage="queued"))
    admin, holder = await _connect(database_url), await _connect(database_url)
    try:
        # hold the output's row so that the next report waits inside PostgreSQL, then cut it off
        locking = holder.transaction()
        await locking.start()
        await holder.execute("SELECT 1 FROM output WHERE id = $1 FOR UPDATE", queued["id"])
        report = asyncio.create_task(client.post("/api/v1/output/", json=output_report(stage="running")))
        for _ in range(100):
            if await _terminate_qa_api_backends(admin, waiting_on_a_lock=True):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the report never waited on the output's row")
        cut_off = await report
        await locking.rollback()
    finally:
        await holder.close()
        await admin.close()

    retried = await client.post("/api/v1/output/", json=output_report(stage="running"))

    assert cut_off.status_code == 503, cut_off.text
    assert cut_off.json()["error"]["code"] == "service_unavailable"
    assert cut_off.headers["retry-after"] == "5"
    assert retried.status_code == 200, retried.text
    assert (retried.json()["id"], retried.json()["is_running"]) == (queued["id"], True)


@pytest.mark.parametrize(
    ("url", "sslmode"),
    [
        ("postgresql+asyncpg://qa@127.0.0.1:5432/qa", "allow"),
        ("postgresql+asyncpg://qa@127.0.0.2/qa", "allow"),
        ("postgresql+asyncpg://qa@localhost/qa", "allow"),
        ("postgresql+asyncpg://qa@[::1]:5432/qa", "allow"),
        ("postgresql+asyncpg://qa@/qa?host=/var/run/postgresql", "allow"),
        ("postgresql+asyncpg://qa@db.internal:5432/qa", None),
        ("postgresql+asyncpg://qa@10.0.0.7/qa", None),
        ("postgresql+asyncpg://qa@127.0.0.1/qa?sslmode=require", "require"),
        ("postgresql+asyncpg://qa@db.internal/qa?sslmode=disable", "disable"),
        ("postgresql+asyncpg://qa@db.internal/qa?ssl=verify-full", "verify-full"),
    ],
)
def test_tls_follows_the_url_and_is_skipped_by_default_only_on_this_machine(
    url: str, sslmode: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)

    target, mode = tls_of(url)

    assert mode == sslmode
    assert "sslmode" not in target.query
    assert "ssl" not in target.query


def test_pgsslmode_keeps_asyncpgs_own_choice_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLMODE", "require")

    assert tls_of("postgresql+asyncpg://qa@127.0.0.1/qa")[1] is None


async def test_the_urls_sslmode_reaches_the_driver(settings: Settings) -> None:
    # the test server runs without TLS: `disable` connects, `require` must fail rather than go without
    disabled = create_engine(
        f"{settings.database_url}?sslmode=disable", pool_size=1, statement_timeout_ms=1000
    )
    required = create_engine(
        f"{settings.database_url}?sslmode=require", pool_size=1, statement_timeout_ms=1000
    )
    try:
        async with disabled.connect() as connection:
            query = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert (await connection.execute(query)).scalar_one() is False
        with pytest.raises(ConnectionError, match="SSL"):
            async with required.connect():
                pass
    finally:
        await disabled.dispose()
        await required.dispose()
