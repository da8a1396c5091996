"""`?sslmode=` in a database URL (what the README tells operators to set off loopback) works for every
service: their migrations and their running engines, on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metrics_broker.spool.repository import create_engine as broker_engine
from qa_api.db import create_engine as qa_api_engine
from qahub_shared.database import engine_target
from tests.servers import ROOT, fresh_database
from webhook_listener.db import create_engine as listener_engine

SERVICES = ["qa_api", "metrics_broker", "webhook_listener"]


@pytest.fixture(scope="module")
def url_with_sslmode(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "qahub_sslmode") as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://") + "?sslmode=disable"


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_accept_sslmode_in_the_url(url_with_sslmode: str, service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT / "services" / service,
        env={"QAHUB_DATABASE_URL": url_with_sslmode, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]


def _engines(url: str) -> list[AsyncEngine]:
    return [
        qa_api_engine(url, pool_size=1, statement_timeout_ms=1000),
        broker_engine(url, pool_size=1, statement_timeout_ms=1000, connect_timeout_s=5),
        listener_engine(url, pool_size=1, statement_timeout_ms=1000),
    ]


async def test_every_service_connects_with_sslmode_in_the_url(url_with_sslmode: str) -> None:
    for engine in _engines(url_with_sslmode):
        try:
            async with engine.connect() as connection:
                assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        finally:
            await engine.dispose()


def test_sslmode_leaves_the_url_for_the_connect_arguments() -> None:
    target, connect_args = engine_target("postgresql+asyncpg://qa@db.example.com/qa?sslmode=require")

    assert "sslmode" not in target.query
    assert connect_args == {"ssl": "require"}
