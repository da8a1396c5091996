"""The suite's own use of a PostgreSQL server it did not start: its databases only, none left behind."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import asyncpg

from tests.servers import ROOT, fresh_database

CREATE_AND_HANG = """
import sys, time
from tests.servers import fresh_database
with fresh_database(sys.argv[1], "qahub_killed") as url:
    print(url.rpartition("/")[2], flush=True)
    time.sleep(600)
"""


async def _databases(server_url: str) -> set[str]:
    connection = await asyncpg.connect(server_url)
    try:
        return {row["datname"] for row in await connection.fetch("SELECT datname FROM pg_database")}
    finally:
        await connection.close()


def test_a_database_left_by_a_killed_run_is_dropped_by_the_next_one(postgres_url: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CREATE_AND_HANG, postgres_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as killed:
        assert killed.stdout is not None
        left_behind = killed.stdout.readline().strip()
        killed.send_signal(signal.SIGKILL)
    assert left_behind in asyncio.run(_databases(postgres_url))

    with fresh_database(postgres_url, "qahub_next") as url:
        databases = asyncio.run(_databases(postgres_url))
        assert left_behind not in databases
        assert url.rpartition("/")[2] in databases


def test_a_database_of_a_running_run_is_left_alone(postgres_url: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CREATE_AND_HANG, postgres_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as running:
        try:
            assert running.stdout is not None
            theirs = running.stdout.readline().strip()
            with fresh_database(postgres_url, "qahub_next"):
                assert theirs in asyncio.run(_databases(postgres_url))
        finally:
            running.terminate()
    with fresh_database(postgres_url, "qahub_next"):  # its process is gone now: so is its database
        assert theirs not in asyncio.run(_databases(postgres_url))
