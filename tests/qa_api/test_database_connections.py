"""The pool's connections to PostgreSQL: dropped by the server, they cost at most one 503, never a 500."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

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
