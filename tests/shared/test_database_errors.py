"""What a service answers when a database error reaches its handlers: PostgreSQL refusing connections
while it shuts down is "unavailable" (503, retry), not a bug (500), though SQLAlchemy wraps it in a plain
`DBAPIError`; a database error that is a bug stays a 500.

A throwaway cluster of this module's own (`deploy/local/postgres.sh`) is put in a smart shutdown: it
waits for the session this test holds open, and refuses every new connection meanwhile with "the
database system is shutting down".
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from qahub_shared.database import create_engine, install_unreachable_handler
from qahub_shared.errors import install_error_handlers
from tests.servers import ROOT, server_folder

SCRIPT = ROOT / "deploy/local/postgres.sh"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Path, str]]:
    folder = server_folder("qahub-shutdown-")
    subprocess.run([SCRIPT, "install"], check=True)
    url = subprocess.run(
        [SCRIPT, "start", folder / "pg"], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield folder / "pg", url
    finally:
        subprocess.run([SCRIPT, "stop", folder / "pg"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def pg_ctl() -> str:
    found = sorted(str(path) for path in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1] if found else shutil.which("pg_ctl") or "pg_ctl"


def app_reading(url: str) -> FastAPI:
    """A service's error handling, around one route that reads from a pool that has no connection yet."""
    engine = create_engine(
        url.replace("postgresql://", "postgresql+asyncpg://"),
        application_name="qahub-test",
        pool_size=1,
        statement_timeout_ms=5_000,
    )
    app = FastAPI()
    install_error_handlers(app)
    install_unreachable_handler(app)

    @app.get("/read")
    async def read(sql: str = "SELECT 1") -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())

    return app


@pytest.fixture
async def client(cluster: tuple[Path, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_reading(cluster[1]), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_bug_in_sql_is_still_a_500(client: httpx.AsyncClient) -> None:
    assert (await client.get("/read")).json() == 1
    response = await client.get("/read", params={"sql": "SELECT no_such_column"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


async def test_a_database_shutting_down_is_unavailable_not_a_bug(
    cluster: tuple[Path, str], client: httpx.AsyncClient
) -> None:
    data_dir, url = cluster
    holder = await asyncpg.connect(url)  # a smart shutdown waits for it: the server stays "shutting down"
    try:
        owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        stop = [*owner, pg_ctl(), "-D", str(data_dir / "data"), "-m", "smart", "-W", "stop"]
        await asyncio.to_thread(subprocess.run, stop, check=True)
        with pytest.raises(asyncpg.CannotConnectNowError):
            await asyncpg.connect(url)  # what the pool meets

        response = await client.get("/read")
    finally:
        await holder.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
